"""Rollout groups: which stations a rollout or a group configuration reaches.

A group is a name on the station's inventory row. A station can be grouped before it ever
reported (a row is made for it, offline and never seen), so a new Pi joins its group's
configuration and rollouts with its first birth.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_bridge.db.engine import for_update
from cloud_bridge.db.fleet import FleetStation
from cloud_bridge.db.fleet_control import ConfigScope
from cloud_bridge.fleet.configs import latest_config, reissue_station_config
from cloud_bridge.fleet.names import FleetNameError, check_group, parse_station
from cloud_bridge.fleet.rows import locked_station_row
from edge.contract import StationId

__all__ = ["group_members", "set_group"]


def set_group(
    session: Session, stations: Iterable[str], group: str | None, *, now: datetime
) -> list[StationId]:
    """Put the stations in ``group`` (None takes them out of any); the ones that moved.

    Every id is checked before any row changes, so a typo in the list changes nothing. A
    station whose move changes which group configuration applies gets its own overlay
    reissued, so the change reaches it (see `reissue_station_config`).
    """
    if group is not None:
        check_group(group)
    ids = [parse_station(text) for text in stations]
    if not ids:
        raise FleetNameError("no station given; expected at least one <site>.<station>")
    moved: list[StationId] = []
    for station_id in ids:
        row = locked_station_row(session, station_id)
        if row.group == group:
            continue
        old = row.group
        row.group = group
        moved.append(station_id)
        if _has_group_config(session, old) or _has_group_config(session, group):
            session.flush()
            reissue_station_config(session, station_id, now=now)
    return moved


def _has_group_config(session: Session, group: str | None) -> bool:
    return group is not None and latest_config(session, ConfigScope.GROUP, group) is not None


def group_members(session: Session, group: str, *, lock: bool = False) -> list[FleetStation]:
    """The stations of ``group``, by station id; locked for the transaction if asked."""
    query = (
        select(FleetStation)
        .where(FleetStation.group == check_group(group))
        .order_by(FleetStation.station_id)
    )
    return list(session.scalars(for_update(query) if lock else query))
