"""The seeding behind the dashboard's benchmarks: many orders, spread out, consistent, fast.

The dashboard reads a seeded database like any other, so these tests read it through the
dashboard's own endpoints.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from dashboard_world import Dashboard, running_dashboard

from firmware_sim.dashboard_seed import SAGE_REFUSAL, SeedError, SeedSummary, seed_orders

ORDERS = 2_000
GATE_MESSAGE = re.compile(
    r"Order \((S\d{7})\): Invoice debtor \((SD\d)\): "
    r"(Credit line exceeded\.|Not allowed: Fulfilment\. Reason: Prepayment)"
)


@pytest.fixture
async def seeded(tmp_path: Path) -> AsyncIterator[tuple[Dashboard, SeedSummary]]:
    async with running_dashboard(tmp_path) as dashboard:
        yield dashboard, seed_orders(dashboard.sessions, ORDERS, seed=7)


async def test_seeded_orders_are_spread_over_every_state_and_counted_alike(
    seeded: tuple[Dashboard, SeedSummary],
) -> None:
    dashboard, summary = seeded

    counts = await dashboard.read("orders/by-state")

    assert counts["total"] == summary.orders == ORDERS
    assert {item["state"]: item["count"] for item in counts["states"]} == summary.states
    assert all(count > 0 for count in summary.states.values())


async def test_seeded_orders_span_days_and_the_last_day_has_a_trend(
    seeded: tuple[Dashboard, SeedSummary],
) -> None:
    dashboard, _ = seeded

    newest = (await dashboard.read("orders", limit=1))["items"][0]["created_at"]
    oldest = (await dashboard.read("orders", limit=1, offset=ORDERS - 1))["items"][0]["created_at"]
    per_hour = await dashboard.read("charts/orders-per-hour")

    span = datetime.fromisoformat(newest) - datetime.fromisoformat(oldest)
    assert span.days >= 20
    received = per_hour["series"][0]["values"]
    assert sum(received) > ORDERS // 10
    assert sum(1 for value in received if value > 0) >= 20


async def test_seeded_credit_holds_carry_the_gates_messages_in_report_and_queue(
    seeded: tuple[Dashboard, SeedSummary],
) -> None:
    dashboard, summary = seeded

    errors = await dashboard.read("credit-errors", limit=500)
    queue = await dashboard.read("auto-queue", limit=500)

    assert errors["total"] == queue["total"] == summary.credit_holds > 0
    for item in errors["items"] + queue["items"]:
        match = GATE_MESSAGE.fullmatch(item["message"])
        assert match is not None, item["message"]
        assert match.group(1) == item["order_no"]


async def test_seeded_shipments_stations_and_borrows_fill_their_panels(
    seeded: tuple[Dashboard, SeedSummary],
) -> None:
    dashboard, summary = seeded

    stations = await dashboard.read("stations")
    picks = await dashboard.read("charts/picks-per-station")
    inventory = await dashboard.read("inventory", limit=500)

    assert summary.shipments > 0
    assert [row["station_id"] for row in stations["items"]] == summary.stations
    assert [row["online"] for row in stations["items"]].count(False) == 1
    assert all(row["short_rate"] is not None for row in stations["items"])
    assert sorted(picks["labels"]) == summary.stations
    borrowed = sum(row["borrowed"] for row in inventory["items"])
    lent = sum(row["lent"] for row in inventory["items"])
    assert borrowed == lent > 0
    assert summary.borrowed_allocations > 0


async def test_every_seeded_shipment_has_a_posting_mostly_posted_some_refused_some_pending(
    seeded: tuple[Dashboard, SeedSummary],
) -> None:
    dashboard, summary = seeded

    sage = await dashboard.read("sage")
    rejected = await dashboard.read("sage/rejected", limit=500)

    queue = {item["state"]: item["count"] for item in sage["queue"]}
    assert sum(queue.values()) == summary.shipments
    assert queue == {"dismissed": 0, **summary.postings}
    assert queue["posted"] > queue["pending"] > queue["failed"] > 0
    assert sage["environment"] == "test"
    assert sage["last_posted_at"] is not None
    assert rejected["total"] == queue["failed"]
    assert {tuple(item["sage_messages"]) for item in rejected["items"]} == {(SAGE_REFUSAL,)}


async def test_seeding_the_same_database_twice_is_refused(
    seeded: tuple[Dashboard, SeedSummary],
) -> None:
    dashboard, _ = seeded

    with pytest.raises(SeedError, match="already holds a seeding"):
        seed_orders(dashboard.sessions, 10)


async def test_a_negative_count_is_refused_naming_it(tmp_path: Path) -> None:
    async with running_dashboard(tmp_path) as dashboard:
        with pytest.raises(SeedError, match="count -1 is negative"):
            seed_orders(dashboard.sessions, -1)
