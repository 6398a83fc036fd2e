"""`bridge.toml`: the bridge's database, broker, HTTP listener, routing and station slot maps.

Validated at start like `station.toml`: an unknown section or key, or a bad value, stops the
bridge with a message naming the section and key. The HTTP token is read from a file (mode 0600,
owned by the service user) so it never sits in the config or in a process listing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from cloud_bridge.fleet.settings import FleetSettings
from cloud_bridge.posting.settings import SageSettings, read_secret_file
from cloud_bridge.routing import RoutingSettings
from edge.config import StrictConfig, load_toml, parse_section
from edge.errors import ConfigError
from edge.station.uplink import BrokerSettings

__all__ = [
    "BridgeConfig",
    "BridgeSection",
    "HttpSettings",
    "StationSlots",
    "load_bridge_config",
    "parse_bridge_config",
]


class BridgeSection(StrictConfig):
    """`[bridge]`: this instance and its database."""

    instance: str = Field(default="bridge-1", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    """This instance's name; its MQTT client id is ``bridge-<instance>``. Unique per instance."""
    database_url: str = Field(min_length=1)
    """``sqlite:///path`` (embedded default) or ``postgresql+psycopg://...`` (scale path)."""
    cycle_seconds: float = Field(default=2.0, gt=0, le=3600)
    """How often allocation and release run (events and API calls also trigger them)."""


class HttpSettings(StrictConfig):
    """`[http]`: where the API listens and the file holding its bearer token."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    token_file: Path

    def read_token(self) -> str:
        """The token, refusing a file other users can read."""
        text = read_secret_file(self.token_file, "http.token_file")
        if len(text) < 16:
            raise ConfigError("http.token_file: the token must be at least 16 characters")
        return text


class StationSlots(StrictConfig):
    """`[stations."<site>.<station>"]`: which slot holds which SKU at that station."""

    slots: dict[str, str] = Field(min_length=1)
    """SKU -> slot."""


class BridgeConfig(StrictConfig):
    """The whole of `bridge.toml`."""

    bridge: BridgeSection
    broker: BrokerSettings
    http: HttpSettings
    routing: RoutingSettings
    stations: dict[str, StationSlots] = Field(default_factory=dict)
    sage: SageSettings | None = None
    """Posting to Sage; without it the bridge records shipments and posts nothing."""
    fleet: FleetSettings | None = None
    """Configuration push and software rollouts; without it the bridge runs neither."""

    @model_validator(mode="after")
    def _slot_maps_for_routed_stations(self) -> BridgeConfig:
        missing = sorted(set(self.routing.stations) - set(self.stations))
        if missing:
            raise ValueError(
                f"stations: no slot map for {', '.join(missing)} (every routed station needs "
                '[stations."<id>"] slots = { SKU = "slot" })'
            )
        return self

    @property
    def slot_maps(self) -> dict[str, dict[str, str]]:
        return {station: dict(entry.slots) for station, entry in self.stations.items()}


def parse_bridge_config(data: dict[str, Any], *, base: Path | None = None) -> BridgeConfig:
    """Validate a parsed bridge.toml; relative sqlite and token paths are taken from `base`."""
    known = set(BridgeConfig.model_fields)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"invalid configuration: unknown section(s) {', '.join(unknown)}")
    sections: dict[str, Any] = {}
    for name, field in BridgeConfig.model_fields.items():
        if name not in data:
            if field.is_required():
                raise ConfigError(f"invalid configuration: missing section {name}")
            continue
        if name == "stations":
            sections[name] = {
                station: parse_section(StationSlots, body, f"stations.{station}")
                for station, body in dict(data[name]).items()
            }
        elif name == "sage":
            sections[name] = parse_section(SageSettings, data[name], name)
        elif name == "fleet":
            sections[name] = parse_section(FleetSettings, data[name], name)
        else:
            sections[name] = parse_section(field.annotation, data[name], name)  # type: ignore[arg-type]
    try:
        config = BridgeConfig.model_validate(sections)
    except ValueError as error:
        raise ConfigError(f"invalid configuration: {error}") from error
    if base is not None:
        config = _relative_to(config, base)
    return config


def _relative_to(config: BridgeConfig, base: Path) -> BridgeConfig:
    http = config.http
    if not http.token_file.is_absolute():
        http = http.model_copy(update={"token_file": base / http.token_file})
    bridge = config.bridge
    prefix = "sqlite:///"
    if bridge.database_url.startswith(prefix) and not bridge.database_url.startswith(prefix + "/"):
        path = base / bridge.database_url[len(prefix) :]
        bridge = bridge.model_copy(update={"database_url": f"{prefix}{path}"})
    sage = config.sage
    if sage is not None:
        sage = _sage_relative_to(sage, base)
    fleet = config.fleet.relative_to(base) if config.fleet is not None else None
    return config.model_copy(update={"http": http, "bridge": bridge, "sage": sage, "fleet": fleet})


def _sage_relative_to(sage: SageSettings, base: Path) -> SageSettings:
    def resolved(path: Path) -> Path:
        return path if path.is_absolute() else base / path

    update: dict[str, Any] = {"client_secret_file": resolved(sage.client_secret_file)}
    for name in ("test", "live"):
        environment = getattr(sage, name)
        if environment is not None:
            update[name] = environment.model_copy(
                update={"token_file": resolved(environment.token_file)}
            )
    return sage.model_copy(update=update)


def load_bridge_config(path: Path) -> BridgeConfig:
    """Read and validate bridge.toml."""
    return parse_bridge_config(load_toml(path), base=path.resolve().parent)
