"""The API under test: a real app on a fresh SQLite database, driven by httpx over ASGI.

Not a test module of its own; the ``test_api_*`` modules build their fixtures from it. The
client sends an admin token made the way `packline bridge token create` makes one; a token of
every other role is in ``Api.tokens``. Stations are not running here, so published messages are
recorded, together with what a second session saw in the database at the moment of publishing
(to show they are sent only after the commit).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.api import create_app
from cloud_bridge.api.roles import Role
from cloud_bridge.api.tokens import create_token
from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.models import Base, SalesOrder
from cloud_bridge.services.release import Dispatch

SLOTS = {"w1.st01": {"MUG": "A1", "TEA": "A2"}}
GTINS = {"MUG": "05012345678900", "TEA": "04006381333931", "PEN": "09501101530003"}


@dataclass
class Published:
    """One message the API published, and the order's version committed when it went out."""

    dispatch: Dispatch
    committed_version: int | None


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    engine: Engine
    sessions: sessionmaker[Session]
    tokens: dict[Role, str]
    """A token of each role; the client sends the admin's, named ``ADMIN``."""
    published: list[Published] = field(default_factory=list)

    def headers(self, role: Role) -> dict[str, str]:
        """The Authorization header of the token with ``role``."""
        return bearer(self.tokens[role])

    async def call(
        self, method: str, url: str, body: Any = None, *, expect: int | None = None
    ) -> Any:
        """The JSON answer; with ``expect``, the status is asserted (showing the body if not)."""
        response = await self.client.request(method, url, json=body)
        if expect is not None:
            assert response.status_code == expect, response.text
        return response.json()

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table, to show that a refused request changed nothing."""
        with self.engine.connect() as connection:
            return {
                table.name: sorted(
                    (tuple(row) for row in connection.execute(select(table))), key=repr
                )
                for table in Base.metadata.sorted_tables
            }

    def session(self) -> Session:
        return self.sessions()


ADMIN = "test-admin"
"""The name of the token the client sends: the actor of the audit rows the tests cause."""


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def role_token_name(role: Role) -> str:
    return ADMIN if role is Role.ADMIN else f"test-{role.value}"


@asynccontextmanager
async def running_api(tmp_path: Path, *, fail_publish: bool = False) -> AsyncIterator[Api]:
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    published: list[Published] = []

    async def publish(dispatch: Dispatch) -> None:
        with sessions() as session:
            order = session.get(SalesOrder, dispatch.message.order_id)
            published.append(Published(dispatch, None if order is None else order.version))
        if fail_publish:
            raise ConnectionError("the broker is unreachable")

    tokens = {role: create_token(sessions, role_token_name(role), role) for role in Role}
    app = create_app(sessions=sessions, slot_maps=SLOTS, publish=publish)
    transport = httpx.ASGITransport(app=app)
    admin = bearer(tokens[Role.ADMIN])
    async with httpx.AsyncClient(transport=transport, base_url="http://bridge", headers=admin) as c:
        yield Api(
            app=app, client=c, engine=engine, sessions=sessions, tokens=tokens, published=published
        )
    engine.dispose()


async def add_world(api: Api) -> None:
    """Accounts A (borrows from B, both flags on), B, and C (linked to B, flags off); products
    MUG, TEA and PEN at 10.00; debtor D1 with no credit limit."""
    for account in ("A", "B", "C"):
        await api.call(
            "POST", "/accounts", {"id": account, "name": f"Account {account}"}, expect=201
        )
    await api.call("POST", "/accounts/A/links", {"linked_account_ids": ["B"]}, expect=200)
    await api.call("POST", "/accounts/C/links", {"linked_account_ids": ["B"]}, expect=200)
    flags = {"order_from_linked": True, "pick_from_linked_if_unavailable": True}
    await api.call("PUT", "/accounts/A/flags", flags, expect=200)
    for sku, gtin in GTINS.items():
        product = {"sku": sku, "gtin": gtin, "unit_price": "10.00"}
        await api.call("POST", "/products", product, expect=201)
    await api.call("POST", "/debtors", {"debtor_no": "D1", "name": "Debtor One"}, expect=201)


def order_body(
    order_no: str,
    account: str = "A",
    lines: Iterable[tuple[str, int]] = (("MUG", 2),),
    **extra: Any,
) -> dict[str, Any]:
    """A valid order; ``extra`` overrides or adds top-level fields."""
    body: dict[str, Any] = {
        "order_no": order_no,
        "account": account,
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
            {"sku": sku, "quantity": quantity, "unit_price": "10.00"} for sku, quantity in lines
        ],
    }
    body.update(extra)
    return body


async def receive(api: Api, account: str, sku: str, units: int, location: str = "L1") -> Any:
    receipt = {"account": account, "sku": sku, "location": location, "quantity": units}
    return await api.call("POST", "/stock/receipts", receipt, expect=200)


def error_of(body: Any) -> tuple[str, str]:
    """The (field, rule) of an error body, after checking its shape."""
    assert set(body) == {"error", "errors"}, body
    assert body["errors"][0] == body["error"]
    assert set(body["error"]) == {"field", "rule", "message"}
    return body["error"]["field"], body["error"]["rule"]


def fields_of(body: Any) -> set[str]:
    """Every field a validation error lists."""
    error_of(body)
    return {error["field"] for error in body["errors"]}
