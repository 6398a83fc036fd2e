"""`station.toml`: everything one pack station needs, validated at start with the bad key named.

Each section is the strict model of the part that reads it (the drivers' own configs, the
uplink's broker settings, the label settings), so a typo or a value out of range stops the station
before it touches hardware, with a message such as
``invalid configuration: lights.slots.A1.led: Field required``. Relative paths are taken from
the state directory, so one directory holds everything a station must keep across restarts.

Loading it at start also refuses a broker private key that group or others can read: the key is
the station's identity on the broker, and a copy lets anyone speak as this station.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from edge.config import StrictConfig, load_toml, parse_section
from edge.contract import StationId
from edge.contract.errors import InvalidIdError
from edge.drivers.lights import LightsConfig
from edge.drivers.printer.config import PrinterConfig
from edge.drivers.printer.label_config import LabelSettings
from edge.drivers.scanner import ScannerConfig
from edge.errors import ConfigError
from edge.secret_files import check_secret_files
from edge.station.metrics import StationMetricsSettings
from edge.station.uplink import BrokerSettings

__all__ = [
    "LoadedConfig",
    "OutboxSettings",
    "ScreenSettings",
    "StationConfig",
    "StationSection",
    "load_station_config",
    "parse_station_config",
    "station_secret_files",
]


class StationSection(StrictConfig):
    """`[station]`: who the station is, where it keeps its state, and how it verifies items."""

    site: str
    id: str
    state_dir: Path
    verification: Literal["each", "line", "off"] = "line"
    """Scan every unit, scan once per line, or confirm with the button alone."""
    default_carrier: str = Field(default="OWN", min_length=1, max_length=64)
    """Carrier printed when an allocation names none."""
    alert_seconds: float = Field(default=3.0, gt=0, le=60)
    """How long a transient alert (wrong slot, wrong item) shows before the lights settle."""

    @model_validator(mode="after")
    def _valid_ids(self) -> StationSection:
        try:
            StationId(self.site, self.id)
        except InvalidIdError as error:
            raise ValueError(str(error)) from None
        return self

    @property
    def station_id(self) -> StationId:
        return StationId(self.site, self.id)


class OutboxSettings(StrictConfig):
    """`[outbox]`: its bounds; at 80% of either the station raises an alarm."""

    max_events: int = Field(default=50_000, ge=10)
    max_bytes: int = Field(default=64 * 2**20, ge=64 * 1024)


_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class ScreenSettings(StrictConfig):
    """`[screen]`: the packer's screen, a page the station serves to a kiosk browser beside it.

    Its actions (void, abort...) need no login, because the only browser meant to reach it runs
    on the station itself; so it listens on loopback only, and any other host is refused here.
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=0, le=65535)
    """0 takes any free port (the station logs the one it got)."""

    @model_validator(mode="after")
    def _loopback_only(self) -> ScreenSettings:
        if self.host not in _LOOPBACK_HOSTS:
            raise ValueError(
                f"host {self.host!r} is not a loopback address: the screen's actions have no "
                "login, and the kiosk browser runs on the station itself, so the screen listens "
                f"only on {', '.join(sorted(_LOOPBACK_HOSTS))}"
            )
        return self


class StationConfig(StrictConfig):
    """The whole of `station.toml`."""

    station: StationSection
    broker: BrokerSettings
    scanner: ScannerConfig
    printer: PrinterConfig
    labels: LabelSettings
    lights: LightsConfig
    outbox: OutboxSettings = OutboxSettings()
    screen: ScreenSettings = ScreenSettings()
    metrics: StationMetricsSettings = StationMetricsSettings()

    def resolve(self, path: Path) -> Path:
        """A path from the config, relative ones taken from the state directory."""
        return path if path.is_absolute() else self.station.state_dir / path


class LoadedConfig(StrictConfig):
    """A validated config and the SHA-256 of the bytes it came from (reported in the birth)."""

    config: StationConfig
    sha256: str


def parse_station_config(data: dict[str, Any], *, base: Path | None = None) -> StationConfig:
    """Validate a parsed `station.toml`, naming the section and key of every problem."""
    known = set(StationConfig.model_fields)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"invalid configuration: unknown section(s) {', '.join(unknown)} "
            f"(expected {', '.join(sorted(known))})"
        )
    missing = sorted(
        name
        for name, field in StationConfig.model_fields.items()
        if field.is_required() and name not in data
    )
    if missing:
        raise ConfigError(f"invalid configuration: missing section(s) {', '.join(missing)}")
    sections = {
        name: parse_section(field.annotation, data[name], name)  # type: ignore[arg-type]
        for name, field in StationConfig.model_fields.items()
        if name in data
    }
    config = StationConfig.model_validate(sections)
    if base is not None and not config.station.state_dir.is_absolute():
        station = config.station.model_copy(update={"state_dir": base / config.station.state_dir})
        config = config.model_copy(update={"station": station})
    return config


def station_secret_files(config: StationConfig) -> list[tuple[str, Path]]:
    """The station's secret files with the keys naming them: its broker private key."""
    key_file = config.broker.key_file
    return [] if key_file is None else [("broker.key_file", key_file)]


def load_station_config(path: Path) -> LoadedConfig:
    """Read and validate `station.toml`; relative state_dir is taken from the file's folder.

    A secret file it names that others can read stops it here (`ConfigError` naming the file,
    its mode and `chmod 600`).
    """
    data = load_toml(path)
    config = parse_station_config(data, base=path.resolve().parent)
    check_secret_files(station_secret_files(config))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return LoadedConfig(config=config, sha256=digest)
