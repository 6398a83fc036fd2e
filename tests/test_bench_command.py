"""`packline bench --json` ends with one JSON object holding every figure beside its baseline."""

from __future__ import annotations

import json
import subprocess
import sys


def test_bench_json_reports_each_measurement_with_a_same_run_baseline() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "bench",
            "--rounds",
            "20",
            "--orders",
            "5",
            "--kills",
            "5",
            "--replay-events",
            "200",
            "--bridge-lines",
            "500",
            "--bridge-skus",
            "50",
            "--ingest-events",
            "50",
            "--sage-postings",
            "5",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout.strip().splitlines()[-1])
    names = [item["name"] for item in document["latency"] + document["throughput"]]
    assert any(name.startswith("scan") for name in names)
    assert any(name.startswith("lights") for name in names)
    assert any(name.startswith("printer") for name in names)
    assert any(name.startswith("station") for name in names)
    assert any(name.startswith("outbox") for name in names)
    assert any(name.startswith("uplink") for name in names)
    assert document["station"]["crash_kills"] == 5
    assert document["station"]["memory_orders"] == 5
    assert document["bridge"]["lines"] == 500
    assert document["bridge"]["sqlite_seconds"] > 0
    assert any(name.startswith("bridge ingest") for name in names)
    assert any(name.startswith("sage posting") for name in names)
    assert document["sage"]["postings"] == document["sage"]["invoices"] == 5
    assert document["sage"]["outbox_per_minute"] > 0
    assert document["sage"]["plain_per_minute"] > 0
    for item in document["latency"]:
        assert item["baseline_median_us"] > 0
        assert item["ratio"] > 0
    for item in document["throughput"]:
        assert item["baseline_per_second"] > 0
        assert item["driver_per_second"] > 0
