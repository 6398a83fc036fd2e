"""Sage postings and failures as the bridge's metrics count them: every attempt the poster sends
to the Sage sandbox over real HTTP, every failed one by its reason, and the postings waiting for
a retry, with the sandbox's fault queue making Sage throttle, fail, hang up or refuse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.samples import Sample
from sage_world import SageWorld, new_world
from sqlalchemy import select

from cloud_bridge.db.models import PostingState, Shipment, ShipmentLine, StockItem
from cloud_bridge.metrics import FAILURE_REASONS, BridgeMetrics
from cloud_bridge.posting.service import PostingService
from firmware_sim.sage import FaultKind, ManualClock, SageSandbox, SageSandboxServer
from metrics.scrape import parse, value

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[SageWorld]:
    sandbox = SageSandbox(clock=ManualClock(START))
    async with SageSandboxServer(sandbox) as server:
        built = new_world(tmp_path, f"sqlite:///{tmp_path / 'bridge.db'}", sandbox, server)
        await built.sync("test")
        yield built
        built.engine.dispose()


async def post(world: SageWorld, metrics: BridgeMetrics, *, max_attempts: int = 1) -> None:
    """One posting pass, the poster reporting to ``metrics`` as the running bridge's does.

    One attempt per request, so each fault reaches the poster instead of the client's own retry.
    """

    async def no_wait(seconds: float) -> None:
        world.waits.append(seconds)

    service = PostingService(
        world.sessions,
        world.settings("test"),
        clock=world.clock,
        sleep=no_wait,
        max_attempts=max_attempts,
        retry_initial_s=1.0,
        observer=metrics.sage,
    )
    async with service:
        await service.run_pass()


def scrape(metrics: BridgeMetrics) -> dict[str, list[Sample]]:
    return parse(generate_latest(metrics.registry).decode())


def failures(samples: dict[str, list[Sample]]) -> dict[str, float]:
    """Failed document attempts by reason, the reasons that never happened left out."""
    counted = {
        reason: value(
            samples, "packline_bridge_sage_post_failures_total", step="document", reason=reason
        )
        for reason in FAILURE_REASONS
    }
    return {reason: count for reason, count in counted.items() if count}


async def test_every_step_and_reason_is_exported_at_zero_before_anything_is_posted(
    world: SageWorld,
) -> None:
    samples = scrape(BridgeMetrics(world.sessions))

    for step in ("document", "allocation"):
        assert value(samples, "packline_bridge_sage_post_attempts_total", step=step) == 0
        for reason in FAILURE_REASONS:
            failed = value(
                samples, "packline_bridge_sage_post_failures_total", step=step, reason=reason
            )
            assert failed == 0
    assert value(samples, "packline_bridge_sage_postings_retrying") == 0


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"status": 429, "retry_after": 1}, "rate_limited"),
        ({"status": 503}, "unavailable"),
        ({"kind": FaultKind.COMMIT_THEN_DROP}, "transport"),
    ],
)
async def test_a_transient_failure_is_counted_and_the_posting_shows_as_retrying_until_it_posts(
    world: SageWorld, fault: dict[str, object], reason: str
) -> None:
    metrics = BridgeMetrics(world.sessions)
    world.ship(world.order([("MUG", 2)]), {"1": 2})
    world.sandbox.faults.queue(method="POST", **fault)  # type: ignore[arg-type]

    await post(world, metrics)

    failing = scrape(metrics)
    assert value(failing, "packline_bridge_sage_post_attempts_total", step="document") == 1
    assert failures(failing) == {reason: 1}
    assert value(failing, "packline_bridge_sage_postings_retrying") == 1
    assert value(failing, "packline_bridge_sage_postings", state="pending") == 1
    assert value(failing, "packline_bridge_sage_postings", state="failed") == 0

    world.clock.advance(timedelta(hours=1))
    await post(world, metrics)

    mended = scrape(metrics)
    assert value(mended, "packline_bridge_sage_post_attempts_total", step="document") == 2
    assert failures(mended) == {reason: 1}
    assert value(mended, "packline_bridge_sage_postings_retrying") == 0
    assert value(mended, "packline_bridge_sage_postings", state="posted") == 1
    assert len(world.documents("sales_invoices")) == 1


async def test_a_refusal_is_counted_as_refused_and_the_next_posting_still_goes(
    world: SageWorld,
) -> None:
    metrics = BridgeMetrics(world.sessions)
    too_many = world.order([("TEA", 150)])
    with world.sessions.begin() as session:
        session.scalars(select(StockItem).where(StockItem.sku == "TEA")).one().on_hand = 500
    world.ship(too_many, {"1": 150})
    world.ship(world.order([("MUG", 1)]), {"1": 1})

    await post(world, metrics)

    samples = scrape(metrics)
    assert value(samples, "packline_bridge_sage_post_attempts_total", step="document") == 2
    assert failures(samples) == {"refused": 1}
    assert value(samples, "packline_bridge_sage_postings", state="failed") == 1
    assert value(samples, "packline_bridge_sage_postings", state="posted") == 1
    assert value(samples, "packline_bridge_sage_postings_retrying") == 0
    assert {posting.state for posting in world.postings()} == {
        PostingState.FAILED,
        PostingState.POSTED,
    }


async def test_a_credit_notes_link_to_its_invoice_is_counted_as_an_allocation_attempt(
    world: SageWorld,
) -> None:
    metrics = BridgeMetrics(world.sessions)
    order_no = world.order([("MUG", 5)])
    shipment = world.ship(order_no, {"1": 5})
    await post(world, metrics)
    with world.sessions.begin() as session:
        session.get_one(ShipmentLine, (shipment, "1")).quantity = 3
        session.get_one(Shipment, shipment).posting_due = True

    await post(world, metrics)

    samples = scrape(metrics)
    assert value(samples, "packline_bridge_sage_post_attempts_total", step="document") == 2
    assert value(samples, "packline_bridge_sage_post_attempts_total", step="allocation") == 1
    assert failures(samples) == {}
