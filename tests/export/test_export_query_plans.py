"""A run reads only what is new: on SQLite, ``EXPLAIN QUERY PLAN`` of every statement a later
run sends shows no full scan of a table that grows: only ``alembic_version`` (one row) and
``station_cursors`` (one row per station, which is how the run finds stations it has not seen)
are read whole."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from cloud_bridge.export import ExportOptions, ExportSummary, run_export
from edge.contract import OrderScanned

from .export_world import ExportWorld, trade

SMALL_TABLES = {"station_cursors", "alembic_version"}


@pytest.fixture
def statements() -> Iterator[list[tuple[str, Any]]]:
    """Every SELECT the export sends, with its parameters, while the test runs."""
    sent: list[tuple[str, Any]] = []

    def record(
        _connection: Any, _cursor: Any, statement: str, parameters: Any, *_context: Any
    ) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", record)
    yield sent
    event.remove(Engine, "before_cursor_execute", record)


def export(world: ExportWorld, folder: Path) -> ExportSummary:
    url = world.sage.engine.url.render_as_string(hide_password=False)
    return run_export(ExportOptions(database_url=url, directory=folder))


def plans(database: Path, sent: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    """Each statement's plan lines, as (statement, line)."""
    connection = sqlite3.connect(database)
    try:
        return [
            (statement, row[3])
            for statement, parameters in sent
            for row in connection.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
        ]
    finally:
        connection.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_later_run_reads_station_events_by_primary_key_range_and_scans_no_large_table(
    world: ExportWorld, tmp_path: Path, statements: list[tuple[str, Any]]
) -> None:
    books = await trade(world)
    folder = tmp_path / "warehouse"
    export(world, folder)
    world.pack(books["open"], [("1", "TEA", 3)])
    world.send(OrderScanned, world.order([("PEN", 1)]), station="w1.st02", order_version=1)
    statements.clear()

    summary = export(world, folder)

    assert summary.rows["station_events"] == 4 + 1, "both stations' new events, the new one's too"
    lines = plans(tmp_path / "bridge.db", statements)
    event_reads = [line for statement, line in lines if "applied_events" in statement]
    assert event_reads, "the run read station events"
    assert all(
        line.startswith("SEARCH applied_events USING") and "(station_id=? AND seq>?)" in line
        for line in event_reads
    ), event_reads
    scans = [
        (line, statement)
        for statement, line in lines
        if line.startswith("SCAN ") and line.split()[1] not in SMALL_TABLES
    ]
    assert scans == []
