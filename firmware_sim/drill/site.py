"""The drill's site: a broker, a bridge with a release repository, and N station homes.

Each station has its own home (releases, `current`, updater state, TUF trust) provisioned as a
Pi is at the factory: the installed code is its base release, and the repository's root metadata
is its trust anchor. Everything binds to loopback and lives in one directory.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from cloud_bridge.fleet.release.keys import KeyStore
from cloud_bridge.fleet.release.repository import ReleaseRepository
from edge import __version__
from edge.contract import StationId
from edge.fleet.home import StationHome
from firmware_sim.ports import free_port, reserved_ports
from firmware_sim.power_cut import POWER_CUT_FILE_VARIABLE
from firmware_sim.secure_site import SiteCredentials
from firmware_sim.shift.processes import ChildProcess
from firmware_sim.sim_station import SLOT_PINS, sim_station_document
from firmware_sim.supervisor import SupervisedProgram

__all__ = ["BRIDGE_INSTANCE", "GROUP", "DrillSite", "DrillStation"]

GROUP = "drill"
BRIDGE_INSTANCE = "drill"
_FIRST_SLOT = next(iter(SLOT_PINS))


@dataclass(frozen=True)
class DrillStation:
    """One simulated station: its id, home, and the program the supervisor keeps running."""

    station_id: StationId
    home: StationHome
    program: SupervisedProgram

    @property
    def name(self) -> str:
        return self.station_id.client_id

    @property
    def power_cut_file(self) -> Path:
        return self.home.root / "power-cut"


@dataclass
class DrillSite:
    """Every file of the drill and the bridge's process."""

    directory: Path
    bridge_config: Path
    repository: ReleaseRepository
    bridge: ChildProcess
    stations: list[DrillStation]

    @classmethod
    def create(
        cls, directory: Path, *, broker_url: str, credentials: SiteCredentials, stations: int
    ) -> DrillSite:
        """Write every file of the drill; each process gets its own certificate."""
        directory.mkdir(parents=True, exist_ok=True)
        keys = KeyStore.create(directory / "release-keys")
        repository = ReleaseRepository.init(directory / "release-repo", keys)
        ids = [StationId("drill", f"st{number:03d}") for number in range(1, stations + 1)]
        bridge_dir = directory / "bridge"
        bridge_dir.mkdir()
        document: dict[str, Any] = {
            "bridge": {
                "instance": BRIDGE_INSTANCE,
                "database_url": f"sqlite:///{bridge_dir / 'bridge.db'}",
                "cycle_seconds": 5.0,
            },
            "broker": {
                **credentials.bridge_link(BRIDGE_INSTANCE, broker_url),
                "backoff_initial_s": 0.2,
                "backoff_max_s": 1.0,
            },
            "http": {"host": "127.0.0.1", "port": free_port()},
            # The drill allocates no orders; routing still names the stations it could route to.
            "routing": {"mode": "round_robin", "stations": [i.client_id for i in ids]},
            "stations": {i.client_id: {"slots": {"DRILL-SKU": _FIRST_SLOT}} for i in ids},
            "fleet": {"repository": str(repository.directory), "tick_seconds": 0.5},
        }
        bridge_config = bridge_dir / "bridge.toml"
        bridge_config.write_bytes(tomli_w.dumps(document).encode())
        bridge = ChildProcess(
            "bridge", ["bridge", "run", "--config", str(bridge_config)], bridge_dir / "bridge.log"
        )
        trusted_root = repository.trusted_root()
        printer_ports = reserved_ports(len(ids))
        homes = [
            _provision(
                directory / "stations" / station_id.client_id,
                station_id,
                credentials.station_link(station_id, broker_url),
                trusted_root,
                printer_port,
            )
            for station_id, printer_port in zip(ids, printer_ports, strict=True)
        ]
        return cls(directory, bridge_config, repository, bridge, homes)


def _provision(
    root: Path,
    station_id: StationId,
    broker_link: dict[str, Any],
    trusted_root: bytes,
    printer_port: int,
) -> DrillStation:
    root.mkdir(parents=True)
    document = sim_station_document(
        station_id,
        broker_url=broker_link["url"],
        printer_port=printer_port,
        state_dir=root / "state",
    )
    document["broker"].update(broker_link)
    document["broker"]["keepalive_s"] = 5
    toml = root / "station.toml.factory"
    toml.write_bytes(tomli_w.dumps(document).encode())
    home = StationHome.provision(
        root, factory_version=__version__, trusted_root=trusted_root, station_toml=toml
    )
    toml.unlink(missing_ok=True)
    program = SupervisedProgram(
        name=station_id.client_id,
        argv=[sys.executable, "-m", "edge.cli", "station", "boot", "--home", str(root), "--sim"],
        cwd=root,
        log_file=root / "station.log",
        env={POWER_CUT_FILE_VARIABLE: str(root / "power-cut")},
    )
    return DrillStation(station_id, home, program)
