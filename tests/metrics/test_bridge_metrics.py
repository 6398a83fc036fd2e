"""The bridge's ``GET /metrics``: behind a viewer token, counted from the database it serves."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from bridge_world import add_debtor, add_stock, basic_world, order
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text, update

from cloud_bridge.api import create_app
from cloud_bridge.api.roles import Role
from cloud_bridge.api.tokens import create_token
from cloud_bridge.config import parse_bridge_config
from cloud_bridge.db import make_engine, session_factory
from cloud_bridge.db.models import AutoQueueEntry, ErrorReport, OrderType, SalesOrder
from cloud_bridge.db.posting import (
    Posting,
    PostingKind,
    PostingState,
    SageEnvironment,
)
from cloud_bridge.db.shipping import Shipment
from cloud_bridge.metrics import BridgeCollector, BridgeMetrics, DatabaseCollector
from cloud_bridge.runtime import Bridge
from metrics.scrape import parse, value

STATION = "w1.st01"


def make_bridge(directory: Path) -> Bridge:
    directory.mkdir(parents=True, exist_ok=True)
    return Bridge(
        parse_bridge_config(
            {
                "bridge": {"database_url": f"sqlite:///{directory / 'bridge.db'}"},
                "broker": {"url": "mqtt://127.0.0.1:1883"},
                "http": {},
                "routing": {"stations": [STATION]},
                "stations": {STATION: {"slots": {"MUG": "A1"}}},
            }
        )
    )


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Bridge]:
    bridge = make_bridge(tmp_path / "bridge")
    yield bridge
    bridge.engine.dispose()


def seed_orders(bridge: Bridge) -> None:
    """One order that allocates, two over a zero credit line, one unpaid prepayment."""
    with bridge.sessions.begin() as session:
        basic_world(session)
        add_stock(session, "A", "MUG", 10)
        add_debtor(session, "D0", Decimal(0))
        session.flush()
        order(session, "SO-1", "A", [("MUG", 1)])
        order(session, "SO-2", "A", [("MUG", 1)], debtor="D0")
        order(session, "SO-3", "A", [("MUG", 1)], debtor="D0")
        order(session, "SO-4", "A", [("MUG", 1)], order_type=OrderType.PREPAYMENT)


def seed_postings(bridge: Bridge, states: list[PostingState]) -> None:
    """A shipment of SO-1 with one invoice posting (a revision each) per state in ``states``."""
    now = datetime.now(UTC)
    with bridge.sessions.begin() as session:
        shipment = Shipment(order_no="SO-1", station_id=STATION, label_id="L1", carrier="DPD")
        session.add(shipment)
        session.flush()
        for revision, state in enumerate(states, start=1):
            session.add(
                Posting(
                    environment=SageEnvironment.TEST,
                    business_id="B1",
                    shipment_id=shipment.id,
                    kind=PostingKind.INVOICE,
                    revision=revision,
                    idempotency_id=f"idem-{revision}",
                    reference=f"SO-1/{revision}",
                    document="{}",
                    state=state,
                    due_at=now,
                )
            )


@pytest.fixture
async def scraper(bridge: Bridge) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        sessions=bridge.sessions,
        slot_maps=bridge.config.slot_maps,
        metrics=bridge.metrics.registry,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as client:
        yield client


def viewer(bridge: Bridge) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(bridge.sessions, 'prometheus', Role.VIEWER)}"}


async def test_metrics_need_a_token(scraper: httpx.AsyncClient) -> None:
    response = await scraper.get("/metrics")

    assert response.status_code == 401


async def test_a_viewer_token_reads_the_holds_and_postings_the_database_holds(
    bridge: Bridge, scraper: httpx.AsyncClient
) -> None:
    seed_orders(bridge)
    bridge.run_cycle()
    seed_postings(
        bridge,
        [PostingState.POSTED, PostingState.FAILED, PostingState.FAILED, PostingState.PENDING],
    )

    response = await scraper.get("/metrics", headers=viewer(bridge))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = parse(response.text)
    assert value(samples, "packline_bridge_credit_holds", reason="credit") == 2
    assert value(samples, "packline_bridge_credit_holds", reason="prepayment") == 1
    assert value(samples, "packline_bridge_orders", state="allocated") == 1
    assert value(samples, "packline_bridge_sage_postings", state="failed") == 2
    assert value(samples, "packline_bridge_sage_postings", state="posted") == 1
    assert value(samples, "packline_bridge_sage_postings", state="pending") == 1
    with bridge.sessions() as session:
        open_reports = session.scalar(
            select(func.count()).select_from(ErrorReport).where(ErrorReport.resolved_at.is_(None))
        )
        queued = session.scalar(select(func.count()).select_from(AutoQueueEntry))
    assert open_reports == 3
    assert value(samples, "packline_bridge_error_reports_open") == open_reports
    assert value(samples, "packline_bridge_auto_queue_depth") == queued
    assert value(samples, "packline_bridge_scrape_errors_total") == 0


async def test_each_allocation_cycle_is_timed(bridge: Bridge, scraper: httpx.AsyncClient) -> None:
    seed_orders(bridge)
    headers = viewer(bridge)
    before = parse((await scraper.get("/metrics", headers=headers)).text)

    bridge.run_cycle()
    bridge.run_cycle()

    after = parse((await scraper.get("/metrics", headers=headers)).text)
    runs = "packline_bridge_allocation_cycle_seconds_count"
    assert value(before, runs) == 0
    assert value(after, runs) == 2
    assert value(after, "packline_bridge_allocation_cycle_seconds_sum") > 0
    assert value(after, "packline_bridge_allocation_cycle_failures_total") == 0


async def test_a_failing_database_read_is_counted_and_the_rest_still_served(
    bridge: Bridge, scraper: httpx.AsyncClient
) -> None:
    seed_orders(bridge)
    bridge.run_cycle()
    headers = viewer(bridge)
    with bridge.engine.begin() as connection:
        connection.execute(text("DROP TABLE sage_posting_lines"))
        connection.execute(text("DROP TABLE sage_postings"))

    response = await scraper.get("/metrics", headers=headers)

    assert response.status_code == 200
    samples = parse(response.text)
    assert "packline_bridge_sage_postings" not in samples
    assert value(samples, "packline_bridge_credit_holds", reason="credit") == 2
    assert value(samples, "packline_bridge_scrape_errors_total") == 1


async def test_an_app_without_a_registry_serves_the_database_figures(bridge: Bridge) -> None:
    seed_orders(bridge)
    bridge.run_cycle()
    app = create_app(sessions=bridge.sessions, slot_maps=bridge.config.slot_maps)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as client:
        response = await client.get("/metrics", headers=viewer(bridge))

    samples = parse(response.text)
    assert value(samples, "packline_bridge_credit_holds", reason="credit") == 2
    assert "packline_bridge_allocation_cycle_seconds_count" not in samples


def test_two_bridges_in_one_process_keep_their_own_figures(tmp_path: Path) -> None:
    first = make_bridge(tmp_path / "first")
    second = make_bridge(tmp_path / "second")
    try:
        first.run_cycle()
        first_samples = parse(generate_latest(first.metrics.registry).decode())
        second_samples = parse(generate_latest(second.metrics.registry).decode())
    finally:
        first.engine.dispose()
        second.engine.dispose()

    runs = "packline_bridge_allocation_cycle_seconds_count"
    assert value(first_samples, runs) == 1
    assert value(second_samples, runs) == 0


UNREACHABLE = {
    "postgresql": "postgresql+psycopg://packline@127.0.0.1:9/packline?connect_timeout=2",
    "sqlite": "sqlite:///{tmp}/no-such-folder/bridge.db",
}
"""Databases nothing can connect to: nothing listens on the port, the folder does not exist."""


@pytest.mark.parametrize("backend", sorted(UNREACHABLE))
def test_creating_the_metrics_for_a_database_that_cannot_connect_reads_nothing(
    backend: str, tmp_path: Path
) -> None:
    engine = make_engine(UNREACHABLE[backend].format(tmp=tmp_path))
    try:
        metrics = BridgeMetrics(session_factory(engine))
        samples = parse(generate_latest(metrics.registry).decode())
    finally:
        engine.dispose()

    # Only the scrape read the database: one failure per figure, none from registering.
    assert value(samples, "packline_bridge_scrape_errors_total") == 3
    assert "packline_bridge_orders" not in samples
    assert value(samples, "packline_bridge_allocation_cycle_seconds_count") == 0


def names(families: Iterable[Metric]) -> set[str]:
    return {family.name for family in families}


def test_each_collector_describes_exactly_the_families_it_collects(bridge: Bridge) -> None:
    seed_orders(bridge)
    database = DatabaseCollector(bridge.sessions)
    live = BridgeCollector(bridge)
    collectors: list[Collector] = [database, live]

    for collector in collectors:
        described = names(collector.describe())  # type: ignore[attr-defined]
        collected = names(collector.collect())
        if collector is live:
            # The ingest figures exist only once `run` has started the consumer.
            collected |= {name for name in described if name.startswith("packline_bridge_ingest")}
        assert described == collected


def test_a_scrape_does_not_wait_for_a_transaction_holding_the_write_lock(bridge: Bridge) -> None:
    seed_orders(bridge)
    bridge.run_cycle()
    registry: CollectorRegistry = bridge.metrics.registry

    with bridge.sessions() as writer, writer.begin():
        writer.execute(update(SalesOrder).where(SalesOrder.order_no == "SO-1").values(version=9))
        started = time.perf_counter()
        samples = parse(generate_latest(registry).decode())
        took = time.perf_counter() - started

    # Waiting for the write lock would take the whole 5 s busy timeout, then fail the reads.
    assert took < 1.0
    assert value(samples, "packline_bridge_scrape_errors_total") == 0
    assert value(samples, "packline_bridge_credit_holds", reason="credit") == 2
