"""The Sage Accounting v3.1 sandbox behaves as Sage documents: auth, businesses, posting, faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim.sage import (
    FaultKind,
    ManualClock,
    SageSandbox,
    SageSandboxServer,
    create_sandbox,
)
from firmware_sim.sage.app import CONSENT_PATH

ACCESS_TTL = timedelta(seconds=30)
REFRESH_TTL = timedelta(days=31)
STANDARD = "GB_STANDARD"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sandbox(clock: ManualClock) -> SageSandbox:
    return SageSandbox(clock=clock, access_token_ttl=ACCESS_TTL, refresh_token_ttl=REFRESH_TTL)


@pytest.fixture
async def client(sandbox: SageSandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_sandbox(sandbox))
    async with httpx.AsyncClient(transport=transport, base_url="http://sage.test") as http:
        yield http


def headers(sandbox: SageSandbox, business: str = "test") -> dict[str, str]:
    return {
        "Authorization": f"Bearer {sandbox.login().access_token}",
        "X-Business": sandbox.business_id(business),
    }


def invoice_body(
    sandbox: SageSandbox,
    contact_id: str,
    *,
    business: str = "test",
    lines: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    default_line = {
        "description": "Packing service",
        "ledger_account_id": sandbox.ledger_account_id(business, 4000),
        "quantity": "1",
        "unit_price": "10.00",
        "tax_rate_id": STANDARD,
        "tax_amount": "2.00",
    }
    return {
        "sales_invoice": {
            "contact_id": contact_id,
            "date": "2026-01-05",
            "reference": "SHIP-1",
            "invoice_lines": lines if lines is not None else [default_line],
            **extra,
        }
    }


def stock_line(sandbox: SageSandbox, product_id: str, quantity: str) -> dict[str, Any]:
    return {
        "description": "Widget",
        "product_id": product_id,
        "ledger_account_id": sandbox.ledger_account_id("test", 4000),
        "quantity": quantity,
        "unit_price": "5.00",
        "tax_rate_id": "GB_ZERO",
    }


async def token(client: httpx.AsyncClient, **form: str) -> httpx.Response:
    return await client.post("/oauth/token", data=form)


def assert_sage_errors(response: httpx.Response, status: int) -> list[dict[str, str]]:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body, list)
    assert body
    for item in body:
        assert set(item) == {"$severity", "$dataCode", "$message", "$source"}
    return body


# OAuth


async def test_an_authorisation_code_works_once(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    code = sandbox.issue_code()
    first = await token(client, grant_type="authorization_code", code=code)
    second = await token(client, grant_type="authorization_code", code=code)
    assert first.status_code == 200
    assert first.json()["token_type"] == "bearer"
    assert second.status_code == 400
    assert second.json() == {"error": "invalid_grant"}


async def test_refresh_tokens_rotate_and_the_old_one_is_refused_at_once(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    old = sandbox.login()
    renewed = await token(client, grant_type="refresh_token", refresh_token=old.refresh_token)
    reused = await token(client, grant_type="refresh_token", refresh_token=old.refresh_token)
    assert renewed.status_code == 200
    assert renewed.json()["refresh_token"] != old.refresh_token
    assert reused.status_code == 400
    assert reused.json() == {"error": "invalid_grant"}
    again = await token(
        client, grant_type="refresh_token", refresh_token=renewed.json()["refresh_token"]
    )
    assert again.status_code == 200


async def test_an_expired_refresh_token_is_an_invalid_grant(
    client: httpx.AsyncClient, sandbox: SageSandbox, clock: ManualClock
) -> None:
    pair = sandbox.login()
    clock.advance(REFRESH_TTL + timedelta(seconds=1))
    response = await token(client, grant_type="refresh_token", refresh_token=pair.refresh_token)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant"}


async def test_an_unknown_grant_type_is_an_invalid_grant(client: httpx.AsyncClient) -> None:
    response = await token(client, grant_type="password", username="x")
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant"}


async def test_an_expired_access_token_gets_401_until_refreshed(
    client: httpx.AsyncClient, sandbox: SageSandbox, clock: ManualClock
) -> None:
    pair = sandbox.login()
    business = {"X-Business": sandbox.business_id("test")}
    clock.advance(ACCESS_TTL)
    expired = await client.get(
        "/v3.1/contacts", headers={**business, "Authorization": f"Bearer {pair.access_token}"}
    )
    assert_sage_errors(expired, 401)
    renewed = await token(client, grant_type="refresh_token", refresh_token=pair.refresh_token)
    fresh = renewed.json()["access_token"]
    ok = await client.get(
        "/v3.1/contacts", headers={**business, "Authorization": f"Bearer {fresh}"}
    )
    assert ok.status_code == 200


async def test_a_request_without_a_token_gets_401(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    response = await client.get(
        "/v3.1/contacts", headers={"X-Business": sandbox.business_id("test")}
    )
    assert_sage_errors(response, 401)


# Businesses


async def test_a_missing_or_unknown_business_is_refused(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    auth = {"Authorization": f"Bearer {sandbox.login().access_token}"}
    missing = await client.get("/v3.1/contacts", headers=auth)
    unknown = await client.get("/v3.1/contacts", headers={**auth, "X-Business": "f" * 32})
    assert assert_sage_errors(missing, 401)[0]["$source"] == "X-Business"
    assert assert_sage_errors(unknown, 403)[0]["$source"] == "X-Business"


async def test_businesses_are_listed_for_choosing_one(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    auth = {"Authorization": f"Bearer {sandbox.login().access_token}"}
    response = await client.get("/v3.1/businesses", headers=auth)
    names = {item["displayed_as"]: item["id"] for item in response.json()["$items"]}
    assert names == {"test": sandbox.business_id("test"), "live": sandbox.business_id("live")}


async def test_a_posting_to_the_test_business_never_reaches_live(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    contact = sandbox.add_contact("test", "Acme Ltd", "ACME")
    posted = await client.post(
        "/v3.1/sales_invoices", json=invoice_body(sandbox, contact["id"]), headers=headers(sandbox)
    )
    assert posted.status_code == 201
    assert posted.headers["X-Business"] == sandbox.business_id("test")
    in_live = await client.get(
        f"/v3.1/sales_invoices/{posted.json()['id']}", headers=headers(sandbox, "live")
    )
    live_list = await client.get("/v3.1/sales_invoices", headers=headers(sandbox, "live"))
    assert_sage_errors(in_live, 404)
    assert live_list.json()["$total"] == 0
    assert sandbox.writes_to("live") == []
    assert [w.resource for w in sandbox.writes_to("test")] == ["sales_invoices"]


async def test_a_contact_of_one_business_cannot_be_invoiced_in_another(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    contact = sandbox.add_contact("test", "Acme Ltd")
    response = await client.post(
        "/v3.1/sales_invoices",
        json=invoice_body(sandbox, contact["id"], business="live"),
        headers=headers(sandbox, "live"),
    )
    assert assert_sage_errors(response, 422)[0]["$source"] == "contact_id"


# Resources and validation


async def test_a_contact_is_created_and_read_back(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    auth = headers(sandbox)
    created = await client.post(
        "/v3.1/contacts",
        json={
            "contact": {"name": "Beta plc", "reference": "BETA", "contact_type_ids": ["CUSTOMER"]}
        },
        headers=auth,
    )
    assert created.status_code == 201
    record = (await client.get(f"/v3.1/contacts/{created.json()['id']}", headers=auth)).json()
    assert record["name"] == "Beta plc"
    assert record["$path"] == f"/contacts/{record['id']}"
    assert record["displayed_as"] == "Beta plc (BETA)"


async def test_missing_required_invoice_fields_are_all_named_in_one_422(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    response = await client.post(
        "/v3.1/sales_invoices",
        json={"sales_invoice": {"invoice_lines": [{"quantity": "1"}]}},
        headers=headers(sandbox),
    )
    sources = {item["$source"] for item in assert_sage_errors(response, 422)}
    assert sources == {
        "contact_id",
        "date",
        "invoice_lines[0].description",
        "invoice_lines[0].ledger_account_id",
        "invoice_lines[0].unit_price",
    }
    assert sandbox.writes == []


async def test_a_taxed_line_needs_its_tax_amount(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    contact = sandbox.add_contact("test", "Acme Ltd")
    body = invoice_body(sandbox, contact["id"])
    del body["sales_invoice"]["invoice_lines"][0]["tax_amount"]
    response = await client.post("/v3.1/sales_invoices", json=body, headers=headers(sandbox))
    assert assert_sage_errors(response, 422)[0]["$source"] == "invoice_lines[0].tax_amount"


async def test_a_resource_must_be_wrapped_in_its_singular_name(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    contact = sandbox.add_contact("test", "Acme Ltd")
    unwrapped = invoice_body(sandbox, contact["id"])["sales_invoice"]
    response = await client.post("/v3.1/sales_invoices", json=unwrapped, headers=headers(sandbox))
    assert_sage_errors(response, 422)


async def test_an_invoice_totals_its_lines(client: httpx.AsyncClient, sandbox: SageSandbox) -> None:
    contact = sandbox.add_contact("test", "Acme Ltd")
    body = invoice_body(sandbox, contact["id"], notes="Shipment SHIP-1")
    body["sales_invoice"]["invoice_lines"][0]["quantity"] = "3"
    body["sales_invoice"]["invoice_lines"][0]["tax_amount"] = "6.00"
    invoice = (
        await client.post("/v3.1/sales_invoices", json=body, headers=headers(sandbox))
    ).json()
    assert (invoice["net_amount"], invoice["tax_amount"], invoice["total_amount"]) == (
        "30.00",
        "6.00",
        "36.00",
    )
    assert invoice["invoice_number"] == "SI-1"
    assert invoice["contact"]["id"] == contact["id"]
    assert invoice["notes"] == "Shipment SHIP-1"


async def test_an_unknown_record_is_a_404_array(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    response = await client.get(f"/v3.1/contacts/{'0' * 32}", headers=headers(sandbox))
    assert assert_sage_errors(response, 404)[0]["$dataCode"] == "RecordNotFound"


async def test_reference_data_is_readable(client: httpx.AsyncClient, sandbox: SageSandbox) -> None:
    auth = headers(sandbox)
    rate = (await client.get(f"/v3.1/tax_rates/{STANDARD}", headers=auth)).json()
    accounts = (await client.get("/v3.1/ledger_accounts?attributes=all", headers=auth)).json()
    assert rate["percentage"] == "20.00"
    assert 4000 in {item["nominal_code"] for item in accounts["$items"]}


# Idempotency


async def test_a_repeated_idempotency_id_returns_the_original_invoice(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    contact = sandbox.add_contact("test", "Acme Ltd")
    body = invoice_body(sandbox, contact["id"], idempotency_id="a" * 32)
    first = await client.post("/v3.1/sales_invoices", json=body, headers=headers(sandbox))
    again = await client.post("/v3.1/sales_invoices", json=body, headers=headers(sandbox))
    listed = await client.get("/v3.1/sales_invoices", headers=headers(sandbox))
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert listed.json()["$total"] == 1
    assert [w.replayed for w in sandbox.writes_to("test")] == [False, True]


async def test_an_idempotency_id_older_than_seven_days_creates_a_new_invoice(
    client: httpx.AsyncClient, sandbox: SageSandbox, clock: ManualClock
) -> None:
    contact = sandbox.add_contact("test", "Acme Ltd")
    body = invoice_body(sandbox, contact["id"], idempotency_id="b" * 32)
    first = await client.post("/v3.1/sales_invoices", json=body, headers=headers(sandbox))
    clock.advance(timedelta(days=7))
    later = await client.post("/v3.1/sales_invoices", json=body, headers=headers(sandbox))
    assert later.status_code == 201
    assert later.json()["id"] != first.json()["id"]


async def test_an_idempotency_id_reused_on_another_resource_is_refused(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    contact = sandbox.add_contact("test", "Acme Ltd")
    key = "c" * 32
    await client.post(
        "/v3.1/sales_invoices",
        json=invoice_body(sandbox, contact["id"], idempotency_id=key),
        headers=headers(sandbox),
    )
    response = await client.post(
        "/v3.1/contacts",
        json={"contact": {"name": "X", "contact_type_ids": ["CUSTOMER"], "idempotency_id": key}},
        headers=headers(sandbox),
    )
    assert assert_sage_errors(response, 409)[0]["$dataCode"] == "IdempotencyResourceMismatch"


async def test_the_same_idempotency_id_is_independent_per_business(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    key = "d" * 32
    ids = []
    for business in ("test", "live"):
        contact = sandbox.add_contact(business, "Acme Ltd")
        body = invoice_body(sandbox, contact["id"], business=business, idempotency_id=key)
        response = await client.post(
            "/v3.1/sales_invoices", json=body, headers=headers(sandbox, business)
        )
        ids.append(response.json()["id"])
    assert ids[0] != ids[1]


# Stock


async def test_an_invoice_line_on_a_stock_item_moves_stock_out(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    contact = sandbox.add_contact("test", "Acme Ltd")
    item = sandbox.add_product("test", "W-1", "Widget", quantity_in_stock=Decimal(10))
    body = invoice_body(sandbox, contact["id"], lines=[stock_line(sandbox, item["id"], "4")])
    response = await client.post("/v3.1/sales_invoices", json=body, headers=headers(sandbox))
    stock = await client.get(f"/v3.1/stock_items/{item['id']}", headers=headers(sandbox))
    movements = await client.get("/v3.1/stock_movements?attributes=all", headers=headers(sandbox))
    assert response.status_code == 201
    assert stock.json()["quantity_in_stock"] == "6"
    assert [m["quantity"] for m in movements.json()["$items"]] == ["-4"]


async def test_an_invoice_for_more_than_is_in_stock_is_refused_and_moves_nothing(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    contact = sandbox.add_contact("test", "Acme Ltd")
    item = sandbox.add_product("test", "W-1", "Widget", quantity_in_stock=Decimal(3))
    lines = [stock_line(sandbox, item["id"], "2"), stock_line(sandbox, item["id"], "2")]
    body = invoice_body(sandbox, contact["id"], lines=lines)
    response = await client.post("/v3.1/sales_invoices", json=body, headers=headers(sandbox))
    errors = assert_sage_errors(response, 422)
    assert "W-1" in errors[0]["$message"]
    assert sandbox.record("test", "products", item["id"])["quantity_in_stock"] == 3
    assert sandbox.writes == []


async def test_a_credit_note_line_on_a_stock_item_moves_stock_back_in(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    contact = sandbox.add_contact("test", "Acme Ltd")
    item = sandbox.add_product("test", "W-1", "Widget", quantity_in_stock=Decimal(5))
    line = stock_line(sandbox, item["id"], "5")
    await client.post(
        "/v3.1/sales_invoices",
        json=invoice_body(sandbox, contact["id"], lines=[line]),
        headers=headers(sandbox),
    )
    credit = await client.post(
        "/v3.1/sales_credit_notes",
        json={
            "sales_credit_note": {
                "contact_id": contact["id"],
                "date": "2026-01-06",
                "credit_note_lines": [{**line, "quantity": "2"}],
            }
        },
        headers=headers(sandbox),
    )
    assert credit.status_code == 201
    assert credit.json()["credit_note_number"] == "SCN-1"
    assert sandbox.record("test", "products", item["id"])["quantity_in_stock"] == 2


async def test_a_non_stock_product_is_not_counted(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    contact = sandbox.add_contact("test", "Acme Ltd")
    product = sandbox.add_product("test", "SVC", "Gift wrap")
    body = invoice_body(sandbox, contact["id"], lines=[stock_line(sandbox, product["id"], "50")])
    response = await client.post("/v3.1/sales_invoices", json=body, headers=headers(sandbox))
    stock_items = await client.get("/v3.1/stock_items", headers=headers(sandbox))
    assert response.status_code == 201
    assert stock_items.json()["$total"] == 0


async def test_an_allocation_settles_an_invoice_against_its_credit_note(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    contact = sandbox.add_contact("test", "Acme Ltd")
    auth = headers(sandbox)
    invoice = (
        await client.post(
            "/v3.1/sales_invoices", json=invoice_body(sandbox, contact["id"]), headers=auth
        )
    ).json()
    lines = invoice_body(sandbox, contact["id"])["sales_invoice"]["invoice_lines"]
    credit = (
        await client.post(
            "/v3.1/sales_credit_notes",
            json={
                "sales_credit_note": {
                    "contact_id": contact["id"],
                    "date": "2026-01-06",
                    "credit_note_lines": lines,
                }
            },
            headers=auth,
        )
    ).json()
    allocation = await client.post(
        "/v3.1/contact_allocations",
        json={
            "contact_allocation": {
                "transaction_type_id": "CUSTOMER_ALLOCATION",
                "contact_id": contact["id"],
                "allocated_artefacts": [
                    {"artefact_id": invoice["id"], "amount": "12.00"},
                    {"artefact_id": credit["id"], "amount": "-12.00"},
                ],
            }
        },
        headers=auth,
    )
    assert allocation.status_code == 201
    settled = (await client.get(f"/v3.1/sales_invoices/{invoice['id']}", headers=auth)).json()
    assert settled["outstanding_amount"] == "0.00"
    assert settled["status"]["id"] == "PAID"


async def test_an_allocation_that_does_not_balance_is_refused(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    contact = sandbox.add_contact("test", "Acme Ltd")
    auth = headers(sandbox)
    invoice = (
        await client.post(
            "/v3.1/sales_invoices", json=invoice_body(sandbox, contact["id"]), headers=auth
        )
    ).json()
    response = await client.post(
        "/v3.1/contact_allocations",
        json={
            "contact_allocation": {
                "transaction_type_id": "CUSTOMER_ALLOCATION",
                "contact_id": contact["id"],
                "allocated_artefacts": [
                    {"artefact_id": invoice["id"], "amount": "12.00"},
                    {"artefact_id": invoice["id"], "amount": "-5.00"},
                ],
            }
        },
        headers=auth,
    )
    assert_sage_errors(response, 422)


# Lists


async def test_a_page_past_the_end_returns_the_last_page_with_no_next(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    for number in range(45):
        sandbox.add_contact("test", f"Customer {number:02}")
    response = await client.get(
        "/v3.1/contacts?items_per_page=20&page=99", headers=headers(sandbox)
    )
    body = response.json()
    assert body["$page"] == 3
    assert body["$next"] is None
    assert body["$back"] == "/contacts?items_per_page=20&page=2"
    assert body["$total"] == 45
    assert [item["displayed_as"] for item in body["$items"]] == [
        f"Customer {n}" for n in range(40, 45)
    ]


async def test_pages_default_to_20_items_and_cap_at_200(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    for number in range(205):
        sandbox.add_contact("test", f"Customer {number}")
    default = (await client.get("/v3.1/contacts", headers=headers(sandbox))).json()
    capped = (
        await client.get("/v3.1/contacts?items_per_page=500", headers=headers(sandbox))
    ).json()
    assert (default["$itemsPerPage"], len(default["$items"])) == (20, 20)
    assert default["$next"] == "/contacts?items_per_page=20&page=2"
    assert (capped["$itemsPerPage"], len(capped["$items"])) == (200, 200)


async def test_list_items_carry_only_the_link_fields_unless_asked(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    sandbox.add_contact("test", "Acme Ltd", "ACME")
    plain = (await client.get("/v3.1/contacts", headers=headers(sandbox))).json()
    chosen = (
        await client.get("/v3.1/contacts?attributes=reference", headers=headers(sandbox))
    ).json()
    assert set(plain["$items"][0]) == {"id", "displayed_as", "$path"}
    assert chosen["$items"][0]["reference"] == "ACME"


async def test_invoices_are_found_by_reference_search(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    contact = sandbox.add_contact("test", "Acme Ltd")
    for reference in ("SHIP-100", "SHIP-200"):
        await client.post(
            "/v3.1/sales_invoices",
            json=invoice_body(sandbox, contact["id"], reference=reference),
            headers=headers(sandbox),
        )
    found = (
        await client.get("/v3.1/sales_invoices?search=ship-200", headers=headers(sandbox))
    ).json()
    assert found["$total"] == 1


async def test_updated_or_created_since_returns_only_newer_records(
    client: httpx.AsyncClient, sandbox: SageSandbox, clock: ManualClock
) -> None:
    sandbox.add_contact("test", "Old customer")
    clock.advance(timedelta(hours=1))
    since = clock().isoformat()
    sandbox.add_contact("test", "New customer")
    response = await client.get(
        "/v3.1/contacts", params={"updated_or_created_since": since}, headers=headers(sandbox)
    )
    assert [item["displayed_as"] for item in response.json()["$items"]] == ["New customer"]


async def walk_pages(sandbox: SageSandbox, first: str) -> list[str]:
    seen: list[str] = []
    transport = httpx.ASGITransport(app=create_sandbox(sandbox))
    async with httpx.AsyncClient(transport=transport, base_url="http://sage.test") as http:
        path: str | None = first
        while path is not None:
            page = (await http.get(f"/v3.1{path}", headers=headers(sandbox))).json()
            seen.extend(item["id"] for item in page["$items"])
            path = page["$next"]
    return seen


@settings(max_examples=25, deadline=None)
@given(total=st.integers(min_value=0, max_value=60), per_page=st.integers(1, 25))
def test_following_next_visits_every_record_exactly_once(total: int, per_page: int) -> None:
    sandbox = SageSandbox()
    for number in range(total):
        sandbox.add_contact("test", f"Customer {number}")
    seen = asyncio.run(walk_pages(sandbox, f"/contacts?items_per_page={per_page}"))
    assert len(seen) == len(set(seen)) == total


# Faults


async def test_throttling_answers_429_with_retry_after_then_recovers(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    sandbox.faults.queue(status=429, retry_after=1, times=3)
    statuses = []
    for _ in range(4):
        response = await client.get("/v3.1/contacts", headers=headers(sandbox))
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.headers["Retry-After"] == "1"
            assert_sage_errors(response, 429)
    assert statuses == [429, 429, 429, 200]


async def test_a_503_touches_no_data(client: httpx.AsyncClient, sandbox: SageSandbox) -> None:
    contact = sandbox.add_contact("test", "Acme Ltd")
    sandbox.faults.queue(status=503)
    response = await client.post(
        "/v3.1/sales_invoices", json=invoice_body(sandbox, contact["id"]), headers=headers(sandbox)
    )
    assert_sage_errors(response, 503)
    assert sandbox.writes == []


async def test_commit_then_fail_stores_the_invoice_so_a_blind_retry_duplicates_it(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    contact = sandbox.add_contact("test", "Acme Ltd")
    sandbox.faults.queue(kind=FaultKind.COMMIT_THEN_FAIL, method="POST")
    body = invoice_body(sandbox, contact["id"])
    failed = await client.post("/v3.1/sales_invoices", json=body, headers=headers(sandbox))
    retried = await client.post("/v3.1/sales_invoices", json=body, headers=headers(sandbox))
    assert_sage_errors(failed, 500)
    assert retried.status_code == 201
    listed = await client.get("/v3.1/sales_invoices", headers=headers(sandbox))
    assert listed.json()["$total"] == 2


async def test_commit_then_fail_retried_with_the_idempotency_id_returns_the_stored_invoice(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    contact = sandbox.add_contact("test", "Acme Ltd")
    sandbox.faults.queue(kind=FaultKind.COMMIT_THEN_FAIL, method="POST")
    body = invoice_body(sandbox, contact["id"], idempotency_id="e" * 32)
    failed = await client.post("/v3.1/sales_invoices", json=body, headers=headers(sandbox))
    retried = await client.post("/v3.1/sales_invoices", json=body, headers=headers(sandbox))
    assert failed.status_code == 500
    listed = await client.get("/v3.1/sales_invoices", headers=headers(sandbox))
    assert [item["id"] for item in listed.json()["$items"]] == [retried.json()["id"]]


async def test_faults_leave_the_token_endpoint_alone_unless_it_is_named(
    client: httpx.AsyncClient, sandbox: SageSandbox
) -> None:
    sandbox.faults.queue(status=500)
    response = await token(client, grant_type="authorization_code", code=sandbox.issue_code())
    assert response.status_code == 200
    assert len(sandbox.faults) == 1


# Real HTTP


async def test_over_real_http_a_client_logs_in_posts_times_out_and_sees_a_dropped_reply() -> None:
    async with SageSandboxServer() as server:
        sandbox = server.sandbox
        contact = sandbox.add_contact("test", "Acme Ltd")
        async with httpx.AsyncClient(base_url=server.url, timeout=5.0) as http:
            tokens = await http.post(
                "/oauth/token",
                data={"grant_type": "authorization_code", "code": sandbox.issue_code()},
            )
            auth = {
                "Authorization": f"Bearer {tokens.json()['access_token']}",
                "X-Business": sandbox.business_id("test"),
            }
            posted = await http.post(
                "/v3.1/sales_invoices", json=invoice_body(sandbox, contact["id"]), headers=auth
            )
            assert posted.status_code == 201

            sandbox.faults.queue(kind=FaultKind.SLOW, delay=0.5)
            with pytest.raises(httpx.ReadTimeout):
                await http.get("/v3.1/contacts", headers=auth, timeout=0.1)

            sandbox.faults.queue(kind=FaultKind.COMMIT_THEN_DROP, method="POST")
            with pytest.raises(httpx.RemoteProtocolError):
                await http.post(
                    "/v3.1/sales_invoices",
                    json=invoice_body(sandbox, contact["id"]),
                    headers=auth,
                )
            listed = await http.get("/v3.1/sales_invoices", headers=auth)
            assert listed.json()["$total"] == 2


# The consent screen


def consent_query(**overrides: str | None) -> dict[str, str]:
    query = {
        "filter": "apiv3.1",
        "client_id": "packline",
        "response_type": "code",
        "redirect_uri": "http://127.0.0.1:8765/callback",
        "scope": "full_access",
        "state": "s-123",
        **overrides,
    }
    return {name: value for name, value in query.items() if value is not None}


def redirected_to(response: httpx.Response) -> tuple[str, dict[str, list[str]]]:
    assert response.status_code == 302, response.text
    location = httpx.URL(response.headers["location"])
    return str(location.copy_with(query=None)), parse_qs(location.query.decode())


async def test_the_consent_screen_sends_the_browser_back_with_a_code_and_the_state(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(CONSENT_PATH, params=consent_query())

    target, query = redirected_to(response)
    assert target == "http://127.0.0.1:8765/callback"
    assert query["state"] == ["s-123"]
    exchanged = await token(client, grant_type="authorization_code", code=query["code"][0])
    assert exchanged.status_code == 200


async def test_the_consent_screen_keeps_a_query_the_redirect_uri_already_has(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        CONSENT_PATH, params=consent_query(redirect_uri="http://127.0.0.1:8765/cb?env=test")
    )

    target, query = redirected_to(response)
    assert target == "http://127.0.0.1:8765/cb"
    assert query["env"] == ["test"]
    assert "code" in query


@pytest.mark.parametrize(
    ("missing", "source"),
    [
        ({"client_id": None}, "client_id"),
        ({"redirect_uri": None}, "redirect_uri"),
        ({"redirect_uri": "callback"}, "redirect_uri"),
    ],
)
async def test_the_consent_screen_refuses_to_redirect_without_a_client_or_a_usable_redirect_uri(
    client: httpx.AsyncClient, missing: dict[str, str | None], source: str
) -> None:
    response = await client.get(CONSENT_PATH, params=consent_query(**missing))

    errors = assert_sage_errors(response, 400)
    assert [item["$source"] for item in errors] == [source]


@pytest.mark.parametrize(
    ("response_type", "error"),
    [(None, "invalid_request"), ("token", "unsupported_response_type")],
)
async def test_a_consent_request_without_response_type_code_goes_back_as_an_error(
    client: httpx.AsyncClient, response_type: str | None, error: str
) -> None:
    response = await client.get(CONSENT_PATH, params=consent_query(response_type=response_type))

    _, query = redirected_to(response)
    assert query == {"error": [error], "state": ["s-123"]}
