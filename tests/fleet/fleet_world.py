"""A small real fleet for end-to-end tests: Mosquitto, the bridge, and supervised stations.

It reuses the drill's site (a bridge with a fresh, signed release repository, and station homes
provisioned as at the factory), so the tests run exactly what `packline fleet drill` runs. Each
station gets a supervisor of its own: a test can keep one station stopped (offline, as a Pi
without power) while the rest of the world goes on, and start it again later with a new one.
Every wait names what it waited for and, on a timeout, where the logs are and how they end.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiomqtt
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cloud_bridge.broker_settings import control_client_id
from cloud_bridge.db.fleet import FleetStation
from cloud_bridge.db.fleet_control import FleetStationReport
from cloud_bridge.fleet.release.build import build_release
from cloud_bridge.fleet.release.repository import ReleaseRepository
from edge import __version__
from edge.contract import ConfigDesired, StationId, prepare
from edge.fleet.config_push import ConfigPush
from edge.fleet.home import StationHome
from edge.station.config import load_station_config
from firmware_sim.broker import MosquittoBroker
from firmware_sim.drill.site import BRIDGE_INSTANCE, GROUP, DrillSite, DrillStation
from firmware_sim.secure_site import SiteCredentials
from firmware_sim.supervisor import ProgramState, Supervisor

__all__ = [
    "FACTORY_VERSION",
    "GROUP",
    "CliResult",
    "FleetWorld",
    "WorldTimeoutError",
    "fleet_world",
]

T = TypeVar("T")

FACTORY_VERSION = __version__
"""The version every station of the world is provisioned with (the installed code)."""

_POLL_S = 0.2
_CLI_TIMEOUT_S = 60.0
_RESTART_S = 0.3
_CONFIG_VERSION = re.compile(r"configuration version (\d+) for ")

SECOND_BRIDGE = "world"
"""A second bridge instance in the ACL, whose certificate re-publishes as another bridge would."""


class WorldTimeoutError(AssertionError):
    """A condition the test waited for did not come; the message names it and the logs."""


@dataclass(frozen=True)
class CliResult:
    """One `packline fleet` command as an operator would have seen it."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (
            f"`packline {' '.join(self.argv)}` exited {self.returncode}\n"
            f"stdout: {self.stdout.strip()}\nstderr: {self.stderr.strip()}"
        )


class FleetWorld:
    """A running broker, bridge and stations; open one with `fleet_world`."""

    def __init__(
        self, site: DrillSite, broker: MosquittoBroker, credentials: SiteCredentials
    ) -> None:
        self.credentials = credentials
        self.site = site
        self.broker = broker
        self.engine: Engine = create_engine(f"sqlite:///{site.directory / 'bridge' / 'bridge.db'}")
        self._supervisors: dict[str, Supervisor] = {}
        self._overlays = 0

    # --- the stations ------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """The stations' ids (``<site>.<station>``), in order."""
        return [station.name for station in self.site.stations]

    def station(self, name: str) -> DrillStation:
        for station in self.site.stations:
            if station.name == name:
                return station
        raise KeyError(f"no station {name!r} in this world; expected one of {self.names}")

    def home(self, name: str) -> StationHome:
        return self.station(name).home

    async def start_station(self, name: str) -> None:
        """Start the station under a new supervisor of its own (its start count begins at 0)."""
        if name in self._supervisors:
            raise RuntimeError(f"{name} is already supervised; stop it first")
        supervisor = Supervisor([self.station(name).program], restart_s=_RESTART_S)
        await supervisor.__aenter__()
        self._supervisors[name] = supervisor

    async def stop_station(self, name: str) -> None:
        """Stop the station and keep it stopped, as a Pi with its power off."""
        supervisor = self._supervisors.pop(name)
        await supervisor.stop()

    async def power_cut(self, name: str) -> None:
        """SIGKILL the station's process; its supervisor starts it again."""
        if not await self._supervisors[name].power_cut(name):
            raise AssertionError(f"{name} was not running when its power was to be cut")

    def runs(self, name: str) -> ProgramState:
        """What the station's current supervisor saw: starts, exit codes, power cuts."""
        return self._supervisors[name].states[name]

    def log_text(self, name: str) -> str:
        try:
            return self.station(name).program.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # --- what a station keeps on its disk ----------------------------------------------------

    def updater_state(self, name: str) -> dict[str, Any]:
        """The station's ``updater.json``; empty before its updater ever wrote it."""
        try:
            document: dict[str, Any] = json.loads(self.home(name).state_file.read_text())
        except FileNotFoundError:
            return {}
        return document

    def state_dir(self, name: str) -> Path:
        return load_station_config(self.home(name).station_toml).config.station.state_dir

    def effective_config_hash(self, name: str) -> str:
        """The hash of the configuration the station runs when it starts now (overlay included)."""
        home = self.home(name)
        return ConfigPush(home.station_toml, self.state_dir(name)).effective_config().sha256

    def applied_config(self, name: str) -> dict[str, Any] | None:
        """``<state_dir>/config-applied.json``: the pushed overlay in force, None without one."""
        try:
            document: dict[str, Any] = json.loads(
                (self.state_dir(name) / "config-applied.json").read_text()
            )
        except FileNotFoundError:
            return None
        return document

    # --- what the bridge knows ---------------------------------------------------------------

    def station_row(self, name: str) -> FleetStation | None:
        """The bridge's inventory row (from births, deaths and statuses)."""
        with Session(self.engine) as session:
            return session.get(FleetStation, name)

    def report_row(self, name: str) -> FleetStationReport | None:
        """The station's last fleet report as the bridge stored it."""
        with Session(self.engine) as session:
            return session.get(FleetStationReport, name)

    def online_on(self, name: str, version: str = FACTORY_VERSION) -> bool:
        """Online, running ``version``, and its fleet report received."""
        row = self.station_row(name)
        return (
            row is not None
            and row.online
            and row.software_version == version
            and self.report_row(name) is not None
        )

    def born(
        self, name: str, *, config_hash: str | None = None, after_bd_seq: int | None = None
    ) -> FleetStation | None:
        """The inventory row once the station is online from a birth that matches.

        ``config_hash``: the birth names that configuration as the one its process runs (a run
        that applied a new overlay but has not restarted yet still names its old one).
        ``after_bd_seq``: the birth is a newer one than the birth/death sequence given (a
        station killed at that sequence can only come back with a higher one).
        """
        row = self.station_row(name)
        if row is None or not row.online:
            return None
        if config_hash is not None and row.config_hash != config_hash:
            return None
        if after_bd_seq is not None and (row.bd_seq is None or row.bd_seq <= after_bd_seq):
            return None
        return row

    def offline(self, name: str) -> bool:
        row = self.station_row(name)
        return row is not None and not row.online

    # --- the operator's commands -------------------------------------------------------------

    async def fleet(self, *args: str, check: bool = True) -> CliResult:
        """Run ``packline fleet ARGS --config bridge.toml``; with ``check``, fail on non-zero."""
        argv = ["fleet", *args, "--config", str(self.site.bridge_config)]
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "edge.cli",
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), _CLI_TIMEOUT_S)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise WorldTimeoutError(
                f"`packline {' '.join(argv)}` did not finish in {_CLI_TIMEOUT_S:.0f} s"
            ) from None
        result = CliResult(argv, process.returncode or 0, out.decode(), err.decode())
        if check and result.returncode != 0:
            raise AssertionError(str(result))
        return result

    async def fleet_status(self) -> dict[str, dict[str, Any]]:
        """`packline fleet status --json`, keyed by station id."""
        result = await self.fleet("status", "--json")
        return {row["station_id"]: row for row in json.loads(result.stdout)}

    async def rollout_status(self) -> list[dict[str, Any]]:
        """`packline fleet rollout status --json`: every rollout, newest first."""
        result = await self.fleet("rollout", "status", "--json")
        rollouts: list[dict[str, Any]] = json.loads(result.stdout)
        return rollouts

    def overlay_file(self, text: str) -> Path:
        """Write an overlay (TOML) the operator would push, under a new name."""
        self._overlays += 1
        path = self.site.directory / "overlays" / f"overlay-{self._overlays}.toml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    async def push_config(self, name: str, text: str) -> int:
        """`packline fleet config set --station NAME --file overlay.toml`; the stored version."""
        result = await self.fleet(
            "config", "set", "--station", name, "--file", str(self.overlay_file(text))
        )
        match = _CONFIG_VERSION.search(result.stdout)
        if match is None:
            raise AssertionError(f"no configuration version in the output of {result}")
        return int(match.group(1))

    async def config_show(self, name: str) -> dict[str, Any]:
        """`packline fleet config show NAME`: effective, published, applied and refused versions."""
        shown: dict[str, Any] = json.loads((await self.fleet("config", "show", name)).stdout)
        return shown

    async def republish_config(self, name: str) -> int:
        """Publish the station's effective configuration again, as a second bridge might."""
        shown = await self.config_show(name)
        desired = ConfigDesired(
            version=shown["version"], at=datetime.now(UTC), settings=shown["settings"]
        )
        publication = prepare(StationId.from_client_id(name), desired)
        second = self.credentials.credentials(control_client_id(SECOND_BRIDGE), "bridge")
        async with aiomqtt.Client(
            self.broker.host,
            self.broker.tls_port,
            identifier=control_client_id(SECOND_BRIDGE),
            tls_context=second.tls_context(),
        ) as client:
            await client.publish(
                publication.topic,
                publication.payload,
                qos=publication.qos,
                retain=publication.retain,
            )
        return desired.version

    # --- releases ----------------------------------------------------------------------------

    def publish_release(self, version: str) -> Path:
        """Build ``version`` from the installed code and sign it into the repository."""
        release_dir = build_release(version, self.site.directory / "release-build")
        self.site.repository.publish(release_dir)
        return release_dir

    def stored_target(self, version: str, file_name: str) -> Path:
        """The repository's copy of a release file: ``targets/releases/<v>/<sha256>.<name>``."""
        folder = self.site.repository.targets_dir / "releases" / version
        found = sorted(folder.glob(f"*.{file_name}"))
        if len(found) != 1:
            raise AssertionError(f"expected one stored {file_name} in {folder}, found {found}")
        return found[0]

    def expire_timestamp(self) -> None:
        """Re-sign the timestamp as if two days ago, so it has expired (a frozen repository)."""
        keys = self.site.repository.keys
        past = datetime.now(UTC) - timedelta(days=2)
        ReleaseRepository(
            self.site.repository.directory, keys, clock=lambda: past
        ).refresh_timestamp()

    # --- waiting -----------------------------------------------------------------------------

    async def wait_for(
        self, condition: Callable[[], T | None], what: str, timeout_s: float = 60.0
    ) -> T:
        """Poll ``condition`` until it is truthy and return it; fail naming ``what`` and the logs.

        A database still being created or locked by the bridge counts as not yet.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            self.site.bridge.check_alive()
            value = _read(condition)
            if value:
                return value
            if time.monotonic() > deadline:
                raise WorldTimeoutError(
                    f"timed out after {timeout_s:.0f} s waiting for {what}\n{self.logs()}"
                )
            await asyncio.sleep(_POLL_S)

    async def wait_for_async(
        self, condition: Callable[[], Awaitable[T | None]], what: str, timeout_s: float = 60.0
    ) -> T:
        """`wait_for` with a condition that is a coroutine function (a CLI call, say)."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.site.bridge.check_alive()
            value = await condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise WorldTimeoutError(
                    f"timed out after {timeout_s:.0f} s waiting for {what}\n{self.logs()}"
                )
            await asyncio.sleep(_POLL_S)

    def logs(self, lines: int = 15) -> str:
        """Where every log of the world is, and how each ends."""
        parts = [
            f"logs in {self.site.directory}",
            f"--- bridge ({self.site.bridge_config.parent / 'bridge.log'}):",
        ]
        parts.append(self.site.bridge.log_tail(lines))
        state = "running" if self.broker.running else "NOT RUNNING"
        broker_tail = "\n".join(self.broker.log_text().splitlines()[-lines:]) or "(no log)"
        parts.append(f"--- broker {self.broker.tls_url} ({state}):\n{broker_tail}")
        for station in self.site.stations:
            log_file = station.program.log_file
            tail = "\n".join(self.log_text(station.name).splitlines()[-lines:]) or "(no log)"
            parts.append(f"--- {station.name} ({log_file}):\n{tail}")
        return "\n".join(parts)

    async def close(self) -> None:
        """Stop every station, then the bridge, even when a station will not stop cleanly."""
        try:
            for name in list(self._supervisors):
                await self.stop_station(name)
        finally:
            await self.site.bridge.stop()
            self.engine.dispose()


def _read(condition: Callable[[], T | None]) -> T | None:
    """The condition's value; None while the bridge's database is being created or is locked."""
    try:
        return condition()
    except OperationalError:
        return None


@asynccontextmanager
async def fleet_world(
    directory: Path, *, stations: int = 1, timeout_s: float = 60.0
) -> AsyncIterator[FleetWorld]:
    """A broker of its own, the bridge and ``stations`` supervised stations, all reporting.

    The broker is private to the world: the drill's station ids are the same in every world,
    and a shared broker would hand one world's retained configuration to the next.
    """
    credentials = SiteCredentials.create(directory / "pki")
    with credentials.broker(bridge_instances=[BRIDGE_INSTANCE, SECOND_BRIDGE]) as broker:
        site = DrillSite.create(
            directory, broker_url=broker.tls_url, credentials=credentials, stations=stations
        )
        world = FleetWorld(site, broker, credentials)
        await site.bridge.start()
        try:
            for name in world.names:
                await world.start_station(name)
            await world.wait_for(
                lambda: all(world.online_on(name) for name in world.names),
                f"every station online on {FACTORY_VERSION} with its fleet report",
                timeout_s,
            )
            yield world
        finally:
            await world.close()
