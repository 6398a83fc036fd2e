"""Odd requests the schemathesis run found, each pinned down: answered as documented, never 5xx,
and refused without changing anything.

The world is the one the schemathesis run uses (seeded through the API, shipment 1 shipped
through ingest); requests go over ASGI with httpx.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cloud_bridge.api.fields import MAX_AMOUNT, MAX_DATABASE_INT, MAX_ON_HAND
from cloud_bridge.api.roles import Role
from cloud_bridge.api.tokens import create_token
from cloud_bridge.db.models import StockItem
from firmware_sim.fuzz.api_world import ApiWorld, api_world

NOT_UTF8 = b'{"name": "Caf\xe9"}'
"""Latin-1 text where JSON must be UTF-8: FastAPI cannot decode it."""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[ApiWorld]:
    with api_world(tmp_path) as seeded:
        yield seeded


@pytest.fixture
async def admin(world: ApiWorld) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(world, world.headers) as client:
        yield client


def client_for(world: ApiWorld, headers: dict[str, str]) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=world.app)
    return httpx.AsyncClient(transport=transport, base_url="http://bridge", headers=headers)


def error_of(response: httpx.Response) -> tuple[str, str]:
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "errors"}, body
    return body["error"]["field"], body["error"]["rule"]


async def send_not_utf8(client: httpx.AsyncClient, method: str, url: str) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    return await client.request(method, url, content=NOT_UTF8, headers=headers)


# --- a body that is not UTF-8 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("POST", "/orders"),
        ("POST", "/accounts"),
        ("PUT", "/accounts/A/flags"),
        ("PUT", "/debtors/D1/credit-line"),
        ("PUT", "/settings/credit"),
        ("POST", "/shipments/1/corrections"),
    ],
)
async def test_a_body_that_is_not_utf8_is_a_422_naming_the_body_and_changes_nothing(
    world: ApiWorld, admin: httpx.AsyncClient, method: str, url: str
) -> None:
    before = world.dump()

    response = await send_not_utf8(admin, method, url)

    assert response.status_code == 422, response.text
    field, rule = error_of(response)
    assert field == "body"
    assert "UTF-8" in rule
    assert "could not be read" in response.json()["error"]["message"]
    assert world.dump() == before


async def test_a_body_that_is_not_utf8_without_a_token_is_a_401_not_a_422(
    world: ApiWorld,
) -> None:
    async with client_for(world, {}) as anonymous:
        response = await send_not_utf8(anonymous, "POST", "/orders")

    assert response.status_code == 401, response.text
    assert error_of(response)[0] == "Authorization"


async def test_a_body_that_is_not_utf8_from_a_role_without_the_permission_is_a_403(
    world: ApiWorld,
) -> None:
    viewer = create_token(world.sessions, "edge-viewer", Role.VIEWER)

    async with client_for(world, {"Authorization": f"Bearer {viewer}"}) as client:
        response = await send_not_utf8(client, "PUT", "/settings/credit")

    assert response.status_code == 403, response.text


# --- integers beyond what the database takes ------------------------------------------------------


TOO_BIG = MAX_DATABASE_INT + 1
AT_MOST = f"at most {MAX_DATABASE_INT}"


@pytest.mark.parametrize(
    ("url", "field", "rule"),
    [
        (f"/orders?offset={TOO_BIG}", "offset", AT_MOST),
        (f"/audit?offset={TOO_BIG}", "offset", AT_MOST),
        (f"/audit?before_id={TOO_BIG}", "before_id", AT_MOST),
        (f"/shipments/{TOO_BIG}", "shipment_id", AT_MOST),
        ("/shipments/0", "shipment_id", "at least 1"),
    ],
)
async def test_an_integer_the_database_cannot_take_is_a_422_naming_it_not_a_500(
    admin: httpx.AsyncClient, url: str, field: str, rule: str
) -> None:
    response = await admin.get(url)

    assert response.status_code == 422, response.text
    assert error_of(response) == (field, rule)


async def test_the_largest_offset_the_database_takes_is_an_empty_page(
    admin: httpx.AsyncClient,
) -> None:
    response = await admin.get(f"/orders?offset={MAX_DATABASE_INT}")

    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


async def test_a_correction_of_a_shipment_id_beyond_the_database_is_a_422_and_changes_nothing(
    world: ApiWorld, admin: httpx.AsyncClient
) -> None:
    before = world.dump()
    body = {"reason": "miscount", "lines": [{"line_id": "1", "quantity": 4}]}

    response = await admin.post(f"/shipments/{TOO_BIG}/corrections", json=body)

    assert response.status_code == 422, response.text
    assert error_of(response)[0] == "shipment_id"
    assert world.dump() == before


# --- sums that would pass what the database keeps -------------------------------------------------


async def test_a_payment_that_would_take_an_orders_amount_paid_past_the_largest_amount_is_a_409(
    world: ApiWorld, admin: httpx.AsyncClient
) -> None:
    largest = {"amount": str(MAX_AMOUNT), "order_no": "SO-2"}
    paid = await admin.post("/debtors/D1/payments", json=largest)
    assert paid.status_code == 201, paid.text
    before = world.dump()

    response = await admin.post(
        "/debtors/D1/payments", json={"amount": "0.0001", "order_no": "SO-2"}
    )

    assert response.status_code == 409, response.text
    assert error_of(response) == ("amount", "at most 0.0000 (what order SO-2 can still be paid)")
    assert world.dump() == before


async def test_units_that_would_take_a_location_past_what_it_can_hold_are_a_409(
    world: ApiWorld, admin: httpx.AsyncClient
) -> None:
    with world.sessions.begin() as session:
        item = session.scalars(
            select(StockItem).where(StockItem.account_id == "A", StockItem.sku == "MUG")
        ).one()
        item.on_hand = MAX_ON_HAND - 5
    before = world.dump()
    receipt = {"account": "A", "sku": "MUG", "location": "L1", "quantity": 6}
    adjustment = {**receipt, "reason": "found"}

    refused = [
        await admin.post("/stock/receipts", json=receipt),
        await admin.post("/stock/adjustments", json=adjustment),
    ]

    for response in refused:
        assert response.status_code == 409, response.text
        assert error_of(response) == ("quantity", "at most 5 (room left at L1)")
    assert world.dump() == before
    accepted = await admin.post("/stock/receipts", json={**receipt, "quantity": 5})
    assert accepted.status_code == 200, accepted.text
