"""The dashboard only reads, so it never waits for the write lock ingest and allocation hold.

On SQLite a writer's transaction holds the database's one write lock; a dashboard request must
answer from the last committed state meanwhile, not queue behind it (or fail once the busy
timeout runs out).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dashboard_world import Dashboard, add_accounts_products_debtor, order_body, running_dashboard
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlalchemy.exc import InternalError, OperationalError

from cloud_bridge.api.transaction import ReadUnit, Transactions
from cloud_bridge.dashboard import API_PREFIX, router
from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.models import Account
from cloud_bridge.db.orders import OrderState, SalesOrder

PANELS = [
    "stations",
    "orders/by-state",
    "orders",
    "despatches/today",
    "charts/orders-per-hour",
    "charts/picks-per-station",
    "credit-errors",
    "auto-queue",
    "inventory",
    "sage",
    "sage/rejected",
    "fleet",
]
ANSWER_WITHIN_S = 1.0
"""Well under the engine's 5 s busy timeout, which a request queued for the lock would wait."""


@pytest.fixture
async def dashboard(tmp_path: Path) -> AsyncIterator[Dashboard]:
    async with running_dashboard(tmp_path) as dashboard:
        await add_accounts_products_debtor(dashboard)
        await dashboard.admin("POST", "/orders", order_body("SO-1", "A", [("MUG", 1)]), expect=201)
        yield dashboard


@contextmanager
def writer_holding_the_lock(database: Path) -> Iterator[sqlite3.Connection]:
    """Another connection inside a write transaction, with a change not yet committed."""
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("UPDATE sales_orders SET state = 'cancelled' WHERE order_no = 'SO-1'")
        yield connection
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def test_the_panels_listed_here_are_every_dashboard_endpoint() -> None:
    served = sorted(
        route.path.removeprefix(f"{API_PREFIX}/")
        for route in router.routes
        if isinstance(route, APIRoute)
    )

    assert served == sorted(PANELS)


async def test_read_only_work_runs_while_another_connection_holds_the_write_lock(
    dashboard: Dashboard, tmp_path: Path
) -> None:
    transactions = Transactions(dashboard.sessions, publish=None)

    with writer_holding_the_lock(tmp_path / "bridge.db"):
        started = time.monotonic()
        states = await transactions.read(
            lambda unit: unit.session.scalars(select(SalesOrder.state)).all()
        )
        took = time.monotonic() - started

    assert states == [OrderState.NEW]
    assert took < ANSWER_WITHIN_S


async def test_read_only_work_cannot_write(dashboard: Dashboard) -> None:
    transactions = Transactions(dashboard.sessions, publish=None)

    def cancel(unit: ReadUnit) -> None:
        unit.session.get_one(SalesOrder, "SO-1").state = OrderState.CANCELLED
        unit.session.commit()

    with pytest.raises(OperationalError, match="attempt to write a readonly database"):
        await transactions.read(cancel)


@pytest.mark.parametrize("panel", PANELS)
async def test_a_panel_answers_while_another_connection_holds_the_write_lock(
    dashboard: Dashboard, tmp_path: Path, panel: str
) -> None:
    with writer_holding_the_lock(tmp_path / "bridge.db"):
        started = time.monotonic()
        await dashboard.read(panel)
        took = time.monotonic() - started

    assert took < ANSWER_WITHIN_S


async def test_a_panel_read_during_a_write_sees_only_what_was_committed(
    dashboard: Dashboard, tmp_path: Path
) -> None:
    with writer_holding_the_lock(tmp_path / "bridge.db"):
        counts = await dashboard.read("orders/by-state")

    by_state = {item["state"]: item["count"] for item in counts["states"]}
    assert (by_state["new"], by_state["cancelled"]) == (1, 0)


async def test_on_postgresql_read_only_work_reads_and_cannot_write(
    postgres_schema_url: str,
) -> None:
    engine = make_engine(postgres_schema_url)
    try:
        upgrade(engine)
        sessions = session_factory(engine)
        with sessions.begin() as session:
            session.add(Account(id="A", name="Account A"))
        transactions = Transactions(sessions, publish=None)

        names = await transactions.read(
            lambda unit: unit.session.scalars(select(Account.name)).all()
        )

        def rename(unit: ReadUnit) -> None:
            unit.session.get_one(Account, "A").name = "Renamed"
            unit.session.flush()

        assert names == ["Account A"]
        with pytest.raises(InternalError, match="read-only transaction"):
            await transactions.read(rename)
    finally:
        engine.dispose()
