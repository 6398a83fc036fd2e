"""Stock over HTTP: receipts that replenish waiting orders, adjustments, and stock levels.

Available stock is on hand minus active allocations, and an adjustment may never push on hand
under what is allocated from it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from test_api_harness import Api, add_world, error_of, order_body, receive, running_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as api:
        await add_world(api)
        yield api


async def refused(api: Api, method: str, url: str, body: Any, status: int) -> tuple[str, str]:
    before = api.snapshot()
    answer = await api.call(method, url, body, expect=status)
    assert api.snapshot() == before
    return error_of(answer)


def adjustment(quantity: int, **change: Any) -> dict[str, Any]:
    body = {"account": "A", "sku": "MUG", "location": "L1", "quantity": quantity, "reason": "count"}
    body.update(change)
    return body


async def test_a_receipt_adds_stock_at_a_new_location(api: Api) -> None:
    await receive(api, "A", "MUG", 4, location="L1")

    answer = await receive(api, "A", "MUG", 3, location="BAY-2")

    assert answer["stock"] == {
        "account": "A",
        "sku": "MUG",
        "on_hand": 7,
        "allocated": 0,
        "available": 7,
        "borrowed_by_others": 0,
        "locations": [{"location": "BAY-2", "on_hand": 3}, {"location": "L1", "on_hand": 4}],
    }
    assert answer["allocation"]["orders_checked"] == 0


async def test_a_receipt_allocates_orders_waiting_on_that_sku_at_step_replenishment(
    api: Api,
) -> None:
    await api.call("POST", "/orders", order_body("SO-1", "C", [("MUG", 2)]), expect=201)
    await api.call("POST", "/orders", order_body("SO-2", "C", [("TEA", 2)]), expect=201)
    await api.call("POST", "/allocation/run", expect=200)

    answer = await receive(api, "C", "MUG", 5)

    run = answer["allocation"]
    assert (run["step"], run["orders_checked"], run["units"]) == ("replenishment", 1, 2)
    assert (await api.call("GET", "/orders/SO-1"))["state"] == "allocated"
    assert (await api.call("GET", "/orders/SO-2"))["state"] == "new"
    assert answer["stock"]["available"] == 3


async def test_a_receipt_gates_waiting_orders_again_and_holds_one_over_its_credit_line(
    api: Api,
) -> None:
    await api.call("POST", "/orders", order_body("SO-1", "C", [("MUG", 2)]), expect=201)
    await api.call("POST", "/allocation/run", expect=200)
    await api.call("PUT", "/debtors/D1/credit-line", {"credit_line": "5.00"}, expect=200)

    run = (await receive(api, "C", "MUG", 5))["allocation"]

    assert run["held"] == [
        {
            "order_no": "SO-1",
            "step": "replenishment",
            "messages": ["Order (SO-1): Invoice debtor (D1): Credit line exceeded."],
        }
    ]
    assert run["units"] == 0


async def test_stock_levels_show_units_borrowed_by_other_accounts(api: Api) -> None:
    await receive(api, "B", "MUG", 10)
    await receive(api, "B", "TEA", 1)
    await api.call("POST", "/orders", order_body("SO-1", "A", [("MUG", 4)]), expect=201)
    await api.call("POST", "/orders", order_body("SO-2", "B", [("MUG", 1)]), expect=201)
    await api.call("POST", "/allocation/run", expect=200)

    levels = await api.call("GET", "/stock?account=B", expect=200)

    assert [
        (x["sku"], x["on_hand"], x["allocated"], x["available"], x["borrowed_by_others"])
        for x in levels["items"]
    ] == [("MUG", 10, 5, 5, 4), ("TEA", 1, 0, 1, 0)]
    only_tea = await api.call("GET", "/stock?sku=TEA", expect=200)
    assert [(x["account"], x["sku"]) for x in only_tea["items"]] == [("B", "TEA")]


async def test_an_adjustment_adds_or_removes_units_with_a_reason(api: Api) -> None:
    await receive(api, "A", "MUG", 5)

    up = await api.call("POST", "/stock/adjustments", adjustment(2, reason="found"), expect=200)
    down = await api.call(
        "POST", "/stock/adjustments", adjustment(-6, reason="damaged"), expect=200
    )

    assert (up["stock"]["on_hand"], down["stock"]["on_hand"]) == (7, 1)
    assert (down["quantity"], down["reason"], down["location"]) == (-6, "damaged", "L1")


async def test_an_adjustment_below_zero_on_hand_is_a_conflict(api: Api) -> None:
    await receive(api, "A", "MUG", 2)

    got = await refused(api, "POST", "/stock/adjustments", adjustment(-3), 409)

    assert got[0] == "quantity"
    assert got[1].startswith("at least -2")


async def test_an_adjustment_at_a_location_never_stocked_cannot_remove_units(api: Api) -> None:
    body = adjustment(-1, location="NEW")

    assert (await refused(api, "POST", "/stock/adjustments", body, 409))[0] == "quantity"


async def test_an_adjustment_below_what_is_allocated_is_a_conflict_naming_the_orders(
    api: Api,
) -> None:
    await receive(api, "A", "MUG", 5)
    await api.call("POST", "/orders", order_body("SO-1", "A", [("MUG", 3)]), expect=201)
    await api.call("POST", "/allocation/run", expect=200)

    before = api.snapshot()
    answer = await api.call("POST", "/stock/adjustments", adjustment(-3), expect=409)

    assert api.snapshot() == before
    field, rule = error_of(answer)
    assert field == "quantity"
    assert "3 units actively allocated from account A" in rule
    assert "SO-1 (3)" in answer["error"]["message"]
    await api.call("POST", "/stock/adjustments", adjustment(-2), expect=200)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (adjustment(0), 422, "quantity"),
        (adjustment(1, reason=""), 422, "reason"),
        (adjustment(1, account="NOPE"), 404, "account"),
        (adjustment(1, sku="NOPE"), 404, "sku"),
    ],
)
async def test_a_bad_adjustment_is_refused(api: Api, body: Any, status: int, field: str) -> None:
    assert (await refused(api, "POST", "/stock/adjustments", body, status))[0] == field


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"quantity": -4}, 422, "quantity"),
        ({"quantity": 0}, 422, "quantity"),
        ({"quantity": "4"}, 422, "quantity"),
        ({"location": ""}, 422, "location"),
        ({"account": "NOPE"}, 404, "account"),
        ({"sku": "NOPE"}, 404, "sku"),
    ],
)
async def test_a_bad_receipt_is_refused(
    api: Api, change: dict[str, Any], status: int, field: str
) -> None:
    body = {"account": "A", "sku": "MUG", "location": "L1", "quantity": 4, **change}

    assert (await refused(api, "POST", "/stock/receipts", body, status))[0] == field


@pytest.mark.parametrize(("query", "field"), [("account=NOPE", "account"), ("sku=NOPE", "sku")])
async def test_stock_of_an_unknown_account_or_sku_is_404(api: Api, query: str, field: str) -> None:
    assert (await refused(api, "GET", f"/stock?{query}", None, 404))[0] == field
