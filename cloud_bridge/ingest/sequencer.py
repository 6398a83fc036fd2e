"""Apply each station's events once and in sequence order, whatever order they arrive in.

A station numbers its events 1, 2, 3... and the bridge keeps, per station, a cursor: the highest
sequence applied with nothing missing below it. For an event with sequence ``seq``:

- ``seq <= cursor``, or an ``event_id`` already applied: a duplicate (QoS 1 redelivery, an
  outbox replay). A no-op that still counts as success, and still earns an ack, because the
  station may have lost the last one.
- ``seq == cursor + 1``: applied; then any parked events that now follow on are applied too.
- ``seq > cursor + 1``: parked durably, and the hole recorded in the cursor's ``gaps`` (for
  example ``5-6``) and logged, until the missing events arrive.

The effect, the ``AppliedEvent`` row (with the event's body, for the export), the parked rows
and the cursor change commit in one transaction. The cursor row is locked first (``FOR UPDATE``
on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises every writer), so two bridge instances
handed events of one station at the same time take turns: neither applies an effect twice nor
skips a sequence.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.db import for_update
from cloud_bridge.db.models import AppliedEvent, StationCursor
from cloud_bridge.db.parking import ParkedEvent
from cloud_bridge.errors import BridgeError
from cloud_bridge.ingest.apply import apply_event
from edge.contract import ContractError, StationEvent, TopicKind, decode_for, encode

__all__ = [
    "IngestArgumentError",
    "IngestError",
    "IngestResult",
    "Outcome",
    "UnreadableParkedEventError",
    "describe_gaps",
    "ingest",
    "ingest_event",
    "read_cursor",
]

log = logging.getLogger("packline.bridge.ingest")

_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
"""Serialisation failure, deadlock, lock not available: the transaction may simply be retried."""


class IngestError(BridgeError, RuntimeError):
    """Base of the errors raised while ingesting station events."""


class IngestArgumentError(IngestError, ValueError):
    """An ingest setting or argument is out of range; the message names it and the range."""


class UnreadableParkedEventError(IngestError, ValueError):
    """A parked event no longer decodes; it was valid when parked, so the code changed under it."""


class Outcome(enum.StrEnum):
    """What became of one received event."""

    APPLIED = "applied"
    """It moved the cursor (perhaps with parked events after it)."""
    DUPLICATE = "duplicate"
    """Already applied; nothing changed."""
    PARKED = "parked"
    """Held until the events before it arrive (or was already held)."""


@dataclass(frozen=True, slots=True)
class IngestResult:
    """The outcome of one event, and the station's cursor once its transaction committed."""

    station_id: str
    seq: int
    outcome: Outcome
    highest_seq: int
    """The cursor: every event up to it is applied. This is the value to acknowledge."""
    applied: tuple[int, ...] = ()
    """Sequences whose effect was applied in this transaction, in order."""
    gaps: str = ""

    @property
    def should_ack(self) -> bool:
        """Whether to publish an ack: the cursor moved, or a duplicate may mean a lost ack."""
        return self.outcome is not Outcome.PARKED


def describe_gaps(highest_seq: int, parked: Iterable[int]) -> str:
    """The missing sequences between the cursor and the highest parked one, as ``5-6,9``."""
    held = sorted({seq for seq in parked if seq > highest_seq})
    ranges: list[str] = []
    expected = highest_seq + 1
    for seq in held:
        if seq > expected:
            last = seq - 1
            ranges.append(str(expected) if last == expected else f"{expected}-{last}")
        expected = seq + 1
    return ",".join(ranges)


def read_cursor(session: Session, station_id: str) -> int:
    """The station's highest contiguously applied sequence, 0 before its first event."""
    highest = session.scalar(
        select(StationCursor.highest_contiguous_seq).where(StationCursor.station_id == station_id)
    )
    return 0 if highest is None else highest


def ingest_event(
    session: Session, station_id: str, event: StationEvent, *, now: datetime | None = None
) -> IngestResult:
    """Dedupe, park or apply ``event`` in the caller's transaction (which must commit it)."""
    moment = now or datetime.now(UTC)
    cursor = _locked_cursor(session, station_id)
    expected = cursor.highest_contiguous_seq + 1
    if event.seq < expected:
        return _result(cursor, event, Outcome.DUPLICATE)
    if event.seq > expected:
        _park(session, cursor, event, moment)
        return _result(cursor, event, Outcome.PARKED)
    applied = [_apply_next(session, cursor, event, moment)]
    if cursor.gaps:
        # Events are parked exactly when a gap is recorded, so the common case skips this.
        applied.extend(_drain(session, cursor, moment))
    return _result(cursor, event, Outcome.APPLIED, tuple(applied))


def ingest(
    sessions: sessionmaker[Session],
    station_id: str,
    event: StationEvent,
    *,
    attempts: int = 5,
    now: datetime | None = None,
) -> IngestResult:
    """`ingest_event` in a transaction of its own, retried when the database says it may be.

    On PostgreSQL a shipment and an allocation run can deadlock on stock rows, and the loser is
    told to retry; on SQLite a writer can outwait the busy timeout. Both are retried a few times
    with a short pause; anything else propagates, and the station's replay brings the event back.
    """
    if attempts < 1:
        raise IngestArgumentError(f"ingest attempts {attempts} is below 1; expected at least 1")
    attempt = 1
    while True:
        try:
            with sessions.begin() as session:
                return ingest_event(session, station_id, event, now=now)
        except OperationalError as error:
            if attempt >= attempts or not _is_transient(error):
                raise
            log.warning(
                "ingest retry station=%s seq=%d attempt=%d: %s",
                station_id,
                event.seq,
                attempt,
                error.orig,
            )
            time.sleep(0.02 * attempt)
            attempt += 1


def _is_transient(error: OperationalError) -> bool:
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in _TRANSIENT_SQLSTATES
    return "database is locked" in str(error.orig)


def _cursor_insert(session: Session, station_id: str) -> Insert:
    """An insert of a fresh cursor that does nothing if another instance made it first."""
    values = {"station_id": station_id, "highest_contiguous_seq": 0, "gaps": ""}
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(StationCursor).values(values).on_conflict_do_nothing()
    return sqlite.insert(StationCursor).values(values).on_conflict_do_nothing()


def _locked_cursor(session: Session, station_id: str) -> StationCursor:
    locked = for_update(select(StationCursor).where(StationCursor.station_id == station_id))
    cursor = session.scalar(locked)
    if cursor is None:
        session.execute(_cursor_insert(session, station_id))
        cursor = session.scalar(locked)
    if cursor is None:
        raise IngestError(f"station cursor {station_id!r} is missing right after being created")
    return cursor


def _result(
    cursor: StationCursor, event: StationEvent, outcome: Outcome, applied: tuple[int, ...] = ()
) -> IngestResult:
    return IngestResult(
        station_id=cursor.station_id,
        seq=event.seq,
        outcome=outcome,
        highest_seq=cursor.highest_contiguous_seq,
        applied=applied,
        gaps=cursor.gaps,
    )


def _park(session: Session, cursor: StationCursor, event: StationEvent, now: datetime) -> None:
    if session.get(ParkedEvent, (cursor.station_id, event.seq)) is not None:
        return
    session.add(
        ParkedEvent(
            station_id=cursor.station_id,
            seq=event.seq,
            payload=encode(event).decode("utf-8"),
            received_at=now,
        )
    )
    session.flush()
    cursor.gaps = _gaps(session, cursor)
    log.warning(
        "ingest gap station=%s seq=%d parked; applied up to %d, missing %s",
        cursor.station_id,
        event.seq,
        cursor.highest_contiguous_seq,
        cursor.gaps,
        extra={"station": cursor.station_id, "seq": event.seq, "gaps": cursor.gaps},
    )


def _drain(session: Session, cursor: StationCursor, now: datetime) -> list[int]:
    """Apply the parked events that now follow on from the cursor, in order."""
    applied: list[int] = []
    while True:
        key = (cursor.station_id, cursor.highest_contiguous_seq + 1)
        parked = session.get(ParkedEvent, key)
        if parked is None:
            break
        following = _unpark(parked)
        session.delete(parked)
        applied.append(_apply_next(session, cursor, following, now))
    session.flush()
    cursor.gaps = _gaps(session, cursor)
    return applied


def _unpark(parked: ParkedEvent) -> StationEvent:
    try:
        message = decode_for(TopicKind.EVENT, parked.payload.encode("utf-8"))
    except ContractError as error:
        raise UnreadableParkedEventError(
            f"parked event station {parked.station_id} seq {parked.seq} no longer decodes: "
            f"{error}; expected a valid station event"
        ) from error
    if not isinstance(message, StationEvent):
        raise UnreadableParkedEventError(
            f"parked event station {parked.station_id} seq {parked.seq} decodes to "
            f"{type(message).__name__}; expected a station event"
        )
    return message


def _apply_next(session: Session, cursor: StationCursor, event: StationEvent, now: datetime) -> int:
    """Apply the event right after the cursor, record it, and move the cursor on by one."""
    event_id = str(event.event_id)
    earlier = session.execute(
        select(AppliedEvent.station_id, AppliedEvent.seq).where(AppliedEvent.event_id == event_id)
    ).first()
    if earlier is None:
        apply_event(session, cursor.station_id, event, now)
        session.add(
            AppliedEvent(
                station_id=cursor.station_id,
                seq=event.seq,
                event_id=event_id,
                type=str(getattr(event, "type", type(event).__name__)),
                applied_at=now,
                body=encode(event).decode("utf-8"),
            )
        )
    else:
        # The event id is the idempotency key: the same event under a new sequence is still
        # the same event. Its effect is not repeated, but the sequence is used up.
        log.warning(
            "ingest station=%s seq=%d: event_id %s was already applied as station=%s seq=%d; "
            "no effect",
            cursor.station_id,
            event.seq,
            event_id,
            earlier.station_id,
            earlier.seq,
        )
    cursor.highest_contiguous_seq = event.seq
    return event.seq


def _gaps(session: Session, cursor: StationCursor) -> str:
    parked = session.scalars(
        select(ParkedEvent.seq).where(
            ParkedEvent.station_id == cursor.station_id,
            ParkedEvent.seq > cursor.highest_contiguous_seq,
        )
    )
    return describe_gaps(cursor.highest_contiguous_seq, parked)
