"""The bridge's Prometheus metrics: ingest, allocation, Sage postings, credit holds, stations.

What the database already holds is counted at scrape time, one grouped query per figure, so the
figures are those of the books themselves and survive restarts: orders by state (the credit and
prepayment holds among them), postings by state (failures included) and those being retried,
open error reports and the auto queue's depth. A database that fails during a scrape does not
fail the scrape: its figures are left out and ``packline_bridge_scrape_errors_total`` goes up, so
the alert is on that. Those reads go through read-only sessions (a deferred ``BEGIN`` on SQLite),
so a scrape never queues for the write lock behind ingest or allocation, and every collector
describes its families without reading anything, so creating the registry touches no database.

The posting tables keep only each posting's latest outcome, so a throttle or outage that a retry
later mends would leave no trace there: the poster's attempts and failed attempts, by the class
of failure, are counted live as they happen (`SagePostingMetrics`).

What only the running process knows (stations online, ingest counters, refused publishes) is
read from the `Bridge` at scrape time. Latencies are live histograms: the allocation cycle and
the apply of one event.

Each `BridgeMetrics` has a registry of its own, never prometheus-client's global one, so two
bridges in one process (tests, several instances in a demo) keep their figures apart.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Final

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.db.models import AutoQueueEntry, ErrorReport, OrderState, SalesOrder
from cloud_bridge.db.posting import Posting, PostingState
from cloud_bridge.posting.poster import AttemptStep
from cloud_bridge.sage.errors import (
    SageAuthError,
    SageError,
    SageProtocolError,
    SageUnavailable,
    SageWriteOutcomeUnknown,
)

if TYPE_CHECKING:
    from cloud_bridge.runtime import Bridge

__all__ = [
    "ALLOCATION_BUCKETS",
    "APPLY_BUCKETS",
    "FAILURE_REASONS",
    "BridgeCollector",
    "BridgeMetrics",
    "DatabaseCollector",
    "SagePostingMetrics",
    "database_registry",
    "failure_reason",
]

log = logging.getLogger("packline.bridge.metrics")

ALLOCATION_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
"""A cycle over a handful of orders takes milliseconds; one over a large backlog, seconds."""
APPLY_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip
"""One event's transaction: about a millisecond on SQLite, longer while a lock is waited for."""

_HOLDS: Final = {OrderState.HELD_CREDIT: "credit", OrderState.HELD_PREPAYMENT: "prepayment"}
_ATTEMPT_STEPS: Final[tuple[AttemptStep, ...]] = ("document", "allocation")
FAILURE_REASONS: Final = (
    "refused",
    "rate_limited",
    "unavailable",
    "transport",
    "outcome_unknown",
    "auth",
    "invalid_answer",
)
"""The classes of a failed attempt to post to Sage; see `failure_reason`."""
_DATABASE_FAMILIES: Final = (
    ("packline_bridge_orders", "gauge"),
    ("packline_bridge_credit_holds", "gauge"),
    ("packline_bridge_sage_postings", "gauge"),
    ("packline_bridge_sage_postings_retrying", "gauge"),
    ("packline_bridge_error_reports_open", "gauge"),
    ("packline_bridge_auto_queue_depth", "gauge"),
    ("packline_bridge_scrape_errors", "counter"),
)
_INGEST_COUNTERS: Final = {
    "received": "Event messages taken from the broker, whatever came of them.",
    "applied": "Events applied (rate() of it is the ingest rate).",
    "duplicates": "Events received again after they were applied: harmless.",
    "parked": "Events that arrived ahead of a gap and wait for it.",
    "rejected": "Event payloads the contract refused.",
    "failed": "Events whose transaction failed; the station replays them.",
    "acks_published": "Acks published to stations.",
}
_BRIDGE_FAMILIES: Final = (
    ("packline_bridge_stations_online", "gauge"),
    ("packline_bridge_stations_known", "gauge"),
    ("packline_bridge_refused_publishes", "counter"),
    ("packline_bridge_rejected_messages", "counter"),
    *((f"packline_bridge_ingest_{name}", "counter") for name in _INGEST_COUNTERS),
    ("packline_bridge_ingest_dropped", "counter"),
    ("packline_bridge_ingest_queued", "gauge"),
)


def _described(families: Iterable[tuple[str, str]]) -> list[Metric]:
    """Families with no samples: all the registry needs to check names, read from nothing."""
    return [Metric(name, "", kind) for name, kind in families]


def failure_reason(error: SageError) -> str:
    """The class of a failed attempt, one of `FAILURE_REASONS`.

    ``refused``: Sage refused it for good (422 and other client errors); ``rate_limited``: still
    throttled (429) after the client's own waits; ``unavailable``: Sage kept answering 5xx;
    ``transport``: no answer at all (timeout, connection refused or dropped); ``outcome_unknown``:
    a write failed after Sage may have stored it; ``auth``: the connection needs a person;
    ``invalid_answer``: Sage answered with a body its API does not document.
    """
    if isinstance(error, SageWriteOutcomeUnknown):
        return "outcome_unknown"
    if isinstance(error, SageUnavailable):
        if error.status == 429:
            return "rate_limited"
        return "transport" if error.status is None else "unavailable"
    if isinstance(error, SageAuthError):
        return "auth"
    if isinstance(error, SageProtocolError):
        return "invalid_answer"
    return "refused"


def _read_only(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions on the same database that never take SQLite's write lock (see the API's)."""
    # Imported here: the API package imports this module to serve the metrics.
    from cloud_bridge.api.transaction import read_only_sessions

    return read_only_sessions(sessions) or sessions


class DatabaseCollector(Collector):
    """Figures counted in the database at scrape time; each query is one grouped count.

    ``sessions`` are the bridge's own; the reads go through read-only sessions on the same
    database, made at the first scrape (so creating the collector opens nothing), and never
    wait for the write lock.
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._readers: sessionmaker[Session] | None = None
        self._errors = 0
        self._lock = threading.Lock()

    def _reading(self) -> sessionmaker[Session]:
        with self._lock:
            if self._readers is None:
                self._readers = _read_only(self._sessions)
            return self._readers

    def describe(self) -> Iterable[Metric]:
        """The families without a query, so registering the collector reads nothing."""
        return _described(_DATABASE_FAMILIES)

    def collect(self) -> Iterable[Metric]:
        families: list[Metric] = []
        for name, read in (
            ("orders", self._orders),
            ("postings", self._postings),
            ("reports", self._reports),
        ):
            try:
                with self._reading()() as session:
                    families += read(session)
            except Exception:
                with self._lock:
                    self._errors += 1
                log.exception("metrics: the %s figures could not be read", name)
        yield from families
        yield CounterMetricFamily(
            "packline_bridge_scrape_errors",
            "Database reads that failed during a scrape; their figures were left out.",
            value=self._errors,
        )

    @staticmethod
    def _orders(session: Session) -> list[Metric]:
        grouped = select(SalesOrder.state, func.count()).group_by(SalesOrder.state)
        counted = dict(session.execute(grouped).all())
        orders = GaugeMetricFamily(
            "packline_bridge_orders", "Orders now in each state.", labels=["state"]
        )
        for state in OrderState:
            orders.add_metric([state.value], counted.get(state, 0))
        holds = GaugeMetricFamily(
            "packline_bridge_credit_holds",
            "Orders held now by the credit check (credit) or waiting for payment (prepayment).",
            labels=["reason"],
        )
        for state, reason in _HOLDS.items():
            holds.add_metric([reason], counted.get(state, 0))
        return [orders, holds]

    @staticmethod
    def _postings(session: Session) -> list[Metric]:
        grouped = select(Posting.state, func.count()).group_by(Posting.state)
        counted = dict(session.execute(grouped).all())
        postings = GaugeMetricFamily(
            "packline_bridge_sage_postings",
            "Sage postings in each state: pending (queued or retrying), posted, failed (refused "
            "for good, in the error report), dismissed.",
            labels=["state"],
        )
        for state in PostingState:
            postings.add_metric([state.value], counted.get(state, 0))
        retrying = session.scalar(
            select(func.count())
            .select_from(Posting)
            .where(Posting.state == PostingState.PENDING, Posting.attempts > 0)
        )
        return [
            postings,
            GaugeMetricFamily(
                "packline_bridge_sage_postings_retrying",
                "Pending Sage postings already tried at least once: waiting for their retry "
                "after a throttle, an outage or an unknown outcome.",
                value=retrying or 0,
            ),
        ]

    @staticmethod
    def _reports(session: Session) -> list[Metric]:
        open_reports = session.scalar(
            select(func.count()).select_from(ErrorReport).where(ErrorReport.resolved_at.is_(None))
        )
        queued = session.scalar(select(func.count()).select_from(AutoQueueEntry))
        return [
            GaugeMetricFamily(
                "packline_bridge_error_reports_open",
                "Error report lines not yet resolved.",
                value=open_reports or 0,
            ),
            GaugeMetricFamily(
                "packline_bridge_auto_queue_depth",
                "Orders stopped by the credit gate and waiting for their automatic retry.",
                value=queued or 0,
            ),
        ]


class BridgeCollector(Collector):
    """What the running bridge knows: presence, ingest counters, refused publishes."""

    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge

    def describe(self) -> Iterable[Metric]:
        """The families without reading the bridge, so registering reads nothing."""
        return _described(_BRIDGE_FAMILIES)

    def collect(self) -> Iterable[Metric]:
        bridge = self._bridge
        states = list(bridge.presence.values())
        yield GaugeMetricFamily(
            "packline_bridge_stations_online",
            "Stations whose latest presence is a birth.",
            value=sum(1 for state in states if state.online),
        )
        yield GaugeMetricFamily(
            "packline_bridge_stations_known",
            "Stations this bridge has heard a birth or death from since it started.",
            value=len(states),
        )
        yield CounterMetricFamily(
            "packline_bridge_refused_publishes",
            "Publishes to stations the broker refused (its ACL); each is logged with its topic.",
            value=bridge.refused_publishes,
        )
        yield CounterMetricFamily(
            "packline_bridge_rejected_messages",
            "State and status messages from stations that were malformed or failed to handle.",
            value=bridge.rejected_messages,
        )
        yield from self._ingest()

    def _ingest(self) -> Iterator[Metric]:
        ingest = self._bridge.ingest
        if ingest is None:
            return
        stats = ingest.stats
        for name, help_text in _INGEST_COUNTERS.items():
            yield CounterMetricFamily(
                f"packline_bridge_ingest_{name}", help_text, value=getattr(stats, name)
            )
        dropped = CounterMetricFamily(
            "packline_bridge_ingest_dropped",
            "Events dropped unapplied because their station was over its fair share; the "
            "station's outbox replays them.",
            labels=["station"],
        )
        for station, count in sorted(dict(stats.throttled_by_station).items()):
            dropped.add_metric([station], count)
        yield dropped
        yield GaugeMetricFamily(
            "packline_bridge_ingest_queued",
            "Events received and waiting to be applied.",
            value=ingest.queued,
        )


class SagePostingMetrics:
    """The poster's attempts and failed attempts, counted as they happen (an `AttemptObserver`).

    Every step and reason is exported from the start at 0, so ``rate()`` and ``increase()`` see
    the first failure rather than a series that appears from nowhere.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.attempts = Counter(
            "packline_bridge_sage_post_attempts",
            "Attempts to send to Sage, by step: a posting's document, or a credit note's link "
            "to its invoice. Retries count again; the client's own quick retries of one attempt "
            "do not.",
            labelnames=["step"],
            registry=registry,
        )
        self.failures = Counter(
            "packline_bridge_sage_post_failures",
            "Attempts to send to Sage that failed, by step and reason: refused (for good), "
            "rate_limited, unavailable (5xx), transport (no answer), outcome_unknown, auth "
            "(a person must reconnect), invalid_answer. All but refused are retried later.",
            labelnames=["step", "reason"],
            registry=registry,
        )
        for step in _ATTEMPT_STEPS:
            self.attempts.labels(step)
            for reason in FAILURE_REASONS:
                self.failures.labels(step, reason)

    def attempted(self, step: AttemptStep) -> None:
        """Count an attempt about to be sent."""
        self.attempts.labels(step).inc()

    def failed(self, step: AttemptStep, error: SageError) -> None:
        """Count a failed attempt under its reason (`failure_reason`)."""
        self.failures.labels(step, failure_reason(error)).inc()


class BridgeMetrics:
    """One bridge's registry: the database figures, optionally the live bridge's, and timings.

    Creating it reads nothing: the database is first read at the first scrape.
    """

    def __init__(self, sessions: sessionmaker[Session], bridge: Bridge | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.allocation_seconds = Histogram(
            "packline_bridge_allocation_cycle_seconds",
            "How long one allocation and release cycle took (its _count is the runs).",
            buckets=ALLOCATION_BUCKETS,
            registry=self.registry,
        )
        self.allocation_failures = Counter(
            "packline_bridge_allocation_cycle_failures",
            "Allocation cycles that failed (logged, and retried next cycle).",
            registry=self.registry,
        )
        self.apply_seconds = Histogram(
            "packline_bridge_ingest_apply_seconds",
            "How long applying one station event took, its transaction included.",
            buckets=APPLY_BUCKETS,
            registry=self.registry,
        )
        self.sage = SagePostingMetrics(self.registry)
        """What the bridge's Sage poster reports its attempts to."""
        self.registry.register(DatabaseCollector(sessions))
        if bridge is not None:
            self.registry.register(BridgeCollector(bridge))

    @contextlib.contextmanager
    def allocation_cycle(self) -> Iterator[None]:
        """Time one cycle, and count it as failed if it raises."""
        with self.allocation_seconds.time():
            try:
                yield
            except Exception:
                self.allocation_failures.inc()
                raise

    @property
    def observe_apply(self) -> Callable[[float], None]:
        """What the ingest consumer calls with each event's apply time."""
        return self.apply_seconds.observe


def database_registry(sessions: sessionmaker[Session]) -> CollectorRegistry:
    """A registry of the database's figures alone, for an API served without a running bridge."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(DatabaseCollector(sessions))
    return registry
