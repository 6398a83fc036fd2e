"""`packline bench`: every figure of the station and the bridge, each beside a same-run baseline.

Absolute times on a shared machine are noise, so every figure is measured beside a baseline that
does the least possible work over the same seam, in the same run, and the ratio between the two
is the number to compare across runs. Each measurement lives in its own `bench_*` module; this
one runs them in turn, prints the tables, and with `--json` ends with one flat JSON line
(`firmware_sim.bench_summary`).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from typing import TYPE_CHECKING

from rich.console import Console

from firmware_sim.bench_machine import describe_machine
from firmware_sim.bench_plan import BenchPlan, BenchPlanError, plan_from_options
from firmware_sim.bench_results import (
    BenchReport,
    BridgeFigures,
    LatencyResult,
    StationFigures,
    ThroughputResult,
    summarise_latency,
)
from firmware_sim.bench_summary import detail_document, flat_summary
from firmware_sim.bench_tables import report_tables

if TYPE_CHECKING:
    from firmware_sim.bench_dashboard import DashboardFigures

__all__ = [
    "BenchPlan",
    "BenchPlanError",
    "BenchReport",
    "BridgeFigures",
    "LatencyResult",
    "StationFigures",
    "ThroughputResult",
    "measure_all",
    "plan_from_options",
    "run_bench",
]

_PIPED_WIDTH = 160
"""Table width when the output is not a terminal (rich would wrap it at 80 columns)."""


def _station_latencies(
    rounds: int,
) -> tuple[LatencyResult, LatencyResult, LatencyResult, LatencyResult]:
    """(scan, lights, scan to light, outbox append), each beside its baseline."""
    from firmware_sim.bench_lights import measure_light_latency
    from firmware_sim.bench_outbox import measure_outbox_append
    from firmware_sim.bench_station import measure_scan_to_light
    from firmware_sim.bench_usb import measure_scan_latency

    scan_driver, scan_baseline = measure_scan_latency(rounds)
    light_driver, light_baseline = measure_light_latency(rounds)
    scan_to_light = measure_scan_to_light(rounds)
    outbox, outbox_baseline = measure_outbox_append(max(rounds, 100))
    return (
        summarise_latency(
            "scan: HID report -> scan delivered (baseline: bare pyusb reads)",
            scan_driver,
            scan_baseline,
        ),
        summarise_latency(
            "lights: driver call -> pin changed (baseline: bare gpiozero LED)",
            light_driver,
            light_baseline,
        ),
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
    )


def _round_trips(rounds: int) -> tuple[LatencyResult, LatencyResult]:
    """(event round trip beside the paho echo, the paho echo beside its Nagle-free floor)."""
    from firmware_sim.bench_roundtrip import measure_round_trips

    trips = measure_round_trips(rounds)
    return (
        summarise_latency(
            "round trip: station outbox -> bridge commit -> ack at the station "
            "(baseline: raw paho publish and echo)",
            trips.station,
            trips.paho_echo,
        ),
        summarise_latency(
            "mqtt echo, paho and Mosquitto as configured (baseline: Nagle off everywhere)",
            trips.paho_echo,
            trips.paho_echo_nodelay,
        ),
    )


def _station_rates(plan: BenchPlan) -> tuple[ThroughputResult, ThroughputResult]:
    """(labels printed, outbox replayed), each beside its baseline."""
    from firmware_sim.bench_printer import measure_label_throughput
    from firmware_sim.bench_uplink import measure_replay

    labels = max(20, plan.rounds // 3)
    driver_rate, baseline_rate = measure_label_throughput(labels)
    replay_seconds, raw_seconds = measure_replay(plan.replay_events)
    return (
        ThroughputResult(
            name="printer: labels/s to virtual Zebra over TCP (baseline: the same bytes, raw TCP)",
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
    )


def _station_figures(plan: BenchPlan) -> StationFigures:
    from firmware_sim.bench_outbox import measure_crash_survival
    from firmware_sim.bench_station import measure_station_memory

    kills, verified = measure_crash_survival(plan.kills)
    memory = measure_station_memory(plan.orders)
    return StationFigures(
        crash_kills=kills,
        crash_events_verified=verified,
        memory_orders=memory.orders,
        rss_before_kib=memory.rss_before_kib,
        rss_after_kib=memory.rss_after_kib,
    )


def _allocation(plan: BenchPlan) -> BridgeFigures:
    from cloud_bridge.bench_allocation import measure_allocation
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
    return BridgeFigures(
        lines=plan.bridge_lines,
        skus=plan.bridge_skus,
        sqlite_seconds=sqlite.seconds,
        postgresql_seconds=postgresql,
        planner_seconds=sqlite.planner_seconds,
        borrowed_units=sqlite.borrowed_units,
    )


def _ingest(plan: BenchPlan) -> ThroughputResult:
    from cloud_bridge.ingest.bench import measure_ingest

    ingested, raw = measure_ingest(plan.ingest_events)
    return ThroughputResult(
        name="bridge ingest: durable events/s, one instance on SQLite (baseline: raw paho)",
        samples=plan.ingest_events,
        driver_per_second=ingested,
        baseline_per_second=raw,
    )


def _security(plan: BenchPlan) -> tuple[LatencyResult, ThroughputResult, LatencyResult, int]:
    """(round trip and ingest over mutual TLS with the ACL beside the plain listener, and the
    normal stations' latency while one floods beside no flood, with the flooder's drops)."""
    from cloud_bridge.ingest.bench import measure_secure_ingest
    from cloud_bridge.ingest.bench_flood import FloodScenario, measure_flood
    from firmware_sim.bench_roundtrip import measure_secure_round_trips

    tls_trips, plain_trips = measure_secure_round_trips(plan.rounds)
    tls_rate, plain_rate = measure_secure_ingest(plan.ingest_events)
    flood = measure_flood(FloodScenario(flood_events=plan.flood_events))
    return (
        summarise_latency(
            "round trip over mutual TLS with the ACL (baseline: the same, plain listener)",
            tls_trips,
            plain_trips,
        ),
        ThroughputResult(
            name="bridge ingest over mutual TLS with the ACL (baseline: plain listener)",
            samples=plan.ingest_events,
            driver_per_second=tls_rate,
            baseline_per_second=plain_rate,
        ),
        LatencyResult(
            name=f"ingest apply latency of 3 stations while a 4th floods {plan.flood_events:,} "
            "events (baseline: no flood)",
            samples=150,
            driver_median_us=flood["flood_p50_ms"] * 1000,
            driver_p95_us=flood["flood_p95_ms"] * 1000,
            driver_p99_us=flood["flood_p99_ms"] * 1000,
            baseline_median_us=flood["quiet_p50_ms"] * 1000,
            baseline_p95_us=flood["quiet_p95_ms"] * 1000,
            baseline_p99_us=flood["quiet_p99_ms"] * 1000,
        ),
        int(flood["flood_throttled"]),
    )


def _pages(plan: BenchPlan) -> tuple[LatencyResult, DashboardFigures]:
    """(scan to the packer's screen beside scan to light, the dashboard's first load)."""
    from firmware_sim.bench_dashboard import measure_dashboard
    from firmware_sim.bench_screen import measure_screen

    screen = measure_screen(plan.screen_scans)
    dashboard = measure_dashboard(plan.dashboard_orders, plan.dashboard_loads)
    return (
        summarise_latency(
            "screen: scan HID report -> packer's screen updated, in Chromium "
            "(baseline: the same scans -> slot light pin)",
            screen.screen,
            screen.light,
        ),
        dashboard,
    )


def measure_all(plan: BenchPlan) -> BenchReport:
    """Take every measurement of `plan`, one after the other, and return them together."""
    from firmware_sim.bench_sage import measure_sage_posting

    started = time.perf_counter()
    scan, lights, scan_to_light, outbox = _station_latencies(plan.rounds)
    labels, replay = _station_rates(plan)
    station = _station_figures(plan)
    round_trip, nagle = _round_trips(plan.rounds)
    ingest = _ingest(plan)
    bridge = _allocation(plan)
    sage = measure_sage_posting(plan.sage_postings)
    from firmware_sim.bench_fleet import measure_rollback, measure_rollouts, measure_transfer

    transfer = measure_transfer(plan.transfer_mib * 2**20)
    rollouts = measure_rollouts(plan.fleet_small, plan.fleet_large)
    rollback = measure_rollback()
    tls_round_trip, tls_ingest, flood, flood_throttled = _security(plan)
    screen, dashboard = _pages(plan)
    sage_rate = ThroughputResult(
        name="sage posting: invoices/s through the outbox over HTTP (baseline: plain httpx POSTs)",
        samples=sage.postings,
        driver_per_second=sage.postings / sage.outbox_seconds,
        baseline_per_second=sage.postings / sage.plain_seconds,
    )
    return BenchReport(
        plan=plan,
        seconds=time.perf_counter() - started,
        scan=scan,
        lights=lights,
        scan_to_light=scan_to_light,
        outbox=outbox,
        round_trip=round_trip,
        nagle=nagle,
        labels=labels,
        replay=replay,
        ingest=ingest,
        sage_rate=sage_rate,
        sage=sage,
        station=station,
        bridge=bridge,
        transfer=transfer,
        rollouts=rollouts,
        rollback=rollback,
        tls_round_trip=tls_round_trip,
        tls_ingest=tls_ingest,
        flood=flood,
        flood_throttled=flood_throttled,
        screen=screen,
        dashboard=dashboard,
    )


def run_bench(plan: BenchPlan, as_json: bool) -> int:
    """Run every benchmark and print the tables; with `as_json`, end with two JSON lines.

    The first JSON line is the nested detail (each pair with its name and percentiles); the
    last is the flat summary, one key per figure.
    """
    machine = describe_machine()
    report = measure_all(plan)
    console = Console() if sys.stdout.isatty() else Console(width=_PIPED_WIDTH)
    for table in report_tables(report, machine):
        console.print(table)
    if as_json:
        print(json.dumps(detail_document(report), sort_keys=True))
        print(json.dumps(flat_summary(report, machine), sort_keys=True))
    return 0
