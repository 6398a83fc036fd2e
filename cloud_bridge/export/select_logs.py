"""Datasets whose rows never change once written: station events, labels, shipments, corrections.

- Station events (``applied_events``): per station, every sequence above the highest exported.
  The bridge applies a station's events strictly in sequence order, each under its cursor's row
  lock, so once sequence n is visible every applied event below it is too; nothing commits late.
- Labels: the ``label_printed``, ``label_reprinted`` and ``label_voided`` events among those,
  with the order, label and reason the audit trail recorded for reprints and voids (written in
  the same transaction as the event). The bridge keeps no body of a ``label_printed`` event, so
  its order and label id are empty; the shipment carries the label that shipped.
- Shipments (with their lines as they stand when first exported) and shipment corrections: by
  id, see ``id_cursor``. A correction changes a shipment line after the fact; the shipment is
  not exported again, the correction row says what changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Row as SqlRow
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload

from cloud_bridge.audit import station_actor
from cloud_bridge.db.models import AppliedEvent, AuditEntry, Shipment, ShipmentCorrection
from cloud_bridge.export.datasets import Row
from cloud_bridge.export.id_cursor import IdRead, read_by_id
from cloud_bridge.export.watermark import IdCursor
from cloud_bridge.export.window import ReadWindow

__all__ = ["EventRead", "read_corrections", "read_shipments", "read_station_events"]

LABEL_EVENTS = {
    "label_printed": "printed",
    "label_reprinted": "reprinted",
    "label_voided": "voided",
}
_AUDIT_ACTIONS = ("label.reprint", "label.void")
_AUDIT_SLACK = timedelta(hours=1)
_Event = SqlRow[str, int, str, str, datetime]
"""An applied event's station, seq, event id, type and applied time."""


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
        )
        .where(or_(unknown, *beyond))
        .order_by(AppliedEvent.station_id, AppliedEvent.seq)
    ).all()
    advanced = dict(cursor)
    for row in rows:
        advanced[row.station_id] = max(advanced.get(row.station_id, 0), row.seq)
    wanted = [row for row in rows if window.includes(row.applied_at)]
    events: list[Row] = [row._asdict() for row in wanted]
    labels = _labels(session, [row for row in wanted if row.type in LABEL_EVENTS])
    return EventRead(events=events, labels=labels, cursor=advanced)


def _labels(session: Session, events: list[_Event]) -> list[Row]:
    details = _audited_label_details(session, events)
    return [
        {
            "station_id": event.station_id,
            "seq": event.seq,
            "event_id": event.event_id,
            "action": LABEL_EVENTS[event.type],
            "applied_at": event.applied_at,
            **details.get(
                event.event_id,
                {"order_no": None, "label_id": None, "reason": None, "station_at": None},
            ),
        }
        for event in events
    ]


def _audited_label_details(session: Session, events: Iterable[_Event]) -> dict[str, Row]:
    """Order, label id, reason and station time of reprints and voids, by event id."""
    audited = [event for event in events if event.type != "label_printed"]
    if not audited:
        return {}
    earliest = min(event.applied_at for event in audited) - _AUDIT_SLACK
    actors = sorted({station_actor(event.station_id) for event in audited})
    entries = session.scalars(
        select(AuditEntry).where(
            AuditEntry.action.in_(_AUDIT_ACTIONS),
            AuditEntry.actor.in_(actors),
            AuditEntry.at >= earliest,
        )
    )
    details: dict[str, Row] = {}
    for entry in entries:
        after = entry.after or {}
        event_id = after.get("event_id")
        if isinstance(event_id, str):
            details[event_id] = {
                "order_no": entry.subject.removeprefix("order:"),
                "label_id": after.get("label_id"),
                "reason": after.get("reason"),
                "station_at": _instant(after.get("station_at")),
            }
    return details


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


def _instant(value: object) -> datetime | None:
    """The station's time as the audit trail wrote it (ISO 8601), or None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
