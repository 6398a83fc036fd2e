"""Datasets whose rows never change once written: station events, labels, shipments, corrections.

- Station events (``applied_events``): per station, every sequence above the highest exported.
  The bridge applies a station's events strictly in sequence order, each under its cursor's row
  lock, so once sequence n is visible every applied event below it is too; nothing commits late.
  Each carries the event's body as the bridge applied it (null for events applied before the
  bridge kept bodies). They are read station by station with ``station_id = ? AND seq > ?``, a
  range of the primary key, so a run reads only the new events however long the log is; the
  stations come from ``station_cursors`` (one small row per station, written in the same
  transaction as the station's first applied event), so a new station is found too.
- Labels: the ``label_printed``, ``label_reprinted`` and ``label_voided`` events among those,
  with what each said about its label; see ``labels``.
- Shipments (with their lines as they stand when first exported) and shipment corrections: by
  id, see ``id_cursor``. A correction changes a shipment line after the fact; the shipment is
  not exported again, the correction row says what changed.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from datetime import datetime

from sqlalchemy import Row as SqlRow
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cloud_bridge.db.models import AppliedEvent, Shipment, ShipmentCorrection, StationCursor
from cloud_bridge.export.chunks import CHUNK
from cloud_bridge.export.datasets import Row
from cloud_bridge.export.id_cursor import read_by_id
from cloud_bridge.export.labels import LABEL_EVENTS, label_rows
from cloud_bridge.export.watermark import IdCursor
from cloud_bridge.export.window import ReadWindow

__all__ = ["EventRow", "event_rows", "read_corrections", "read_shipments", "read_station_events"]

EventRow = SqlRow[str, int, str, str, datetime, str | None]
"""An applied event as read: station, seq, event id, type, applied at, body."""

_EVENT_COLUMNS = (
    AppliedEvent.station_id,
    AppliedEvent.seq,
    AppliedEvent.event_id,
    AppliedEvent.type,
    AppliedEvent.applied_at,
    AppliedEvent.body,
)


def read_station_events(
    session: Session, cursor: dict[str, int], window: ReadWindow
) -> Generator[list[EventRow], None, dict[str, int]]:
    """Batches of applied events above each station's stored sequence, in (station, seq) order.

    Plain rows, not mapped objects: events outnumber every other dataset. Returns the
    per-station sequences to store.
    """
    stations = set(cursor) | set(session.scalars(select(StationCursor.station_id)))
    advanced = dict(cursor)
    for station in sorted(stations):
        query = (
            select(*_EVENT_COLUMNS)
            .where(AppliedEvent.station_id == station, AppliedEvent.seq > cursor.get(station, 0))
            .order_by(AppliedEvent.seq)
            .execution_options(yield_per=CHUNK)
        )
        for batch in session.execute(query).partitions():
            advanced[station] = batch[-1].seq
            if wanted := [row for row in batch if window.includes(row.applied_at)]:
                yield wanted
    return advanced


def event_rows(session: Session, events: Sequence[EventRow]) -> tuple[list[Row], list[Row]]:
    """The ``station_events`` rows of a batch of applied events, and its ``labels`` rows."""
    labels = label_rows(session, [event for event in events if event.type in LABEL_EVENTS])
    return [event._asdict() for event in events], labels


def read_shipments(
    session: Session, cursor: IdCursor, window: ReadWindow
) -> Generator[list[Shipment], None, IdCursor]:
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
) -> Generator[list[ShipmentCorrection], None, IdCursor]:
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
