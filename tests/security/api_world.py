"""The bridge's API on a fresh database with one token of each role, for the security tests.

Not a test module. Tokens are made with `create_token`, as `packline bridge token create` makes
them, and the app is driven over ASGI by httpx; nothing of the project is replaced.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.api import create_app
from cloud_bridge.api.app import api_routes
from cloud_bridge.api.roles import Role, RouteKey
from cloud_bridge.api.tokens import create_token
from cloud_bridge.db import make_engine, session_factory, upgrade

SLOTS = {"w1.st01": {"MUG": "A1"}}


def token_name(role: Role) -> str:
    """The name of the test token with ``role``: the actor of the audit rows it causes."""
    return f"{role.value}-token"


@dataclass
class SecuredApi:
    app: FastAPI
    engine: Engine
    sessions: sessionmaker[Session]
    tokens: dict[Role, str]

    def client(self, role: Role | None = None, *, token: str | None = None) -> httpx.AsyncClient:
        """A client sending the token of ``role``, or ``token``, or none at all."""
        chosen = self.tokens[role] if role is not None else token
        headers = {} if chosen is None else {"Authorization": f"Bearer {chosen}"}
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url="http://bridge", headers=headers)

    def routes(self) -> list[RouteKey]:
        """Every (method, path template) the app serves, walked from ``app.routes``."""
        return sorted({key for _, key in api_routes(self.app)})


def filled(path: str) -> str:
    """``path`` with every parameter replaced by a plausible value."""
    return re.sub(r"\{[^}]+\}", "1", path)


@asynccontextmanager
async def secured_api(database_url: str) -> AsyncIterator[SecuredApi]:
    engine = make_engine(database_url)
    upgrade(engine)
    sessions = session_factory(engine)
    tokens = {role: create_token(sessions, token_name(role), role) for role in Role}
    app = create_app(sessions=sessions, slot_maps=SLOTS)
    try:
        yield SecuredApi(app=app, engine=engine, sessions=sessions, tokens=tokens)
    finally:
        engine.dispose()


async def call(
    client: httpx.AsyncClient, method: str, url: str, body: Any = None, *, expect: int
) -> Any:
    """The JSON answer, after asserting its status (showing the body if it differs)."""
    response = await client.request(method, url, json=body)
    assert response.status_code == expect, (method, url, response.text)
    return response.json()


async def add_world(admin: httpx.AsyncClient) -> None:
    """Accounts A and B, product MUG with 10 units for A, debtor D1, and order SO-1 (2 MUG)."""
    for account in ("A", "B"):
        await call(admin, "POST", "/accounts", {"id": account, "name": account}, expect=201)
    product = {"sku": "MUG", "gtin": "05012345678900", "unit_price": "10.00"}
    await call(admin, "POST", "/products", product, expect=201)
    receipt = {"account": "A", "sku": "MUG", "location": "L1", "quantity": 10}
    await call(admin, "POST", "/stock/receipts", receipt, expect=200)
    await call(admin, "POST", "/debtors", {"debtor_no": "D1", "name": "Debtor One"}, expect=201)
    await call(admin, "POST", "/orders", order_body("SO-1"), expect=201)


def order_body(order_no: str) -> dict[str, Any]:
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
        "lines": [{"sku": "MUG", "quantity": 2, "unit_price": "10.00"}],
    }
