"""Fair, rate-limited admission of station events, so one flooding station cannot starve the rest.

The bridge applies events one transaction at a time, a few milliseconds each. In arrival order,
a station that publishes far beyond its normal rate (a bug, a replay storm, or a hostile device
with a valid certificate) would put every other station's events behind its whole backlog. So:

- Each station has its own bounded queue, and the applier takes one event per station in turn
  (round robin): another station's event waits for at most one event of each busy station.
- Each station has a token bucket: it may spend ``station_burst`` events at once and
  ``station_rate_per_s`` after that. An event over the rate waits in its station's queue, so a
  short burst above the limit is delayed, not dropped.
- An event that finds its station's queue full is dropped before it touches the database,
  counted, and logged at most once per interval per station. It is not acknowledged: the cursor
  ack only covers events applied with nothing missing below them, so the station keeps it in its
  outbox and replays it when its ack stalls. Nothing the station accepted is lost.
- After a drop, that station's later events are dropped too, until the missing sequence comes
  back (a station replays from its acknowledged sequence, in order). Admitting them would not
  lose them either, since the sequencer parks anything beyond a gap, but each would cost a
  durable write, a hostile device could grow the parked table without end, and the hole's
  arrival would drain them all in one long transaction. Held back, the queue stays contiguous
  and the station's events are applied, not parked, at its sustained rate. The hold ends when
  the missing sequence is admitted here, or when the station's cursor is seen past it (another
  instance of the share group got the replayed event).

Nothing here does I/O: the consumer feeds it and drains it, and the clock is a parameter.
"""

from __future__ import annotations

import enum
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pydantic import Field

from edge.config import StrictConfig

__all__ = ["Admission", "FairQueue", "FairnessSettings", "TokenBucket"]

log = logging.getLogger("packline.bridge.ingest")

T = TypeVar("T")

_MIN_WAIT_S = 0.001


class FairnessSettings(StrictConfig):
    """`[ingest]`: how much of the bridge one station may use.

    A packer produces an event every few seconds, and the simulated packer of the demo, with no
    human in the loop, at most about ten a second. The defaults are well above that, so only a
    station misbehaving by an order of magnitude is ever held back. Memory is bounded by
    ``station_queue`` decoded events per station.
    """

    station_rate_per_s: float = Field(default=50.0, gt=0, le=1_000_000)
    """Events per second one station is applied at, sustained."""
    station_burst: int = Field(default=500, ge=1, le=1_000_000)
    """Events one station may have applied at once before the sustained rate applies."""
    station_queue: int = Field(default=5000, ge=1, le=1_000_000)
    """Events received and not yet applied that one station may have waiting; more are dropped.

    A dropped event comes back only when the station's ack stalls (60 s, doubling), so the bound
    is set above what a station back from a long outage replays (a few thousand events in a
    shift), and a station is only ever dropped when it floods. About 1 KiB each when queued."""
    throttle_log_interval_s: float = Field(default=10.0, gt=0, le=86_400)
    """At most one log line per station per interval while its events are being dropped."""


class Admission(enum.StrEnum):
    """What became of one offered event."""

    QUEUED = "queued"
    QUEUE_FULL = "queue_full"
    """Dropped: the station's queue was at its bound."""
    BEHIND_GAP = "behind_gap"
    """Dropped: an earlier event of the station was dropped and has not come back yet."""


@dataclass(slots=True)
class TokenBucket:
    """``burst`` tokens at most, refilled at ``rate_per_s``; one token per event applied."""

    rate_per_s: float
    burst: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, rate_per_s: float, burst: float, now: float) -> TokenBucket:
        return cls(rate_per_s=rate_per_s, burst=burst, tokens=burst, updated=now)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate_per_s)
        self.updated = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one."""
        self._refill(now)
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True

    def wait_s(self, now: float) -> float:
        """How long until a token is available (0 if one is now)."""
        self._refill(now)
        if self.tokens >= 1.0:
            return 0.0
        return max(_MIN_WAIT_S, (1.0 - self.tokens) / self.rate_per_s)

    def is_full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.burst


@dataclass(slots=True)
class _Lane(Generic[T]):
    bucket: TokenBucket
    queue: deque[T] = field(default_factory=deque)
    missing_seq: int | None = None
    """The lowest sequence dropped and not yet seen again: later ones are held back."""
    unreported: int = 0
    reported_at: float | None = None


class FairQueue(Generic[T]):
    """Per-station bounded queues, drained round robin, each station paced by its token bucket.

    ``offer`` admits or drops an event; ``take`` hands out the next event to apply, or None when
    no station with events waiting has a token (``wait_s`` says for how long). ``cursor_seen``
    tells it a station's cursor, which may end a hold; ``tick`` reports and forgets idle stations.
    """

    def __init__(
        self, settings: FairnessSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._lanes: dict[str, _Lane[T]] = {}
        self._ring: deque[str] = deque()
        """Stations with events waiting, in the order they are served."""
        self._queued = 0
        self.dropped: Counter[str] = Counter()
        """Events dropped per station since this queue was made."""

    def __len__(self) -> int:
        return self._queued

    @property
    def held_stations(self) -> list[str]:
        """Stations whose later events are held back until a dropped one returns."""
        return [station for station, lane in self._lanes.items() if lane.missing_seq is not None]

    def queued(self, station: str) -> int:
        lane = self._lanes.get(station)
        return 0 if lane is None else len(lane.queue)

    def offer(self, station: str, seq: int, item: T) -> Admission:
        """Queue ``item`` (the station's event ``seq``) or drop it, and say which."""
        lane = self._lane(station)
        if lane.missing_seq is not None and seq > lane.missing_seq:
            return self._drop(station, lane, seq, Admission.BEHIND_GAP)
        if len(lane.queue) >= self._settings.station_queue:
            return self._drop(station, lane, seq, Admission.QUEUE_FULL)
        lane.queue.append(item)
        self._queued += 1
        if len(lane.queue) == 1:
            self._ring.append(station)
        if lane.missing_seq == seq:
            self._resume(station, lane, f"seq {seq} came back")
        return Admission.QUEUED

    def take(self) -> tuple[str, T] | None:
        """The next event to apply, from the next station in turn that has a token."""
        now = self._clock()
        for _ in range(len(self._ring)):
            station = self._ring.popleft()
            lane = self._lanes[station]
            if lane.bucket.take(now):
                item = lane.queue.popleft()
                self._queued -= 1
                if lane.queue:
                    self._ring.append(station)
                return station, item
            self._ring.append(station)
        return None

    def wait_s(self) -> float | None:
        """Seconds until `take` can hand something out: 0 now, None while nothing is queued."""
        if not self._ring:
            return None
        now = self._clock()
        return min(self._lanes[station].bucket.wait_s(now) for station in self._ring)

    def cursor_seen(self, station: str, cursor: int) -> None:
        """The station's cursor is at least ``cursor``: a hold on a sequence below it is over."""
        lane = self._lanes.get(station)
        if lane is not None and lane.missing_seq is not None and cursor >= lane.missing_seq:
            self._resume(station, lane, f"its cursor reached {cursor}")

    def tick(self) -> None:
        """Report drops not yet logged once their interval is up, and forget idle stations.

        A station is idle with nothing queued, nothing held, nothing to report and a full
        bucket, so forgetting it changes nothing but the memory it took.
        """
        now = self._clock()
        for station, lane in list(self._lanes.items()):
            if lane.unreported and self._report_due(lane, now):
                self._report(station, lane, now)
            idle = not lane.queue and lane.missing_seq is None and not lane.unreported
            if idle and lane.bucket.is_full(now):
                del self._lanes[station]

    def _lane(self, station: str) -> _Lane[T]:
        lane = self._lanes.get(station)
        if lane is None:
            settings = self._settings
            bucket = TokenBucket.full(
                settings.station_rate_per_s, float(settings.station_burst), self._clock()
            )
            lane = self._lanes[station] = _Lane(bucket=bucket)
        return lane

    def _drop(self, station: str, lane: _Lane[T], seq: int, why: Admission) -> Admission:
        if lane.missing_seq is None or seq < lane.missing_seq:
            lane.missing_seq = seq
        self.dropped[station] += 1
        lane.unreported += 1
        now = self._clock()
        if self._report_due(lane, now):
            self._report(station, lane, now)
        return why

    def _report_due(self, lane: _Lane[T], now: float) -> bool:
        return (
            lane.reported_at is None
            or now - lane.reported_at >= self._settings.throttle_log_interval_s
        )

    def _report(self, station: str, lane: _Lane[T], now: float) -> None:
        log.warning(
            "ingest throttled station=%s dropped=%d total_dropped=%d queued=%d missing_seq=%s; "
            "left unacknowledged for the station's replay",
            station,
            lane.unreported,
            self.dropped[station],
            len(lane.queue),
            lane.missing_seq,
            extra={
                "station": station,
                "dropped": lane.unreported,
                "total_dropped": self.dropped[station],
                "seq": lane.missing_seq,
            },
        )
        lane.unreported = 0
        lane.reported_at = now

    def _resume(self, station: str, lane: _Lane[T], why: str) -> None:
        log.info(
            "ingest resumed station=%s missing_seq=%s: %s",
            station,
            lane.missing_seq,
            why,
            extra={"station": station, "seq": lane.missing_seq},
        )
        lane.missing_seq = None
