"""The station's durable outbox: fulfilment events kept until the bridge acknowledges them.

An event is written (fsync) before the packer sees success and stays until the bridge acks its
sequence number. Events live in segment tables (``outbox.000123`` holds the seqs in
``[123 * segment_size, 124 * segment_size)``), so an append rewrites one small table rather than
every pending event, and a fully acknowledged segment is dropped whole. The seq high-water and
the acknowledged seq live in ``outbox.meta``, written before (and, with `JournalStorage`, in the
same record as) the prune, so pruning everything never lets a seq be handed out twice.

The outbox shares its TinyDB with the station's other tables and touches only tables whose
names start with ``outbox``.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast
from uuid import uuid4

from tinydb import TinyDB
from tinydb.table import Document, Table

from edge.contract import StationEvent, TopicKind, decode_for, encode
from edge.errors import EdgeError

__all__ = [
    "AckAboveHighWaterError",
    "Outbox",
    "OutboxError",
    "OutboxFull",
    "OutboxStats",
]

E = TypeVar("E", bound=StationEvent)

_log = logging.getLogger("packline.station.outbox")

_META_TABLE = "outbox.meta"
_META_DOC_ID = 1
_SEGMENT_NAME = re.compile(r"^outbox\.(\d+)$")
_STAMPED_FIELDS = frozenset({"event_id", "seq", "at"})


class OutboxError(EdgeError):
    """Base of the errors raised by the outbox."""


class OutboxFull(OutboxError, RuntimeError):
    """The outbox is at its event or byte bound; the event was not recorded."""


class AckAboveHighWaterError(OutboxError, ValueError):
    """The bridge acknowledged a seq this station never handed out."""


@dataclass(frozen=True)
class OutboxStats:
    """How full the outbox is and how far the bridge has acknowledged."""

    depth: int
    bytes: int
    max_events: int
    max_bytes: int
    oldest_at: datetime | None
    """`at` of the oldest pending event."""
    highest_seq: int
    """The highest seq ever handed out (0 if none)."""
    acknowledged_seq: int
    """The highest seq the bridge acknowledged."""
    alarm_fraction: float = 0.8

    @property
    def fill(self) -> float:
        """The fuller of the two bounds, as a fraction."""
        return max(self.depth / self.max_events, self.bytes / self.max_bytes)

    @property
    def alarm(self) -> bool:
        """Whether the outbox is full enough that someone should look at the uplink."""
        return self.fill >= self.alarm_fraction


@dataclass
class _Segment:
    count: int = 0
    bytes: int = 0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Outbox:
    """Durable, bounded, seq-ordered fulfilment events awaiting the bridge's acknowledgement."""

    def __init__(
        self,
        db: TinyDB,
        *,
        max_events: int = 50_000,
        max_bytes: int = 64 * 2**20,
        segment_size: int = 256,
        alarm_fraction: float = 0.8,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if max_events < 1 or max_bytes < 1 or segment_size < 1:
            raise ValueError(
                f"max_events ({max_events}), max_bytes ({max_bytes}) and segment_size "
                f"({segment_size}) must all be >= 1"
            )
        if not 0 < alarm_fraction <= 1:
            raise ValueError(f"alarm_fraction must be in (0, 1]; got {alarm_fraction}")
        self._db = db
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._segment_size = segment_size
        self._alarm_fraction = alarm_fraction
        self._clock = clock
        self._segments: dict[int, _Segment] = {}
        self._depth = 0
        self._bytes = 0
        self._highest_seq = 0
        self._acknowledged_seq = 0
        self._oldest: tuple[int, datetime] | None = None
        self._rollbacks_seen = 0
        self._load()
        self._alarm_on = self.stats().alarm
        if self._alarm_on:
            self._log_alarm()

    # --- public API ------------------------------------------------------------------------

    def append(self, event_type: type[E], /, **fields: object) -> E:
        """Stamp, validate and durably record an event; return it.

        Durable on return, or when the storage transaction around the call exits. Raises
        `OutboxFull` (nothing recorded, no seq used) or pydantic's ValidationError.
        """
        self._resync_after_rollback()
        stamped = _STAMPED_FIELDS & fields.keys()
        if stamped:
            raise TypeError(f"{sorted(stamped)} are stamped by the outbox; do not pass them")
        seq = self._highest_seq + 1
        event = event_type.model_validate(
            {**fields, "event_id": uuid4(), "seq": seq, "at": self._clock()}
        )
        payload = encode(event).decode("utf-8")
        size = len(payload.encode("utf-8"))
        self._refuse_if_full(event, size)
        number = seq // self._segment_size
        self._segment_table(number).insert(Document({"payload": payload}, doc_id=seq))
        self._highest_seq = seq
        segment = self._segments.setdefault(number, _Segment())
        segment.count += 1
        segment.bytes += size
        self._depth += 1
        self._bytes += size
        if self._oldest is None:
            self._oldest = (seq, event.at)
        self._update_alarm()
        return event

    def pending(self, after_seq: int = 0) -> Iterator[StationEvent]:
        """Unacknowledged events with seq > `after_seq`, in seq order."""
        self._resync_after_rollback()
        first_segment = (max(after_seq, self._acknowledged_seq) + 1) // self._segment_size
        for number in sorted(n for n in self._segments if n >= first_segment):
            for seq, payload in self._read_segment(number):
                if seq > after_seq and seq > self._acknowledged_seq:
                    yield _decode_event(payload)

    def acknowledge(self, highest_seq: int) -> int:
        """Prune every event with seq <= `highest_seq`; return how many were pruned.

        An ack at or below the current one is a no-op. An ack above the highest seq handed
        out is refused: a bridge acknowledging events never sent is a bug somewhere.
        """
        self._resync_after_rollback()
        if highest_seq > self._highest_seq:
            raise AckAboveHighWaterError(
                f"ack of seq {highest_seq} is above the highest seq handed out "
                f"({self._highest_seq}); expected an ack <= {self._highest_seq}"
            )
        if highest_seq <= self._acknowledged_seq:
            return 0
        pruned = 0
        with self._atomic():
            self._write_meta(self._highest_seq, highest_seq)
            for number in sorted(self._segments):
                if number * self._segment_size > highest_seq:
                    break
                pruned += self._prune_segment(number, highest_seq)
        self._acknowledged_seq = highest_seq
        if self._oldest is not None and self._oldest[0] <= highest_seq:
            self._oldest = self._find_oldest()
        self._update_alarm()
        return pruned

    def stats(self) -> OutboxStats:
        """Depth, bytes, bounds, the oldest pending event's time and the seq positions."""
        self._resync_after_rollback()
        return OutboxStats(
            depth=self._depth,
            bytes=self._bytes,
            max_events=self._max_events,
            max_bytes=self._max_bytes,
            oldest_at=None if self._oldest is None else self._oldest[1],
            highest_seq=self._highest_seq,
            acknowledged_seq=self._acknowledged_seq,
            alarm_fraction=self._alarm_fraction,
        )

    # --- loading and resync ----------------------------------------------------------------

    def _load(self) -> None:
        """Rebuild the in-memory summary from the tables; finish any interrupted prune."""
        self._rollbacks_seen = _rollbacks(self._db)
        meta = self._db.table(_META_TABLE, cache_size=0).get(doc_id=_META_DOC_ID)
        high_water = int(meta["highest_seq"]) if meta else 0
        self._acknowledged_seq = int(meta["acknowledged_seq"]) if meta else 0
        self._segments = {}
        self._depth = 0
        self._bytes = 0
        highest_stored = 0
        stale = False
        for name in self._db.tables():
            match = _SEGMENT_NAME.match(name)
            if match is None:
                continue
            number = int(match.group(1))
            segment = self._segments.setdefault(number, _Segment())
            for seq, payload in self._read_segment(number):
                highest_stored = max(highest_stored, seq)
                stale = stale or seq <= self._acknowledged_seq
                size = len(payload.encode("utf-8"))
                segment.count += 1
                segment.bytes += size
                self._depth += 1
                self._bytes += size
        self._highest_seq = max(high_water, highest_stored, self._acknowledged_seq)
        if stale:  # an interrupted prune on a storage without transactions
            with self._atomic():
                for number in sorted(self._segments):
                    self._prune_segment(number, self._acknowledged_seq)
        self._oldest = self._find_oldest()

    def _resync_after_rollback(self) -> None:
        """A rolled-back storage transaction may have undone appends or prunes: reload."""
        if _rollbacks(self._db) != self._rollbacks_seen:
            self._load()
            self._update_alarm()

    # --- tables ----------------------------------------------------------------------------

    def _segment_table(self, number: int) -> Table:
        return self._db.table(f"outbox.{number:06d}", cache_size=0)

    def _read_segment(self, number: int) -> list[tuple[int, str]]:
        documents = self._segment_table(number).all()
        return sorted((document.doc_id, document["payload"]) for document in documents)

    def _prune_segment(self, number: int, highest_seq: int) -> int:
        """Drop the segment if all of it is acknowledged, else remove its acknowledged events."""
        name = f"outbox.{number:06d}"
        if (number + 1) * self._segment_size - 1 <= highest_seq:
            gone = self._segments.pop(number, _Segment())
            self._db.drop_table(name)
            self._depth -= gone.count
            self._bytes -= gone.bytes
            return gone.count
        acknowledged = [(s, p) for s, p in self._read_segment(number) if s <= highest_seq]
        if not acknowledged:
            return 0
        self._segment_table(number).remove(doc_ids=[seq for seq, _ in acknowledged])
        size = sum(len(payload.encode("utf-8")) for _, payload in acknowledged)
        segment = self._segments[number]
        segment.count -= len(acknowledged)
        segment.bytes -= size
        self._depth -= len(acknowledged)
        self._bytes -= size
        return len(acknowledged)

    def _write_meta(self, highest_seq: int, acknowledged_seq: int) -> None:
        meta = {"highest_seq": highest_seq, "acknowledged_seq": acknowledged_seq}
        self._db.table(_META_TABLE, cache_size=0).upsert(Document(meta, doc_id=_META_DOC_ID))

    def _atomic(self) -> AbstractContextManager[None]:
        """The storage's transaction if it has one; the write order alone is safe without."""
        transaction = getattr(self._db.storage, "transaction", None)
        if transaction is None:
            return contextlib.nullcontext()
        return cast(AbstractContextManager[None], transaction())

    def _find_oldest(self) -> tuple[int, datetime] | None:
        for number in sorted(self._segments):
            if self._segments[number].count == 0:
                continue
            for seq, payload in self._read_segment(number):
                if seq > self._acknowledged_seq:
                    return seq, _decode_event(payload).at
        return None

    # --- bounds and alarm ------------------------------------------------------------------

    def _refuse_if_full(self, event: StationEvent, size: int) -> None:
        if self._depth + 1 <= self._max_events and self._bytes + size <= self._max_bytes:
            return
        _log.error(
            "outbox full: refused %s for order %s (depth %d/%d, bytes %d+%d/%d)",
            type(event).__name__,
            event.order_id,
            self._depth,
            self._max_events,
            self._bytes,
            size,
            self._max_bytes,
        )
        raise OutboxFull(
            f"outbox is full: depth {self._depth} of max_events {self._max_events}, "
            f"bytes {self._bytes} + {size} of max_bytes {self._max_bytes}; "
            "the bridge must acknowledge events before more can be recorded"
        )

    def _update_alarm(self) -> None:
        alarm = self.stats().alarm
        if alarm == self._alarm_on:
            return
        self._alarm_on = alarm
        if alarm:
            self._log_alarm()
        else:
            stats = self.stats()
            _log.info(
                "outbox alarm cleared: depth %d/%d, bytes %d/%d",
                stats.depth,
                stats.max_events,
                stats.bytes,
                stats.max_bytes,
            )

    def _log_alarm(self) -> None:
        stats = self.stats()
        _log.warning(
            "outbox alarm: %.0f%% full (depth %d/%d, bytes %d/%d, acknowledged seq %d of %d)",
            stats.fill * 100,
            stats.depth,
            stats.max_events,
            stats.bytes,
            stats.max_bytes,
            stats.acknowledged_seq,
            stats.highest_seq,
        )


def _rollbacks(db: TinyDB) -> int:
    return int(getattr(db.storage, "rollbacks", 0))


def _decode_event(payload: str) -> StationEvent:
    message: Any = decode_for(TopicKind.EVENT, payload.encode("utf-8"))
    return cast(StationEvent, message)
