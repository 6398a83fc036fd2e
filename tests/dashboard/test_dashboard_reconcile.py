"""The Sage panel shows the last reconciliation: every run is recorded by the reconciliation
itself, against the Sage sandbox, and the dashboard shows the newest with its differences."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from dashboard_world import (
    Dashboard,
    add_accounts_products_debtor,
    order_body,
    receive,
    running_dashboard,
)
from sqlalchemy import func, select

from cloud_bridge.db.models import (
    Posting,
    PostingKind,
    PostingLine,
    PostingState,
    Shipment,
    ShipmentLine,
)
from cloud_bridge.db.posting import SageEnvironment, SageReconcileRun
from cloud_bridge.posting.reconcile import DifferenceKind, Reconciliation, reconcile
from cloud_bridge.posting.sync import sync_from_sage
from cloud_bridge.sage import SageClient, TokenStore
from firmware_sim.sage import ManualClock, SageSandbox, create_sandbox
from firmware_sim.sage.login import save_sandbox_login

API = "http://sage.test/v3.1"
TOKEN_URL = "http://sage.test/oauth/token"


@dataclass
class ReconcileWorld:
    dashboard: Dashboard
    sage: SageClient

    async def reconcile(self) -> Reconciliation:
        return await reconcile(self.dashboard.sessions, self.sage)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[ReconcileWorld]:
    sandbox = SageSandbox(clock=ManualClock())
    sandbox.add_contact("test", "Debtor One", reference="D1")
    sandbox.add_product("test", "MUG", "Mug", quantity_in_stock=Decimal(100))
    sandbox.add_product("test", "TEA", "Tea")
    clock = sandbox.clock
    token_file = tmp_path / "sage-tokens.json"
    save_sandbox_login(sandbox, token_file, "test")
    tokens = TokenStore(token_file, environment="test")
    client = SageClient(
        base_url=API,
        business_id=sandbox.business_id("test"),
        client_id="packline",
        client_secret="secret",
        tokens=tokens,
        transport=httpx.ASGITransport(app=create_sandbox(sandbox)),
        rng=random.Random(7),
        token_url=TOKEN_URL,
        clock=clock,
    )
    async with running_dashboard(tmp_path) as dashboard, client:
        await add_accounts_products_debtor(dashboard)
        await sync_from_sage(dashboard.sessions, client)
        yield ReconcileWorld(dashboard, client)


def pending_invoice(world: ReconcileWorld, units: int) -> int:
    """A shipment of ``units`` MUG whose invoice is written but not yet confirmed by Sage."""
    with world.dashboard.sessions.begin() as session:
        shipment = Shipment(
            order_no="SO-1",
            station_id="w1.st01",
            label_id="L1",
            carrier="DPD",
            lines=[ShipmentLine(line_id="1", sku="MUG", quantity=units)],
        )
        session.add(shipment)
        session.flush()
        posting = Posting(
            environment=SageEnvironment.TEST,
            business_id=world.sage.business_id,
            shipment_id=shipment.id,
            kind=PostingKind.INVOICE,
            revision=1,
            idempotency_id="b" * 32,
            reference="SO-1/1",
            document="{}",
            state=PostingState.PENDING,
            due_at=datetime.now(UTC),
            lines=[
                PostingLine(
                    line_id="1",
                    sku="MUG",
                    quantity=units,
                    unit_price=Decimal("10.00"),
                    tax_rate=Decimal(0),
                )
            ],
        )
        session.add(posting)
        session.flush()
        return posting.id


async def test_a_reconciliation_is_recorded_by_the_reconciliation_itself(
    world: ReconcileWorld,
) -> None:
    result = await world.reconcile()

    with world.dashboard.sessions() as session:
        runs = session.scalars(select(SageReconcileRun)).all()
    [run] = runs
    assert result.run_id == run.id
    assert (run.environment, run.business_id) == (SageEnvironment.TEST, world.sage.business_id)
    assert run.started_at <= run.finished_at
    assert (run.differences, run.problems) == (len(result.differences), len(result.problems))


async def test_the_sage_panel_shows_the_last_result_with_its_differences_problems_first(
    world: ReconcileWorld,
) -> None:
    await world.dashboard.admin(
        "POST", "/orders", order_body("SO-1", "A", [("MUG", 1)]), expect=201
    )
    await receive(world.dashboard, "A", "MUG", 7)  # Sage holds 100: a stock mismatch
    posting_id = pending_invoice(world, 1)

    result = await world.reconcile()
    shown = (await world.dashboard.read("sage"))["reconcile"]

    assert [d.kind for d in result.differences] == [
        DifferenceKind.AWAITING_POSTING,
        DifferenceKind.STOCK_MISMATCH,
    ]
    last = shown["last"]
    assert shown["stored"] is True
    assert shown["note"] == (
        f"Sage test business {world.sage.business_id}: the bridge and Sage disagreed: "
        "1 problem, 1 posting awaiting Sage."
    )
    assert (last["environment"], last["business_id"]) == ("test", world.sage.business_id)
    assert (last["differences"], last["problems"], last["ok"]) == (2, 1, False)
    assert (
        last["shipment_lines_checked"],
        last["postings_checked"],
        last["documents_checked"],
        last["stock_items_checked"],
    ) == (1, 1, 0, 1)
    lines = last["difference_lines"]["items"]
    assert [(line["kind"], line["needs_attention"]) for line in lines] == [
        ("stock_mismatch", True),
        ("awaiting_posting", False),
    ]
    assert [line["message"] for line in lines] == [
        result.differences[1].message,
        result.differences[0].message,
    ]
    assert "Sage stock item" in lines[0]["message"]
    assert (lines[1]["posting_id"], lines[0]["sku"]) == (posting_id, "MUG")


async def test_the_differences_of_the_last_result_are_paged_on_the_server(
    world: ReconcileWorld,
) -> None:
    await world.dashboard.admin(
        "POST", "/orders", order_body("SO-1", "A", [("MUG", 1)]), expect=201
    )
    await receive(world.dashboard, "A", "MUG", 7)
    pending_invoice(world, 1)
    await world.reconcile()

    second = (await world.dashboard.read("sage", limit=1, offset=1))["reconcile"]["last"]

    page = second["difference_lines"]
    assert [line["kind"] for line in page["items"]] == ["awaiting_posting"]
    assert (page["total"], page["limit"], page["offset"], page["next_offset"]) == (2, 1, 1, None)


async def test_the_newest_reconciliation_is_shown_after_the_books_agree_again(
    world: ReconcileWorld,
) -> None:
    await receive(world.dashboard, "A", "MUG", 7)
    first = await world.reconcile()
    await receive(world.dashboard, "A", "MUG", 93)  # now 100, as in Sage

    newest = await world.reconcile()
    shown = (await world.dashboard.read("sage"))["reconcile"]

    assert [d.kind for d in first.differences] == [DifferenceKind.STOCK_MISMATCH]
    assert newest.differences == []
    assert shown["last"]["run_id"] == newest.run_id
    assert (shown["last"]["differences"], shown["last"]["ok"]) == (0, True)
    assert shown["last"]["difference_lines"]["items"] == []
    assert shown["note"] == (
        f"Sage test business {world.sage.business_id}: the bridge and Sage agreed."
    )
    with world.dashboard.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SageReconcileRun)) == 2
