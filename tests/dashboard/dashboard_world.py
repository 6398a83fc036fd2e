"""The dashboard under test: the bridge's real app on a fresh SQLite database, over httpx/ASGI.

Not a test module; the dashboard's tests build their fixtures from it. ``Dashboard.admin`` sets
the world up through the API itself (so credit holds and borrows are made by the real gate and
allocator); ``Dashboard.read`` reads the dashboard with a viewer token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.api import create_app
from cloud_bridge.api.roles import Role
from cloud_bridge.api.tokens import create_token
from cloud_bridge.db import make_engine, session_factory, upgrade

SLOTS = {"w1.st01": {"MUG": "A1", "TEA": "A2"}}


@dataclass
class Dashboard:
    client: httpx.AsyncClient
    sessions: sessionmaker[Session]
    tokens: dict[Role, str]
    app: FastAPI

    def bearer(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def admin(self, method: str, url: str, body: Any = None, *, expect: int = 200) -> Any:
        """Change the world through the API as an admin, asserting the status."""
        response = await self.client.request(
            method, url, json=body, headers=self.bearer(Role.ADMIN)
        )
        assert response.status_code == expect, response.text
        return response.json()

    async def read(self, path: str, **params: Any) -> Any:
        """A dashboard endpoint's JSON as a viewer reads it, asserting 200."""
        response = await self.client.get(
            f"/dashboard/api/{path}", params=params, headers=self.bearer(Role.VIEWER)
        )
        assert response.status_code == 200, response.text
        return response.json()


@asynccontextmanager
async def running_dashboard(tmp_path: Path) -> AsyncIterator[Dashboard]:
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    tokens = {role: create_token(sessions, f"test-{role.value}", role) for role in Role}
    app = create_app(sessions=sessions, slot_maps=SLOTS)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as client:
        yield Dashboard(client=client, sessions=sessions, tokens=tokens, app=app)
    engine.dispose()


def order_body(
    order_no: str, account: str, lines: list[tuple[str, int]], *, debtor: str = "D1"
) -> dict[str, Any]:
    return {
        "order_no": order_no,
        "account": account,
        "invoice_debtor": debtor,
        "deliver_to": {
            "name": "Harbour Cafe Ltd",
            "line1": "12 Quay Street",
            "city": "Bristol",
            "postal_code": "BS1 4DJ",
            "country": "GB",
        },
        "carrier": "DPD",
        "lines": [{"sku": sku, "quantity": units, "unit_price": "10.00"} for sku, units in lines],
    }


async def add_accounts_products_debtor(dashboard: Dashboard) -> None:
    """Accounts A (borrows from B, both flags on) and B; products MUG and TEA; debtor D1 with
    no credit limit and D2 with a limit of zero."""
    for account in ("A", "B"):
        await dashboard.admin(
            "POST", "/accounts", {"id": account, "name": f"Account {account}"}, expect=201
        )
    await dashboard.admin("POST", "/accounts/A/links", {"linked_account_ids": ["B"]})
    flags = {"order_from_linked": True, "pick_from_linked_if_unavailable": True}
    await dashboard.admin("PUT", "/accounts/A/flags", flags)
    for sku, gtin in (("MUG", "05012345678900"), ("TEA", "04006381333931")):
        body = {"sku": sku, "gtin": gtin, "unit_price": "10.00"}
        await dashboard.admin("POST", "/products", body, expect=201)
    await dashboard.admin("POST", "/debtors", {"debtor_no": "D1", "name": "Debtor One"}, expect=201)
    await dashboard.admin("POST", "/debtors", {"debtor_no": "D2", "name": "Debtor Two"}, expect=201)
    await dashboard.admin("PUT", "/debtors/D2/credit-line", {"credit_line": "0"})


async def receive(dashboard: Dashboard, account: str, sku: str, units: int) -> None:
    receipt = {"account": account, "sku": sku, "location": "L1", "quantity": units}
    await dashboard.admin("POST", "/stock/receipts", receipt)
