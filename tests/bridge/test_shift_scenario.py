"""The shift's scenario: the same for a seed, and accepted whole by the real API, where it shows
every rule it is there to show (credit and prepayment holds, borrowing, the scarce SKU going by
promised date) and leaves every order that must ship fillable once the script has run."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from biip.gtin import Gtin, GtinFormat
from sqlalchemy import select
from test_api_harness import Api, running_api

from cloud_bridge.api.routes_shipments import CorrectionIn
from cloud_bridge.db.models import AutoQueueEntry
from firmware_sim.sage import SageSandbox
from firmware_sim.shift.scenario import (
    MIN_ORDERS,
    ApiRequest,
    Scenario,
    ScenarioError,
    build_scenario,
)
from firmware_sim.sim_station import SLOT_PINS

TWO_STATIONS = ["shift.st01", "shift.st02"]
THREE_STATIONS = ["shift.st01", "shift.st02", "shift.st03"]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as running:
        yield running


async def send(api: Api, request: ApiRequest) -> Any:
    """Send one request; anything but 2xx fails the test, naming the request and the answer."""
    response = await api.client.request(request.method, request.path, json=request.body)
    assert 200 <= response.status_code < 300, (
        f"{request.method} {request.path} {request.body} -> {response.status_code}: {response.text}"
    )
    return response.json()


async def set_up(api: Api, scenario: Scenario) -> dict[str, Any]:
    """Send the whole setup, run allocation once, and return every order as the API shows it."""
    for request in scenario.setup:
        await send(api, request)
    await api.call("POST", "/allocation/run", expect=200)
    return await read_orders(api, scenario)


async def read_orders(api: Api, scenario: Scenario) -> dict[str, Any]:
    order_nos = [r.body["order_no"] for r in scenario.setup if r.path == "/orders" and r.body]
    return {no: await api.call("GET", f"/orders/{no}", expect=200) for no in order_nos}


def fully_allocated(order: Any) -> bool:
    return all(
        line["allocated_quantity"] + line["shipped_quantity"] >= line["quantity"]
        for line in order["lines"]
    )


# --- the data ---------------------------------------------------------------------------------


def test_the_same_seed_builds_the_same_scenario_and_another_seed_another() -> None:
    first = build_scenario(orders=60, stations=TWO_STATIONS, seed=7)

    assert build_scenario(orders=60, stations=TWO_STATIONS, seed=7) == first
    assert build_scenario(orders=60, stations=TWO_STATIONS, seed=8).setup != first.setup


@pytest.mark.parametrize(("orders", "stations"), [(60, TWO_STATIONS), (200, THREE_STATIONS)])
def test_sixty_orders_on_two_stations_and_two_hundred_on_three_build_with_every_role(
    orders: int, stations: list[str]
) -> None:
    scenario = build_scenario(orders=orders, stations=stations, seed=3)

    bodies = [r.body for r in scenario.setup if r.path == "/orders" and r.body is not None]
    assert len(bodies) == orders
    assert all(1 <= len(body["lines"]) <= 3 for body in bodies)
    assert {body["order_type"] for body in bodies} == {"normal", "prepayment"}
    policies = [line["policy"] for body in bodies for line in body["lines"]]
    assert policies.count("partial") > len(policies) / 2
    expected = scenario.expected
    groups = [expected.credit_held, expected.prepayment_held, expected.cancelled, expected.to_ship]
    assert sum(len(group) for group in groups) == orders
    assert set().union(*groups) == {body["order_no"] for body in bodies}
    assert all(group for group in groups)
    assert set(scenario.slot_maps) == set(stations)
    assert all(
        slots == {product.sku: product.slot for product in scenario.skus}
        for slots in scenario.slot_maps.values()
    )
    kinds = [action.kind for action in scenario.script]
    assert {kinds.count(kind) >= 2 for kind in ("pay", "change_quantity", "cancel")} == {True}
    assert kinds.count("correct_after_posting") == 1
    assert "receive" in kinds
    fractions = [action.at_fraction for action in scenario.script]
    assert fractions == sorted(fractions)
    assert all(0 < fraction < 1 for fraction in fractions)


def test_every_product_has_a_valid_gtin_13_and_a_slot_of_its_own_at_every_station() -> None:
    scenario = build_scenario(orders=60, stations=TWO_STATIONS, seed=1)

    assert len(scenario.skus) == 5
    for product in scenario.skus:
        assert Gtin.parse(product.gtin).format is GtinFormat.GTIN_13
        assert product.description
        assert product.unit_price > 0
        assert product.pack_size >= 1
    assert sorted(product.slot for product in scenario.skus) == sorted(SLOT_PINS)


@pytest.mark.parametrize(
    ("orders", "stations", "complaint"),
    [
        (MIN_ORDERS - 1, TWO_STATIONS, f"at least {MIN_ORDERS}"),
        (60, [], "stations is empty"),
        (60, ["shift.st01", "shift.st01"], "name a station twice"),
    ],
)
def test_too_few_orders_or_a_bad_station_list_is_refused_by_name(
    orders: int, stations: list[str], complaint: str
) -> None:
    with pytest.raises(ScenarioError, match=complaint):
        build_scenario(orders=orders, stations=stations, seed=1)


def test_a_correction_takes_one_unit_off_the_shipped_line_with_the_reason() -> None:
    scenario = build_scenario(orders=60, stations=TWO_STATIONS, seed=7)
    [action] = [a for a in scenario.script if a.kind == "correct_after_posting"]

    request = action.correction(shipment_id=12, line_id="2", quantity_now=3)

    assert (request.method, request.path) == ("POST", "/shipments/12/corrections")
    body = CorrectionIn.model_validate(request.body)
    assert [(line.line_id, line.quantity) for line in body.lines] == [("2", 2)]
    assert body.reason == action.reason
    with pytest.raises(ScenarioError, match="expected at least 1"):
        action.correction(shipment_id=12, line_id="2", quantity_now=0)


# --- the data on the real API -----------------------------------------------------------------


async def test_orders_of_the_debtor_over_its_credit_line_are_held_with_the_exact_message(
    api: Api,
) -> None:
    scenario = build_scenario(orders=60, stations=TWO_STATIONS, seed=7)

    orders = await set_up(api, scenario)

    report: dict[str, list[str]] = defaultdict(list)
    for item in (await api.call("GET", "/reports/errors?open=true"))["items"]:
        report[item["order_no"]].append(item["message"])
    for order_no in scenario.expected.credit_held:
        debtor = orders[order_no]["invoice_debtor"]
        assert orders[order_no]["state"] == "held_credit"
        assert report[order_no] == [
            f"Order ({order_no}): Invoice debtor ({debtor}): Credit line exceeded."
        ]
        assert scenario.expected.messages[order_no] == tuple(report[order_no])
    prepayment = [no for no, order in orders.items() if order["order_type"] == "prepayment"]
    assert set(scenario.expected.prepayment_held) < set(prepayment)
    for order_no in prepayment:
        debtor = orders[order_no]["invoice_debtor"]
        assert orders[order_no]["state"] == "held_prepayment"
        assert report[order_no] == [
            f"Order ({order_no}): Invoice debtor ({debtor}): "
            "Not allowed: Fulfilment. Reason: Prepayment"
        ]
    assert set(report) == scenario.expected.credit_held | set(prepayment)


async def test_lines_of_a_sku_the_account_holds_none_of_are_borrowed_and_never_without_both_flags(
    api: Api,
) -> None:
    scenario = build_scenario(orders=60, stations=TWO_STATIONS, seed=7)

    orders = await set_up(api, scenario)

    allocations = [(o["account"], a) for o in orders.values() for a in o["allocations"]]
    borrowed = [(account, a) for account, a in allocations if a["borrowed"]]
    assert any(a["sku"] == scenario.linked_only_sku for _, a in borrowed)
    assert all(a["from_account"] != account for account, a in borrowed)
    flags = {
        account: await api.call("GET", f"/accounts/{account}", expect=200)
        for account in {o["account"] for o in orders.values()}
    }
    no_borrowing = {
        account
        for account, body in flags.items()
        if not (body["order_from_linked"] and body["pick_from_linked_if_unavailable"])
    }
    assert any(flags[account]["linked_account_ids"] for account in no_borrowing)
    assert not [a for account, a in borrowed if account in no_borrowing]


async def test_the_scarce_sku_goes_to_the_earliest_promised_date_and_service_level_first(
    api: Api,
) -> None:
    scenario = build_scenario(orders=60, stations=TWO_STATIONS, seed=7)

    orders = await set_up(api, scenario)

    scarce = [
        ((order["promised_date"], order["service_level"]), line)
        for order in orders.values()
        for line in order["lines"]
        if line["sku"] == scenario.scarce_sku and line["policy"] == "partial"
        if not order["state"].startswith("held")
    ]
    full = [rank for rank, line in scarce if line["allocated_quantity"] == line["quantity"]]
    short = [rank for rank, line in scarce if line["allocated_quantity"] < line["quantity"]]
    assert full
    assert short
    assert min(rank for rank, _ in scarce) in full
    for short_rank in short:
        later = [line for rank, line in scarce if rank > short_rank]
        assert all(line["allocated_quantity"] == 0 for line in later), short_rank


async def test_sage_holds_a_contact_per_debtor_and_the_bridges_stock_after_setup(
    api: Api,
) -> None:
    scenario = build_scenario(orders=60, stations=TWO_STATIONS, seed=7)
    await set_up(api, scenario)
    sandbox = SageSandbox(businesses=("test",))

    for contact in scenario.sage.contacts:
        sandbox.add_contact("test", contact.name, contact.reference)
    items = {
        item.item_code: sandbox.add_product(
            "test",
            item.item_code,
            item.description,
            sales_price=item.sales_price,
            quantity_in_stock=Decimal(item.quantity_in_stock),
        )
        for item in scenario.sage.stock_items
    }

    on_hand: dict[str, int] = defaultdict(int)
    for level in (await api.call("GET", "/stock", expect=200))["items"]:
        on_hand[level["sku"]] += level["on_hand"]
    assert {sku: int(item["quantity_in_stock"]) for sku, item in items.items()} == on_hand
    debtors = [r.body["debtor_no"] for r in scenario.setup if r.path == "/debtors" and r.body]
    assert sorted(contact.reference for contact in scenario.sage.contacts) == sorted(debtors)


async def test_every_action_before_the_replenishment_is_reachable_with_the_setups_stock(
    api: Api,
) -> None:
    scenario = build_scenario(orders=60, stations=TWO_STATIONS, seed=7)

    orders = await set_up(api, scenario)

    filled = sum(1 for no in scenario.expected.to_ship if fully_allocated(orders[no]))
    replenishment = min(a.at_fraction for a in scenario.script if a.kind == "receive")
    assert filled / len(scenario.expected.to_ship) >= replenishment


@pytest.mark.parametrize(
    ("orders", "stations", "seed"), [(60, TWO_STATIONS, 7), (200, THREE_STATIONS, 11)]
)
async def test_the_script_is_accepted_in_order_and_then_every_order_to_ship_can_be_filled(
    api: Api, orders: int, stations: list[str], seed: int
) -> None:
    scenario = build_scenario(orders=orders, stations=stations, seed=seed)
    await set_up(api, scenario)

    for action in scenario.script:
        if action.request is not None:
            await send(api, action.request)
    with api.session() as session, session.begin():  # the auto queue's retry interval passes
        for entry in session.scalars(select(AutoQueueEntry)):
            entry.failed_at -= timedelta(hours=1)
            entry.next_retry_at -= timedelta(hours=1)
    await api.call("POST", "/allocation/run", expect=200)

    final = await read_orders(api, scenario)
    expected = scenario.expected
    assert {no for no, o in final.items() if o["state"] == "held_credit"} == expected.credit_held
    held_prepayment = {no for no, o in final.items() if o["state"] == "held_prepayment"}
    assert held_prepayment == expected.prepayment_held
    assert {no for no, o in final.items() if o["state"] == "cancelled"} == expected.cancelled
    assert [no for no in expected.to_ship if not fully_allocated(final[no])] == []
    for action in scenario.script:
        if action.kind == "change_quantity" and action.order_no and action.request:
            assert action.request.body == {
                "quantity": final[action.order_no]["lines"][0]["quantity"]
            }
