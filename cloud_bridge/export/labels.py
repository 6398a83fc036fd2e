"""The ``labels`` rows: one per label event, with what the event said about the label.

Since schema revision 0009 the bridge keeps each applied event's body, so a label row takes its
order, label id, carrier, tracking number, reason and station time from the event itself. Events
applied before that have no body: for reprints and voids the audit trail (written in the same
transaction as the event) still names the order, label and reason; for a first print nothing
does, and those columns are null.

The SSCC is not a field of its own in a label event: the station names each label ``L`` followed
by the parcel's 18-digit SSCC, so a label id of that form (with a valid GS1 check digit) gives
it. Any other label id gives a null SSCC rather than a guess.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_bridge.audit import station_actor
from cloud_bridge.db.models import AuditEntry
from cloud_bridge.export.datasets import LABELS, Row
from cloud_bridge.export.errors import UnreadableEventBodyError

__all__ = ["LABEL_EVENTS", "AppliedLabelEvent", "label_rows", "sscc_of_label"]

LABEL_EVENTS = {
    "label_printed": "printed",
    "label_reprinted": "reprinted",
    "label_voided": "voided",
}
_AUDIT_ACTIONS = ("label.reprint", "label.void")
_AUDIT_SLACK = timedelta(hours=1)
_STATION_LABEL_ID = re.compile(r"L(\d{18})")
_DETAIL_COLUMNS = tuple(
    name
    for name in LABELS.column_names
    if name not in {"station_id", "seq", "event_id", "action", "applied_at"}
)


class AppliedLabelEvent(Protocol):
    """What a label row is made from: an applied event's identity, type, time and body."""

    station_id: str
    seq: int
    event_id: str
    type: str
    applied_at: datetime
    body: str | None


def label_rows(session: Session, events: Sequence[AppliedLabelEvent]) -> list[Row]:
    """A ``labels`` row for each label event, in the order given."""
    unknown = [event for event in events if event.body is None]
    audited = _audited_label_details(session, unknown)
    return [
        {
            "station_id": event.station_id,
            "seq": event.seq,
            "event_id": event.event_id,
            "action": LABEL_EVENTS[event.type],
            "applied_at": event.applied_at,
            **(
                _details_from_body(event)
                if event.body is not None
                else audited.get(event.event_id, dict.fromkeys(_DETAIL_COLUMNS))
            ),
        }
        for event in events
    ]


def sscc_of_label(label_id: str | None) -> str | None:
    """The SSCC in a station's label id (``L`` + 18 digits, check digit valid), else None."""
    if label_id is None:
        return None
    found = _STATION_LABEL_ID.fullmatch(label_id)
    if found is None:
        return None
    sscc = found.group(1)
    return sscc if _check_digit(sscc[:-1]) == int(sscc[-1]) else None


def _check_digit(body: str) -> int:
    """GS1's mod-10 check digit: weights 3, 1, 3... from the rightmost digit of the body."""
    total = sum(int(digit) * (3 if index % 2 == 0 else 1) for index, digit in enumerate(body[::-1]))
    return (10 - total % 10) % 10


def _details_from_body(event: AppliedLabelEvent) -> Row:
    body = _parsed(event)
    label_id = _text(body.get("label_id"))
    return {
        "order_no": _text(body.get("order_id")),
        "label_id": label_id,
        "sscc": sscc_of_label(label_id),
        "carrier": _text(body.get("carrier")),
        "tracking_number": _text(body.get("tracking_number")),
        "reason": _text(body.get("reason")),
        "station_at": _instant(body.get("at")),
    }


def _parsed(event: AppliedLabelEvent) -> dict[str, Any]:
    try:
        body = json.loads(event.body or "")
    except ValueError as error:
        raise UnreadableEventBodyError(
            f"applied event station {event.station_id} seq {event.seq} has a body that is not "
            f"JSON ({error}); expected the event as the bridge applied it"
        ) from error
    if not isinstance(body, dict):
        raise UnreadableEventBodyError(
            f"applied event station {event.station_id} seq {event.seq} has a body that is a "
            f"JSON {type(body).__name__}; expected an object"
        )
    return body


def _audited_label_details(session: Session, events: Iterable[AppliedLabelEvent]) -> dict[str, Row]:
    """Order, label id, reason and station time of body-less reprints and voids, by event id."""
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
            label_id = _text(after.get("label_id"))
            details[event_id] = {
                "order_no": entry.subject.removeprefix("order:"),
                "label_id": label_id,
                "sscc": sscc_of_label(label_id),
                "carrier": None,
                "tracking_number": None,
                "reason": _text(after.get("reason")),
                "station_at": _instant(after.get("station_at")),
            }
    return details


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _instant(value: object) -> datetime | None:
    """An ISO 8601 instant as UTC (one without an offset is taken as UTC), or None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
