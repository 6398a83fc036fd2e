"""The JSON `packline bench --json` prints: the nested detail, then one flat summary line last.

The flat summary has one key per figure, its unit in its name (`_ms`, `_s`, `_per_s`,
`_per_min`, `_mb`), with the baseline measured in the same run beside it. Every
`<figure>_vs_<baseline>_ratio` is the figure divided by its baseline in that unit: for a time
above 1 means slower than the baseline, for a rate below 1 means slower. Latency ratios compare
medians, except `outbox_vs_tinydb_ratio`, which compares 99th percentiles (the tail of an append
is what a packer waits on). Compare ratios across runs; the absolute figures move with whatever
else the machine is doing.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from firmware_sim.bench_machine import Machine
from firmware_sim.bench_results import BenchReport, LatencyResult

__all__ = ["REQUIRED_KEYS", "Summary", "detail_document", "flat_summary"]

Summary = dict[str, float | int | str | bool | None]

REQUIRED_KEYS = (
    "scan_to_light_p50_ms",
    "scan_to_light_p99_ms",
    "outbox_append_p99_ms",
    "tinydb_stock_append_p99_ms",
    "outbox_vs_tinydb_ratio",
    "event_roundtrip_p50_ms",
    "mqtt_roundtrip_p50_ms",
    "event_roundtrip_vs_mqtt_ratio",
    "ingest_events_per_s",
    "mqtt_raw_events_per_s",
    "ingest_vs_mqtt_raw_ratio",
    "replay_10k_s",
    "paho_replay_10k_s",
    "replay_vs_paho_ratio",
    "allocation_lines_per_s",
    "allocation_planner_lines_per_s",
    "allocation_vs_planner_ratio",
    "labels_per_s",
    "raw_tcp_labels_per_s",
    "labels_vs_raw_tcp_ratio",
    "sage_postings_per_min",
    "sage_plain_httpx_postings_per_min",
    "sage_vs_plain_httpx_ratio",
    "station_rss_mb",
    "release_transfer_mib_per_s",
    "raw_mqtt_mib_per_s",
    "transfer_vs_raw_mqtt_ratio",
    "rollout_small_s",
    "rollout_large_s",
    "rollout_large_vs_small_ratio",
    "rollback_to_previous_s",
    "plain_restart_s",
    "rollback_vs_restart_ratio",
    "tls_event_roundtrip_p50_ms",
    "plain_event_roundtrip_p50_ms",
    "tls_vs_plain_roundtrip_ratio",
    "tls_ingest_events_per_s",
    "plain_ingest_events_per_s",
    "tls_vs_plain_ingest_ratio",
    "flood_normal_p99_ms",
    "quiet_normal_p99_ms",
    "flood_vs_quiet_p99_ratio",
    "screen_update_p50_ms",
    "screen_update_p99_ms",
    "screen_scan_to_light_p50_ms",
    "screen_scan_to_light_p99_ms",
    "screen_vs_light_ratio",
    "dashboard_load_ms",
    "dashboard_load_100_orders_ms",
    "dashboard_vs_100_orders_ratio",
)
"""Keys every run reports as numbers (PostgreSQL's figures are None when it is not installed)."""

_REPLAY_SCALE = 10_000
_MS = 1000.0


def flat_summary(report: BenchReport, machine: Machine) -> Summary:
    """Every figure of `report` as one flat mapping, with the machine and the run's counts."""
    summary: Summary = {}
    summary.update(_run(report, machine))
    summary.update(_latency("scan", "pyusb_scan", report.scan, "scan_vs_pyusb_ratio"))
    summary.update(_latency("lights", "gpiozero_led", report.lights, "lights_vs_gpiozero_ratio"))
    summary.update(
        _latency("scan_to_light", None, report.scan_to_light, "scan_to_light_vs_scan_ratio")
    )
    summary.update(
        _latency(
            "outbox_append", "tinydb_stock_append", report.outbox, "outbox_p50_vs_tinydb_ratio"
        )
    )
    summary["outbox_vs_tinydb_ratio"] = report.outbox.driver_p99_us / report.outbox.baseline_p99_us
    summary.update(
        _latency(
            "event_roundtrip", "mqtt_roundtrip", report.round_trip, "event_roundtrip_vs_mqtt_ratio"
        )
    )
    summary["mqtt_roundtrip_nodelay_p50_ms"] = report.nagle.baseline_median_us / _MS
    summary["mqtt_roundtrip_nodelay_p99_ms"] = report.nagle.baseline_p99_us / _MS
    summary["mqtt_roundtrip_vs_nodelay_ratio"] = report.nagle.ratio
    summary.update(_rates(report))
    summary.update(_allocation(report))
    summary.update(_station(report))
    summary.update(_fleet(report))
    summary.update(_security(report))
    summary.update(_pages(report))
    return summary


def _pages(report: BenchReport) -> Summary:
    """The packer's screen beside the light in the same run, and the dashboard's first load
    with many orders beside 100."""
    screen = report.screen
    dashboard = report.dashboard
    figures = _latency("screen_update", "screen_scan_to_light", screen, "screen_vs_light_ratio")
    return figures | {
        "screen_scans": screen.samples,
        "screen_vs_light_p99_ratio": screen.driver_p99_us / screen.baseline_p99_us,
        "dashboard_orders": dashboard.orders,
        "dashboard_loads": dashboard.loads,
        "dashboard_load_ms": dashboard.load_ms,
        "dashboard_load_100_orders_ms": dashboard.baseline_load_ms,
        "dashboard_vs_100_orders_ratio": dashboard.ratio,
    }


def _security(report: BenchReport) -> Summary:
    figures = _latency(
        "tls_event_roundtrip",
        "plain_event_roundtrip",
        report.tls_round_trip,
        "tls_vs_plain_roundtrip_ratio",
    )
    flood = report.flood
    return figures | {
        "tls_ingest_events_per_s": report.tls_ingest.driver_per_second,
        "plain_ingest_events_per_s": report.tls_ingest.baseline_per_second,
        "tls_vs_plain_ingest_ratio": report.tls_ingest.ratio,
        "flood_events": report.plan.flood_events,
        "flood_throttled": report.flood_throttled,
        "flood_normal_p50_ms": flood.driver_median_us / _MS,
        "flood_normal_p99_ms": flood.driver_p99_us / _MS,
        "quiet_normal_p50_ms": flood.baseline_median_us / _MS,
        "quiet_normal_p99_ms": flood.baseline_p99_us / _MS,
        "flood_vs_quiet_p99_ratio": flood.driver_p99_us / flood.baseline_p99_us,
    }


def _run(report: BenchReport, machine: Machine) -> Summary:
    plan = report.plan
    return {
        "quick": plan.quick,
        "bench_seconds": report.seconds,
        "machine_cores": machine.cores,
        "machine_ram_gib": machine.ram_gib,
        "machine_cpu": machine.cpu,
        "python_version": machine.python,
        "sqlite_version": machine.sqlite,
        "postgresql_version": machine.postgresql,
        "mosquitto_version": machine.mosquitto,
        "rounds": plan.rounds,
        "replay_events": plan.replay_events,
        "ingest_events": plan.ingest_events,
        "allocation_lines": plan.bridge_lines,
        "allocation_skus": plan.bridge_skus,
        "sage_postings": plan.sage_postings,
        "memory_orders": plan.orders,
    }


def _latency(name: str, baseline: str | None, result: LatencyResult, ratio: str) -> Summary:
    """p50 and p99 of a latency pair in ms (the baseline's unless reported under its own name),
    and the ratio of the medians."""
    figures: Summary = {
        f"{name}_p50_ms": result.driver_median_us / _MS,
        f"{name}_p99_ms": result.driver_p99_us / _MS,
        ratio: result.ratio,
    }
    if baseline is not None:
        figures[f"{baseline}_p50_ms"] = result.baseline_median_us / _MS
        figures[f"{baseline}_p99_ms"] = result.baseline_p99_us / _MS
    return figures


def _rates(report: BenchReport) -> Summary:
    replay = report.replay
    return {
        "ingest_events_per_s": report.ingest.driver_per_second,
        "mqtt_raw_events_per_s": report.ingest.baseline_per_second,
        "ingest_vs_mqtt_raw_ratio": report.ingest.ratio,
        "replay_10k_s": _REPLAY_SCALE / replay.driver_per_second,
        "paho_replay_10k_s": _REPLAY_SCALE / replay.baseline_per_second,
        "replay_vs_paho_ratio": replay.baseline_per_second / replay.driver_per_second,
        "labels_per_s": report.labels.driver_per_second,
        "raw_tcp_labels_per_s": report.labels.baseline_per_second,
        "labels_vs_raw_tcp_ratio": report.labels.ratio,
        "sage_postings_per_min": report.sage.outbox_per_minute,
        "sage_plain_httpx_postings_per_min": report.sage.plain_per_minute,
        "sage_vs_plain_httpx_ratio": report.sage.ratio,
    }


def _allocation(report: BenchReport) -> Summary:
    bridge = report.bridge
    planner = bridge.lines / bridge.planner_seconds
    sqlite = bridge.lines / bridge.sqlite_seconds
    postgresql = (
        None if bridge.postgresql_seconds is None else bridge.lines / bridge.postgresql_seconds
    )
    return {
        "allocation_lines_per_s": sqlite,
        "allocation_postgresql_lines_per_s": postgresql,
        "allocation_planner_lines_per_s": planner,
        "allocation_vs_planner_ratio": sqlite / planner,
        "allocation_postgresql_vs_planner_ratio": None
        if postgresql is None
        else postgresql / planner,
    }


def _station(report: BenchReport) -> Summary:
    station = report.station
    return {
        "station_rss_mb": station.rss_after_kib / 1024,
        "station_idle_rss_mb": station.rss_before_kib / 1024,
        "station_rss_vs_idle_ratio": station.rss_after_kib / station.rss_before_kib,
        "crash_kills": station.crash_kills,
        "crash_events_verified": station.crash_events_verified,
    }


def _fleet(report: BenchReport) -> Summary:
    rollouts = report.rollouts
    rollback = report.rollback
    return {
        "release_transfer_mib_per_s": report.transfer.driver_per_second,
        "raw_mqtt_mib_per_s": report.transfer.baseline_per_second,
        "transfer_vs_raw_mqtt_ratio": report.transfer.ratio,
        "rollout_small_stations": rollouts.small_stations,
        "rollout_small_s": rollouts.small_seconds,
        "rollout_small_waves": rollouts.small_waves,
        "rollout_large_stations": rollouts.large_stations,
        "rollout_large_s": rollouts.large_seconds,
        "rollout_large_waves": rollouts.large_waves,
        "rollout_large_vs_small_ratio": rollouts.growth,
        "rollback_to_previous_s": rollback.rollback_seconds,
        "plain_restart_s": rollback.restart_seconds,
        "rollback_vs_restart_ratio": rollback.ratio,
    }


def detail_document(report: BenchReport) -> dict[str, Any]:
    """The nested form: every pair with its name, sample count and percentiles."""
    sage = asdict(report.sage) | {
        "outbox_per_minute": report.sage.outbox_per_minute,
        "plain_per_minute": report.sage.plain_per_minute,
        "ratio": report.sage.ratio,
    }
    return {
        "latency": [asdict(lat) | {"ratio": lat.ratio} for lat in report.latencies],
        "throughput": [asdict(thr) | {"ratio": thr.ratio} for thr in report.throughputs],
        "station": asdict(report.station),
        "bridge": asdict(report.bridge),
        "sage": sage,
        "rollouts": asdict(report.rollouts) | {"growth": report.rollouts.growth},
        "rollback": asdict(report.rollback) | {"ratio": report.rollback.ratio},
        "dashboard": asdict(report.dashboard) | {"ratio": report.dashboard.ratio},
    }
