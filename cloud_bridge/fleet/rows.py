"""A station's inventory row, locked for the transaction, made first if the station is new.

Groups can be set and fleet reports can arrive before a station's first birth, so more than
the inventory needs to make a row; the insert does nothing if another bridge instance made it
first, and the row is then read under a lock.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloud_bridge.db.engine import for_update
from cloud_bridge.db.fleet import FleetStation
from edge.contract import StationId

__all__ = ["NEVER_SEEN", "locked_station_row"]

NEVER_SEEN = datetime(1970, 1, 1, tzinfo=UTC)
"""``last_seen`` of a station the operator named before it ever said anything."""


def locked_station_row(
    session: Session, station_id: StationId, *, seen_at: datetime = NEVER_SEEN
) -> FleetStation:
    """The station's row, locked; a new one is offline and last seen at ``seen_at``."""
    locked = for_update(select(FleetStation).where(FleetStation.station_id == station_id.client_id))
    row = session.scalar(locked)
    if row is None:
        session.execute(_row_insert(session, station_id, seen_at))
        row = session.scalar(locked)
    if row is None:
        raise LookupError(
            f"fleet row for station {station_id.client_id!r} is missing right after being created"
        )
    return row


def _row_insert(session: Session, station_id: StationId, seen_at: datetime) -> Insert:
    values = {
        "station_id": station_id.client_id,
        "site": station_id.site,
        "online": False,
        "last_seen": seen_at,
        "hardware": "[]",
    }
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(FleetStation).values(values).on_conflict_do_nothing()
    return sqlite.insert(FleetStation).values(values).on_conflict_do_nothing()
