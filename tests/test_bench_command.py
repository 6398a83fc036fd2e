"""`packline bench --json` ends with one flat JSON object: every figure beside its baseline."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from edge.cli import main
from firmware_sim.bench_plan import QUICK_PLAN, BenchPlan, plan_from_options
from firmware_sim.bench_summary import REQUIRED_KEYS

SMALLER_THAN_QUICK = {
    "--rounds": "20",
    "--orders": "5",
    "--kills": "5",
    "--replay-events": "200",
    "--bridge-lines": "500",
    "--bridge-skus": "50",
    "--ingest-events": "50",
    "--sage-postings": "5",
    "--fleet-small": "1",
    "--fleet-large": "2",
    "--transfer-mib": "1",
    "--flood-events": "200",
    "--screen-scans": "12",
    "--dashboard-orders": "300",
    "--dashboard-loads": "1",
}


def _bench_json_lines(*options: str) -> tuple[Any, Any]:
    """(the nested detail line, the flat summary line) of a bench run with these options."""
    completed = subprocess.run(
        [sys.executable, "-m", "edge.cli", "bench", *options, "--json"],
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    lines = completed.stdout.strip().splitlines()
    return json.loads(lines[-2]), json.loads(lines[-1])


@pytest.mark.timeout(600)
def test_bench_quick_as_ci_runs_it_finishes_with_every_figure() -> None:
    """`packline bench --quick` exactly as the issue has CI run it: it runs; speed is not judged."""
    _detail, summary = _bench_json_lines("--quick")

    assert all(key in summary for key in REQUIRED_KEYS)
    assert summary["quick"] is True


@pytest.mark.timeout(600)
def test_bench_quick_json_ends_with_a_flat_object_holding_every_figure_and_baseline() -> None:
    overrides = [item for pair in SMALLER_THAN_QUICK.items() for item in pair]

    detail, summary = _bench_json_lines("--quick", *overrides)

    missing = [key for key in REQUIRED_KEYS if key not in summary]
    assert not missing, f"missing keys {missing}"
    for key in REQUIRED_KEYS:
        value = summary[key]
        assert isinstance(value, int | float), f"{key} is {value!r}"
        assert not isinstance(value, bool), f"{key} is a bool"
        assert value > 0, f"{key} is {value}"
    assert not any(isinstance(value, dict | list) for value in summary.values())
    assert summary["quick"] is True
    assert summary["rounds"] == 20
    assert summary["replay_events"] == 200
    assert summary["allocation_lines"] == 500
    assert summary["crash_kills"] == 5
    assert summary["memory_orders"] == 5
    assert summary["machine_cores"] >= 1
    assert (summary["rollout_small_stations"], summary["rollout_large_stations"]) == (1, 2)
    assert detail["sage"]["postings"] == detail["sage"]["invoices"] == 5
    assert summary["screen_scans"] == 12
    assert (summary["dashboard_orders"], summary["dashboard_loads"]) == (300, 1)
    assert detail["dashboard"]["baseline_orders"] == 100
    names = [item["name"] for item in detail["latency"] + detail["throughput"]]
    assert any(name.startswith("round trip") for name in names)


def test_the_quick_plan_is_the_one_the_help_promises_and_options_override_it() -> None:
    assert plan_from_options(quick=True, overrides={"rounds": None}) == QUICK_PLAN
    assert plan_from_options(quick=False, overrides={}) == BenchPlan()
    assert plan_from_options(quick=True, overrides={"kills": 3}).kills == 3
    assert QUICK_PLAN.quick
    assert QUICK_PLAN.replay_events < BenchPlan().replay_events


def test_a_count_below_its_minimum_is_refused_naming_the_option() -> None:
    with pytest.raises(SystemExit, match=r"--rounds is 5; expected at least 10"):
        main(["bench", "--quick", "--rounds", "5"])
    with pytest.raises(SystemExit, match=r"--sage-postings is 0; expected at least 1"):
        main(["bench", "--sage-postings", "0"])
    with pytest.raises(SystemExit, match=r"--screen-scans is 9; expected at least 10"):
        main(["bench", "--screen-scans", "9"])
