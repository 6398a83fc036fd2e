"""The inventory panel's borrowing summary reads only the active borrowed allocations' index,
not the allocation history, which grows with every order ever shipped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.dashboard.inventory import inventory_page
from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.ledger import ACTIVE_BORROWED_INDEX
from firmware_sim.dashboard_seed import seed_orders


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def borrowing_statements(engine: Engine, sessions: sessionmaker[Session]) -> list[tuple[str, Any]]:
    """The SQL the inventory page runs that joins borrowed allocations to their orders."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "borrowed" in statement and "JOIN sales_orders" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with sessions() as session:
            inventory_page(session, account=None, sku=None, limit=50, offset=0)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return seen


def test_the_borrowing_summary_is_read_through_the_active_borrowed_index(engine: Engine) -> None:
    sessions = session_factory(engine)
    seed_orders(sessions, 500)

    [(statement, parameters)] = borrowing_statements(engine, sessions)
    with engine.connect() as connection:
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()

    details = " | ".join(str(row[-1]) for row in plan)
    assert f"USING INDEX {ACTIVE_BORROWED_INDEX}" in details
