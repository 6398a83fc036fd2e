"""`packline export` on the command line: a summary per dataset (a table, or JSON), and bad input
refused with one line naming the problem, exit status 2 and nothing written."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bridge_world import add_stock, basic_world, order

from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.export import WATERMARK_FILE
from cloud_bridge.export.cli import add_export_commands, parse_since
from cloud_bridge.export.lock import LOCK_FILE
from cloud_bridge.ingest import ingest_event
from cloud_bridge.services.allocate import allocate
from cloud_bridge.services.settings import BridgeSettings
from edge.contract import LabelPrinted, LinePicked, OrderCompleted, OrderScanned, StationEvent

EXAMPLE = Path(__file__).resolve().parents[2] / "cloud_bridge" / "bridge.example.toml"
STATION = "w1.st01"


def packline(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="packline")
    add_export_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    code: int = args.handler(args)
    return code


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A bridge.toml (the shipped example) whose database holds one shipped order."""
    database = tmp_path / "bridge.db"
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        basic_world(session)
        add_stock(session, "A", "MUG", 10)
        order(session, "SO1", "A", [("MUG", 2)])
        allocate(session, BridgeSettings(), order_nos=["SO1"])
    for seq, event in enumerate(shipping_events("SO1"), start=1):
        with sessions.begin() as session:
            ingest_event(session, STATION, event.model_copy(update={"seq": seq}))
    engine.dispose()
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        'database_url = "sqlite:///bridge.db"', f'database_url = "sqlite:///{database}"'
    )
    path = tmp_path / "bridge.toml"
    path.write_text(text, encoding="utf-8")
    return path


def shipping_events(order_no: str) -> list[StationEvent]:
    def stamp() -> dict[str, Any]:
        return {"event_id": uuid.uuid4(), "seq": 1, "at": datetime.now(UTC), "order_id": order_no}

    return [
        OrderScanned(**stamp(), order_version=1),
        LinePicked(**stamp(), line_id="1", sku="MUG", gtin="05012345678900", slot="A1", quantity=2),
        LabelPrinted(**stamp(), label_id="L1", carrier="DPD", tracking_number="T1"),
        OrderCompleted(
            **stamp(), order_version=1, label_id="L1", carrier="DPD", tracking_number="T1"
        ),
    ]


def listing(folder: Path) -> dict[str, bytes]:
    if not folder.exists():
        return {}
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_a_run_prints_rows_per_dataset_and_json_says_the_same_machine_readably(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "warehouse"

    assert packline("export", "--config", str(config), "--to", str(folder), "--json") == 0

    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"]["shipments"] == 1
    assert summary["rows"]["station_events"] == 4
    assert summary["rows"]["orders"] == 1
    assert summary["lower_bound"] == "first run: every row"
    assert all((folder / path).is_file() for path in summary["files"].values())
    assert packline("export", "--config", str(config), "--to", str(folder)) == 0
    table = capsys.readouterr().out
    assert "station_events" in table
    assert "total" in table
    assert "continuing from the stored watermark" in table


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        (["--format", "xml"], "--format 'xml' is unknown; expected parquet or csv"),
        (["--since", "yesterday"], "--since 'yesterday' is not a date or an ISO 8601 instant"),
        (["--since", "2026-13-01"], "--since '2026-13-01' is not a date"),
    ],
)
def test_an_unknown_format_or_an_unreadable_since_is_refused_by_name_and_nothing_is_written(
    config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    complaint: str,
) -> None:
    folder = tmp_path / "warehouse"

    code = packline("export", "--config", str(config), "--to", str(folder), *options)

    assert code == 2
    assert complaint in capsys.readouterr().err
    assert not folder.exists()


def test_a_directory_that_is_a_file_is_refused_by_name(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "warehouse"
    target.write_text("not a folder\n", encoding="utf-8")

    code = packline("export", "--config", str(config), "--to", str(target))

    assert code == 2
    assert f"--to {target} is a file; expected a directory" in capsys.readouterr().err
    assert target.read_text(encoding="utf-8") == "not a folder\n"


@pytest.mark.parametrize(
    ("damage", "complaint"),
    [
        ("{not json", "is not valid JSON"),
        ('{"format": 1, "shipments": {"last_id": "many"}}', "shipments.last_id"),
        ('{"rows": 3}', "has no format 1 marker"),
    ],
)
def test_a_damaged_watermark_is_refused_by_name_and_nothing_is_written(
    config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: str,
    complaint: str,
) -> None:
    folder = tmp_path / "warehouse"
    assert packline("export", "--config", str(config), "--to", str(folder)) == 0
    (folder / WATERMARK_FILE).write_text(damage, encoding="utf-8")
    before = listing(folder)
    capsys.readouterr()

    code = packline("export", "--config", str(config), "--to", str(folder))

    assert code == 2
    error = capsys.readouterr().err
    assert f"watermark {folder / WATERMARK_FILE}" in error
    assert complaint in error
    assert listing(folder) == before


@pytest.mark.parametrize(
    ("database", "complaint"),
    [
        ("empty.db", "database is at schema revision none; expected"),
        ("missing.db", "does not exist; expected the bridge's SQLite file"),
    ],
)
def test_a_database_that_is_missing_or_never_migrated_is_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database: str, complaint: str
) -> None:
    empty = tmp_path / database
    if database == "empty.db":
        make_engine(f"sqlite:///{empty}").dispose()
        empty.touch()
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        'database_url = "sqlite:///bridge.db"', f'database_url = "sqlite:///{empty}"'
    )
    config = tmp_path / "bridge.toml"
    config.write_text(text, encoding="utf-8")
    folder = tmp_path / "warehouse"

    code = packline("export", "--config", str(config), "--to", str(folder))

    assert code == 2
    assert complaint in capsys.readouterr().err
    assert not folder.exists()
    assert empty.exists() is (database == "empty.db")


def test_exported_files_without_a_watermark_are_refused_rather_than_exported_again(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "warehouse"
    assert packline("export", "--config", str(config), "--to", str(folder)) == 0
    (folder / WATERMARK_FILE).unlink()
    before = listing(folder)
    capsys.readouterr()

    code = packline("export", "--config", str(config), "--to", str(folder))

    assert code == 2
    assert f"but no {WATERMARK_FILE}: restore the watermark" in capsys.readouterr().err
    assert listing(folder) == before


def test_a_second_export_into_the_same_directory_is_refused_while_the_first_runs(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "warehouse"
    assert packline("export", "--config", str(config), "--to", str(folder)) == 0
    before = listing(folder)
    capsys.readouterr()
    running = os.open(folder / LOCK_FILE, os.O_RDWR)
    fcntl.flock(running, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as the first run holds it
    try:
        code = packline("export", "--config", str(config), "--to", str(folder))
    finally:
        os.close(running)

    assert code == 2
    error = capsys.readouterr().err
    assert f"another export is running into {folder} (it holds {folder / LOCK_FILE})" in error
    assert listing(folder) == before


def test_the_lock_is_released_when_a_run_ends_so_the_next_one_runs(
    config: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "warehouse"
    assert packline("export", "--config", str(config), "--to", str(folder)) == 0

    probe = os.open(folder / LOCK_FILE, os.O_RDWR)
    try:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if a run still held it
    finally:
        os.close(probe)
    assert packline("export", "--config", str(config), "--to", str(folder)) == 0


def test_a_database_that_cannot_be_reached_is_refused_without_its_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        'database_url = "sqlite:///bridge.db"',
        'database_url = "postgresql+psycopg://packline:s3cret@127.0.0.1:1/packline"',
    )
    config = tmp_path / "bridge.toml"
    config.write_text(text, encoding="utf-8")
    folder = tmp_path / "warehouse"

    code = packline("export", "--config", str(config), "--to", str(folder))

    error = capsys.readouterr().err
    assert code == 2
    assert "database postgresql+psycopg://packline:***@127.0.0.1:1/packline:" in error
    assert "s3cret" not in error
    assert not folder.exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-24", datetime(2026, 11, 24, tzinfo=UTC)),
        ("2026-11-24T03:00:00Z", datetime(2026, 11, 24, 3, tzinfo=UTC)),
        ("2026-11-24T04:00:00+01:00", datetime(2026, 11, 24, 3, tzinfo=UTC)),
        ("2026-11-24T03:00:00", datetime(2026, 11, 24, 3, tzinfo=UTC)),
    ],
)
def test_since_takes_a_date_as_its_utc_midnight_and_an_instant_in_utc(
    text: str, expected: datetime
) -> None:
    assert parse_since(text) == expected
