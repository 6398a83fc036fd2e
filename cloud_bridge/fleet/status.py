"""The fleet as the bridge's database knows it: filtered rows, a table for people, JSON for scripts.

Rows are read into plain frozen values first, so rendering needs no session and the table and
the JSON always show the same stations. What the station's last fleet report said (the release
it is moving to, a refused update or configuration and why) is shown beside the inventory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from rich.table import Table
from rich.text import Text
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_bridge.db.fleet import FleetStation
from cloud_bridge.db.fleet_control import FleetStationReport
from cloud_bridge.fleet.rows import NEVER_SEEN

__all__ = [
    "FleetFilter",
    "FleetRow",
    "HardwareStatus",
    "fleet_json",
    "fleet_table",
    "list_fleet",
]

FleetState = Literal["online", "offline"]
_SHORT_HASH = 12


@dataclass(frozen=True, slots=True)
class HardwareStatus:
    """One device as the station's birth reported it."""

    kind: str
    name: str
    status: str
    detail: str | None


@dataclass(frozen=True, slots=True)
class FleetFilter:
    """Which stations to list; None matches every value."""

    site: str | None = None
    group: str | None = None
    version: str | None = None
    state: FleetState | None = None


@dataclass(frozen=True, slots=True)
class FleetRow:
    """One station's row of the fleet view."""

    station_id: str
    site: str
    group: str | None
    online: bool
    last_seen: datetime
    software_version: str | None
    config_version: int | None
    config_hash: str | None
    hardware: tuple[HardwareStatus, ...]
    printer: str | None
    printer_detail: str | None
    outbox_depth: int | None
    outbox_oldest_age_s: float | None
    phase: str | None
    update_state: str | None
    target_version: str | None = None
    update_refusal: str | None = None
    update_reason: str | None = None
    config_applied_version: int | None = None
    config_refused_version: int | None = None
    config_refused_reason: str | None = None

    @property
    def never_seen(self) -> bool:
        """Named by the operator (put in a group) but never heard from."""
        return self.last_seen <= NEVER_SEEN

    @property
    def state(self) -> FleetState:
        return "online" if self.online else "offline"

    def as_json(self) -> dict[str, Any]:
        """Every field with its full value (the whole config hash), for scripts."""
        return {
            "station_id": self.station_id,
            "site": self.site,
            "group": self.group,
            "state": self.state,
            "online": self.online,
            "last_seen": None if self.never_seen else self.last_seen.isoformat(),
            "software_version": self.software_version,
            "config_version": self.config_version,
            "config_hash": self.config_hash,
            "hardware": [
                {"kind": d.kind, "name": d.name, "status": d.status, "detail": d.detail}
                for d in self.hardware
            ],
            "printer": self.printer,
            "printer_detail": self.printer_detail,
            "outbox_depth": self.outbox_depth,
            "outbox_oldest_age_s": self.outbox_oldest_age_s,
            "phase": self.phase,
            "update_state": self.update_state,
            "target_version": self.target_version,
            "update_refusal": self.update_refusal,
            "update_reason": self.update_reason,
            "config_applied_version": self.config_applied_version,
            "config_refused_version": self.config_refused_version,
            "config_refused_reason": self.config_refused_reason,
        }


def list_fleet(session: Session, fleet_filter: FleetFilter | None = None) -> list[FleetRow]:
    """The stations matching `fleet_filter`, by site and then station id."""
    wanted = fleet_filter or FleetFilter()
    query = (
        select(FleetStation, FleetStationReport)
        .outerjoin(FleetStationReport, FleetStationReport.station_id == FleetStation.station_id)
        .order_by(FleetStation.site, FleetStation.station_id)
    )
    if wanted.site is not None:
        query = query.where(FleetStation.site == wanted.site)
    if wanted.group is not None:
        query = query.where(FleetStation.group == wanted.group)
    if wanted.version is not None:
        query = query.where(FleetStation.software_version == wanted.version)
    if wanted.state is not None:
        query = query.where(FleetStation.online.is_(wanted.state == "online"))
    return [_row(station, report) for station, report in session.execute(query).all()]


def fleet_json(rows: list[FleetRow]) -> str:
    """The rows as a JSON array, one object per station."""
    return json.dumps([row.as_json() for row in rows], indent=2)


def fleet_table(rows: list[FleetRow]) -> Table:
    """The rows as a table for a terminal, one line per station."""
    table = Table(title=f"Fleet: {len(rows)} station(s)")
    for header in (
        "station",
        "site",
        "group",
        "online",
        "last seen",
        "software",
        "config",
        "config hash",
        "hardware",
        "printer",
        "outbox",
        "phase",
        "update",
    ):
        table.add_column(header)
    for row in rows:
        online = Text("yes", style="green") if row.online else Text("no", style="red")
        # Text cells, not markup: versions and printer details come from stations.
        table.add_row(
            *map(Text, (row.station_id, row.site, _text(row.group))),
            online,
            *map(
                Text,
                (
                    _last_seen(row),
                    _text(row.software_version),
                    _config(row),
                    row.config_hash[:_SHORT_HASH] if row.config_hash else "-",
                    _hardware_summary(row.hardware),
                    _printer(row),
                    _outbox(row),
                    _text(row.phase),
                    _update(row),
                ),
            ),
        )
    return table


def _row(station: FleetStation, report: FleetStationReport | None) -> FleetRow:
    return FleetRow(
        station_id=station.station_id,
        site=station.site,
        group=station.group,
        online=station.online,
        last_seen=station.last_seen,
        software_version=station.software_version,
        config_version=station.config_version,
        config_hash=station.config_hash,
        hardware=tuple(
            HardwareStatus(
                kind=device["kind"],
                name=device["name"],
                status=device["status"],
                detail=device.get("detail"),
            )
            for device in json.loads(station.hardware)
        ),
        printer=station.printer,
        printer_detail=station.printer_detail,
        outbox_depth=station.outbox_depth,
        outbox_oldest_age_s=station.outbox_oldest_age_s,
        phase=station.phase,
        update_state=station.update_state,
        target_version=report.target_version if report else None,
        update_refusal=report.refusal if report else None,
        update_reason=report.reason if report else None,
        config_applied_version=report.config_applied_version if report else None,
        config_refused_version=report.config_refused_version if report else None,
        config_refused_reason=report.config_refused_reason if report else None,
    )


def _text(value: object) -> str:
    return "-" if value is None else str(value)


def _hardware_summary(hardware: tuple[HardwareStatus, ...]) -> str:
    if not hardware:
        return "-"
    return ", ".join(f"{device.kind} {device.status}" for device in hardware)


def _printer(row: FleetRow) -> str:
    if row.printer is None:
        return "-"
    return f"{row.printer} ({row.printer_detail})" if row.printer_detail else row.printer


def _outbox(row: FleetRow) -> str:
    if row.outbox_depth is None:
        return "-"
    if row.outbox_oldest_age_s is None:
        return str(row.outbox_depth)
    return f"{row.outbox_depth} (oldest {row.outbox_oldest_age_s:.0f} s)"


def _config(row: FleetRow) -> str:
    """The version in force (the report's, which is newer than the birth's) and any refusal."""
    applied = row.config_applied_version
    text = _text(row.config_version if applied is None else applied)
    if row.config_refused_version is not None:
        text += f" (refused {row.config_refused_version}: {row.config_refused_reason or '?'})"
    return text


def _update(row: FleetRow) -> str:
    """The updater's state, the release it is moving to, and a refusal by name."""
    if row.update_state is None:
        return "-"
    text = row.update_state
    if row.target_version is not None and row.update_state not in {"idle", "committed"}:
        text += f" -> {row.target_version}"
    if row.update_refusal is not None:
        text += f" ({row.update_refusal})"
    return text


def _last_seen(row: FleetRow) -> str:
    return "never" if row.never_seen else row.last_seen.strftime("%Y-%m-%d %H:%M:%SZ")
