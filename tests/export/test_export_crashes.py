"""A run that stops anywhere hands the warehouse each row exactly once.

A file under its final name is committed: the watermark that covers its rows was stored before
it got that name. Here a real export process is killed (``os._exit``, so no cleanup runs, as
after a power cut or SIGKILL) just before its Nth ``os.replace``: the first is the watermark's,
the later ones are the data files' renames. A loader that loaded every final file it saw after
the stop, and again after the next run, still has every row once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from sqlalchemy import select

from cloud_bridge.db.models import AppliedEvent, Shipment
from cloud_bridge.export import WATERMARK_FILE, ExportOptions, ExportSummary, run_export
from cloud_bridge.export.errors import LeftoverFileError

from .export_world import ExportWorld, trade

ROOT = Path(__file__).resolve().parents[2]
STOPPED = 70

_STOPPING_RUN = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from cloud_bridge.export import ExportOptions, run_export

    url, folder, stop_at = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    real_replace, calls = os.replace, 0

    def replace(source, target):
        global calls
        calls += 1
        if calls == stop_at:
            os._exit({stopped})
        real_replace(source, target)

    os.replace = replace
    run_export(ExportOptions(database_url=url, directory=folder))
    """
).format(stopped=STOPPED)


def url_of(world: ExportWorld) -> str:
    return world.sage.engine.url.render_as_string(hide_password=False)


def export(world: ExportWorld, folder: Path) -> ExportSummary:
    return run_export(ExportOptions(database_url=url_of(world), directory=folder))


def export_stopping_before_replace(world: ExportWorld, folder: Path, stop_at: int) -> None:
    """Run an export in its own process and kill it just before its ``stop_at``-th rename."""
    done = subprocess.run(
        [sys.executable, "-c", _STOPPING_RUN, url_of(world), str(folder), str(stop_at)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == STOPPED, done.stderr


def final_files(folder: Path) -> dict[Path, bytes]:
    """What a loader sees: every data file under its final name."""
    return {path: path.read_bytes() for path in sorted(folder.glob("*/*.parquet"))}


def loaded(files: dict[Path, bytes], dataset: str, column: str) -> list[Any]:
    values: list[Any] = []
    for path in files:
        if path.parent.name == dataset:
            values.extend(pq.read_table(path).column(column).to_pylist())
    return values


async def books_with_a_second_day(world: ExportWorld, folder: Path) -> None:
    """A first run exports a day's trade; then more ships, so the next run has many files."""
    books = await trade(world)
    export(world, folder)
    world.pack(books["open"], [("1", "TEA", 3)])
    world.pack(world.order([("PEN", 1)]), [("1", "PEN", 1)])
    await world.post()


@pytest.mark.parametrize(
    ("stop_at", "stage"),
    [
        (1, "before the watermark is stored"),
        (2, "after the watermark, before any rename"),
        (4, "after some of the renames"),
    ],
)
async def test_a_run_stopped_at_any_point_hands_every_row_to_the_warehouse_once(
    world: ExportWorld, tmp_path: Path, stop_at: int, stage: str
) -> None:
    folder = tmp_path / "warehouse"
    await books_with_a_second_day(world, folder)

    export_stopping_before_replace(world, folder, stop_at)
    seen_after_stop = final_files(folder)
    rerun = export(world, folder)
    seen_after_rerun = final_files(folder)

    for path, content in seen_after_stop.items():
        assert seen_after_rerun.get(path) == content, f"{stage}: a loaded file changed or went"
    assert not list(folder.rglob("*.partial")), stage
    with world.sage.sessions() as session:
        events = session.execute(select(AppliedEvent.station_id, AppliedEvent.seq)).all()
        shipments = session.scalars(select(Shipment.id)).all()
    exported_events = list(
        zip(
            loaded(seen_after_rerun, "station_events", "station_id"),
            loaded(seen_after_rerun, "station_events", "seq"),
            strict=True,
        )
    )
    assert sorted(exported_events) == sorted((row.station_id, row.seq) for row in events), stage
    assert sorted(loaded(seen_after_rerun, "shipments", "id")) == sorted(shipments), stage
    for dataset, key in [
        ("labels", "event_id"),
        ("orders", "order_no"),
        ("allocations", "id"),
        ("sage_postings", "id"),
    ]:
        keys = loaded(seen_after_rerun, dataset, key)
        assert len(keys) == len(set(keys)), f"{stage}: a {dataset} row reached the warehouse twice"
    if stop_at == 1:
        assert rerun.removed_leftovers, "the uncommitted run's partial files are removed"
        assert rerun.finished_leftovers == []
        assert rerun.total_rows > 0, "and its rows are exported by the rerun"
    else:
        assert rerun.finished_leftovers, "the committed run's renames are finished"
        assert rerun.removed_leftovers == []
        assert rerun.total_rows == 0, "its rows are not exported again"
    assert export(world, folder).total_rows == 0


async def test_before_a_stopped_run_is_committed_no_file_of_it_has_a_final_name(
    world: ExportWorld, tmp_path: Path
) -> None:
    folder = tmp_path / "warehouse"
    await books_with_a_second_day(world, folder)
    before = final_files(folder)
    watermark = (folder / WATERMARK_FILE).read_bytes()

    export_stopping_before_replace(world, folder, 1)

    assert final_files(folder) == before
    assert (folder / WATERMARK_FILE).read_bytes() == watermark
    assert list(folder.rglob("*.parquet.partial")), "its rows wait under partial names"


async def test_files_newer_than_the_watermark_are_refused_rather_than_exported_again(
    world: ExportWorld, tmp_path: Path
) -> None:
    folder = tmp_path / "warehouse"
    await books_with_a_second_day(world, folder)
    restored = (folder / WATERMARK_FILE).read_bytes()
    export(world, folder)
    (folder / WATERMARK_FILE).write_bytes(restored)  # a watermark restored from an older backup
    before = final_files(folder)

    with pytest.raises(LeftoverFileError, match="the watermark is older than the files"):
        export(world, folder)

    assert final_files(folder) == before
