"""A bridge database and the Sage sandbox over real HTTP, with a test and a live business.

Both businesses hold customer D1 and stock item MUG, and each environment has its own token
file, as `packline sage connect` writes them. Postings are made by the real planner and poster
(`post`), or written as rows where a test needs one in a given state (`posting_row`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.models import (
    Account,
    AuditEntry,
    Debtor,
    Location,
    OrderLine,
    Posting,
    PostingKind,
    PostingLine,
    PostingState,
    Product,
    Shipment,
    ShipmentLine,
    StockItem,
)
from cloud_bridge.db.posting import SageEnvironment
from cloud_bridge.posting.service import PostingPass, PostingService
from cloud_bridge.posting.settings import SageSettings
from cloud_bridge.posting.sync import sync_from_sage
from cloud_bridge.services.orders import NewLine, NewOrder, create_order
from firmware_sim.sage import ManualClock, SageSandbox, SageSandboxServer
from firmware_sim.sage.login import save_sandbox_login

Environment = Literal["test", "live"]
SECRET = "sandbox-client-secret"


@dataclass
class EnvWorld:
    """The bridge, the sandbox and settings for either environment."""

    sandbox: SageSandbox
    server: SageSandboxServer
    engine: Engine
    sessions: sessionmaker[Session]
    folder: Path
    orders: int = 0
    postings_written: int = 0
    waits: list[float] = field(default_factory=list)

    def settings(self, environment: Environment = "test") -> SageSettings:
        return SageSettings.model_validate(
            {
                "environment": environment,
                "client_id": "packline",
                "client_secret_file": self.folder / "client-secret",
                "base_url": self.server.api_url,
                "token_url": f"{self.server.url}/oauth/token",
                "requests_per_minute": 0,
                "timeout_seconds": 2,
                "test": {
                    "business_id": self.sandbox.business_id("test"),
                    "token_file": self.folder / "tokens-test.json",
                },
                "live": {
                    "business_id": self.sandbox.business_id("live"),
                    "token_file": self.folder / "tokens-live.json",
                },
                "posting": {"tax_rates": {"0": "GB_ZERO"}},
            }
        )

    def service(self, environment: Environment = "test") -> PostingService:
        async def no_wait(seconds: float) -> None:
            self.waits.append(seconds)

        return PostingService(
            self.sessions,
            self.settings(environment),
            clock=self.sandbox.clock,
            sleep=no_wait,
            retry_initial_s=1.0,
        )

    async def post(self, environment: Environment = "test") -> PostingPass:
        """Read Sage's records, then one planning and posting pass, as the bridge does."""
        async with self.service(environment) as service:
            await sync_from_sage(self.sessions, service.client, now=self.sandbox.clock())
            return await service.run_pass()

    def ship(self, units: int = 1) -> int:
        """A new order of `units` MUG for debtor D1, shipped whole; the shipment's id."""
        self.orders += 1
        order_no = f"SO{self.orders}"
        now = self.sandbox.clock()
        with self.sessions.begin() as session:
            create_order(
                session,
                NewOrder(
                    order_no=order_no,
                    account_id="A",
                    invoice_debtor_no="D1",
                    lines=(
                        NewLine(
                            line_id="1",
                            sku="MUG",
                            quantity=units,
                            unit_price=Decimal("10.00"),
                            tax_rate=Decimal(0),
                        ),
                    ),
                    deliver_to_name="Harbour Cafe Ltd",
                    deliver_to_line1="12 Quay Street",
                    deliver_to_city="Bristol",
                    deliver_to_postal_code="BS1 4DJ",
                    deliver_to_country="GB",
                    carrier="DPD",
                ),
                now=now,
            )
            line = session.scalars(select(OrderLine).where(OrderLine.order_no == order_no)).one()
            line.shipped_quantity = units
            shipment = Shipment(
                order_no=order_no,
                station_id="w1.st01",
                label_id=f"L-{order_no}",
                carrier="DPD",
                shipped_at=now,
                lines=[ShipmentLine(line_id="1", sku="MUG", quantity=units)],
            )
            session.add(shipment)
            session.flush()
            return shipment.id

    def posting_row(
        self,
        shipment_id: int,
        environment: Environment,
        *,
        state: PostingState = PostingState.PENDING,
        business_id: str | None = None,
    ) -> int:
        """A posting row of `environment`, as the planner writes one."""
        self.postings_written += 1
        with self.sessions.begin() as session:
            posting = Posting(
                environment=SageEnvironment(environment),
                business_id=business_id or self.sandbox.business_id(environment),
                shipment_id=shipment_id,
                kind=PostingKind.INVOICE,
                revision=self.postings_written,
                idempotency_id=uuid.uuid4().hex,
                reference=f"REF-{shipment_id}-{self.postings_written}",
                document=json.dumps({"reference": "x"}),
                state=state,
                due_at=self.sandbox.clock(),
                last_error="Sage refused it" if state is PostingState.FAILED else None,
                lines=[
                    PostingLine(
                        line_id="1",
                        sku="MUG",
                        quantity=1,
                        unit_price=Decimal("10.00"),
                        tax_rate=Decimal(0),
                    )
                ],
            )
            session.add(posting)
            session.flush()
            return posting.id

    def postings(self) -> list[Posting]:
        with self.sessions() as session:
            rows = list(session.scalars(select(Posting).order_by(Posting.id)))
            session.expunge_all()
            return rows

    def audit(self, prefix: str = "sage.") -> list[dict[str, Any]]:
        with self.sessions() as session:
            return [
                {
                    "actor": row.actor,
                    "action": row.action,
                    "subject": row.subject,
                    "before": row.before,
                    "after": row.after,
                }
                for row in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
                if row.action.startswith(prefix)
            ]

    def documents(self, resource: str, business: Environment) -> list[dict[str, Any]]:
        business_id = self.sandbox.business_id(business)
        return list(self.sandbox.businesses[business_id].collection(resource).values())


def new_env_world(
    folder: Path, url: str, sandbox: SageSandbox, server: SageSandboxServer
) -> EnvWorld:
    """Migrate the database, seed both sides, and save each environment's tokens."""
    assert isinstance(sandbox.clock, ManualClock)
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        session.add(Location(id="L1"))
        session.add(Product(sku="MUG", gtin="05012345678900", pack_size=1, unit_price=Decimal(10)))
        session.add(Account(id="A", name="Account A"))
        session.add(Debtor(debtor_no="D1", name="Harbour Cafe Ltd"))
        session.flush()
        session.add(StockItem(account_id="A", sku="MUG", location_id="L1", on_hand=100))
    for business in sandbox.business_names():
        sandbox.add_contact(business, "Harbour Cafe Ltd", reference="D1")
        sandbox.add_product(business, "MUG", "MUG item", quantity_in_stock=Decimal(100))
    secret = folder / "client-secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    for environment in ("test", "live"):
        save_sandbox_login(sandbox, folder / f"tokens-{environment}.json", environment)
    return EnvWorld(sandbox, server, engine, sessions, folder)
