"""Datasets whose rows never change once written: station events, labels, shipments, corrections.

- Station events (``applied_events``): per station, every sequence above the highest exported.
  The bridge applies a station's events strictly in sequence order, each under its cursor's row
  lock, so once sequence n is visible every applied event below it is too; nothing commits late.
  Each carries the event's body as the bridge applied it (null for events applied before the
  bridge kept bodies).
- Labels: the ``label_printed``, ``label_reprinted`` and ``label_voided`` events among those,
  with what each said about its label; see ``labels``.
- Shipments (with their lines as they stand when first exported) and shipment corrections: by
  id, see ``id_cursor``. A correction changes a shipment line after the fact; the shipment is
  not exported again, the correction row says what changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload

from cloud_bridge.db.models import AppliedEvent, Shipment, ShipmentCorrection
from cloud_bridge.export.datasets import Row
from cloud_bridge.export.id_cursor import IdRead, read_by_id
from cloud_bridge.export.labels import LABEL_EVENTS, label_rows
from cloud_bridge.export.watermark import IdCursor
from cloud_bridge.export.window import ReadWindow

__all__ = ["EventRead", "read_corrections", "read_shipments", "read_station_events"]


@dataclass(frozen=True)
class EventRead:
    """The station events and label rows to export, and the per-station sequences to store."""

    events: list[Row]
    labels: list[Row]
    cursor: dict[str, int]


def read_station_events(session: Session, cursor: dict[str, int], window: ReadWindow) -> EventRead:
    """Every applied event above each station's stored sequence, in (station, seq) order."""
    beyond = [
        and_(AppliedEvent.station_id == station, AppliedEvent.seq > seq)
        for station, seq in cursor.items()
    ]
    unknown = AppliedEvent.station_id.not_in(list(cursor)) if cursor else AppliedEvent.seq > 0
    # Plain rows, not mapped objects: events outnumber every other dataset.
    rows = session.execute(
        select(
            AppliedEvent.station_id,
            AppliedEvent.seq,
            AppliedEvent.event_id,
            AppliedEvent.type,
            AppliedEvent.applied_at,
            AppliedEvent.body,
        )
        .where(or_(unknown, *beyond))
        .order_by(AppliedEvent.station_id, AppliedEvent.seq)
    ).all()
    advanced = dict(cursor)
    for row in rows:
        advanced[row.station_id] = max(advanced.get(row.station_id, 0), row.seq)
    wanted = [row for row in rows if window.includes(row.applied_at)]
    events: list[Row] = [row._asdict() for row in wanted]
    labels = label_rows(session, [row for row in wanted if row.type in LABEL_EVENTS])
    return EventRead(events=events, labels=labels, cursor=advanced)


def read_shipments(session: Session, cursor: IdCursor, window: ReadWindow) -> IdRead[Shipment]:
    """Shipments not exported yet, with their lines as they stand now."""
    return read_by_id(
        session,
        Shipment,
        Shipment.id,
        cursor,
        now=window.now,
        late_window=window.late_window,
        settled=lambda _row: True,
        wanted=lambda row: window.includes(row.shipped_at),
        options=[selectinload(Shipment.lines)],
    )


def read_corrections(
    session: Session, cursor: IdCursor, window: ReadWindow
) -> IdRead[ShipmentCorrection]:
    """Shipment corrections not exported yet."""
    return read_by_id(
        session,
        ShipmentCorrection,
        ShipmentCorrection.id,
        cursor,
        now=window.now,
        late_window=window.late_window,
        settled=lambda _row: True,
        wanted=lambda row: window.includes(row.corrected_at),
    )
