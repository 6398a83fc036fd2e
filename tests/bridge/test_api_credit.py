"""Debtors, payments, the credit settings, and the error report and auto queue over HTTP.

An order over its debtor's credit line is stopped at allocation with the source's exact
message, shows in the error report, and waits in the auto queue for RetryInMinutes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_api_harness import Api, add_world, error_of, order_body, receive, running_api

from cloud_bridge.db.models import AutoQueueEntry

CREDIT_EXCEEDED = "Order (SO-9): Invoice debtor (12345): Credit line exceeded."
PREPAYMENT = "Order (SO-P): Invoice debtor (D1): Not allowed: Fulfilment. Reason: Prepayment"


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


async def over_the_limit(api: Api) -> None:
    """Debtor 12345 with a 100.00 line, and SO-9 for 110.00 invoiced to it, in stock."""
    debtor = {"debtor_no": "12345", "name": "Harbour Cafe", "credit_line": "100.00"}
    await api.call("POST", "/debtors", debtor, expect=201)
    await receive(api, "A", "MUG", 50)
    body = order_body("SO-9", lines=[("MUG", 11)], invoice_debtor="12345")
    await api.call("POST", "/orders", body, expect=201)


# --- debtors ----------------------------------------------------------------------------------


async def test_a_debtor_is_created_with_no_limit_unless_one_is_given(api: Api) -> None:
    created = await api.call("POST", "/debtors", {"debtor_no": "7", "name": "Seven"}, expect=201)

    assert created == {
        "debtor_no": "7",
        "name": "Seven",
        "credit_line": None,
        "open_invoices": "0.0000",
        "shipped_not_invoiced": "0.0000",
    }
    assert await api.call("GET", "/debtors/7", expect=200) == created


async def test_a_credit_line_is_set_removed_with_null_and_zero_is_a_real_limit(
    api: Api,
) -> None:
    set_line = await api.call(
        "PUT", "/debtors/D1/credit-line", {"credit_line": "250.5"}, expect=200
    )
    assert set_line["credit_line"] == "250.5000"
    removed = await api.call("PUT", "/debtors/D1/credit-line", {"credit_line": None}, expect=200)
    assert removed["credit_line"] is None

    zero = await api.call("PUT", "/debtors/D1/credit-line", {"credit_line": "0"}, expect=200)

    assert zero["credit_line"] == "0.0000"
    await receive(api, "A", "MUG", 1)
    await api.call("POST", "/orders", order_body("SO-1", lines=[("MUG", 1)]), expect=201)
    run = await api.call("POST", "/allocation/run", expect=200)
    assert run["held"][0]["messages"] == [
        "Order (SO-1): Invoice debtor (D1): Credit line exceeded."
    ]


async def test_outstanding_amounts_are_set_and_may_be_negative_after_credit_notes(
    api: Api,
) -> None:
    body = {"open_invoices": "-12.25", "shipped_not_invoiced": "40"}

    debtor = await api.call("PUT", "/debtors/D1/outstanding", body, expect=200)

    assert (debtor["open_invoices"], debtor["shipped_not_invoiced"]) == ("-12.2500", "40.0000")


async def test_a_payment_for_a_prepayment_order_lets_it_be_allocated(api: Api) -> None:
    await receive(api, "A", "MUG", 5)
    body = order_body("SO-P", lines=[("MUG", 1)], order_type="prepayment")
    await api.call("POST", "/orders", body, expect=201)
    held = await api.call("POST", "/allocation/run", expect=200)
    assert held["held"][0]["messages"] == [PREPAYMENT]

    payment = await api.call(
        "POST", "/debtors/D1/payments", {"amount": "10.00", "order_no": "SO-P"}, expect=201
    )

    assert (payment["amount"], payment["order_amount_paid"], payment["order_no"]) == (
        "10.0000",
        "10.0000",
        "SO-P",
    )
    order = await api.call("GET", "/orders/SO-P")
    assert order["amount_paid"] == "10.0000"


async def test_a_payment_without_an_order_is_recorded(api: Api) -> None:
    payment = await api.call("POST", "/debtors/D1/payments", {"amount": "99.99"}, expect=201)

    assert (payment["order_no"], payment["order_amount_paid"]) == (None, None)
    assert payment["id"] >= 1


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"amount": "0"}, 422, "amount"),
        ({"amount": "-5"}, 422, "amount"),
        ({"amount": 5}, 422, "amount"),
        ({}, 422, "amount"),
        ({"amount": "5", "order_no": "NOPE"}, 404, "order_no"),
    ],
)
async def test_a_bad_payment_is_refused(api: Api, body: Any, status: int, field: str) -> None:
    assert (await refused(api, "POST", "/debtors/D1/payments", body, status))[0] == field


async def test_a_payment_against_another_debtors_order_is_a_conflict(api: Api) -> None:
    await api.call("POST", "/debtors", {"debtor_no": "D2", "name": "Two"}, expect=201)
    await api.call("POST", "/orders", order_body("SO-1"), expect=201)

    body = {"amount": "5", "order_no": "SO-1"}
    got = await refused(api, "POST", "/debtors/D2/payments", body, 409)

    assert got == ("order_no", "an order invoiced to debtor D2")


async def test_a_duplicate_debtor_is_a_conflict(api: Api) -> None:
    body = {"debtor_no": "D1", "name": "Again"}

    assert (await refused(api, "POST", "/debtors", body, 409))[0] == "debtor_no"


@pytest.mark.parametrize(
    ("request_line", "body", "status", "field"),
    [
        ("GET /debtors/NOPE", None, 404, "debtor_no"),
        ("PUT /debtors/NOPE/credit-line", {"credit_line": "1"}, 404, "debtor_no"),
        (
            "PUT /debtors/NOPE/outstanding",
            {"open_invoices": "1", "shipped_not_invoiced": "0"},
            404,
            "debtor_no",
        ),
        ("POST /debtors/NOPE/payments", {"amount": "1"}, 404, "debtor_no"),
        ("PUT /debtors/D1/credit-line", {}, 422, "credit_line"),
        ("PUT /debtors/D1/credit-line", {"credit_line": "-1"}, 422, "credit_line"),
        ("PUT /debtors/D1/credit-line", {"credit_line": 100}, 422, "credit_line"),
        ("PUT /debtors/D1/outstanding", {"open_invoices": "1"}, 422, "shipped_not_invoiced"),
        (
            "POST /debtors",
            {"debtor_no": "X", "name": "X", "credit_limit": "1"},
            422,
            "credit_limit",
        ),
    ],
)
async def test_a_bad_debtor_request_is_refused(
    api: Api, request_line: str, body: Any, status: int, field: str
) -> None:
    method, url = request_line.split(" ")

    assert (await refused(api, method, url, body, status))[0] == field


# --- settings ---------------------------------------------------------------------------------


async def test_the_credit_settings_default_to_checking_everything_every_15_minutes(
    api: Api,
) -> None:
    assert await api.call("GET", "/settings/credit", expect=200) == {
        "check_credit_line": True,
        "risk_control": ["open_invoices", "open_orders", "shipped_not_invoiced"],
        "retry_in_minutes": 15,
    }


async def test_the_credit_settings_are_replaced_and_read_back(api: Api) -> None:
    body = {"check_credit_line": False, "risk_control": ["open_invoices"], "retry_in_minutes": 5}

    assert await api.call("PUT", "/settings/credit", body, expect=200) == body
    assert await api.call("GET", "/settings/credit", expect=200) == body


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"retry_in_minutes": 0}, "retry_in_minutes"),
        ({"retry_in_minutes": "5"}, "retry_in_minutes"),
        ({"risk_control": ["open_invoices", "open_invoices"]}, "risk_control"),
        ({"risk_control": ["gossip"]}, "risk_control.0"),
        ({"check_credit_line": "no"}, "check_credit_line"),
    ],
)
async def test_bad_credit_settings_are_refused(
    api: Api, change: dict[str, Any], field: str
) -> None:
    body = {"check_credit_line": True, "risk_control": [], "retry_in_minutes": 5, **change}

    assert (await refused(api, "PUT", "/settings/credit", body, 422))[0] == field


# --- reports ----------------------------------------------------------------------------------


async def test_an_order_over_its_credit_line_is_held_reported_and_queued_for_retry(
    api: Api,
) -> None:
    await api.call(
        "PUT",
        "/settings/credit",
        {"check_credit_line": True, "risk_control": ["open_invoices"], "retry_in_minutes": 10},
        expect=200,
    )
    await over_the_limit(api)

    run = await api.call("POST", "/allocation/run", expect=200)

    assert run["held"] == [{"order_no": "SO-9", "step": "advice", "messages": [CREDIT_EXCEEDED]}]
    assert (await api.call("GET", "/orders/SO-9"))["state"] == "held_credit"
    errors = await api.call("GET", "/reports/errors?open=true", expect=200)
    [report] = errors["items"]
    assert (report["order_no"], report["step"], report["message"], report["resolved_at"]) == (
        "SO-9",
        "advice",
        CREDIT_EXCEEDED,
        None,
    )
    queue = await api.call("GET", "/reports/auto-queue", expect=200)
    [entry] = queue["items"]
    assert (entry["order_no"], entry["step"], entry["message"], entry["attempts"]) == (
        "SO-9",
        "advice",
        CREDIT_EXCEEDED,
        1,
    )
    failed_at = datetime.fromisoformat(entry["failed_at"])
    assert datetime.fromisoformat(entry["next_retry_at"]) == failed_at + timedelta(minutes=10)
    assert failed_at == datetime.fromisoformat(report["created_at"])


async def test_a_retried_order_that_passes_resolves_its_report_line_and_leaves_the_queue(
    api: Api,
) -> None:
    await over_the_limit(api)
    await api.call("POST", "/allocation/run", expect=200)
    await api.call("PUT", "/debtors/12345/credit-line", {"credit_line": "1000"}, expect=200)
    with api.session() as session, session.begin():  # the retry interval has passed
        entry = session.get(AutoQueueEntry, "SO-9")
        assert entry is not None
        entry.failed_at -= timedelta(hours=1)
        entry.next_retry_at -= timedelta(hours=1)

    await api.call("POST", "/allocation/run", expect=200)

    assert (await api.call("GET", "/orders/SO-9"))["state"] == "allocated"
    assert (await api.call("GET", "/reports/errors?open=true"))["items"] == []
    [resolved] = (await api.call("GET", "/reports/errors?open=false"))["items"]
    assert resolved["message"] == CREDIT_EXCEEDED
    assert resolved["resolved_at"] is not None
    assert len((await api.call("GET", "/reports/errors"))["items"]) == 1
    assert (await api.call("GET", "/reports/auto-queue"))["items"] == []


async def test_an_order_held_before_its_retry_is_due_is_not_checked_again(api: Api) -> None:
    await over_the_limit(api)
    await api.call("POST", "/allocation/run", expect=200)
    await api.call("PUT", "/debtors/12345/credit-line", {"credit_line": "1000"}, expect=200)

    run = await api.call("POST", "/allocation/run", expect=200)

    assert run["orders_checked"] == 0
    assert (await api.call("GET", "/orders/SO-9"))["state"] == "held_credit"


async def test_a_bad_report_filter_is_named(api: Api) -> None:
    assert (await refused(api, "GET", "/reports/errors?open=maybe", None, 422))[0] == "open"
