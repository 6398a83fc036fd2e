"""A bridge database and a Sage sandbox served over real HTTP, set up to post shipments.

Both Sage businesses (test and live) hold the customer (reference D1, our debtor number) and the
products (item code = SKU): MUG and TEA are stock items with 100 in stock, as in the bridge, and
PEN is a non-stock product. Time on both sides comes from one `ManualClock`, so token expiry and
Sage's 7-day idempotency window can be crossed in a test.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from bridge_world import add_account, add_debtor, add_products, add_stock
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.models import (
    OrderLine,
    Posting,
    Shipment,
    ShipmentLine,
    StockItem,
)
from cloud_bridge.posting.service import PostingService
from cloud_bridge.posting.settings import SageEnvironmentSettings, SageSettings
from cloud_bridge.posting.sync import sync_from_sage
from cloud_bridge.services.orders import NewLine, NewOrder, create_order
from firmware_sim.sage import ManualClock, SageSandbox, SageSandboxServer
from firmware_sim.sage.login import save_sandbox_login

STOCK = {"MUG": 100, "TEA": 100}
Environment = Literal["test", "live"]


def seed_sage(sandbox: SageSandbox) -> None:
    """The customer and the products in every business of the sandbox."""
    for business in sandbox.business_names():
        sandbox.add_contact(business, "Harbour Cafe Ltd", reference="D1")
        for sku, units in STOCK.items():
            sandbox.add_product(business, sku, f"{sku} item", quantity_in_stock=Decimal(units))
        sandbox.add_product(business, "PEN", "PEN item")


def seed_bridge(session: Session) -> None:
    """Account A owns the stock; debtor D1 pays."""
    add_products(session)
    add_account(session, "A")
    add_debtor(session, "D1")
    session.flush()
    for sku, units in STOCK.items():
        add_stock(session, "A", sku, units)
    add_stock(session, "A", "PEN", 1000)


@dataclass
class SageWorld:
    """The bridge, the sandbox and the settings that connect them."""

    sandbox: SageSandbox
    server: SageSandboxServer
    clock: ManualClock
    engine: Engine
    sessions: sessionmaker[Session]
    folder: Path
    orders: int = 0
    waits: list[float] = field(default_factory=list)

    def settings(self, environment: Environment = "test", **posting: Any) -> SageSettings:
        secret = self.folder / "client-secret"
        if not secret.exists():
            secret.write_text("sandbox-secret\n")
            os.chmod(secret, 0o600)
        return SageSettings.model_validate(
            {
                "environment": environment,
                "client_id": "packline",
                "client_secret_file": secret,
                "base_url": self.server.api_url,
                "token_url": f"{self.server.url}/oauth/token",
                "requests_per_minute": 0,
                "timeout_seconds": 2,
                "test": SageEnvironmentSettings(
                    business_id=self.sandbox.business_id("test"),
                    token_file=self.folder / "tokens-test.json",
                ),
                "live": SageEnvironmentSettings(
                    business_id=self.sandbox.business_id("live"),
                    token_file=self.folder / "tokens-live.json",
                ),
                "posting": {"tax_rates": {"0.20": "GB_STANDARD", "0": "GB_ZERO"}, **posting},
            }
        )

    def service(
        self, environment: Environment = "test", *, max_attempts: int = 5, **posting: Any
    ) -> PostingService:
        async def no_wait(seconds: float) -> None:
            self.waits.append(seconds)

        return PostingService(
            self.sessions,
            self.settings(environment, **posting),
            clock=self.clock,
            sleep=no_wait,
            max_attempts=max_attempts,
            retry_initial_s=1.0,
        )

    async def sync(self, environment: Environment = "test") -> None:
        async with self.service(environment) as service:
            await sync_from_sage(self.sessions, service.client, now=self.clock())

    def order(self, lines: Iterable[tuple[str, int]], *, tax: str = "0") -> str:
        """A new order for account A, debtor D1, at 10.00 a unit."""
        self.orders += 1
        order_no = f"SO{self.orders}"
        with self.sessions.begin() as session:
            create_order(
                session,
                NewOrder(
                    order_no=order_no,
                    account_id="A",
                    invoice_debtor_no="D1",
                    lines=tuple(
                        NewLine(
                            line_id=str(number),
                            sku=sku,
                            quantity=quantity,
                            unit_price=Decimal("10.00"),
                            tax_rate=Decimal(tax),
                        )
                        for number, (sku, quantity) in enumerate(lines, start=1)
                    ),
                    deliver_to_name="Harbour Cafe Ltd",
                    deliver_to_line1="12 Quay Street",
                    deliver_to_city="Bristol",
                    deliver_to_postal_code="BS1 4DJ",
                    deliver_to_country="GB",
                    carrier="DPD",
                ),
                now=self.clock(),
            )
        return order_no

    def ship(self, order_no: str, quantities: Mapping[str, int], *, tracking: str = "") -> int:
        """Record a shipment as the ingest of a completed order does: lines, stock, totals."""
        with self.sessions.begin() as session:
            lines = {
                line.line_id: line
                for line in session.scalars(select(OrderLine).where(OrderLine.order_no == order_no))
            }
            shipment = Shipment(
                order_no=order_no,
                station_id="w1.st01",
                label_id=f"L-{order_no}-{len(quantities)}",
                carrier="DPD",
                tracking_number=tracking or None,
                shipped_at=self.clock(),
                lines=[
                    ShipmentLine(line_id=line_id, sku=lines[line_id].sku, quantity=units)
                    for line_id, units in quantities.items()
                ],
            )
            session.add(shipment)
            for line_id, units in quantities.items():
                line = lines[line_id]
                line.shipped_quantity += units
                stock = session.scalars(
                    select(StockItem).where(StockItem.account_id == "A", StockItem.sku == line.sku)
                ).one()
                stock.on_hand -= units
            session.flush()
            return shipment.id

    def postings(self, shipment_id: int | None = None) -> list[Posting]:
        with self.sessions() as session:
            query = select(Posting).order_by(Posting.id)
            if shipment_id is not None:
                query = query.where(Posting.shipment_id == shipment_id)
            postings = list(session.scalars(query))
            for posting in postings:
                _ = posting.lines
            session.expunge_all()
            return postings

    def documents(self, resource: str, business: str = "test") -> list[dict[str, Any]]:
        business_id = self.sandbox.business_id(business)
        return list(self.sandbox.businesses[business_id].collection(resource).values())

    def sage_stock(self, sku: str, business: str = "test") -> Decimal:
        for product in self.documents("products", business):
            if product["item_code"] == sku:
                return Decimal(product["quantity_in_stock"])
        raise KeyError(sku)


def new_world(folder: Path, url: str, sandbox: SageSandbox, server: SageSandboxServer) -> SageWorld:
    """Migrate the database at `url`, seed both sides and save tokens for both businesses."""
    clock = sandbox.clock
    assert isinstance(clock, ManualClock)
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        seed_bridge(session)
    seed_sage(sandbox)
    for environment in ("test", "live"):
        save_sandbox_login(sandbox, folder / f"tokens-{environment}.json", environment)
    return SageWorld(sandbox, server, clock, engine, sessions, folder)
