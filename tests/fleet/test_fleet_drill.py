"""The fleet drill, as CI runs it: real broker, bridge and supervised station processes.

`packline fleet drill` checks its own invariants and exits non-zero naming the one that failed;
these tests run the console command as an operator would and read its last line, the JSON report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

pytestmark = [pytest.mark.broker, pytest.mark.timeout(900)]

REQUIRED_KEYS = {
    "stations",
    "target_version",
    "updated",
    "rolled_back",
    "untouched",
    "failed",
    "aborted",
    "waves",
    "refused_bundles",
    "on_known_good",
    "power_cuts",
    "seconds",
}


def _drill(*args: str) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run(
        [sys.executable, "-m", "edge.cli", "fleet", "drill", "--json", *args],
        capture_output=True,
        text=True,
        timeout=850,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"the drill printed nothing; stderr:\n{done.stderr[-3000:]}"
    return done.returncode, json.loads(lines[-1]), done.stdout + done.stderr[-3000:]


def test_a_bad_release_with_power_cuts_is_aborted_on_its_canary_and_all_end_known_good() -> None:
    status, report, output = _drill("--stations", "8", "--bad-release", "--power-cuts", "3")

    assert status == 0, output
    assert set(report) >= REQUIRED_KEYS
    assert report["aborted"] is True
    assert report["waves"] == 1
    assert report["rolled_back"] >= 1
    assert report["updated"] == 0
    assert report["rolled_back"] + report["untouched"] + report["failed"] == 8
    assert report["on_known_good"] == 8
    assert report["power_cuts"] == 3
    canary = next(info for info in report["per_station"].values() if info["state"] == "rolled_back")
    assert canary["refusal"] in {"crash_loop", "health_gate"}
    assert canary["running"] == canary["reported"] != report["target_version"]


def test_a_good_release_reaches_twenty_stations_in_growing_waves_despite_power_cuts() -> None:
    status, report, output = _drill("--stations", "20", "--power-cuts", "2")

    assert status == 0, output
    assert report["updated"] == 20
    assert report["rolled_back"] == 0
    assert report["on_known_good"] == 20
    assert report["waves"] == 5  # canary, then 2, 4, 8 and the remaining 5
    assert report["power_cuts"] == 2
    assert {info["running"] for info in report["per_station"].values()} == {
        report["target_version"]
    }
