"""`packline bench`: the drivers measured against baselines taken in the same run.

Absolute times on a shared machine are noise, so every figure is reported beside a baseline that
does the least possible work over the same simulated seam, and the ratio between the two is the
number to compare across runs.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from firmware_sim.bench_sage import SagePostingFigures

__all__ = [
    "BenchPlan",
    "BridgeFigures",
    "LatencyResult",
    "StationFigures",
    "ThroughputResult",
    "run_bench",
]


@dataclass(frozen=True)
class LatencyResult:
    """Latency of the real driver path beside a bare baseline, in microseconds."""

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
    """Rate of the real driver path beside a bare baseline, in items per second."""

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
    """Reduce two lists of latencies in seconds to medians and 95th percentiles."""
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
class BenchPlan:
    """How much of each measurement to take."""

    rounds: int
    orders: int = 1000
    kills: int = 500
    replay_events: int = 10_000
    bridge_lines: int = 100_000
    bridge_skus: int = 10_000
    ingest_events: int = 2_000
    sage_postings: int = 300


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


def _measure_bridge(plan: BenchPlan) -> tuple[BridgeFigures, ThroughputResult]:
    import tempfile

    from cloud_bridge.bench_allocation import measure_allocation
    from cloud_bridge.ingest.bench import measure_ingest
    from firmware_sim.postgres import PostgresNotInstalledError, PostgresServer

    with tempfile.TemporaryDirectory(prefix="packline-bench-") as directory:
        sqlite = measure_allocation(
            f"sqlite:///{directory}/bridge.db", plan.bridge_lines, plan.bridge_skus
        )
    postgresql: float | None
    try:
        with PostgresServer() as server:
            postgresql = measure_allocation(server.url, plan.bridge_lines, plan.bridge_skus).seconds
    except PostgresNotInstalledError:
        postgresql = None
    figures = BridgeFigures(
        lines=plan.bridge_lines,
        skus=plan.bridge_skus,
        sqlite_seconds=sqlite.seconds,
        postgresql_seconds=postgresql,
        planner_seconds=sqlite.planner_seconds,
        borrowed_units=sqlite.borrowed_units,
    )
    ingested, raw = measure_ingest(plan.ingest_events)
    ingest = ThroughputResult(
        name="bridge ingest: durable events/s, one instance on SQLite (baseline: raw paho)",
        samples=plan.ingest_events,
        driver_per_second=ingested,
        baseline_per_second=raw,
    )
    return figures, ingest


def _measure_sage(plan: BenchPlan) -> tuple[SagePostingFigures, ThroughputResult]:
    from firmware_sim.bench_sage import measure_sage_posting

    figures = measure_sage_posting(plan.sage_postings)
    throughput = ThroughputResult(
        name="sage posting: invoices/s through the outbox over HTTP (baseline: plain httpx POSTs)",
        samples=figures.postings,
        driver_per_second=figures.postings / figures.outbox_seconds,
        baseline_per_second=figures.postings / figures.plain_seconds,
    )
    return figures, throughput


def _sage_json(figures: SagePostingFigures) -> dict[str, Any]:
    return asdict(figures) | {
        "outbox_per_minute": figures.outbox_per_minute,
        "plain_per_minute": figures.plain_per_minute,
        "ratio": figures.ratio,
    }


def _measure(
    plan: BenchPlan,
) -> tuple[list[LatencyResult], list[ThroughputResult], StationFigures]:
    from firmware_sim.bench_lights import measure_light_latency
    from firmware_sim.bench_outbox import measure_crash_survival, measure_outbox_append
    from firmware_sim.bench_printer import measure_label_throughput
    from firmware_sim.bench_station import measure_scan_to_light, measure_station_memory
    from firmware_sim.bench_uplink import measure_replay
    from firmware_sim.bench_usb import measure_scan_latency

    rounds = plan.rounds
    scan_driver, scan_baseline = measure_scan_latency(rounds)
    light_driver, light_baseline = measure_light_latency(rounds)
    scan_to_light = measure_scan_to_light(rounds)
    outbox, outbox_baseline = measure_outbox_append(max(rounds, 100))
    labels = max(20, rounds // 3)
    driver_rate, baseline_rate = measure_label_throughput(labels)
    replay_seconds, raw_seconds = measure_replay(plan.replay_events)
    kills, verified = measure_crash_survival(plan.kills)
    memory = measure_station_memory(plan.orders)
    latencies = [
        summarise_latency("scan: HID report -> scan delivered", scan_driver, scan_baseline),
        summarise_latency("lights: driver call -> pin changed", light_driver, light_baseline),
        summarise_latency(
            "station: order scan HID report -> slot light on (baseline: the scan alone)",
            scan_to_light,
            scan_driver,
        ),
        summarise_latency(
            "outbox: append with 10,000 pending, fsync (baseline: TinyDB JSONStorage)",
            outbox,
            outbox_baseline,
        ),
    ]
    throughputs = [
        ThroughputResult(
            name="printer: labels/s to virtual Zebra over TCP",
            samples=labels,
            driver_per_second=driver_rate,
            baseline_per_second=baseline_rate,
        ),
        ThroughputResult(
            name="uplink: events/s replayed to Mosquitto after reconnect (baseline: raw paho)",
            samples=plan.replay_events,
            driver_per_second=plan.replay_events / replay_seconds,
            baseline_per_second=plan.replay_events / raw_seconds,
        ),
    ]
    figures = StationFigures(
        crash_kills=kills,
        crash_events_verified=verified,
        memory_orders=memory.orders,
        rss_before_kib=memory.rss_before_kib,
        rss_after_kib=memory.rss_after_kib,
    )
    return latencies, throughputs, figures


def _table(latencies: list[LatencyResult], throughputs: list[ThroughputResult]) -> Table:
    table = Table(title="packline bench (baseline measured in the same run)")
    for column in ("measurement", "n", "driver", "baseline", "ratio"):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    for lat in latencies:
        table.add_row(
            lat.name,
            str(lat.samples),
            f"p50 {lat.driver_median_us:,.0f} us / p99 {lat.driver_p99_us:,.0f} us",
            f"p50 {lat.baseline_median_us:,.0f} us / p99 {lat.baseline_p99_us:,.0f} us",
            f"{lat.ratio:.2f}x slower" if lat.ratio >= 1 else f"{1 / lat.ratio:.0f}x faster",
        )
    for thr in throughputs:
        table.add_row(
            thr.name,
            str(thr.samples),
            f"{thr.driver_per_second:,.0f}/s",
            f"{thr.baseline_per_second:,.0f}/s",
            f"{thr.ratio:.2f} of baseline",
        )
    return table


def _figures_table(figures: StationFigures) -> Table:
    table = Table(title="station: crash safety and memory")
    table.add_column("measurement")
    table.add_column("result", justify="right")
    table.add_row(
        "kill -9 while appending to the outbox",
        f"{figures.crash_kills} kills, {figures.crash_events_verified:,} acknowledged events "
        "all present",
    )
    growth = figures.rss_after_kib / figures.rss_before_kib
    table.add_row(
        f"resident memory after {figures.memory_orders:,} orders (station + simulated rig)",
        f"{figures.rss_after_kib / 1024:,.1f} MiB ({growth:.2f}x the idle station's "
        f"{figures.rss_before_kib / 1024:,.1f} MiB)",
    )
    return table


def _bridge_table(figures: BridgeFigures) -> Table:
    table = Table(title="bridge: allocation by quantity, persisted (one run, one transaction)")
    table.add_column("database")
    table.add_column(f"{figures.lines:,} lines / {figures.skus:,} SKUs", justify="right")
    table.add_column("vs the pure planner", justify="right")
    for name, seconds in (
        ("SQLite", figures.sqlite_seconds),
        ("PostgreSQL", figures.postgresql_seconds),
    ):
        if seconds is None:
            table.add_row(name, "not installed", "")
        else:
            table.add_row(name, f"{seconds:.2f} s", f"{seconds / figures.planner_seconds:.1f}x")
    table.add_row("pure planner (baseline)", f"{figures.planner_seconds:.2f} s", "1.0x")
    return table


def run_bench(plan: BenchPlan, as_json: bool) -> int:
    """Run every benchmark, print tables, and with `as_json` end with one JSON line."""
    if plan.rounds < 10:
        raise SystemExit("packline bench: --rounds must be at least 10")
    if plan.sage_postings < 1:
        raise SystemExit("packline bench: --sage-postings must be at least 1")
    latencies, throughputs, figures = _measure(plan)
    bridge, ingest = _measure_bridge(plan)
    throughputs.append(ingest)
    sage, sage_throughput = _measure_sage(plan)
    throughputs.append(sage_throughput)
    console = Console()
    console.print(_table(latencies, throughputs))
    console.print(_figures_table(figures))
    console.print(_bridge_table(bridge))
    if as_json:
        document = {
            "latency": [asdict(lat) | {"ratio": lat.ratio} for lat in latencies],
            "throughput": [asdict(thr) | {"ratio": thr.ratio} for thr in throughputs],
            "station": asdict(figures),
            "bridge": asdict(bridge),
            "sage": _sage_json(sage),
        }
        print(json.dumps(document, sort_keys=True))
    return 0
