"""`bridge.toml`: the bridge's database, broker, HTTP listener, routing, station slot maps, and
the dashboard's site time zone.

Validated at start like `station.toml`: an unknown section or key, or a bad value, stops the
bridge with a message naming the section and key. API tokens are not configured here: they live
hashed in the bridge's database, made with `packline bridge token create`, so no file holds one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from cloud_bridge.broker_settings import DEFAULT_INSTANCE, BridgeBrokerSettings
from cloud_bridge.dashboard.settings import DashboardSettings
from cloud_bridge.fleet.settings import FleetSettings
from cloud_bridge.ingest.fairness import FairnessSettings
from cloud_bridge.posting.settings import SageSettings
from cloud_bridge.routing import RoutingSettings
from edge.config import StrictConfig, load_toml, parse_section
from edge.errors import ConfigError

__all__ = [
    "TOKEN_FILE_REMOVED",
    "BridgeConfig",
    "BridgeSection",
    "HttpSettings",
    "StationSlots",
    "load_bridge_config",
    "parse_bridge_config",
]


class BridgeSection(StrictConfig):
    """`[bridge]`: this instance and its database."""

    instance: str = Field(default=DEFAULT_INSTANCE, pattern=r"^[A-Za-z0-9_-]{1,32}$")
    """This instance's name; its MQTT client id is ``bridge-<instance>``. Unique per instance."""
    database_url: str = Field(min_length=1)
    """``sqlite:///path`` (embedded default) or ``postgresql+psycopg://...`` (scale path)."""
    cycle_seconds: float = Field(default=2.0, gt=0, le=3600)
    """How often allocation and release run (events and API calls also trigger them)."""


TOKEN_FILE_REMOVED = (
    "http.token_file: the API no longer reads a token file; tokens live hashed in the bridge's "
    "database, each with a role. Remove token_file from [http], then run `packline bridge token "
    "create --config bridge.toml --name NAME --role admin` (or viewer, operator, "
    "credit_controller) and give each client its own token"
)
"""Why a bridge.toml that still names ``[http] token_file`` is refused, and what to do instead."""


class HttpSettings(StrictConfig):
    """`[http]`: where the API listens. Its tokens are in the database, not in the config.

    Bearer tokens must not cross a shared warehouse network in clear: on any address other than
    loopback the API serves HTTPS (``tls_cert_file`` and ``tls_key_file``), and a loopback
    listener is for a TLS-terminating proxy on the same host or for local use.
    """

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None

    @model_validator(mode="after")
    def _tls_off_loopback(self) -> HttpSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if self.tls_cert_file is None and self.host not in _LOOPBACK:
            raise ValueError(
                f"host {self.host!r} is not loopback, so bearer tokens would cross the network "
                "in clear: set tls_cert_file and tls_key_file, or listen on 127.0.0.1 behind a "
                "TLS-terminating proxy"
            )
        return self

    @property
    def scheme(self) -> str:
        return "http" if self.tls_cert_file is None else "https"


_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class StationSlots(StrictConfig):
    """`[stations."<site>.<station>"]`: which slot holds which SKU at that station."""

    slots: dict[str, str] = Field(min_length=1)
    """SKU -> slot."""


class BridgeConfig(StrictConfig):
    """The whole of `bridge.toml`."""

    bridge: BridgeSection
    broker: BridgeBrokerSettings
    http: HttpSettings
    routing: RoutingSettings
    stations: dict[str, StationSlots] = Field(default_factory=dict)
    sage: SageSettings | None = None
    """Posting to Sage; without it the bridge records shipments and posts nothing."""
    fleet: FleetSettings | None = None
    """Configuration push and software rollouts; without it the bridge runs neither."""
    ingest: FairnessSettings = Field(default_factory=FairnessSettings)
    """Per-station ingest limits, so one flooding station cannot starve the others."""
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    """How the manager's dashboard presents the site: its time zone."""

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
    """Validate a parsed bridge.toml; relative sqlite and file paths are taken from `base`."""
    known = set(BridgeConfig.model_fields)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"invalid configuration: unknown section(s) {', '.join(unknown)}")
    if isinstance(data.get("http"), dict) and "token_file" in data["http"]:
        raise ConfigError(f"invalid configuration: {TOKEN_FILE_REMOVED}")
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
    http = config.http.model_copy(
        update={
            key: base / path
            for key in ("tls_cert_file", "tls_key_file")
            if (path := getattr(config.http, key)) is not None and not path.is_absolute()
        }
    )
    bridge = config.bridge
    prefix = "sqlite:///"
    if bridge.database_url.startswith(prefix) and not bridge.database_url.startswith(prefix + "/"):
        path = base / bridge.database_url[len(prefix) :]
        bridge = bridge.model_copy(update={"database_url": f"{prefix}{path}"})
    sage = config.sage
    if sage is not None:
        sage = _sage_relative_to(sage, base)
    fleet = config.fleet.relative_to(base) if config.fleet is not None else None
    broker = config.broker.resolved(base)
    return config.model_copy(
        update={"http": http, "broker": broker, "bridge": bridge, "sage": sage, "fleet": fleet}
    )


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
