"""Orders over HTTP: create, read, list, change, cancel and allocate, and every refusal.

A refused request answers with the field and rule at fault and leaves the database unchanged;
station messages go out only after the change they announce has committed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_api_harness import (
    Api,
    add_world,
    error_of,
    fields_of,
    order_body,
    receive,
    running_api,
)

from cloud_bridge.db.models import OrderLine, SalesOrder
from cloud_bridge.routing import RoutingSettings, StationRouter
from cloud_bridge.services.release import release
from cloud_bridge.services.settings import BridgeSettings
from edge.contract import OrderAllocated, OrderCancelled


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as api:
        await add_world(api)
        yield api


def release_to_station(api: Api) -> None:
    """Send allocated orders to the one station, as the bridge's cycle does."""
    router = StationRouter(RoutingSettings(stations=["w1.st01"]))
    slots = {"w1.st01": {"MUG": "A1", "TEA": "A2"}}
    with api.session() as session, session.begin():
        release(session, BridgeSettings(), router, slots, {"w1.st01"}, now=datetime.now(UTC))


# --- happy paths ------------------------------------------------------------------------------


async def test_a_created_order_is_new_with_its_lines_total_and_delivery(api: Api) -> None:
    body = order_body(
        "SO-1",
        lines=[("MUG", 2), ("TEA", 1)],
        promised_date="2026-12-01",
        service_level=2,
        order_type="prepayment",
        amount_paid="5.50",
    )
    body["lines"][0]["tax_rate"] = "0.20"
    body["lines"][1]["policy"] = "all_or_nothing"

    created = await api.call("POST", "/orders", body, expect=201)

    assert created["state"] == "new"
    assert created["version"] == 1
    assert created["station"] is None
    assert created["total"] == "34.0000"  # 2 x 10.00 x 1.20 + 1 x 10.00
    assert created["amount_paid"] == "5.5000"
    assert created["order_type"] == "prepayment"
    assert created["promised_date"] == "2026-12-01"
    assert [(x["line_id"], x["sku"], x["quantity"], x["policy"]) for x in created["lines"]] == [
        ("1", "MUG", 2, "partial"),
        ("2", "TEA", 1, "all_or_nothing"),
    ]
    assert created["deliver_to"]["city"] == "Bristol"
    assert await api.call("GET", "/orders/SO-1", expect=200) == created


async def test_allocation_run_shows_the_active_allocations_with_their_owner_and_borrowing(
    api: Api,
) -> None:
    await receive(api, "A", "MUG", 3)
    await receive(api, "B", "MUG", 10)
    await api.call("POST", "/orders", order_body("SO-1", lines=[("MUG", 5)]), expect=201)

    run = await api.call("POST", "/allocation/run", expect=200)

    assert (run["step"], run["orders_checked"], run["units"], run["borrowed_units"]) == (
        "advice",
        1,
        5,
        2,
    )
    order = await api.call("GET", "/orders/SO-1", expect=200)
    assert order["state"] == "allocated"
    assert [(a["from_account"], a["quantity"], a["borrowed"]) for a in order["allocations"]] == [
        ("A", 3, False),
        ("B", 2, True),
    ]
    assert order["lines"][0]["allocated_quantity"] == 5


async def test_a_short_line_is_reported_unfilled_with_its_balance(api: Api) -> None:
    await receive(api, "C", "MUG", 1)
    await api.call("POST", "/orders", order_body("SO-1", "C", [("MUG", 3)]), expect=201)

    run = await api.call("POST", "/allocation/run", expect=200)

    assert [(x["order_no"], x["line_id"], x["units"]) for x in run["unfilled"]] == [
        ("SO-1", "1", 2)
    ]


async def test_orders_are_listed_by_state_account_and_debtor_a_page_at_a_time(
    api: Api,
) -> None:
    await api.call("POST", "/debtors", {"debtor_no": "D2", "name": "Two"}, expect=201)
    for order_no, account, debtor in [
        ("SO-1", "A", "D1"),
        ("SO-2", "C", "D1"),
        ("SO-3", "A", "D2"),
    ]:
        await api.call(
            "POST", "/orders", order_body(order_no, account, invoice_debtor=debtor), expect=201
        )
    await api.call("POST", "/orders/SO-1/cancel", {"reason": "duplicate"}, expect=200)

    def numbers(page: Any) -> list[str]:
        return [order["order_no"] for order in page["items"]]

    assert numbers(await api.call("GET", "/orders?account=A", expect=200)) == ["SO-1", "SO-3"]
    assert numbers(await api.call("GET", "/orders?debtor=D2", expect=200)) == ["SO-3"]
    assert numbers(await api.call("GET", "/orders?state=new", expect=200)) == ["SO-2", "SO-3"]
    assert numbers(await api.call("GET", "/orders?state=new&account=C", expect=200)) == ["SO-2"]
    page = await api.call("GET", "/orders?limit=1&offset=1", expect=200)
    assert (numbers(page), page["total"], page["limit"], page["offset"]) == (["SO-2"], 3, 1, 1)


async def test_lowering_a_quantity_releases_the_allocation_above_it(api: Api) -> None:
    await receive(api, "A", "MUG", 5)
    await api.call("POST", "/orders", order_body("SO-1", lines=[("MUG", 5)]), expect=201)
    await api.call("POST", "/allocation/run", expect=200)

    changed = await api.call("PATCH", "/orders/SO-1/lines/1", {"quantity": 3}, expect=200)

    assert changed["lines"][0]["quantity"] == 3
    assert [a["quantity"] for a in changed["allocations"]] == [3]
    assert changed["version"] == 2
    stock = await api.call("GET", "/stock?account=A&sku=MUG", expect=200)
    assert stock["items"][0]["available"] == 2
    assert api.published == []  # not at a station: nothing to tell


async def test_cancelling_releases_the_stock_for_other_orders(api: Api) -> None:
    await receive(api, "A", "MUG", 2)
    await api.call("POST", "/orders", order_body("SO-1"), expect=201)
    await api.call("POST", "/allocation/run", expect=200)

    cancelled = await api.call("POST", "/orders/SO-1/cancel", {"reason": "customer"}, expect=200)

    assert cancelled["state"] == "cancelled"
    assert cancelled["allocations"] == []
    await api.call("POST", "/orders", order_body("SO-2"), expect=201)
    await api.call("POST", "/allocation/run", expect=200)
    assert (await api.call("GET", "/orders/SO-2"))["state"] == "allocated"


# --- publishing after the commit -------------------------------------------------------------


async def test_a_change_to_an_order_at_a_station_is_published_after_it_commits(api: Api) -> None:
    await receive(api, "A", "MUG", 5)
    await api.call("POST", "/orders", order_body("SO-1", lines=[("MUG", 5)]), expect=201)
    await api.call("POST", "/allocation/run", expect=200)
    release_to_station(api)

    await api.call("PATCH", "/orders/SO-1/lines/1", {"quantity": 4}, expect=200)

    [published] = api.published
    assert published.dispatch.station_id == "w1.st01"
    message = published.dispatch.message
    assert isinstance(message, OrderAllocated)
    # version 1 when created, 2 when released, 3 after the change
    assert (message.version, message.lines[0].quantity) == (3, 4)
    assert published.committed_version == 3  # a second session already saw the new version


async def test_cancelling_an_order_at_a_station_tells_that_station(api: Api) -> None:
    await receive(api, "A", "MUG", 2)
    await api.call("POST", "/orders", order_body("SO-1"), expect=201)
    await api.call("POST", "/allocation/run", expect=200)
    release_to_station(api)

    await api.call("POST", "/orders/SO-1/cancel", {"reason": "customer rang"}, expect=200)

    [published] = api.published
    assert isinstance(published.dispatch.message, OrderCancelled)
    assert published.dispatch.message.reason == "customer rang"
    assert published.committed_version == published.dispatch.message.version


async def test_a_refused_change_publishes_nothing(api: Api) -> None:
    await receive(api, "A", "MUG", 2)
    await api.call("POST", "/orders", order_body("SO-1"), expect=201)
    await api.call("POST", "/allocation/run", expect=200)
    release_to_station(api)

    await api.call("PATCH", "/orders/SO-1/lines/9", {"quantity": 1}, expect=404)

    assert api.published == []


async def test_a_failed_publish_does_not_undo_the_committed_change(tmp_path: Path) -> None:
    async with running_api(tmp_path, fail_publish=True) as api:
        await add_world(api)
        await receive(api, "A", "MUG", 2)
        await api.call("POST", "/orders", order_body("SO-1"), expect=201)
        await api.call("POST", "/allocation/run", expect=200)
        release_to_station(api)

        await api.call("POST", "/orders/SO-1/cancel", {"reason": "late"}, expect=200)

        assert len(api.published) == 1
        assert (await api.call("GET", "/orders/SO-1"))["state"] == "cancelled"


# --- refusals ---------------------------------------------------------------------------------


async def refused(api: Api, method: str, url: str, body: Any, status: int) -> tuple[str, str]:
    """Send a request that must be refused; return its (field, rule) after checking that the
    database did not change."""
    before = api.snapshot()
    answer = await api.call(method, url, body, expect=status)
    assert api.snapshot() == before
    return error_of(answer)


async def test_a_missing_field_is_named(api: Api) -> None:
    body = order_body("SO-1")
    del body["carrier"]
    del body["lines"][0]["unit_price"]

    before = api.snapshot()
    answer = await api.call("POST", "/orders", body, expect=422)

    assert api.snapshot() == before
    assert fields_of(answer) == {"carrier", "lines.0.unit_price"}
    assert {error["rule"] for error in answer["errors"]} == {"required"}


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"quantity": "2"}, "lines.0.quantity", "an integer"),
        ({"quantity": 2.5}, "lines.0.quantity", "an integer"),
        ({"quantity": -1}, "lines.0.quantity", "greater than 0"),
        ({"quantity": 0}, "lines.0.quantity", "greater than 0"),
        ({"unit_price": 10.5}, "lines.0.unit_price", "a decimal amount of 0 or more"),
        ({"unit_price": "-1.00"}, "lines.0.unit_price", "a decimal amount of 0 or more"),
        ({"unit_price": "1.23456"}, "lines.0.unit_price", "a decimal amount of 0 or more"),
        ({"tax_rate": "twenty"}, "lines.0.tax_rate", "a non-negative fraction"),
        ({"policy": "some"}, "lines.0.policy", "one of"),
        ({"sku": 7}, "lines.0.sku", "a string"),
        ({"colour": "red"}, "lines.0.colour", "no such field; remove it"),
    ],
)
async def test_a_bad_line_value_is_refused_naming_the_field_and_rule(
    api: Api, change: dict[str, Any], field: str, rule: str
) -> None:
    body = order_body("SO-1")
    body["lines"][0].update(change)

    got_field, got_rule = await refused(api, "POST", "/orders", body, 422)

    assert got_field == field
    assert got_rule.startswith(rule)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lines": []}, "lines"),
        ({"order_type": "credit"}, "order_type"),
        ({"promised_date": "next week"}, "promised_date"),
        ({"service_level": -1}, "service_level"),
        ({"deliver_to": {"name": "X"}}, "deliver_to.line1"),
        ({"order_no": ""}, "order_no"),
    ],
)
async def test_a_bad_order_value_is_refused_naming_the_field(
    api: Api, change: dict[str, Any], field: str
) -> None:
    body = order_body("SO-1")
    body.update(change)

    got_field, _ = await refused(api, "POST", "/orders", body, 422)

    assert got_field == field


async def test_two_lines_with_one_id_are_refused(api: Api) -> None:
    body = order_body("SO-1", lines=[("MUG", 1), ("TEA", 1)])
    body["lines"][0]["line_id"] = body["lines"][1]["line_id"] = "L"

    assert await refused(api, "POST", "/orders", body, 422) == (
        "lines",
        "each line_id at most once",
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"account": "NOPE"}, "account"),
        ({"invoice_debtor": "NOPE"}, "invoice_debtor"),
        (
            {
                "lines": [
                    {"sku": "MUG", "quantity": 1, "unit_price": "1"},
                    {"sku": "NOPE", "quantity": 1, "unit_price": "1"},
                ]
            },
            "lines.1.sku",
        ),
    ],
)
async def test_an_order_naming_something_unknown_is_refused_with_404(
    api: Api, change: dict[str, Any], field: str
) -> None:
    body = order_body("SO-1")
    body.update(change)

    got = await refused(api, "POST", "/orders", body, 404)

    assert got[0] == field
    assert got[1].startswith("an existing")


async def test_a_duplicate_order_number_is_a_conflict(api: Api) -> None:
    await api.call("POST", "/orders", order_body("SO-1"), expect=201)

    got = await refused(api, "POST", "/orders", order_body("SO-1", lines=[("TEA", 9)]), 409)

    assert got == ("order_no", "a new order number")


async def test_a_quantity_below_what_shipped_is_a_conflict(api: Api) -> None:
    await api.call("POST", "/orders", order_body("SO-1", lines=[("MUG", 5)]), expect=201)
    with api.session() as session, session.begin():
        session.get(OrderLine, ("SO-1", "1")).shipped_quantity = 4  # type: ignore[union-attr]

    got = await refused(api, "PATCH", "/orders/SO-1/lines/1", {"quantity": 3}, 409)

    assert got == ("quantity", "at least 4 (shipped 4)")


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("GET", "/orders/NOPE", None, "order_no"),
        ("PATCH", "/orders/NOPE/lines/1", {"quantity": 1}, "order_no"),
        ("PATCH", "/orders/SO-1/lines/9", {"quantity": 1}, "line_id"),
        ("POST", "/orders/NOPE/cancel", {"reason": "x"}, "order_no"),
    ],
)
async def test_an_unknown_order_or_line_is_404(
    api: Api, method: str, url: str, body: Any, field: str
) -> None:
    await api.call("POST", "/orders", order_body("SO-1"), expect=201)

    assert (await refused(api, method, url, body, 404))[0] == field


async def test_a_cancelled_order_cannot_be_changed_or_cancelled_again(api: Api) -> None:
    await api.call("POST", "/orders", order_body("SO-1"), expect=201)
    await api.call("POST", "/orders/SO-1/cancel", {"reason": "x"}, expect=200)

    assert (await refused(api, "POST", "/orders/SO-1/cancel", {"reason": "y"}, 409))[0] == "state"
    assert (await refused(api, "PATCH", "/orders/SO-1/lines/1", {"quantity": 1}, 409))[0] == "state"


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/orders?state=lost", "state"),
        ("/orders?limit=0", "limit"),
        ("/orders?offset=-1", "offset"),
    ],
)
async def test_a_bad_list_filter_is_named(api: Api, url: str, field: str) -> None:
    assert (await refused(api, "GET", url, None, 422))[0] == field


async def test_a_cancel_without_a_reason_is_refused(api: Api) -> None:
    await api.call("POST", "/orders", order_body("SO-1"), expect=201)

    assert (await refused(api, "POST", "/orders/SO-1/cancel", {}, 422))[0] == "reason"
    assert (await refused(api, "PATCH", "/orders/SO-1/lines/1", {"quantity": -2}, 422))[
        0
    ] == "quantity"


async def test_the_created_at_is_the_moment_of_the_request(api: Api) -> None:
    before = datetime.now(UTC)
    created = await api.call("POST", "/orders", order_body("SO-1"), expect=201)

    created_at = datetime.fromisoformat(created["created_at"])
    assert before - timedelta(seconds=1) <= created_at <= datetime.now(UTC)
    with api.session() as session:
        assert session.get(SalesOrder, "SO-1") is not None
