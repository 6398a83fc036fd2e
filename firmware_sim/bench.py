"""`packline bench`: the drivers measured against baselines taken in the same run.

Absolute times on a shared machine are noise, so every figure is reported beside a baseline that
does the least possible work over the same simulated seam, and the ratio between the two is the
number to compare across runs.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass

from rich.console import Console
from rich.table import Table

__all__ = ["LatencyResult", "ThroughputResult", "run_bench"]


@dataclass(frozen=True)
class LatencyResult:
    """Latency of the real driver path beside a bare baseline, in microseconds."""

    name: str
    samples: int
    driver_median_us: float
    driver_p95_us: float
    baseline_median_us: float
    baseline_p95_us: float

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
        baseline_median_us=statistics.median(baseline) * micro,
        baseline_p95_us=_percentile(baseline, 0.95) * micro,
    )


def _measure(rounds: int) -> tuple[list[LatencyResult], list[ThroughputResult]]:
    from firmware_sim.bench_lights import measure_light_latency
    from firmware_sim.bench_printer import measure_label_throughput
    from firmware_sim.bench_usb import measure_scan_latency

    scan_driver, scan_baseline = measure_scan_latency(rounds)
    light_driver, light_baseline = measure_light_latency(rounds)
    labels = max(20, rounds // 3)
    driver_rate, baseline_rate = measure_label_throughput(labels)
    latencies = [
        summarise_latency("scan: HID report -> scan delivered", scan_driver, scan_baseline),
        summarise_latency("lights: driver call -> pin changed", light_driver, light_baseline),
    ]
    throughputs = [
        ThroughputResult(
            name="printer: labels/s to virtual Zebra over TCP",
            samples=labels,
            driver_per_second=driver_rate,
            baseline_per_second=baseline_rate,
        )
    ]
    return latencies, throughputs


def _table(latencies: list[LatencyResult], throughputs: list[ThroughputResult]) -> Table:
    table = Table(title="packline bench (baseline measured in the same run)")
    for column in ("measurement", "n", "driver", "baseline", "ratio"):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    for lat in latencies:
        table.add_row(
            lat.name,
            str(lat.samples),
            f"median {lat.driver_median_us:,.0f} us / p95 {lat.driver_p95_us:,.0f} us",
            f"median {lat.baseline_median_us:,.0f} us / p95 {lat.baseline_p95_us:,.0f} us",
            f"{lat.ratio:.2f}x slower",
        )
    for thr in throughputs:
        table.add_row(
            thr.name,
            str(thr.samples),
            f"{thr.driver_per_second:,.0f} labels/s",
            f"{thr.baseline_per_second:,.0f} labels/s (plain socket)",
            f"{thr.ratio:.2f} of baseline",
        )
    return table


def run_bench(rounds: int, as_json: bool) -> int:
    """Run every benchmark, print a table, and with `as_json` end with one JSON line."""
    if rounds < 10:
        raise SystemExit("packline bench: --rounds must be at least 10")
    latencies, throughputs = _measure(rounds)
    console = Console()
    console.print(_table(latencies, throughputs))
    if as_json:
        document = {
            "latency": [asdict(lat) | {"ratio": lat.ratio} for lat in latencies],
            "throughput": [asdict(thr) | {"ratio": thr.ratio} for thr in throughputs],
        }
        print(json.dumps(document, sort_keys=True))
    return 0
