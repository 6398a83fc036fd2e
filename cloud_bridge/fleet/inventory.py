"""Fold a station's birth, death or status into its fleet row, newer messages only.

Retained messages are redelivered on every reconnect, births and Wills come from different
publishers, and several bridge instances write the same rows, so nothing here trusts arrival
order. Presence is ordered by ``(bd_seq, death after birth)``, the rule of
`edge.station.presence.supersedes` and `is_stale_death`; a status by its ``at``. Each function
takes the caller's session and leaves committing to it.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy.orm import Session

from cloud_bridge.db.fleet import FleetStation
from cloud_bridge.fleet.rows import locked_station_row
from edge.contract import StationBirth, StationDeath, StationId, StationStatus

__all__ = ["record_birth", "record_death", "record_message", "record_status"]


def record_message(
    session: Session, station_id: StationId, message: StationBirth | StationDeath | StationStatus
) -> bool:
    """Record whichever of the three a station sent; False if a newer one is already stored."""
    if isinstance(message, StationBirth):
        return record_birth(session, station_id, message)
    if isinstance(message, StationDeath):
        return record_death(session, station_id, message)
    return record_status(session, station_id, message)


def record_birth(session: Session, station_id: StationId, birth: StationBirth) -> bool:
    """Take a birth as the station's presence, versions and hardware; False if it is older."""
    row = locked_station_row(session, station_id, seen_at=birth.at)
    _seen(row, birth.at)
    if not _presence_supersedes(row, birth.bd_seq, online=True):
        return False
    row.online = True
    row.bd_seq = birth.bd_seq
    row.presence_at = birth.at
    row.software_version = birth.software_version
    row.config_version = birth.config_version
    row.config_hash = birth.config_hash
    row.hardware = json.dumps([device.model_dump(mode="json") for device in birth.hardware])
    if row.outbox_at is None or birth.at >= row.outbox_at:
        row.outbox_depth = birth.outbox_depth
        row.outbox_bytes = None
        row.outbox_oldest_age_s = None
        row.outbox_at = birth.at
    return True


def record_death(session: Session, station_id: StationId, death: StationDeath) -> bool:
    """Mark the station offline, keeping what it last reported; False for a stale death."""
    row = locked_station_row(session, station_id, seen_at=death.at)
    _seen(row, death.at)
    if not _presence_supersedes(row, death.bd_seq, online=False):
        return False
    row.online = False
    row.bd_seq = death.bd_seq
    row.presence_at = death.at
    return True


def record_status(session: Session, station_id: StationId, status: StationStatus) -> bool:
    """Take a status's phase, printer, counters and outbox; False if a newer one is stored."""
    row = locked_station_row(session, station_id, seen_at=status.at)
    _seen(row, status.at)
    if row.status_at is not None and status.at < row.status_at:
        return False
    row.phase = status.phase
    row.printer = status.printer
    row.printer_detail = status.printer_detail
    row.status_at = status.at
    row.counters = json.dumps(status.counters.model_dump(mode="json"), sort_keys=True)
    if row.outbox_at is None or status.at >= row.outbox_at:
        row.outbox_depth = status.outbox_depth
        row.outbox_bytes = status.outbox_bytes
        row.outbox_oldest_age_s = status.outbox_oldest_age_s
        row.outbox_at = status.at
    return True


def _presence_supersedes(row: FleetStation, bd_seq: int, *, online: bool) -> bool:
    """Whether a presence message at ``bd_seq`` replaces the stored one.

    Within one bd_seq the birth comes first and the death second, and equal keys supersede so a
    rebirth refreshes the hardware and a duplicate is harmless; a death below the stored bd_seq
    is stale whatever it says.
    """
    if row.bd_seq is None:
        return True
    incoming = (bd_seq, 0 if online else 1)
    stored = (row.bd_seq, 0 if row.online else 1)
    return incoming >= stored


def _seen(row: FleetStation, at: datetime) -> None:
    row.last_seen = max(row.last_seen, at)
