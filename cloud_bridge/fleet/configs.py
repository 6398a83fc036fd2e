"""Pushed configuration: versioned overlays per group and per station, and what each station
should be sent.

A station's effective configuration is its group's overlay with its own laid over it, section by
section and key by key; its version is the higher of the two, and versions come from one
bridge-wide sequence, so any change to either raises it. The station validates the result with
the same models as station.toml; the bridge refuses here only what it can tell is wrong without
the station: a document that is not a table of tables, an unknown section, and the keys that
make a station who it is.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from pydantic import JsonValue
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud_bridge.db.fleet import FleetStation
from cloud_bridge.db.fleet_control import ConfigScope, FleetConfig, FleetConfigPublished
from cloud_bridge.errors import BridgeError
from cloud_bridge.fleet.names import check_group, parse_station
from edge.contract import ConfigDesired, StationId

__all__ = [
    "IDENTITY_KEYS",
    "ConfigPushError",
    "Overlay",
    "effective_config",
    "latest_config",
    "load_overlay",
    "mark_config_published",
    "pending_configs",
    "published_version",
    "reissue_station_config",
    "set_config",
    "validate_overlay",
]

Overlay = dict[str, dict[str, JsonValue]]
"""``{section: {key: value}}``, values as JSON has them."""

IDENTITY_KEYS: tuple[tuple[str, str], ...] = (
    ("station", "site"),
    ("station", "id"),
    ("station", "state_dir"),
    ("broker", "url"),
    ("broker", "ca_file"),
    ("broker", "cert_file"),
    ("broker", "key_file"),
)
"""Keys that make a station who it is or how it reaches the broker; pushing them could move it
to another identity or cut it off from the channel that would push the fix."""


class ConfigPushError(BridgeError, ValueError):
    """A configuration overlay cannot be pushed; the message names the section or key."""


def load_overlay(path: Path) -> Overlay:
    """Read an overlay from a ``.toml`` or ``.json`` file and check it."""
    suffix = path.suffix.lower()
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ConfigPushError(f"overlay file {path}: cannot be read: {error}") from error
    try:
        if suffix == ".toml":
            data: object = tomllib.loads(raw.decode("utf-8"))
        elif suffix == ".json":
            data = json.loads(raw)
        else:
            raise ConfigPushError(
                f"overlay file {path}: unknown kind {suffix or '(none)'!r}; expected .toml or .json"
            )
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise ConfigPushError(f"overlay file {path}: not valid {suffix[1:]}: {error}") from error
    return validate_overlay(data)


def validate_overlay(settings: object) -> Overlay:
    """``settings`` as an overlay, or an error naming the first thing that is wrong.

    It must be a table of tables naming only sections station.toml has, must not touch the
    identity keys, and must survive a round trip through JSON (TOML dates do not).
    """
    if not isinstance(settings, Mapping):
        raise ConfigPushError(
            f"settings are a {type(settings).__name__}; expected a table of tables "
            "({section: {key: value}})"
        )
    known = _station_sections()
    overlay: Overlay = {}
    for section, body in settings.items():
        if section not in known:
            raise ConfigPushError(
                f"settings section {section!r} is not a station.toml section; expected one of "
                f"{', '.join(sorted(known))}"
            )
        if not isinstance(body, Mapping):
            raise ConfigPushError(
                f"settings section {section!r} is a {type(body).__name__}; expected a table"
            )
        overlay[str(section)] = dict(body)
    touched = [f"{s}.{k}" for s, k in IDENTITY_KEYS if k in overlay.get(s, {})]
    if touched:
        raise ConfigPushError(
            f"settings set {', '.join(touched)}: a station's identity and its broker link are "
            "not pushed (they are set on the station itself); remove these keys"
        )
    try:
        return dict(json.loads(json.dumps(overlay, allow_nan=False)))
    except (TypeError, ValueError) as error:
        raise ConfigPushError(f"settings hold a value JSON cannot carry: {error}") from error


def _station_sections() -> frozenset[str]:
    """The sections of station.toml, read from its model so the two never drift."""
    from edge.station.config import StationConfig

    return frozenset(StationConfig.model_fields)


def set_config(
    session: Session, scope: ConfigScope, target: str, settings: object, *, now: datetime
) -> FleetConfig:
    """Store a new desired configuration for a station or a group, under a new version."""
    if scope is ConfigScope.STATION:
        target = parse_station(target).client_id
    else:
        target = check_group(target)
    overlay = validate_overlay(settings)
    row = FleetConfig(scope=scope, target=target, settings=json.dumps(overlay), created_at=now)
    session.add(row)
    session.flush()
    return row


def latest_config(session: Session, scope: ConfigScope, target: str) -> FleetConfig | None:
    """The configuration in force for a station or a group, if it was ever given one."""
    query = (
        select(FleetConfig)
        .where(FleetConfig.scope == scope, FleetConfig.target == target)
        .order_by(FleetConfig.version.desc())
        .limit(1)
    )
    return session.scalar(query)


def effective_config(session: Session, station_id: StationId) -> ConfigDesired | None:
    """What the station should run: its group's overlay under its own; None if neither exists."""
    station = session.get(FleetStation, station_id.client_id)
    group = station.group if station is not None else None
    group_doc = latest_config(session, ConfigScope.GROUP, group) if group is not None else None
    own_doc = latest_config(session, ConfigScope.STATION, station_id.client_id)
    return _combine(group_doc, own_doc)


def _combine(group_doc: FleetConfig | None, own_doc: FleetConfig | None) -> ConfigDesired | None:
    docs = [doc for doc in (group_doc, own_doc) if doc is not None]
    if not docs:
        return None
    merged: Overlay = {}
    for doc in docs:
        for section, body in json.loads(doc.settings).items():
            merged.setdefault(section, {}).update(body)
    newest = max(docs, key=lambda doc: doc.version)
    settings = cast(dict[str, JsonValue], merged)
    return ConfigDesired(version=newest.version, at=newest.created_at, settings=settings)


def published_version(session: Session, station_id: StationId) -> int | None:
    """The configuration version last published to the station, if any."""
    row = session.get(FleetConfigPublished, station_id.client_id)
    return row.version if row is not None else None


def pending_configs(session: Session) -> list[tuple[StationId, ConfigDesired]]:
    """Every station whose effective configuration is newer than what it was last sent."""
    latest = _latest_docs(session)
    groups: dict[str, str | None] = dict(
        session.execute(select(FleetStation.station_id, FleetStation.group)).all()
    )
    published: dict[str, int] = dict(
        session.execute(select(FleetConfigPublished.station_id, FleetConfigPublished.version)).all()
    )
    stations = set(groups) | {t for scope, t in latest if scope is ConfigScope.STATION}
    pending: list[tuple[StationId, ConfigDesired]] = []
    for station in sorted(stations):
        group = groups.get(station)
        group_doc = latest.get((ConfigScope.GROUP, group)) if group is not None else None
        desired = _combine(group_doc, latest.get((ConfigScope.STATION, station)))
        if desired is not None and desired.version > published.get(station, 0):
            pending.append((StationId.from_client_id(station), desired))
    return pending


def _latest_docs(session: Session) -> dict[tuple[ConfigScope, str], FleetConfig]:
    newest = select(func.max(FleetConfig.version)).group_by(FleetConfig.scope, FleetConfig.target)
    rows = session.scalars(select(FleetConfig).where(FleetConfig.version.in_(newest)))
    return {(row.scope, row.target): row for row in rows}


def mark_config_published(
    session: Session, station_id: StationId, version: int, *, now: datetime | None = None
) -> None:
    """Remember that ``version`` was published to the station; an older mark never wins."""
    now = now or datetime.now(UTC)
    row = session.get(FleetConfigPublished, station_id.client_id, with_for_update=True)
    if row is None:
        session.add(
            FleetConfigPublished(station_id=station_id.client_id, version=version, published_at=now)
        )
        session.flush()
    elif version > row.version:
        row.version = version
        row.published_at = now


def reissue_station_config(session: Session, station_id: StationId, *, now: datetime) -> None:
    """Give the station's own overlay a new version, so a change of group reaches it.

    Moving a station to a group whose configuration is older than what it was sent would
    otherwise not raise its effective version, and the station would never hear of it.
    """
    own = latest_config(session, ConfigScope.STATION, station_id.client_id)
    settings = json.loads(own.settings) if own is not None else {}
    set_config(session, ConfigScope.STATION, station_id.client_id, settings, now=now)
