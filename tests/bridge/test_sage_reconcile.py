"""Reconciliation against the sandbox: each kind of difference, and none when all agrees.

The world: Sage's test business has customer D1, MUG (a stock item, 100 in stock) and PEN (a
non-stock product); the bridge has the same, synced and mapped, with 100 MUG on hand. Order
SO1 ships as shipment rows built from the models, and postings are written as the poster
would, with documents created in the sandbox through the client.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from bridge_world import add_account, add_debtor, add_products, add_stock, order
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.models import (
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
from cloud_bridge.posting.reconcile import DifferenceKind, Reconciliation, reconcile
from cloud_bridge.posting.sync import sync_from_sage
from cloud_bridge.sage import OAuthTokens, SageClient, TokenStore
from firmware_sim.sage import ManualClock, SageSandbox, create_sandbox

API = "http://sage.test/v3.1"
TOKEN_URL = "http://sage.test/oauth/token"
Lines = Mapping[str, tuple[str, int]]
"""line id -> (sku, quantity)"""


@dataclass
class World:
    """The bridge's sessions, the sandbox, and a client for its test business."""

    sessions: sessionmaker[Session]
    sandbox: SageSandbox
    sage: SageClient
    postings: int = 0

    def ship(self, lines: Lines, *, order_no: str = "SO1", days_ago: int = 0) -> int:
        """A shipment of order SO1; stock leaves the bridge as the ingest does."""
        with self.sessions.begin() as session:
            shipment = Shipment(
                order_no=order_no,
                station_id="w1.st01",
                label_id=f"L{uuid.uuid4().hex[:8]}",
                carrier="DPD",
                shipped_at=self.sandbox.clock() - timedelta(days=days_ago),
                lines=[
                    ShipmentLine(line_id=line_id, sku=sku, quantity=units)
                    for line_id, (sku, units) in lines.items()
                ],
            )
            session.add(shipment)
            for sku, units in lines.values():
                take_stock(session, sku, units)
            session.flush()
            return shipment.id

    async def document(
        self,
        kind: PostingKind,
        lines: Lines,
        *,
        reference: str,
        notes: str = "",
    ) -> dict[str, Any]:
        """A sales invoice or credit note created in Sage through the client."""
        with self.sessions() as session:
            items = {
                p.sku: p.sage_item_id for p in session.scalars(select(Product)) if p.sage_item_id
            }
        sales = self.sandbox.ledger_account_id("test", 4000)
        contact = self.sandbox.business_id("test")
        contact_id = next(
            c["id"]
            for c in self.sandbox.businesses[contact].collection("contacts").values()
            if c["reference"] == "D1"
        )
        body_lines = [
            {
                "description": sku,
                "product_id": items[sku],
                "ledger_account_id": sales,
                "quantity": str(units),
                "unit_price": "10.00",
                "tax_rate_id": "GB_ZERO",
            }
            for sku, units in lines.values()
        ]
        if kind is PostingKind.INVOICE:
            resource, singular, field = "sales_invoices", "sales_invoice", "invoice_lines"
        else:
            resource, singular, field = (
                "sales_credit_notes",
                "sales_credit_note",
                ("credit_note_lines"),
            )
        return await self.sage.create(
            resource,
            singular,
            {
                "contact_id": contact_id,
                "date": "2026-01-05",
                "reference": reference,
                "notes": notes,
                field: body_lines,
            },
        )

    def posting(
        self,
        shipment_id: int,
        kind: PostingKind,
        lines: Lines,
        *,
        state: PostingState = PostingState.POSTED,
        sage_id: str | None = None,
        reference: str | None = None,
        last_error: str | None = None,
        business_id: str | None = None,
        environment: str = "test",
    ) -> int:
        """A posting row with its lines, as the poster writes one."""
        self.postings += 1
        with self.sessions.begin() as session:
            posting = Posting(
                environment=SageEnvironment(environment),
                business_id=business_id or self.sage.business_id,
                shipment_id=shipment_id,
                kind=kind,
                revision=self.postings,
                idempotency_id=uuid.uuid4().hex,
                reference=reference or f"SO1-S{shipment_id}-{self.postings}",
                document="{}",
                state=state,
                due_at=self.sandbox.clock(),
                sage_id=sage_id,
                last_error=last_error,
                lines=[
                    PostingLine(
                        line_id=line_id,
                        sku=sku,
                        quantity=units,
                        unit_price=Decimal("10.00"),
                        tax_rate=Decimal(0),
                    )
                    for line_id, (sku, units) in lines.items()
                ],
            )
            session.add(posting)
            session.flush()
            return posting.id

    async def posted(
        self, shipment_id: int, kind: PostingKind, lines: Lines, *, in_sage: Lines | None = None
    ) -> int:
        """A document in Sage (with `in_sage` lines if given) and its posted posting row."""
        reference = f"SO1-S{shipment_id}-{self.postings + 1}"
        document = await self.document(
            kind,
            in_sage or lines,
            reference=reference,
            notes=f"Packline shipment {shipment_id} of order SO1",
        )
        return self.posting(shipment_id, kind, lines, sage_id=document["id"], reference=reference)

    async def reconcile(self) -> Reconciliation:
        return await reconcile(self.sessions, self.sage)


def take_stock(session: Session, sku: str, units: int) -> None:
    stock = session.scalars(select(StockItem).where(StockItem.sku == sku)).first()
    if stock is not None:
        stock.on_hand -= units


@pytest.fixture
def sandbox() -> SageSandbox:
    sandbox = SageSandbox(clock=ManualClock())
    sandbox.add_contact("test", "Harbour Cafe Ltd", reference="D1")
    sandbox.add_product("test", "MUG", "Mug", quantity_in_stock=Decimal(100))
    sandbox.add_product("test", "PEN", "Pen")
    return sandbox


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        add_products(session)
        add_account(session, "A")
        add_debtor(session, "D1")
        session.flush()
        add_stock(session, "A", "MUG", 100)
        order(session, "SO1", "A", [("MUG", 20), ("PEN", 20)], debtor="D1")
    yield sessions
    engine.dispose()


@pytest.fixture
async def world(
    tmp_path: Path, sandbox: SageSandbox, sessions: sessionmaker[Session]
) -> AsyncIterator[World]:
    clock = sandbox.clock
    pair = sandbox.login()
    store = TokenStore(tmp_path / "sage-tokens.json", environment="test")
    store.save(
        OAuthTokens(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            access_expires_at=clock() + timedelta(seconds=pair.expires_in),
            refresh_expires_at=clock() + timedelta(seconds=pair.refresh_token_expires_in),
        )
    )
    client = SageClient(
        base_url=API,
        business_id=sandbox.business_id("test"),
        client_id="packline",
        client_secret="secret",
        tokens=store,
        transport=httpx.ASGITransport(app=create_sandbox(sandbox)),
        rng=random.Random(7),
        token_url=TOKEN_URL,
        clock=clock,
    )
    async with client:
        await sync_from_sage(sessions, client)
        yield World(sessions, sandbox, client)


def kinds(result: Reconciliation) -> list[DifferenceKind]:
    return [difference.kind for difference in result.differences]


SHIPPED: Lines = {"1": ("MUG", 5), "2": ("PEN", 2)}


# Agreement


async def test_a_bridge_with_nothing_shipped_agrees_with_sage(world: World) -> None:
    result = await world.reconcile()

    assert result.differences == []
    assert result.ok
    assert result.lines() == [f"Sage business {world.sage.business_id}: the bridge and Sage agree."]


async def test_shipments_invoiced_in_sage_with_matching_stock_show_no_differences(
    world: World,
) -> None:
    first = world.ship(SHIPPED)
    await world.posted(first, PostingKind.INVOICE, SHIPPED)
    second = world.ship({"1": ("MUG", 3)})
    await world.posted(second, PostingKind.INVOICE, {"1": ("MUG", 3)})

    result = await world.reconcile()

    assert result.differences == []


async def test_a_shipment_invoiced_then_credited_for_a_correction_agrees_with_sage(
    world: World,
) -> None:
    shipment = world.ship(SHIPPED)
    await world.posted(shipment, PostingKind.INVOICE, SHIPPED)
    with world.sessions.begin() as session:
        line = session.get(ShipmentLine, (shipment, "1"))
        assert line is not None
        line.quantity = 4
        take_stock(session, "MUG", -1)
    await world.posted(shipment, PostingKind.CREDIT_NOTE, {"1": ("MUG", 1)})

    result = await world.reconcile()

    assert result.differences == []


# Awaiting posting


async def test_a_pending_posting_is_awaiting_posting_and_not_a_problem(world: World) -> None:
    shipment = world.ship(SHIPPED)
    posting = world.posting(
        shipment,
        PostingKind.INVOICE,
        SHIPPED,
        state=PostingState.PENDING,
        last_error="Sage answered 503",
    )

    result = await world.reconcile()

    assert kinds(result) == [DifferenceKind.AWAITING_POSTING]
    assert result.differences[0].posting_id == posting
    assert "awaiting posting" in result.differences[0].message
    assert "Sage answered 503" in result.differences[0].message
    assert result.ok


async def test_a_pending_posting_whose_document_already_reached_sage_is_only_awaiting(
    world: World,
) -> None:
    shipment = world.ship(SHIPPED)
    document = await world.document(PostingKind.INVOICE, SHIPPED, reference="SO1-S1-late")
    world.posting(
        shipment, PostingKind.INVOICE, SHIPPED, state=PostingState.PENDING, reference="SO1-S1-late"
    )

    result = await world.reconcile()

    assert document["id"]
    assert kinds(result) == [DifferenceKind.AWAITING_POSTING]


# Shipment without document


async def test_a_shipment_with_no_posting_is_a_shipment_without_document(world: World) -> None:
    shipment = world.ship(SHIPPED)
    with world.sessions.begin() as session:
        take_stock(session, "MUG", -5)

    result = await world.reconcile()

    assert kinds(result) == [DifferenceKind.SHIPMENT_WITHOUT_DOCUMENT] * 2
    mug = result.differences[0]
    assert (mug.shipment_id, mug.sku) == (shipment, "MUG")
    assert mug.message == (
        f"shipment {shipment} line 1 (MUG): shipped 5, posted 0 (invoices less credit notes, "
        "pending or posted); 5 units without a Sage document"
    )
    assert not result.ok


async def test_a_shipment_posted_for_fewer_units_than_shipped_is_reported(world: World) -> None:
    shipment = world.ship(SHIPPED)
    await world.posted(shipment, PostingKind.INVOICE, SHIPPED)
    with world.sessions.begin() as session:
        line = session.get(ShipmentLine, (shipment, "2"))
        assert line is not None
        line.quantity = 3

    result = await world.reconcile()

    assert kinds(result) == [DifferenceKind.SHIPMENT_WITHOUT_DOCUMENT]
    assert "shipped 3, posted 2" in result.differences[0].message


async def test_a_posting_marked_posted_without_a_sage_id_is_a_shipment_without_document(
    world: World,
) -> None:
    shipment = world.ship({"2": ("PEN", 2)})
    posting = world.posting(shipment, PostingKind.INVOICE, {"2": ("PEN", 2)}, sage_id=None)

    result = await world.reconcile()

    assert kinds(result) == [DifferenceKind.SHIPMENT_WITHOUT_DOCUMENT]
    assert result.differences[0].posting_id == posting
    assert "marked posted but records no Sage document id" in result.differences[0].message


# Document without shipment, and documents missing in Sage


async def test_a_sage_document_with_one_of_our_references_but_no_posting_is_reported(
    world: World,
) -> None:
    shipment = world.ship({"2": ("PEN", 2)})
    await world.posted(shipment, PostingKind.INVOICE, {"2": ("PEN", 2)})
    ours = world.postings
    duplicate = await world.document(
        PostingKind.INVOICE, {"2": ("PEN", 2)}, reference=f"SO1-S{shipment}-{ours}"
    )

    result = await world.reconcile()

    assert kinds(result) == [DifferenceKind.DOCUMENT_WITHOUT_SHIPMENT]
    assert result.differences[0].sage_id == duplicate["id"]
    assert "looks like ours but is the document of none of our postings" in (
        result.differences[0].message
    )


async def test_a_sage_document_noting_a_packline_shipment_is_ours_whatever_its_reference(
    world: World,
) -> None:
    stray = await world.document(
        PostingKind.CREDIT_NOTE,
        {"2": ("PEN", 1)},
        reference="typed by hand",
        notes="Packline shipment 41 of order SO9",
    )

    result = await world.reconcile()

    assert [(d.kind, d.sage_id) for d in result.differences] == [
        (DifferenceKind.DOCUMENT_WITHOUT_SHIPMENT, stray["id"])
    ]
    assert "sales credit note" in result.differences[0].message


async def test_a_sage_document_that_is_not_ours_is_left_alone(world: World) -> None:
    await world.document(PostingKind.INVOICE, {"2": ("PEN", 1)}, reference="counter sale")

    result = await world.reconcile()

    assert result.differences == []


async def test_the_document_of_a_dismissed_posting_counts_for_no_shipment(world: World) -> None:
    shipment = world.ship({"2": ("PEN", 2)})
    await world.posted(shipment, PostingKind.INVOICE, {"2": ("PEN", 2)})
    with world.sessions.begin() as session:
        first = session.scalars(select(Posting)).one()
        first.state = PostingState.DISMISSED
    await world.posted(shipment, PostingKind.INVOICE, {"2": ("PEN", 2)})

    result = await world.reconcile()

    assert kinds(result) == [DifferenceKind.DOCUMENT_WITHOUT_SHIPMENT]
    assert result.differences[0].posting_id == first.id
    assert "which is dismissed, so no shipment counts it" in result.differences[0].message


async def test_a_posting_whose_sage_document_is_gone_is_reported_missing_in_sage(
    world: World,
) -> None:
    shipment = world.ship({"2": ("PEN", 2)})
    gone = uuid.uuid4().hex
    posting = world.posting(shipment, PostingKind.INVOICE, {"2": ("PEN", 2)}, sage_id=gone)

    result = await world.reconcile()

    assert [(d.kind, d.posting_id, d.sage_id) for d in result.differences] == [
        (DifferenceKind.DOCUMENT_MISSING_IN_SAGE, posting, gone)
    ]
    assert "which Sage does not have" in result.differences[0].message


async def test_a_posting_whose_sage_document_was_voided_is_reported_missing_in_sage(
    world: World,
) -> None:
    shipment = world.ship({"2": ("PEN", 2)})
    posting = await world.posted(shipment, PostingKind.INVOICE, {"2": ("PEN", 2)})
    with world.sessions() as session:
        row = session.get(Posting, posting)
        assert row is not None
        assert row.sage_id is not None
        sage_id = row.sage_id
    world.sandbox.record("test", "sales_invoices", sage_id)["status"] = {"id": "VOID"}

    result = await world.reconcile()

    assert kinds(result) == [DifferenceKind.DOCUMENT_MISSING_IN_SAGE]
    assert "which Sage has voided" in result.differences[0].message


# Quantity mismatch


async def test_a_sage_document_with_other_quantities_than_our_posting_is_a_quantity_mismatch(
    world: World,
) -> None:
    shipment = world.ship(SHIPPED)
    posting = await world.posted(
        shipment, PostingKind.INVOICE, SHIPPED, in_sage={"1": ("MUG", 5), "2": ("PEN", 3)}
    )

    result = await world.reconcile()

    assert kinds(result) == [DifferenceKind.QUANTITY_MISMATCH]
    mismatch = result.differences[0]
    assert mismatch.posting_id == posting
    assert "has 3 of PEN where posting" in mismatch.message
    assert mismatch.message.endswith("has 2")


async def test_a_sage_document_line_for_another_item_is_a_quantity_mismatch_for_both(
    world: World,
) -> None:
    shipment = world.ship({"2": ("PEN", 2)})
    with world.sessions.begin() as session:
        take_stock(session, "MUG", 2)
    await world.posted(shipment, PostingKind.INVOICE, {"2": ("PEN", 2)}, in_sage={"2": ("MUG", 2)})

    result = await world.reconcile()

    messages = [d.message for d in result.of_kind(DifferenceKind.QUANTITY_MISMATCH)]
    assert len(messages) == 2
    assert any(
        "has 2 of MUG where" in message and message.endswith("has 0") for message in messages
    )
    assert any(
        "has 0 of PEN where" in message and message.endswith("has 2") for message in messages
    )
    assert result.of_kind(DifferenceKind.STOCK_MISMATCH) == []


# Stock mismatch


async def test_stock_on_hand_that_differs_from_sages_quantity_in_stock_is_a_stock_mismatch(
    world: World,
) -> None:
    with world.sessions.begin() as session:
        take_stock(session, "MUG", 7)

    result = await world.reconcile()

    assert [(d.kind, d.sku) for d in result.differences] == [(DifferenceKind.STOCK_MISMATCH, "MUG")]
    assert result.differences[0].message.endswith("has 100 in stock, the bridge has 93 on hand")


async def test_stock_is_summed_over_every_account_and_location(world: World) -> None:
    with world.sessions.begin() as session:
        take_stock(session, "MUG", 30)
        add_account(session, "B")
        session.flush()
        add_stock(session, "B", "MUG", 30)

    result = await world.reconcile()

    assert result.differences == []


async def test_stock_read_from_sage_is_fresh_not_the_synced_copy(world: World) -> None:
    mug_id = next(
        r["id"]
        for r in world.sandbox.businesses[world.sage.business_id].collection("products").values()
        if r["item_code"] == "MUG"
    )
    world.sandbox.record("test", "products", mug_id)["quantity_in_stock"] = Decimal(90)

    result = await world.reconcile()

    assert kinds(result) == [DifferenceKind.STOCK_MISMATCH]
    assert "has 90 in stock, the bridge has 100 on hand" in result.differences[0].message


async def test_a_mapping_id_this_business_lacks_falls_back_to_the_item_code_as_posting_does(
    world: World,
) -> None:
    with world.sessions.begin() as session:
        mug = session.get(Product, "MUG")
        assert mug is not None
        mug.sage_item_id = uuid.uuid4().hex

    result = await world.reconcile()

    assert result.differences == []


# Failed postings


async def test_a_failed_posting_is_listed_with_its_stored_message(world: World) -> None:
    shipment = world.ship({"2": ("PEN", 2)})
    posting = world.posting(
        shipment,
        PostingKind.INVOICE,
        {"2": ("PEN", 2)},
        state=PostingState.FAILED,
        last_error="Sage refused the invoice: 'contact_id is invalid'",
    )

    result = await world.reconcile()

    failed = result.of_kind(DifferenceKind.FAILED_POSTING)
    assert [d.posting_id for d in failed] == [posting]
    assert failed[0].message.endswith("failed: Sage refused the invoice: 'contact_id is invalid'")
    assert kinds(result) == [
        DifferenceKind.SHIPMENT_WITHOUT_DOCUMENT,
        DifferenceKind.FAILED_POSTING,
    ]


# Scope and output


async def test_a_shipment_posted_only_in_the_other_environment_is_left_to_its_reconciliation(
    world: World,
) -> None:
    posted_live = world.ship({"2": ("PEN", 2)})
    world.posting(
        posted_live,
        PostingKind.INVOICE,
        {"2": ("PEN", 2)},
        sage_id=uuid.uuid4().hex,
        business_id=world.sandbox.business_id("live"),
        environment="live",
    )
    unposted = world.ship({"2": ("PEN", 1)})

    result = await world.reconcile()

    assert kinds(result) == [DifferenceKind.SHIPMENT_WITHOUT_DOCUMENT]
    assert [difference.shipment_id for difference in result.differences] == [unposted]


async def test_shipments_before_shipped_since_are_left_out_of_the_shipment_checks(
    world: World,
) -> None:
    world.ship({"2": ("PEN", 2)}, days_ago=30)
    recent = world.ship({"2": ("PEN", 1)})
    await world.posted(recent, PostingKind.INVOICE, {"2": ("PEN", 1)})

    everything = await world.reconcile()
    since = await reconcile(
        world.sessions, world.sage, shipped_since=world.sandbox.clock() - timedelta(days=1)
    )

    assert kinds(everything) == [DifferenceKind.SHIPMENT_WITHOUT_DOCUMENT]
    assert since.differences == []


async def test_the_printed_reconciliation_gives_a_verdict_then_one_line_per_difference(
    world: World,
) -> None:
    shipment = world.ship({"2": ("PEN", 2)})
    world.posting(shipment, PostingKind.INVOICE, {"2": ("PEN", 2)}, state=PostingState.PENDING)
    world.ship({"2": ("PEN", 1)})

    lines = (await world.reconcile()).lines()

    assert lines[0] == (
        f"Sage business {world.sage.business_id}: the bridge and Sage disagree: 1 problem, "
        "1 posting awaiting Sage."
    )
    assert lines[1].startswith("  awaiting_posting: posting ")
    assert lines[2].startswith("  shipment_without_document: shipment ")
