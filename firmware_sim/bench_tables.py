"""The tables `packline bench` prints for people: each figure, its baseline and their ratio."""

from __future__ import annotations

from rich.table import Table

from firmware_sim.bench_machine import Machine
from firmware_sim.bench_results import BenchReport, BridgeFigures, StationFigures

__all__ = ["report_tables"]


def report_tables(report: BenchReport, machine: Machine) -> list[Table]:
    """The pairs, the station's crash and memory figures, and allocation per database."""
    return [
        _pairs(report, machine),
        _figures_table(report.station),
        _bridge_table(report.bridge),
        _fleet_table(report),
        _dashboard_table(report),
    ]


def _pairs(report: BenchReport, machine: Machine) -> Table:
    table = Table(
        title="packline bench (baseline measured in the same run)",
        caption=(
            f"{machine.cores} cores ({machine.cpu}), {machine.ram_gib} GiB, Python "
            f"{machine.python}, SQLite {machine.sqlite}, PostgreSQL {machine.postgresql}, "
            f"Mosquitto {machine.mosquitto}; {'quick' if report.plan.quick else 'full'} run "
            f"in {report.seconds:.0f} s"
        ),
    )
    for column in ("measurement", "n", "driver", "baseline", "ratio"):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    for lat in report.latencies:
        table.add_row(
            lat.name,
            str(lat.samples),
            f"p50 {lat.driver_median_us:,.0f} us / p99 {lat.driver_p99_us:,.0f} us",
            f"p50 {lat.baseline_median_us:,.0f} us / p99 {lat.baseline_p99_us:,.0f} us",
            _times(lat.ratio),
        )
    for thr in report.throughputs:
        table.add_row(
            thr.name,
            str(thr.samples),
            f"{thr.driver_per_second:,.0f}/s",
            f"{thr.baseline_per_second:,.0f}/s",
            f"{thr.ratio:.2f} of baseline",
        )
    return table


def _times(ratio: float) -> str:
    """A latency ratio in words: how many times slower or faster than the baseline."""
    if ratio >= 1:
        return f"{ratio:.2f}x slower"
    faster = 1 / ratio
    return f"{faster:.2f}x faster" if faster < 10 else f"{faster:.0f}x faster"


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


def _fleet_table(report: BenchReport) -> Table:
    rollouts = report.rollouts
    rollback = report.rollback
    scale = rollouts.large_stations / rollouts.small_stations
    table = Table(title="fleet (real bridge and supervised station processes, same run)")
    for column in ("measurement", "figure", "baseline", "ratio"):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    table.add_row(
        f"rollout time, {rollouts.large_stations} vs {rollouts.small_stations} stations",
        f"{rollouts.large_seconds:.1f} s ({rollouts.large_waves} waves)",
        f"{rollouts.small_seconds:.1f} s ({rollouts.small_waves} waves)",
        f"{rollouts.growth:.2f}x the time for {scale:.0f}x the stations",
    )
    table.add_row(
        "failed release: rollback to the previous version online (baseline: plain restart)",
        f"{rollback.rollback_seconds:.2f} s",
        f"{rollback.restart_seconds:.2f} s",
        _times(rollback.ratio),
    )
    return table


def _dashboard_table(report: BenchReport) -> Table:
    dashboard = report.dashboard
    table = Table(title="manager's dashboard in headless Chromium (same run)")
    for column in ("measurement", "figure", "baseline", "ratio"):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    table.add_row(
        f"first load after sign-in, median of {dashboard.loads}, "
        f"{dashboard.orders:,} orders (baseline: {dashboard.baseline_orders:,})",
        f"{dashboard.load_ms:,.0f} ms",
        f"{dashboard.baseline_load_ms:,.0f} ms",
        _times(dashboard.ratio),
    )
    return table
