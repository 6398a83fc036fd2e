"""The benchmark's workload is reproducible and exercises borrowing, priority and policies."""

from __future__ import annotations

from collections import Counter

from cloud_bridge.allocation import StockKey, plan
from cloud_bridge.allocation.bench import build_workload, measure_plan


def test_the_same_seed_builds_the_same_workload() -> None:
    assert build_workload(300, 40, seed=7) == build_workload(300, 40, seed=7)


def test_the_workload_has_shortages_borrowing_and_every_policy() -> None:
    workload = build_workload(2_000, 200, seed=1)

    result = plan(workload.lines, workload.available, workload.accounts)

    assert any(grant.borrowed for grant in result.grants)
    assert result.unfilled
    assert {line.policy for line in workload.lines} == {"partial", "all_or_nothing", "full_packs"}


def test_the_workloads_plan_never_grants_more_than_is_free() -> None:
    workload = build_workload(2_000, 200, seed=2)

    result = plan(workload.lines, workload.available, workload.accounts)

    granted: Counter[StockKey] = Counter()
    for grant in result.grants:
        granted[(grant.from_account, grant.sku)] += grant.quantity
    assert all(units <= workload.available[key] for key, units in granted.items())


def test_measuring_returns_the_seconds_spent_planning() -> None:
    seconds = measure_plan(500, 50, seed=3)

    assert isinstance(seconds, float)
    assert seconds > 0
