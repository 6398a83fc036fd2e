"""The shift's site on this machine: its directory, its config files and its processes.

Everything binds to loopback and lives in one temporary directory: the bridge's SQLite
database (unless `--db` names PostgreSQL) holding the demo's admin API token, the client's copy
of that token and the Sage files (mode 0600, as in production), and each station's state
directory and station.toml. The configs are written with the same keys an operator writes, and
read back by the same validating loaders.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from cloud_bridge.api.roles import Role
from cloud_bridge.api.tokens import create_token
from cloud_bridge.db import make_engine, upgrade
from edge.contract import StationId
from firmware_sim.ports import free_port
from firmware_sim.sage import SageSandbox
from firmware_sim.sage.login import save_sandbox_login
from firmware_sim.shift.processes import ChildProcess
from firmware_sim.sim_station import sim_station_document

__all__ = ["BRIDGE_INSTANCE", "BridgeSite", "StationSite", "write_secret"]

BRIDGE_INSTANCE = "shift"
"""The shift bridge's instance name: its certificates are bridge-shift and bridge-shift-ingest."""


def write_secret(path: Path, text: str) -> Path:
    """A file only its owner can read, as the bridge insists for secrets."""
    path.write_text(text + "\n")
    os.chmod(path, 0o600)
    return path


def _insecure(insecure: bool) -> list[str]:
    """The flag a process needs for a plain broker (only with the demo's ``--broker URL``)."""
    return ["--insecure"] if insecure else []


@dataclass
class BridgeSite:
    """The bridge's files and process."""

    directory: Path
    database_url: str
    http_port: int
    token: str
    viewer_token: str
    """A viewer's token for the manager's dashboard (`viewer-token`, mode 0600)."""
    process: ChildProcess

    @classmethod
    def create(
        cls,
        directory: Path,
        *,
        database_url: str | None,
        broker_link: dict[str, Any],
        insecure: bool,
        stations: dict[str, dict[str, str]],
        sandbox_url: str,
        sandbox: SageSandbox,
    ) -> BridgeSite:
        """Write bridge.toml (with Sage pointing at the sandbox) and prepare the process."""
        directory.mkdir(parents=True, exist_ok=True)
        write_secret(directory / "sage-client-secret", "sandbox-secret")
        save_sandbox_login(sandbox, directory / "sage-test-tokens.json", "test")
        url = database_url or f"sqlite:///{directory / 'bridge.db'}"
        token = _api_token(url, Role.ADMIN)
        write_secret(directory / "api-token", token)
        viewer_token = _api_token(url, Role.VIEWER)
        write_secret(directory / "viewer-token", viewer_token)
        http_port = free_port()
        document: dict[str, Any] = {
            "bridge": {"instance": BRIDGE_INSTANCE, "database_url": url, "cycle_seconds": 1.0},
            "broker": {**broker_link, "backoff_initial_s": 0.2, "backoff_max_s": 1.0},
            "http": {"host": "127.0.0.1", "port": http_port},
            "routing": {"mode": "round_robin", "stations": sorted(stations)},
            "stations": {station: {"slots": slots} for station, slots in stations.items()},
            "sage": {
                "environment": "test",
                "client_id": "packline-shift",
                "client_secret_file": "sage-client-secret",
                "base_url": f"{sandbox_url}/v3.1",
                "token_url": f"{sandbox_url}/oauth/token",
                "requests_per_minute": 0,
                "retry_initial_seconds": 0.5,
                "retry_max_seconds": 3.0,
                "timeout_seconds": 5,
                "test": {
                    "business_id": sandbox.business_id("test"),
                    "token_file": "sage-test-tokens.json",
                },
                "live": {
                    "business_id": sandbox.business_id("live"),
                    "token_file": "sage-live-tokens.json",
                },
                "posting": {"interval_minutes": 0},
            },
        }
        config = directory / "bridge.toml"
        config.write_bytes(tomli_w.dumps(document).encode())
        process = ChildProcess(
            "bridge",
            ["bridge", "run", "--config", str(config), *_insecure(insecure)],
            directory / "bridge.log",
        )
        return cls(directory, url, http_port, token, viewer_token, process)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def _api_token(database_url: str, role: Role) -> str:
    """A demo API token: made in the bridge's database, as `packline bridge token create`."""
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        # A fresh name each run: token names are never reused, and `--db` may be reused.
        name = f"shift-{role.value}-{secrets.token_hex(4)}"
        return create_token(engine, name, role)
    finally:
        engine.dispose()


@dataclass
class StationSite:
    """One station's files and process."""

    station_id: StationId
    state_dir: Path
    process: ChildProcess
    screen_port: int
    """The packer's screen: http://127.0.0.1:<screen_port>/."""
    metrics_port: int

    @classmethod
    def create(
        cls, directory: Path, station_id: StationId, broker_link: dict[str, Any], *, insecure: bool
    ) -> StationSite:
        state_dir = directory / station_id.client_id
        state_dir.mkdir(parents=True, exist_ok=True)
        document = sim_station_document(
            station_id,
            broker_url=broker_link["url"],
            printer_port=free_port(),
            state_dir=state_dir,
        )
        screen_port = int(document["screen"]["port"])
        metrics_port = free_port()
        document["metrics"] = {"enabled": True, "port": metrics_port}
        document["broker"].update(broker_link)
        document["broker"]["keepalive_s"] = 5
        config = state_dir / "station.toml"
        config.write_bytes(tomli_w.dumps(document).encode())
        process = ChildProcess(
            station_id.client_id,
            ["station", "run", "--config", str(config), "--sim", *_insecure(insecure)],
            state_dir / "station.log",
        )
        return cls(station_id, state_dir, process, screen_port, metrics_port)

    @property
    def name(self) -> str:
        return self.station_id.client_id

    def control_port(self) -> int | None:
        """The running rig's control port, if its process has written it."""
        try:
            return int((self.state_dir / "sim-control.port").read_text().strip())
        except (OSError, ValueError):
            return None

    async def restart(self) -> None:
        """SIGKILL and start again: the control port file is removed first, so nobody reads
        the dead process's port."""
        await self.process.kill()
        (self.state_dir / "sim-control.port").unlink(missing_ok=True)
        await self.process.start()
