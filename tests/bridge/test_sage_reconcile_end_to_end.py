"""After any mix of shipments, corrections and Sage faults, Sage and the bridge agree exactly.

Shipments, partial shipments and corrections (both ways) go through the real services, the
outbox posts them to the sandbox over real HTTP while faults are injected, and then
`reconcile` compares every document, quantity and stock figure: it must find nothing.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sage_world import SageWorld, new_world
from sqlalchemy import select

from cloud_bridge.db.models import OrderLine, PostingState, Shipment, ShipmentLine
from cloud_bridge.posting.corrections import correct_shipment
from cloud_bridge.posting.reconcile import reconcile
from firmware_sim.sage import FaultKind, ManualClock, SageSandbox, SageSandboxServer

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SKUS = ("MUG", "TEA", "PEN")


@pytest.fixture(params=["sqlite", "postgresql"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SageWorld]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bridge.db'}"
    else:
        url = request.getfixturevalue("postgres_schema_url")
    sandbox = SageSandbox(clock=ManualClock(START))
    async with SageSandboxServer(sandbox) as server:
        built = new_world(tmp_path, url, sandbox, server)
        await built.sync("test")
        yield built
        built.engine.dispose()


def inject_some_faults(world: SageWorld, rng: random.Random) -> None:
    faults = world.sandbox.faults
    choice = rng.randrange(6)
    if choice == 0:
        faults.queue(status=429, retry_after=1, times=rng.randint(1, 4), method="POST")
    elif choice == 1:
        faults.queue(status=503, times=rng.randint(1, 6))
    elif choice == 2:
        faults.queue(kind=FaultKind.COMMIT_THEN_DROP, method="POST")
    elif choice == 3:
        faults.queue(kind=FaultKind.COMMIT_THEN_FAIL, status=500, method="POST")
    elif choice == 4:
        faults.queue(status=500, method="GET")


async def drain(world: SageWorld) -> None:
    """Posting passes, an hour apart, until nothing is pending (as the bridge's loop would)."""
    for _ in range(10):
        async with world.service() as service:
            await service.run_pass()
        if all(p.state is not PostingState.PENDING for p in world.postings()):
            return
        world.clock.advance(timedelta(hours=1))
    raise AssertionError("postings still pending after 10 passes")


def ship_some(world: SageWorld, rng: random.Random) -> None:
    """A new order shipped in full or in part, or part of an open order's balance shipped."""
    with world.sessions() as session:
        balances = [
            (line.order_no, line.line_id, line.quantity - line.shipped_quantity)
            for line in session.scalars(
                select(OrderLine).where(OrderLine.shipped_quantity < OrderLine.quantity)
            )
        ]
    if balances and rng.random() < 0.4:
        order_no = rng.choice(balances)[0]
        world.ship(
            order_no,
            {
                line_id: rng.randint(1, left)
                for number, line_id, left in balances
                if number == order_no
            },
        )
        return
    ordered = [(sku, rng.randint(1, 5)) for sku in rng.sample(SKUS, rng.randint(1, 3))]
    order_no = world.order(ordered, tax=rng.choice(["0", "0.20"]))
    world.ship(
        order_no,
        {str(number): rng.randint(1, units) for number, (_, units) in enumerate(ordered, start=1)},
    )


def correct_some(world: SageWorld, rng: random.Random) -> None:
    """A shipped line found to have had fewer (or more) units than recorded."""
    with world.sessions.begin() as session:
        lines = list(session.scalars(select(ShipmentLine)))
        if not lines:
            return
        line = rng.choice(lines)
        order_no = session.get_one(Shipment, line.shipment_id).order_no
        order_line = session.get_one(OrderLine, (order_no, line.line_id))
        room = order_line.quantity - order_line.shipped_quantity
        new_quantity = rng.randint(0, line.quantity + room)
        if new_quantity == line.quantity:
            return
        correct_shipment(
            session,
            line.shipment_id,
            {line.line_id: new_quantity},
            reason=rng.choice(["count error at the dock", "parcel returned unopened"]),
            now=world.clock(),
        )


@pytest.mark.parametrize("seed", [1, 2])
async def test_after_random_shipments_corrections_and_faults_there_are_no_differences(
    world: SageWorld, seed: int
) -> None:
    rng = random.Random(seed)
    for _ in range(6):
        for _ in range(rng.randint(2, 5)):
            ship_some(world, rng)
        if rng.random() < 0.7:
            correct_some(world, rng)
        inject_some_faults(world, rng)
        await drain(world)
        world.sandbox.faults.clear()
        world.clock.advance(timedelta(minutes=rng.randint(1, 90)))
    for _ in range(3):
        correct_some(world, rng)
    await drain(world)

    async with world.service() as service:
        result = await reconcile(world.sessions, service.client)

    assert result.differences == [], "\n".join(result.lines())
    assert len(world.documents("sales_invoices")) >= 6
    assert world.postings(), "the mix posted nothing"
    assert world.documents("sales_credit_notes"), "the mix should include a correction down"
    assert len(world.documents("contact_allocations")) == len(world.documents("sales_credit_notes"))


async def test_more_than_200_invoices_are_all_read_back_and_reconciled(world: SageWorld) -> None:
    for _ in range(205):
        world.ship(world.order([("PEN", 1)]), {"1": 1})
    await drain(world)

    async with world.service() as service:
        result = await reconcile(world.sessions, service.client)

    assert len(world.documents("sales_invoices")) == 205
    assert result.differences == [], "\n".join(result.lines())
