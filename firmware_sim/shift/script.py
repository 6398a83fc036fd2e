"""Driving the scenario: the setup through the bridge's API, Sage's side, and the shift script.

Everything goes through the bridge's public HTTP API, as an ERP or an operator would send it;
a refused request stops the demo with the bridge's own error body, because demo data the bridge
refuses is a bug in one or the other.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
from sqlalchemy import Engine, select

from cloud_bridge.db.models import (
    OrderState,
    Posting,
    PostingKind,
    PostingState,
    SalesOrder,
    Shipment,
    ShipmentLine,
)
from firmware_sim.sage import SageSandbox
from firmware_sim.shift.scenario import ApiRequest, Scenario, ScriptAction

__all__ = ["ScriptError", "ShiftScript", "apply_setup", "order_states", "seed_sage"]

_SHIPPING = {OrderState.SHIPPED.value, OrderState.PARTIALLY_SHIPPED.value}


class ScriptError(RuntimeError):
    """The bridge refused a request of the demo's data or script."""


def seed_sage(sandbox: SageSandbox, scenario: Scenario, business: str = "test") -> None:
    """The customers and stock items the scenario's debtors and products post as."""
    for contact in scenario.sage.contacts:
        sandbox.add_contact(business, contact.name, contact.reference)
    for item in scenario.sage.stock_items:
        sandbox.add_product(
            business,
            item.item_code,
            item.description,
            sales_price=Decimal(str(item.sales_price)),
            quantity_in_stock=Decimal(item.quantity_in_stock),
        )


async def send(
    api: httpx.AsyncClient, request: ApiRequest, *, wait_for_bridge_s: float = 90.0
) -> httpx.Response:
    """One request; anything but a 2xx is a `ScriptError` quoting the bridge.

    While the bridge is down (restarting after a crash) the request is retried, but only when
    it cannot have reached the bridge (the connection was refused), so nothing is sent twice.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_for_bridge_s
    while True:
        try:
            response = await api.request(request.method, request.path, json=request.body)
            break
        except httpx.ConnectError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.5)
    if response.status_code >= 300:
        raise ScriptError(
            f"{request.method} {request.path} was refused ({response.status_code}): "
            f"{response.text[:500]}"
        )
    return response


async def apply_setup(api: httpx.AsyncClient, scenario: Scenario) -> None:
    """Accounts, products, debtors, settings, orders and stock, in the scenario's order."""
    for request in scenario.setup:
        await send(api, request)


def order_states(engine: Engine) -> dict[str, str]:
    """Every order's state, by order number."""
    with engine.connect() as connection:
        return {
            order_no: OrderState(state).value
            for order_no, state in connection.execute(select(SalesOrder.order_no, SalesOrder.state))
        }


class ShiftScript:
    """Runs each scripted action once the share of orders shipped reaches its fraction."""

    def __init__(
        self,
        scenario: Scenario,
        api: httpx.AsyncClient,
        engine: Engine,
        sandbox: SageSandbox,
        *,
        calls: asyncio.Lock | None = None,
    ) -> None:
        self._scenario = scenario
        self._api = api
        self._engine = engine
        self._sandbox = sandbox
        self.calls = calls or asyncio.Lock()
        """Held during each call: the chaos does not kill the bridge in the middle of one, as
        the demo's script does not model an ERP's retries of a request whose answer was lost."""
        self._waiting = sorted(scenario.script, key=lambda action: action.at_fraction)
        self.performed: list[str] = []

    @property
    def done(self) -> bool:
        return not self._waiting

    def progress(self, states: dict[str, str]) -> float:
        """The share of the orders meant to ship that have shipped (in full or in part)."""
        return self._scenario.expected.progress(states)

    async def advance(self, states: dict[str, str]) -> None:
        """Perform every action whose time has come (a correction waits for a posted invoice)."""
        progress = self.progress(states)
        while self._waiting and self._waiting[0].at_fraction <= progress:
            action = self._waiting[0]
            async with self.calls:
                performed = await self._perform(action)
            if not performed:
                return
            self._waiting.pop(0)
            self.performed.append(action.kind)

    async def _perform(self, action: ScriptAction) -> bool:
        if action.kind == "correct_after_posting":
            target = await asyncio.to_thread(self._posted_line)
            if target is None:
                return False
            await send(self._api, action.correction(*target))
            return True
        assert action.request is not None
        await send(self._api, action.request)
        if action.kind == "receive" and action.sku is not None:
            self._receive_in_sage(action.sku, action.units)
        return True

    def _receive_in_sage(self, sku: str, units: int) -> None:
        """The same receipt in Sage's stock, as the goods-in booking would make it."""
        business = self._sandbox.businesses[self._sandbox.business_id("test")]
        for product in business.collection("products").values():
            if product["item_code"] == sku:
                product["quantity_in_stock"] += Decimal(units)
                return
        raise ScriptError(f"Sage has no stock item {sku} to receive into")

    def _posted_line(self) -> tuple[int, str, int] | None:
        """A shipment line already invoiced in Sage, of an order not at a station."""
        with self._engine.connect() as connection:
            row = connection.execute(
                select(Shipment.id, ShipmentLine.line_id, ShipmentLine.quantity)
                .join(ShipmentLine, ShipmentLine.shipment_id == Shipment.id)
                .join(Posting, Posting.shipment_id == Shipment.id)
                .join(SalesOrder, SalesOrder.order_no == Shipment.order_no)
                .where(
                    Posting.kind == PostingKind.INVOICE,
                    Posting.state == PostingState.POSTED,
                    SalesOrder.station_id.is_(None),
                    SalesOrder.state.in_(_SHIPPING),
                    ShipmentLine.quantity >= 1,
                )
                .order_by(Shipment.id)
                .limit(1)
            ).first()
        return None if row is None else (int(row[0]), str(row[1]), int(row[2]))
