"""Stations for the dashboard: presence, printer, outbox, throughput and error rates.

Rates come from the counters the station last reported (they only go up, since the station was
set up), and throughput from the shipments table, both already held by the bridge.

Both rates are per confirmed line (``picks``: a line picked in full and confirmed at its slot).
A station reports wrong scans but not how many items it scanned, so there is no honest "share of
scans" to give: adding wrong scans to picks would mix lines with scans, as a line of six units
takes six good scans and counts one pick.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from cloud_bridge.dashboard.paging import Page, page_of
from cloud_bridge.dashboard.schemas import ChartOut, ChartSeriesOut, StationOut
from cloud_bridge.db.fleet import FleetStation
from cloud_bridge.db.shipping import Shipment
from cloud_bridge.fleet.rows import NEVER_SEEN

__all__ = ["CHART_STATIONS", "picks_per_station", "read_counters", "station_page"]

CHART_STATIONS = 100
"""At most this many stations are drawn in the picks chart, the busiest first."""


def read_counters(stored: str | None) -> Mapping[str, int]:
    """The counters a station last reported; empty if it has sent no status yet."""
    if not stored:
        return {}
    loaded = json.loads(stored)
    return {str(name): int(value) for name, value in loaded.items()}


def station_page(session: Session, now: datetime, *, limit: int, offset: int) -> Page[StationOut]:
    """Stations by id, each with what it reported and what it shipped in the last hour."""
    rows = list(
        session.scalars(
            select(FleetStation).order_by(FleetStation.station_id).limit(limit).offset(offset)
        )
    )
    shipped = _shipped_last_hour(session, [row.station_id for row in rows], now)
    items = [_station(row, shipped.get(row.station_id, (0, 0))) for row in rows]
    total = session.scalar(select(func.count()).select_from(FleetStation)) or 0
    return page_of(items, total=total, limit=limit, offset=offset)


def _shipped_last_hour(
    session: Session, station_ids: Sequence[str], now: datetime
) -> dict[str, tuple[int, int]]:
    """(shipments, distinct orders) per station in the hour before ``now``."""
    if not station_ids:
        return {}
    query = (
        select(Shipment.station_id, func.count(), func.count(distinct(Shipment.order_no)))
        .where(
            Shipment.station_id.in_(station_ids), Shipment.shipped_at >= now - timedelta(hours=1)
        )
        .group_by(Shipment.station_id)
    )
    return {station: (shipments, orders) for station, shipments, orders in session.execute(query)}


def _rate(part: int | None, whole: int | None) -> float | None:
    if part is None or not whole:
        return None
    return round(part / whole, 4)


def _station(row: FleetStation, shipped: tuple[int, int]) -> StationOut:
    counters = read_counters(row.counters)
    picks = counters.get("picks")
    shorts = counters.get("shorts")
    wrong_scans = counters.get("wrong_scans")
    return StationOut(
        station_id=row.station_id,
        site=row.site,
        group=row.group,
        online=row.online,
        last_seen=None if row.last_seen <= NEVER_SEEN else row.last_seen,
        software_version=row.software_version,
        phase=row.phase,
        printer=row.printer,
        printer_detail=row.printer_detail,
        outbox_depth=row.outbox_depth,
        outbox_oldest_age_s=row.outbox_oldest_age_s,
        status_at=row.status_at,
        shipments_last_hour=shipped[0],
        orders_last_hour=shipped[1],
        picks=picks,
        shorts=shorts,
        wrong_scans=wrong_scans,
        short_rate=_rate(shorts, picks),
        wrong_scan_rate=_rate(wrong_scans, picks),
    )


def picks_per_station(session: Session) -> ChartOut:
    """Picks each station has reported, the busiest `CHART_STATIONS` stations first."""
    rows = session.execute(
        select(FleetStation.station_id, FleetStation.counters).where(
            FleetStation.counters.is_not(None)
        )
    ).all()
    picks = sorted(
        ((station, read_counters(stored).get("picks", 0)) for station, stored in rows),
        key=lambda pair: (-pair[1], pair[0]),
    )[:CHART_STATIONS]
    return ChartOut(
        title="Picks per station (since each station was set up)",
        labels=[station for station, _ in picks],
        series=[ChartSeriesOut(label="Picks", values=[count for _, count in picks])],
    )
