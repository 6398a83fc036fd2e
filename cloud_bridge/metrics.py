"""The bridge's Prometheus metrics: ingest, allocation, Sage postings, credit holds, stations.

What the database already holds is counted at scrape time, one grouped query per figure, so the
figures are those of the books themselves and survive restarts: orders by state (the credit and
prepayment holds among them), postings by state (failures included), open error reports and the
auto queue's depth. A database that fails during a scrape does not fail the scrape: its figures
are left out and ``packline_bridge_scrape_errors_total`` goes up, so the alert is on that.

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
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.db.models import AutoQueueEntry, ErrorReport, OrderState, SalesOrder
from cloud_bridge.db.posting import Posting, PostingState

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from cloud_bridge.runtime import Bridge

__all__ = [
    "ALLOCATION_BUCKETS",
    "APPLY_BUCKETS",
    "BridgeCollector",
    "BridgeMetrics",
    "DatabaseCollector",
    "database_registry",
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


class DatabaseCollector(Collector):
    """Figures counted in the database at scrape time; each query is one grouped count."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._errors = 0
        self._lock = threading.Lock()

    def collect(self) -> Iterable[Metric]:
        families: list[Metric] = []
        for name, read in (
            ("orders", self._orders),
            ("postings", self._postings),
            ("reports", self._reports),
        ):
            try:
                with self._sessions() as session:
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
        return [postings]

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
        counters = {
            "received": "Event messages taken from the broker, whatever came of them.",
            "applied": "Events applied (rate() of it is the ingest rate).",
            "duplicates": "Events received again after they were applied: harmless.",
            "parked": "Events that arrived ahead of a gap and wait for it.",
            "rejected": "Event payloads the contract refused.",
            "failed": "Events whose transaction failed; the station replays them.",
            "acks_published": "Acks published to stations.",
        }
        for name, help_text in counters.items():
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


class BridgeMetrics:
    """One bridge's registry: the database figures, optionally the live bridge's, and timings."""

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
