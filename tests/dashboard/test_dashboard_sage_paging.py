"""The Sage and credit panels page in SQL through indexes, so a long history costs nothing.

A bridge that has posted for years holds far more postings than its error report has lines, and
far more resolved credit holds than open ones: the panels must read only what they show.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.dashboard.credit import ReportView, error_report_page
from cloud_bridge.dashboard.sage import rejected_page, sage_summary
from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.posting import REJECTED_POSTINGS_INDEX
from cloud_bridge.db.release import OPEN_ERRORS_INDEX
from cloud_bridge.posting.report import error_report
from firmware_sim.dashboard_seed import SAGE_REFUSAL, SeedSummary, seed_orders

ORDERS = 3_000


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, SeedSummary]]:
    directory = tmp_path_factory.mktemp("sage-paging")
    engine = make_engine(f"sqlite:///{directory / 'bridge.db'}")
    upgrade(engine)
    summary = seed_orders(session_factory(engine), ORDERS, seed=3)
    yield engine, summary
    engine.dispose()


def plans_of(engine: Engine, read: Callable[[Session], object]) -> dict[str, str]:
    """Each query ``read`` runs, with SQLite's query plan for it as one line."""
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with sessionmaker(bind=engine)() as session:
            read(session)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    with engine.connect() as connection:
        return {
            statement: " | ".join(
                str(row[-1])
                for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            )
            for statement, parameters in statements
        }


def full_scans(plans: dict[str, str], table: str) -> list[str]:
    """Statements that read every row of ``table`` (an index scan is not one)."""
    return [
        statement
        for statement, plan in plans.items()
        if any(step.strip() == f"SCAN {table}" for step in plan.split("|"))
    ]


def test_the_sage_panel_never_scans_the_postings(seeded: tuple[Engine, SeedSummary]) -> None:
    engine, _ = seeded

    plans = plans_of(
        engine,
        lambda session: (
            sage_summary(session, datetime.now(UTC), limit=10, offset=0),
            rejected_page(session, limit=10, offset=20),
        ),
    )

    assert full_scans(plans, "sage_postings") == []
    rejected = [plan for statement, plan in plans.items() if "last_error IS NOT NULL" in statement]
    assert len(rejected) == 2
    assert all(f"USING INDEX {REJECTED_POSTINGS_INDEX}" in plan for plan in rejected), rejected
    last_posted = [
        plan for statement, plan in plans.items() if "max(sage_postings.posted_at)" in statement
    ]
    assert last_posted == ["SEARCH sage_postings USING COVERING INDEX ix_sage_postings_posted_at"]


def test_the_open_credit_holds_are_read_through_their_own_index(
    seeded: tuple[Engine, SeedSummary],
) -> None:
    engine, _ = seeded

    plans = plans_of(
        engine,
        lambda session: error_report_page(session, view=ReportView.OPEN, limit=50, offset=0),
    )

    assert full_scans(plans, "error_reports") == []
    assert all(OPEN_ERRORS_INDEX in plan for plan in plans.values()), plans


def test_the_rejected_postings_are_the_posting_error_report_page_by_page(
    seeded: tuple[Engine, SeedSummary],
) -> None:
    engine, summary = seeded
    sessions = session_factory(engine)

    with sessions() as session:
        report = error_report(session)
        pages = [rejected_page(session, limit=7, offset=offset) for offset in range(0, 200, 7)]

    listed = [item for page in pages for item in page.items]
    assert pages[0].total == len(report) == summary.postings["failed"] > 0
    assert [item.posting_id for item in listed] == [problem.posting_id for problem in report]
    assert [(item.message, item.sage_messages) for item in listed] == [
        (problem.message, list(problem.sage_messages)) for problem in report
    ]
    assert {tuple(item.sage_messages) for item in listed} == {(SAGE_REFUSAL,)}
