"""Rows that commit after a later row was exported are still exported, once.

On PostgreSQL an id is drawn at insert and can become visible after a higher one; an order's
``created_at`` is stamped before its transaction commits. Both are held open here, with a real
second transaction, while an export runs.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from sage_world import new_world
from sqlalchemy import text

from cloud_bridge.export import ExportOptions, ExportSummary, read_watermark, run_export
from cloud_bridge.export.id_cursor import MAX_LISTED_HOLES
from cloud_bridge.services.orders import cancel_order
from firmware_sim.sage import ManualClock, SageSandbox, SageSandboxServer

from .export_world import ExportWorld


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[ExportWorld]:
    """A bare bridge: no Sage sync and no borrowing are needed here."""
    sandbox = SageSandbox(clock=ManualClock(datetime.now(UTC)))
    async with SageSandboxServer(sandbox) as server:
        sage = new_world(tmp_path, database_url, sandbox, server)
        yield ExportWorld(sage)
        sage.engine.dispose()


def export(world: ExportWorld, folder: Path) -> ExportSummary:
    url = world.sage.engine.url.render_as_string(hide_password=False)
    return run_export(ExportOptions(database_url=url, directory=folder))


def exported(folder: Path, summary: ExportSummary, dataset: str, column: str) -> list[object]:
    if dataset not in summary.files:
        return []
    values: list[object] = pq.read_table(folder / summary.files[dataset]).column(column).to_pylist()
    return values


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_shipment_whose_id_commits_after_a_higher_one_is_exported_by_the_next_run(
    world: ExportWorld, tmp_path: Path
) -> None:
    folder = tmp_path / "warehouse"
    slow_order, fast_order = world.order([("PEN", 1)]), world.order([("TEA", 1)])
    world.start_packing(slow_order, [("1", "PEN", 1)], station="w1.st01")
    world.start_packing(fast_order, [("1", "TEA", 1)], station="w1.st02")
    slow = world.sage.sessions()
    slow.begin()
    slow_id = world.complete(slow_order, station="w1.st01", session=slow)
    fast_id = world.complete(fast_order, station="w1.st02")

    while_open = export(world, folder)
    slow.commit()
    slow.close()
    after_commit = export(world, folder)
    again = export(world, folder)

    assert slow_id < fast_id
    assert exported(folder, while_open, "shipments", "id") == [fast_id]
    assert exported(folder, after_commit, "shipments", "id") == [slow_id]
    assert again.total_rows == 0
    stored = read_watermark(folder)
    assert stored is not None
    assert stored.shipments.holes == {}


async def test_an_order_committed_after_a_run_with_an_earlier_created_at_is_still_exported(
    world: ExportWorld, tmp_path: Path
) -> None:
    folder = tmp_path / "warehouse"
    export(world, folder)
    late = world.sage.sessions()
    late.begin()
    order_no = world.order([("TEA", 1)], session=late)
    cancel_order(late, order_no, "entered twice")
    late.flush()

    before_commit = export(world, folder)
    late.commit()
    late.close()
    after_commit = export(world, folder)
    again = export(world, folder)

    assert exported(folder, before_commit, "orders", "order_no") == []
    assert exported(folder, after_commit, "orders", "order_no") == [order_no]
    assert again.total_rows == 0


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_long_gap_in_ids_is_kept_as_a_range_and_a_late_row_in_it_is_exported_once(
    world: ExportWorld, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "warehouse"
    slow_order, fast_order = world.order([("PEN", 1)]), world.order([("TEA", 1)])
    world.start_packing(slow_order, [("1", "PEN", 1)], station="w1.st01")
    world.start_packing(fast_order, [("1", "TEA", 1)], station="w1.st02")
    slow = world.sage.sessions()
    slow.begin()
    slow_id = world.complete(slow_order, station="w1.st01", session=slow)
    with world.sage.sessions.begin() as session:  # the sequence jumps, as after a crash
        session.execute(
            text("SELECT setval(pg_get_serial_sequence('shipments', 'id'), :jump)"),
            {"jump": slow_id + 5_000},
        )
    fast_id = world.complete(fast_order, station="w1.st02")

    with caplog.at_level(logging.WARNING, logger="packline.bridge.export"):
        while_open = export(world, folder)
    stored = read_watermark(folder)
    slow.commit()
    slow.close()
    after_commit = export(world, folder)
    again = export(world, folder)

    assert fast_id - slow_id > MAX_LISTED_HOLES
    assert exported(folder, while_open, "shipments", "id") == [fast_id]
    assert stored is not None
    assert [(gap.first, gap.last) for gap in stored.shipments.hole_ranges] == [
        (slow_id, fast_id - 1)
    ]
    assert f"shipments: ids {slow_id} to {fast_id - 1}" in caplog.text
    assert exported(folder, after_commit, "shipments", "id") == [slow_id]
    assert again.total_rows == 0
    remaining = read_watermark(folder)
    assert remaining is not None
    assert [(gap.first, gap.last) for gap in remaining.shipments.hole_ranges] == [
        (slow_id + 1, fast_id - 1)
    ], "the range is looked for until the late window passes, minus what arrived"
