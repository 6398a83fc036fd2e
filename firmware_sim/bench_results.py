"""What one `packline bench` run measured: each figure beside the baseline taken in that run.

Absolute times on a shared machine are noise, so every figure is kept with a baseline that does
the least possible work over the same seam, and the ratio between the two is the number to
compare across runs.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING

from firmware_sim.bench_plan import BenchPlan
from firmware_sim.bench_sage import SagePostingFigures

if TYPE_CHECKING:
    from firmware_sim.bench_dashboard import DashboardFigures
    from firmware_sim.bench_fleet import RollbackFigures, RolloutFigures

__all__ = [
    "BenchReport",
    "BridgeFigures",
    "LatencyResult",
    "StationFigures",
    "ThroughputResult",
    "summarise_latency",
]


@dataclass(frozen=True)
class LatencyResult:
    """Latency of the real path beside a bare baseline, in microseconds."""

    name: str
    samples: int
    driver_median_us: float
    driver_p95_us: float
    driver_p99_us: float
    baseline_median_us: float
    baseline_p95_us: float
    baseline_p99_us: float

    @property
    def ratio(self) -> float:
        """How many times slower the driver's median is than the baseline's."""
        return self.driver_median_us / self.baseline_median_us


@dataclass(frozen=True)
class ThroughputResult:
    """Rate of the real path beside a bare baseline, in items per second."""

    name: str
    samples: int
    driver_per_second: float
    baseline_per_second: float

    @property
    def ratio(self) -> float:
        """Driver rate as a fraction of the baseline rate."""
        return self.driver_per_second / self.baseline_per_second


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))
    return ordered[index]


def summarise_latency(name: str, driver: list[float], baseline: list[float]) -> LatencyResult:
    """Reduce two lists of latencies in seconds to medians, 95th and 99th percentiles."""
    if not driver or not baseline:
        raise ValueError(f"{name}: no samples were taken")
    micro = 1_000_000
    return LatencyResult(
        name=name,
        samples=len(driver),
        driver_median_us=statistics.median(driver) * micro,
        driver_p95_us=_percentile(driver, 0.95) * micro,
        driver_p99_us=_percentile(driver, 0.99) * micro,
        baseline_median_us=statistics.median(baseline) * micro,
        baseline_p95_us=_percentile(baseline, 0.95) * micro,
        baseline_p99_us=_percentile(baseline, 0.99) * micro,
    )


@dataclass(frozen=True)
class StationFigures:
    """Whole-station figures that are not a latency pair or a rate pair."""

    crash_kills: int
    crash_events_verified: int
    memory_orders: int
    rss_before_kib: int
    rss_after_kib: int


@dataclass(frozen=True)
class BridgeFigures:
    """Allocation of `lines` persisted, per database; None where that database is missing."""

    lines: int
    skus: int
    sqlite_seconds: float
    postgresql_seconds: float | None
    planner_seconds: float
    """The pure planner alone on the same workload: the baseline."""
    borrowed_units: int


@dataclass(frozen=True)
class BenchReport:
    """Every figure of one run, by what it measures."""

    plan: BenchPlan
    seconds: float
    """Wall time of the whole run."""
    scan: LatencyResult
    lights: LatencyResult
    scan_to_light: LatencyResult
    outbox: LatencyResult
    round_trip: LatencyResult
    """Station outbox -> bridge commit -> ack at the station, beside a raw paho echo."""
    nagle: LatencyResult
    """The raw paho echo as configured, beside the same echo with Nagle's algorithm off."""
    labels: ThroughputResult
    replay: ThroughputResult
    ingest: ThroughputResult
    sage_rate: ThroughputResult
    sage: SagePostingFigures
    station: StationFigures
    bridge: BridgeFigures
    transfer: ThroughputResult
    rollouts: RolloutFigures
    rollback: RollbackFigures
    tls_round_trip: LatencyResult
    """The event round trip over mutual TLS with the ACL, beside the plain listener."""
    tls_ingest: ThroughputResult
    """Ingest over mutual TLS with the ACL, beside the plain listener."""
    flood: LatencyResult
    """Normal stations' apply latency while one station floods, beside no flood."""
    flood_throttled: int
    """The flooder's events the bridge dropped (not acknowledged, so replayed later)."""
    screen: LatencyResult
    """Scan to the packer's screen updated, in the browser, beside scan to light in that run."""
    dashboard: DashboardFigures
    """The dashboard's first load with many orders, beside the same with 100."""

    @property
    def latencies(self) -> list[LatencyResult]:
        return [
            self.scan,
            self.lights,
            self.scan_to_light,
            self.outbox,
            self.round_trip,
            self.nagle,
            self.tls_round_trip,
            self.flood,
            self.screen,
        ]

    @property
    def throughputs(self) -> list[ThroughputResult]:
        return [
            self.labels,
            self.replay,
            self.ingest,
            self.tls_ingest,
            self.sage_rate,
            self.transfer,
        ]
