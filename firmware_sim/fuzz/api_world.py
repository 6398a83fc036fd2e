"""The bridge's API on a small, real database, for fuzzing it against its own OpenAPI document.

A fresh SQLite file, migrated as in production, with an admin token made the way
`packline bridge token create` makes one. The world is put in place through the API itself
(accounts, a debtor, products, stock, two orders, an allocation run) and one order is shipped
through the ingest path a station's events take, so fuzzed requests can name rows that exist
instead of meeting 404 every time. `ApiWorld.dump` is the whole database as SQL text, to show
that a refused request changed nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.api import create_app
from cloud_bridge.api.roles import Role
from cloud_bridge.api.tokens import create_token
from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.models import OrderState, SalesOrder, Shipment
from cloud_bridge.ingest import Outcome, ingest_event
from edge.contract import LinePicked, OrderCompleted, OrderScanned, StationEvent

__all__ = ["ADMIN_TOKEN_NAME", "KNOWN", "STATION", "ApiWorld", "api_world", "openapi_document"]

STATION = "w1.st01"
ADMIN_TOKEN_NAME = "fuzz-admin"
_GTINS = {"MUG": "05012345678900", "TEA": "04006381333931"}
_SLOTS = {STATION: {"MUG": "A1", "TEA": "A2"}}
_SHIPPED_ORDER = "SO-1"
_OPEN_ORDER = "SO-2"
_SHIPMENT_ID = 1
_ACCOUNTS = ("A", "B")

KNOWN: Mapping[str, tuple[Any, ...]] = {
    "order_no": (_SHIPPED_ORDER, _OPEN_ORDER),
    "line_id": ("1", "2"),
    "account_id": _ACCOUNTS,
    "linked_id": _ACCOUNTS,
    "account": _ACCOUNTS,
    "linked_account_ids": (("B",), ("A",), ("A", "B")),
    "debtor_no": ("D1",),
    "debtor": ("D1",),
    "invoice_debtor": ("D1",),
    "sku": tuple(_GTINS),
    "location": ("L1",),
    "shipment_id": (_SHIPMENT_ID,),
    "actor": (ADMIN_TOKEN_NAME,),
}
"""Parameter and body field names, each with values that name a row every seeded world has (a
tuple stands for a JSON array)."""


@dataclass
class ApiWorld:
    """The app, its database and its admin token; the rows in `KNOWN` exist."""

    app: FastAPI
    engine: Engine
    sessions: sessionmaker[Session]
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """The admin token's Authorization header."""
        return {"Authorization": f"Bearer {self.token}"}

    def dump(self) -> list[str]:
        """Every table's schema and rows as SQL statements, in a stable order."""
        connection = self.engine.raw_connection()
        try:
            return list(connection.driver_connection.iterdump())  # type: ignore[union-attr]
        finally:
            connection.close()


@contextmanager
def api_world(directory: Path) -> Iterator[ApiWorld]:
    """A seeded `ApiWorld` on a database file in ``directory``, disposed of afterwards."""
    engine = make_engine(f"sqlite:///{directory / 'bridge.db'}")
    try:
        upgrade(engine)
        sessions = session_factory(engine)
        token = create_token(sessions, ADMIN_TOKEN_NAME, Role.ADMIN)
        app = create_app(sessions=sessions, slot_maps=_SLOTS)
        asyncio.run(_seed_through_api(app, token))
        _ship(sessions, _SHIPPED_ORDER)
        yield ApiWorld(app=app, engine=engine, sessions=sessions, token=token)
    finally:
        engine.dispose()


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document, from an app with no database behind it (none is needed)."""
    return create_app(sessions=sessionmaker(), slot_maps=_SLOTS).openapi()


async def _post(client: httpx.AsyncClient, url: str, body: Any, expect: int) -> None:
    response = await client.post(url, json=body)
    if response.status_code != expect:
        raise RuntimeError(
            f"seeding the fuzz world: POST {url} answered {response.status_code}, expected "
            f"{expect}: {response.text}"
        )


async def _seed_through_api(app: FastAPI, token: str) -> None:
    """Accounts A (borrows from B) and B, debtor D1, MUG and TEA with 10 each for A at L1, and
    orders SO-1 (5 MUG, 3 TEA) and SO-2 (2 MUG), allocated."""
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bridge", headers=headers
    ) as c:
        await _seed_rows(c)


async def _seed_rows(client: httpx.AsyncClient) -> None:
    for account in ("A", "B"):
        await _post(client, "/accounts", {"id": account, "name": f"Account {account}"}, 201)
    await _post(client, "/accounts/A/links", {"linked_account_ids": ["B"]}, 200)
    await _post(client, "/debtors", {"debtor_no": "D1", "name": "Debtor One"}, 201)
    for sku, gtin in _GTINS.items():
        await _post(client, "/products", {"sku": sku, "gtin": gtin, "unit_price": "10.00"}, 201)
        receipt = {"account": "A", "sku": sku, "location": "L1", "quantity": 10}
        await _post(client, "/stock/receipts", receipt, 200)
    await _post(client, "/orders", _order(_SHIPPED_ORDER, {"MUG": 5, "TEA": 3}), 201)
    await _post(client, "/orders", _order(_OPEN_ORDER, {"MUG": 2}), 201)
    await _post(client, "/allocation/run", None, 200)


def _order(order_no: str, lines: Mapping[str, int]) -> dict[str, Any]:
    return {
        "order_no": order_no,
        "account": "A",
        "invoice_debtor": "D1",
        "deliver_to": {
            "name": "Harbour Cafe Ltd",
            "line1": "12 Quay Street",
            "city": "Bristol",
            "postal_code": "BS1 4DJ",
            "country": "GB",
        },
        "carrier": "DPD",
        "lines": [
            {"line_id": str(number), "sku": sku, "quantity": units, "unit_price": "10.00"}
            for number, (sku, units) in enumerate(lines.items(), start=1)
        ],
    }


def _ship(sessions: sessionmaker[Session], order_no: str) -> None:
    """Release ``order_no`` to the station and ship it whole through ingest, as shipment 1.

    The release itself needs a station online, so the order is marked released directly; the
    scan, picks and completion go through `ingest_event` as a station's events do.
    """
    with sessions.begin() as session:
        order = session.get_one(SalesOrder, order_no)
        order.state = OrderState.RELEASED
        order.station_id = STATION
        version = order.version
        lines = [(line.line_id, line.sku, line.quantity) for line in order.lines]
    events: list[StationEvent] = [OrderScanned(**_event(1, order_no), order_version=version)]
    for line_id, sku, units in lines:
        events.append(
            LinePicked(
                **_event(len(events) + 1, order_no),
                line_id=line_id,
                sku=sku,
                gtin=_GTINS[sku],
                slot=_SLOTS[STATION][sku],
                quantity=units,
            )
        )
    events.append(
        OrderCompleted(
            **_event(len(events) + 1, order_no),
            order_version=version,
            label_id="LBL-1",
            carrier="DPD",
            tracking_number="TRK-1",
        )
    )
    for event in events:
        with sessions.begin() as session:
            result = ingest_event(session, STATION, event)
            if result.outcome is not Outcome.APPLIED:
                raise RuntimeError(
                    f"seeding the fuzz world: {type(event).__name__} #{event.seq} was "
                    f"{result.outcome.value}, expected applied"
                )
    with sessions() as session:
        shipment_id = session.scalar(select(func.max(Shipment.id)))
    if shipment_id != _SHIPMENT_ID:
        raise RuntimeError(
            f"seeding the fuzz world: shipping {order_no} made shipment {shipment_id}, "
            f"expected {_SHIPMENT_ID}"
        )


def _event(seq: int, order_no: str) -> dict[str, Any]:
    return {"event_id": uuid.uuid4(), "seq": seq, "at": datetime.now(UTC), "order_id": order_no}
