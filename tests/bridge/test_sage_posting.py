"""Posting what shipped to Sage, over real HTTP against the sandbox: once, exactly, and linked.

The sandbox runs under uvicorn on a loopback port; the bridge's database is SQLite, and
PostgreSQL for the tests that pin down the outbox's bookkeeping.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sage_world import SageWorld, new_world
from sqlalchemy import select

from cloud_bridge.db.models import (
    Debtor,
    OrderLine,
    PostingKind,
    PostingState,
    Product,
    Shipment,
    ShipmentLine,
    StockItem,
)
from cloud_bridge.posting.planner import document_reference, posting_idempotency_id
from cloud_bridge.posting.service import due_time
from cloud_bridge.sage.errors import RECONNECT_HINT
from firmware_sim.sage import FaultKind, ManualClock, SageSandbox, SageSandboxServer

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
POSTER_PROCESS = Path(__file__).with_name("poster_process.py")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bridge.db'}"
    url: str = request.getfixturevalue("postgres_schema_url")
    return url


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[SageWorld]:
    sandbox = SageSandbox(clock=ManualClock(START))
    async with SageSandboxServer(sandbox) as server:
        built = new_world(tmp_path, database_url, sandbox, server)
        await built.sync("test")
        await built.sync("live")
        yield built
        built.engine.dispose()


async def post(world: SageWorld, environment: str = "test", **posting: object) -> None:
    async with world.service(environment, **posting) as service:  # type: ignore[arg-type]
        await service.run_pass()


def invoice_lines(document: dict[str, object]) -> list[tuple[str, Decimal]]:
    lines = document.get("invoice_lines") or document.get("credit_note_lines")
    assert isinstance(lines, list)
    return [(line["description"].split()[0], Decimal(line["quantity"])) for line in lines]


# A shipment becomes one invoice of exactly what shipped


async def test_a_full_shipment_is_posted_as_one_invoice_of_what_shipped(world: SageWorld) -> None:
    order_no = world.order([("MUG", 5), ("TEA", 3)], tax="0.20")
    shipment = world.ship(order_no, {"1": 5, "2": 3}, tracking="1Z999AA10123456784")

    await post(world)

    [invoice] = world.documents("sales_invoices")
    assert invoice_lines(invoice) == [("MUG", Decimal(5)), ("TEA", Decimal(3))]
    assert invoice["reference"] == f"{order_no}/{shipment}"
    assert "1Z999AA10123456784" in invoice["notes"]
    assert f"Packline shipment {shipment} of order {order_no}" in invoice["notes"]
    assert invoice["net_amount"] == Decimal("80.00")
    assert invoice["tax_amount"] == Decimal("16.00")
    [posting] = world.postings(shipment)
    assert posting.state is PostingState.POSTED
    assert posting.sage_id == invoice["id"]
    assert posting.sage_number == invoice["invoice_number"]
    assert world.sage_stock("MUG") == Decimal(95)
    assert world.sage_stock("TEA") == Decimal(97)


async def test_the_invoice_carries_the_delivery_address_and_the_customer(world: SageWorld) -> None:
    order_no = world.order([("PEN", 2)])
    world.ship(order_no, {"1": 2})

    await post(world)

    [invoice] = world.documents("sales_invoices")
    assert invoice["contact"]["displayed_as"].startswith("Harbour Cafe Ltd")
    body = json.loads(world.postings()[0].document)["delivery_address"]
    assert body == {
        "address_line_1": "12 Quay Street",
        "address_line_2": "",
        "city": "Bristol",
        "postal_code": "BS1 4DJ",
        "country_id": "GB",
    }


async def test_a_partial_shipment_posts_what_shipped_and_the_balance_posts_when_it_ships(
    world: SageWorld,
) -> None:
    order_no = world.order([("MUG", 5), ("TEA", 3)])
    first = world.ship(order_no, {"1": 2})
    await post(world)
    assert [invoice_lines(d) for d in world.documents("sales_invoices")] == [[("MUG", Decimal(2))]]

    second = world.ship(order_no, {"1": 3, "2": 3})
    await post(world)

    invoices = world.documents("sales_invoices")
    assert [invoice_lines(d) for d in invoices] == [
        [("MUG", Decimal(2))],
        [("MUG", Decimal(3)), ("TEA", Decimal(3))],
    ]
    assert [d["reference"] for d in invoices] == [f"{order_no}/{first}", f"{order_no}/{second}"]
    assert world.sage_stock("MUG") == Decimal(95)


async def test_planning_and_posting_again_posts_nothing_again(world: SageWorld) -> None:
    order_no = world.order([("MUG", 1)])
    world.ship(order_no, {"1": 1})
    await post(world)
    writes = len(world.sandbox.writes)

    with world.sessions.begin() as session:
        for shipment in session.scalars(select(Shipment)):
            shipment.posting_due = True
    await post(world)
    await post(world)

    assert len(world.sandbox.writes) == writes
    assert len(world.documents("sales_invoices")) == 1


# Corrections after posting


async def correct(world: SageWorld, shipment: int, line_id: str, quantity: int) -> None:
    """A shipped quantity changed after the fact (the corrections service does this for users)."""
    with world.sessions.begin() as session:
        line = session.get_one(ShipmentLine, (shipment, line_id))
        line.quantity = quantity
        session.get_one(Shipment, shipment).posting_due = True


async def test_a_correction_after_posting_credits_the_difference_and_links_it(
    world: SageWorld,
) -> None:
    order_no = world.order([("MUG", 5), ("TEA", 3)])
    shipment = world.ship(order_no, {"1": 5, "2": 3})
    await post(world)
    await correct(world, shipment, "1", 3)

    await post(world)

    [invoice] = world.documents("sales_invoices")
    [credit] = world.documents("sales_credit_notes")
    assert invoice_lines(credit) == [("MUG", Decimal(2))]
    assert credit["reference"] == document_reference(order_no, shipment, PostingKind.CREDIT_NOTE, 2)
    assert credit["total_amount"] == Decimal("20.00")
    assert world.sage_stock("MUG") == Decimal(97)
    [allocation] = world.documents("contact_allocations")
    artefacts = {a["artefact"]["id"]: a["amount"] for a in allocation["allocated_artefacts"]}
    assert artefacts == {invoice["id"]: Decimal("20.00"), credit["id"]: Decimal("-20.00")}
    assert invoice["outstanding_amount"] == Decimal("60.00")
    first, second = world.postings(shipment)
    assert second.kind is PostingKind.CREDIT_NOTE
    assert second.credits_posting_id == first.id
    assert second.allocation_id == allocation["id"]
    assert second.state is PostingState.POSTED


async def test_a_correction_upwards_posts_an_invoice_for_the_extra(world: SageWorld) -> None:
    order_no = world.order([("MUG", 5)])
    shipment = world.ship(order_no, {"1": 3})
    await post(world)
    await correct(world, shipment, "1", 4)

    await post(world)

    assert [invoice_lines(d) for d in world.documents("sales_invoices")] == [
        [("MUG", Decimal(3))],
        [("MUG", Decimal(1))],
    ]
    assert world.documents("sales_credit_notes") == []


async def test_a_credit_is_priced_as_the_invoice_was_even_if_the_order_price_changed(
    world: SageWorld,
) -> None:
    order_no = world.order([("TEA", 4)], tax="0.20")
    shipment = world.ship(order_no, {"1": 4})
    await post(world)
    with world.sessions.begin() as session:
        session.get_one(OrderLine, (order_no, "1")).unit_price = Decimal("99.00")
    await correct(world, shipment, "1", 3)

    await post(world)

    [credit] = world.documents("sales_credit_notes")
    assert credit["net_amount"] == Decimal("10.00")
    assert credit["tax_amount"] == Decimal("2.00")


# Never twice, whatever fails


async def test_a_reply_lost_after_sage_stored_the_invoice_does_not_duplicate_it(
    world: SageWorld,
) -> None:
    order_no = world.order([("MUG", 2)])
    world.ship(order_no, {"1": 2})
    world.sandbox.faults.queue(kind=FaultKind.COMMIT_THEN_DROP, method="POST")

    await post(world)

    assert len(world.documents("sales_invoices")) == 1
    writes = [w for w in world.sandbox.writes_to("test") if w.resource == "sales_invoices"]
    assert [w.replayed for w in writes] == [False, True]
    assert world.postings()[0].state is PostingState.POSTED


async def test_a_crash_between_the_post_and_storing_sages_id_does_not_duplicate(
    world: SageWorld, tmp_path: Path
) -> None:
    order_no = world.order([("MUG", 2)])
    world.ship(order_no, {"1": 2})
    world.sandbox.faults.queue(
        kind=FaultKind.COMMIT_THEN_HANG, delay=60, method="POST", path_prefix="/v3.1/sales_inv"
    )
    settings_file = tmp_path / "sage-settings.json"
    settings_file.write_text(world.settings().model_dump_json())
    url = world.engine.url.render_as_string(hide_password=False)
    poster = await asyncio.create_subprocess_exec(
        sys.executable, str(POSTER_PROCESS), url, str(settings_file)
    )
    try:
        async with asyncio.timeout(30):
            while not world.documents("sales_invoices"):  # noqa: ASYNC110 (sandbox state)
                await asyncio.sleep(0.02)
    finally:
        poster.kill()
        await poster.wait()
    [orphan] = world.documents("sales_invoices")
    [posting] = world.postings()
    assert posting.state is PostingState.PENDING
    assert posting.sage_id is None
    assert posting.first_sent_at is not None

    world.clock.advance(datetime.now(UTC) - world.clock() + timedelta(minutes=1))  # restarted
    await post(world)

    assert world.documents("sales_invoices") == [orphan]
    writes = [w for w in world.sandbox.writes_to("test") if w.resource == "sales_invoices"]
    assert [w.replayed for w in writes] == [False, True]
    [posting] = world.postings()
    assert posting.state is PostingState.POSTED
    assert posting.sage_id == orphan["id"]


async def test_an_outcome_unknown_left_pending_is_resent_with_the_same_id_later(
    world: SageWorld,
) -> None:
    order_no = world.order([("MUG", 2)])
    shipment = world.ship(order_no, {"1": 2})
    world.sandbox.faults.queue(kind=FaultKind.COMMIT_THEN_FAIL, status=500, method="POST")

    async with world.service(max_attempts=1) as service:
        first = await service.run_pass()
    assert first.sent.halted is not None
    [posting] = world.postings()
    assert posting.state is PostingState.PENDING
    assert posting.sage_id is None
    assert posting.idempotency_id == posting_idempotency_id(
        world.sandbox.business_id("test"), shipment, "invoice", 1
    )

    world.clock.advance(timedelta(minutes=5))
    await post(world)

    assert len(world.documents("sales_invoices")) == 1
    assert world.postings()[0].sage_id == world.documents("sales_invoices")[0]["id"]


async def test_after_sages_seven_day_window_the_invoice_is_found_by_reference_not_resent(
    world: SageWorld,
) -> None:
    order_no = world.order([("MUG", 2)])
    world.ship(order_no, {"1": 2})
    world.sandbox.faults.queue(kind=FaultKind.COMMIT_THEN_FAIL, status=500, method="POST")
    async with world.service(max_attempts=1) as service:
        await service.run_pass()

    world.clock.advance(timedelta(days=8))
    await world.sync("test")
    await post(world)

    assert len(world.documents("sales_invoices")) == 1
    writes = [w for w in world.sandbox.writes_to("test") if w.resource == "sales_invoices"]
    assert len(writes) == 1
    assert world.postings()[0].state is PostingState.POSTED


async def test_timeouts_429_storms_and_5xx_end_with_every_invoice_posted_once(
    world: SageWorld,
) -> None:
    orders = [world.order([("MUG", 1)]) for _ in range(4)]
    for order_no in orders:
        world.ship(order_no, {"1": 1})
    faults = world.sandbox.faults
    faults.queue(status=429, retry_after=1, times=3, method="POST")
    faults.queue(kind=FaultKind.SLOW, delay=2.5, method="POST")
    faults.queue(status=503, times=2, method="POST")
    faults.queue(status=502, method="POST")

    passes = 0
    while any(p.state is PostingState.PENDING for p in world.postings()) or passes == 0:
        assert passes < 5, "the queue should drain once the faults stop"
        await post(world)
        world.clock.advance(timedelta(hours=1))
        passes += 1

    assert passes >= 2, "the storm outlasted the client's own retries and paused the queue"
    assert len(world.documents("sales_invoices")) == 4
    assert {p.state for p in world.postings()} == {PostingState.POSTED}
    assert world.sage_stock("MUG") == Decimal(96)
    assert max(world.waits) >= 1.0


async def test_an_expired_access_token_is_refreshed_and_the_rotated_token_kept(
    world: SageWorld,
) -> None:
    token_file = world.folder / "tokens-test.json"
    before = json.loads(token_file.read_text())["refresh_token"]
    order_no = world.order([("MUG", 1)])
    world.ship(order_no, {"1": 1})

    world.clock.advance(timedelta(minutes=10))
    await post(world)

    assert len(world.documents("sales_invoices")) == 1
    after = json.loads(token_file.read_text())["refresh_token"]
    assert after != before
    assert token_file.stat().st_mode & 0o777 == 0o600


async def test_an_expired_connection_stops_posting_and_says_someone_must_reconnect(
    world: SageWorld,
) -> None:
    order_no = world.order([("MUG", 1)])
    world.ship(order_no, {"1": 1})

    world.clock.advance(timedelta(days=32))
    async with world.service() as service:
        result = await service.run_pass()

    assert result.sent.reconnect_required
    assert RECONNECT_HINT in (result.sent.halted or "")
    assert service.reconnect_required is not None
    assert world.postings()[0].state is PostingState.PENDING
    assert world.documents("sales_invoices") == []


# Refusals go to the error report and block nothing else


async def test_a_refused_invoice_is_reported_with_sages_message_and_blocks_nothing(
    world: SageWorld,
) -> None:
    too_many = world.order([("TEA", 150)])
    with world.sessions.begin() as session:
        session.scalars(select(StockItem).where(StockItem.sku == "TEA")).one().on_hand = 500
    refused = world.ship(too_many, {"1": 150})
    fine = world.ship(world.order([("MUG", 1)]), {"1": 1})

    await post(world)

    [failed] = world.postings(refused)
    assert failed.state is PostingState.FAILED
    assert "You can't add stock item TEA" in (failed.last_error or "")
    assert json.loads(failed.error_items or "[]")[0]["$dataCode"] == "RecordInvalid"
    [posted] = world.postings(fine)
    assert posted.state is PostingState.POSTED


async def test_an_unmapped_product_fails_its_posting_with_what_to_do(world: SageWorld) -> None:
    with world.sessions.begin() as session:
        session.add(Product(sku="LID", gtin=None, pack_size=1, unit_price=Decimal(1)))
        session.add(StockItem(account_id="A", sku="LID", location_id="L1", on_hand=5))
    shipment = world.ship(world.order([("LID", 1)]), {"1": 1})

    await post(world)

    [posting] = world.postings(shipment)
    assert posting.state is PostingState.FAILED
    assert "product LID has no single Sage stock item" in (posting.last_error or "")
    assert world.documents("sales_invoices") == []


async def test_a_credit_for_an_invoice_that_failed_is_not_posted_against_nothing(
    world: SageWorld,
) -> None:
    with world.sessions.begin() as session:
        session.get_one(Debtor, "D1").sage_contact_id = None
    world.sandbox.add_contact("test", "Other Ltd", reference="D1")
    await world.sync("test")
    order_no = world.order([("MUG", 2)])
    shipment = world.ship(order_no, {"1": 2})
    await post(world)
    assert world.postings(shipment)[0].state is PostingState.FAILED

    await correct(world, shipment, "1", 1)
    await post(world)

    assert [p.kind for p in world.postings(shipment)] == [
        PostingKind.INVOICE,
        PostingKind.INVOICE,
    ]
    assert world.documents("sales_credit_notes") == []


# Test and live are kept apart


async def test_posting_to_the_test_business_never_touches_live(world: SageWorld) -> None:
    for _ in range(3):
        world.ship(world.order([("MUG", 1), ("PEN", 2)]), {"1": 1, "2": 2})

    await post(world, "test")

    assert len(world.documents("sales_invoices", "test")) == 3
    assert world.sandbox.writes_to("live") == []
    assert world.sage_stock("MUG", "live") == Decimal(100)


async def test_going_live_posts_new_shipments_to_live_and_never_replays_test_ones(
    world: SageWorld,
) -> None:
    tested = world.ship(world.order([("MUG", 1)]), {"1": 1})
    await post(world, "test")

    live = world.ship(world.order([("MUG", 2)]), {"1": 2})
    await post(world, "live")

    [live_invoice] = world.documents("sales_invoices", "live")
    assert invoice_lines(live_invoice) == [("MUG", Decimal(2))]
    assert [p.business_id for p in world.postings(tested)] == [world.sandbox.business_id("test")]
    assert [p.business_id for p in world.postings(live)] == [world.sandbox.business_id("live")]


# When postings go


def test_batched_posting_is_due_at_the_end_of_the_interval() -> None:
    at = datetime(2026, 11, 23, 10, 7, 30, tzinfo=UTC)
    assert due_time(at, 0) == at
    assert due_time(at, 15) == datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
    assert due_time(datetime(2026, 11, 23, 10, 15, tzinfo=UTC), 15) == datetime(
        2026, 11, 23, 10, 30, tzinfo=UTC
    )


async def test_a_batched_posting_waits_for_its_interval_then_goes(world: SageWorld) -> None:
    world.ship(world.order([("MUG", 1)]), {"1": 1})

    await post(world, interval_minutes=15)
    assert world.documents("sales_invoices") == []
    assert world.postings()[0].due_at == datetime(2026, 11, 23, 9, 15, tzinfo=UTC)

    world.clock.advance(timedelta(minutes=15))
    await post(world, interval_minutes=15)
    assert len(world.documents("sales_invoices")) == 1
