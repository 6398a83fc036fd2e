"""The bridge keeps each station's last word in its database, newer messages only, and
`packline fleet status` lists the fleet as a table or JSON, filtered by site, group, version or
state. Recording runs on SQLite and PostgreSQL, one transaction per message as the bridge does.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.models import FleetStation
from cloud_bridge.fleet import (
    FleetFilter,
    list_fleet,
    record_message,
)
from cloud_bridge.fleet.cli import add_fleet_commands
from edge.contract import (
    DeviceStatus,
    StationBirth,
    StationCounters,
    StationDeath,
    StationId,
    StationStatus,
)

ST01 = StationId(site="w1", station="st01")
ST02 = StationId(site="w1", station="st02")
OTHER_SITE = StationId(site="w2", station="st01")
AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
HASH = "ab" * 32


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bridge.db'}"
    else:
        url = request.getfixturevalue("postgres_schema_url")
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


def birth(
    bd_seq: int,
    *,
    at: datetime = AT,
    version: str = "1.4.0",
    printer: str = "ok",
    outbox_depth: int = 0,
) -> StationBirth:
    return StationBirth(
        bd_seq=bd_seq,
        at=at,
        software_version=version,
        config_version=7,
        config_hash=HASH,
        outbox_depth=outbox_depth,
        hardware=(
            DeviceStatus(kind="scanner", name="scanner", status="ok"),
            DeviceStatus(kind="printer", name="zebra", status=printer),  # type: ignore[arg-type]
            DeviceStatus(kind="lights", name="lights", status="missing"),
        ),
    )


def death(bd_seq: int, *, at: datetime = AT) -> StationDeath:
    return StationDeath(bd_seq=bd_seq, at=at)


def status(
    at: datetime, *, phase: str = "picking", depth: int = 3, age: float | None = 42.0
) -> StationStatus:
    return StationStatus(
        at=at,
        phase=phase,  # type: ignore[arg-type]
        order_id="SO1",
        printer="fault",
        printer_detail="paper_out",
        outbox_depth=depth,
        outbox_bytes=900,
        outbox_oldest_age_s=age,
        outbox_alarm=False,
        acknowledged_seq=10,
        counters=StationCounters(orders_completed=4),
    )


def record(
    sessions: sessionmaker[Session],
    station: StationId,
    message: StationBirth | StationDeath | StationStatus,
) -> bool:
    """One message in its own transaction, as the bridge records it."""
    with sessions.begin() as session:
        return record_message(session, station, message)


def stored(sessions: sessionmaker[Session], station: StationId = ST01) -> FleetStation:
    with sessions() as session:
        row = session.get_one(FleetStation, station.client_id)
        session.expunge(row)
        return row


# --- recording -------------------------------------------------------------------------------


def test_a_first_birth_records_the_station_online_with_what_it_runs(
    sessions: sessionmaker[Session],
) -> None:
    assert record(sessions, ST01, birth(3, outbox_depth=2)) is True

    row = stored(sessions)
    assert (row.site, row.group, row.online, row.bd_seq) == ("w1", None, True, 3)
    assert (row.software_version, row.config_version, row.config_hash) == ("1.4.0", 7, HASH)
    assert [device["status"] for device in json.loads(row.hardware)] == ["ok", "ok", "missing"]
    assert (row.outbox_depth, row.last_seen, row.update_state) == (2, AT, None)


def test_a_death_of_the_same_connection_marks_it_offline_and_keeps_what_it_ran(
    sessions: sessionmaker[Session],
) -> None:
    record(sessions, ST01, birth(3))

    assert record(sessions, ST01, death(3)) is True

    row = stored(sessions)
    assert (row.online, row.bd_seq, row.software_version) == (False, 3, "1.4.0")


def test_a_stale_death_of_an_earlier_connection_is_ignored(
    sessions: sessionmaker[Session],
) -> None:
    record(sessions, ST01, birth(4))

    assert record(sessions, ST01, death(3)) is False

    assert (stored(sessions).online, stored(sessions).bd_seq) == (True, 4)


def test_a_late_birth_of_a_connection_already_dead_is_ignored(
    sessions: sessionmaker[Session],
) -> None:
    record(sessions, ST01, death(5))

    assert record(sessions, ST01, birth(5)) is False

    row = stored(sessions)
    assert (row.online, row.software_version) == (False, None)


def test_a_birth_of_a_newer_connection_brings_the_station_back_with_its_new_versions(
    sessions: sessionmaker[Session],
) -> None:
    record(sessions, ST01, birth(3))
    record(sessions, ST01, death(3))

    assert record(sessions, ST01, birth(4, at=AT + timedelta(minutes=5), version="1.5.0"))

    row = stored(sessions)
    assert (row.online, row.bd_seq, row.software_version) == (True, 4, "1.5.0")


def test_a_rebirth_with_the_same_bd_seq_refreshes_the_hardware(
    sessions: sessionmaker[Session],
) -> None:
    record(sessions, ST01, birth(3))

    assert record(sessions, ST01, birth(3, printer="fault")) is True

    assert json.loads(stored(sessions).hardware)[1]["status"] == "fault"


def test_a_death_from_a_station_never_seen_records_it_offline(
    sessions: sessionmaker[Session],
) -> None:
    assert record(sessions, ST01, death(2)) is True

    row = stored(sessions)
    assert (row.online, row.bd_seq, row.site, row.hardware) == (False, 2, "w1", "[]")


def test_a_status_records_phase_printer_and_outbox(sessions: sessionmaker[Session]) -> None:
    record(sessions, ST01, birth(3, outbox_depth=9))

    assert record(sessions, ST01, status(AT + timedelta(seconds=30))) is True

    row = stored(sessions)
    assert (row.phase, row.printer, row.printer_detail) == ("picking", "fault", "paper_out")
    assert (row.outbox_depth, row.outbox_bytes, row.outbox_oldest_age_s) == (3, 900, 42.0)
    assert row.last_seen == AT + timedelta(seconds=30)


def test_a_status_older_than_the_stored_one_is_ignored(sessions: sessionmaker[Session]) -> None:
    record(sessions, ST01, status(AT + timedelta(seconds=30), phase="labelling", depth=1))

    assert record(sessions, ST01, status(AT, phase="picking", depth=5)) is False

    row = stored(sessions)
    assert (row.phase, row.outbox_depth, row.status_at) == (
        "labelling",
        1,
        AT + timedelta(seconds=30),
    )


def test_a_birth_older_than_the_stored_status_leaves_the_outbox_figures_alone(
    sessions: sessionmaker[Session],
) -> None:
    record(sessions, ST01, status(AT + timedelta(seconds=30), depth=1))

    record(sessions, ST01, birth(3, at=AT, outbox_depth=8))

    row = stored(sessions)
    assert (row.online, row.outbox_depth, row.outbox_oldest_age_s) == (True, 1, 42.0)


def test_last_seen_is_the_latest_instant_heard_and_never_goes_back(
    sessions: sessionmaker[Session],
) -> None:
    record(sessions, ST01, status(AT + timedelta(minutes=2)))

    record(sessions, ST01, death(1, at=AT))

    assert stored(sessions).last_seen == AT + timedelta(minutes=2)


# --- listing and the command ----------------------------------------------------------------


def fleet_world(sessions: sessionmaker[Session]) -> None:
    """w1.st01 online on 1.4.0 picking; w1.st02 offline on 1.3.0; w2.st01 online, group pilot."""
    record(sessions, ST01, birth(3))
    record(sessions, ST01, status(AT + timedelta(seconds=5)))
    record(sessions, ST02, birth(1, version="1.3.0"))
    record(sessions, ST02, death(1))
    record(sessions, OTHER_SITE, birth(1))
    with sessions.begin() as session:
        session.get_one(FleetStation, OTHER_SITE.client_id).group = "pilot"


@pytest.mark.parametrize(
    ("fleet_filter", "expected"),
    [
        (FleetFilter(), ["w1.st01", "w1.st02", "w2.st01"]),
        (FleetFilter(site="w1"), ["w1.st01", "w1.st02"]),
        (FleetFilter(group="pilot"), ["w2.st01"]),
        (FleetFilter(version="1.3.0"), ["w1.st02"]),
        (FleetFilter(state="online"), ["w1.st01", "w2.st01"]),
        (FleetFilter(state="offline"), ["w1.st02"]),
        (FleetFilter(site="w1", state="online"), ["w1.st01"]),
    ],
)
def test_the_fleet_lists_only_the_stations_each_filter_names(
    sessions: sessionmaker[Session], fleet_filter: FleetFilter, expected: list[str]
) -> None:
    fleet_world(sessions)

    with sessions() as session:
        rows = list_fleet(session, fleet_filter)

    assert [row.station_id for row in rows] == expected


@pytest.fixture
def bridge_toml(tmp_path: Path) -> Path:
    """A bridge.toml whose SQLite database holds the fleet world."""
    database = tmp_path / "bridge.db"
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    fleet_world(session_factory(engine))
    engine.dispose()
    config = tmp_path / "bridge.toml"
    config.write_text(
        "[bridge]\n"
        'database_url = "sqlite:///bridge.db"\n'
        "[broker]\n"
        'url = "mqtt://127.0.0.1:1883"\n'
        "[http]\n"
        "[routing]\n"
        'stations = ["w1.st01"]\n'
        '[stations."w1.st01"]\n'
        'slots = { MUG = "A1" }\n',
        encoding="utf-8",
    )
    return config


def packline(*argv: str) -> int:
    """Run `packline fleet ...` in this process, as the console command parses it."""
    parser = argparse.ArgumentParser(prog="packline")
    add_fleet_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["fleet", *argv])
    status: int = args.handler(args)
    return status


def test_fleet_status_prints_a_table_with_every_column(
    bridge_toml: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")

    assert packline("status", "--config", str(bridge_toml)) == 0

    out = capsys.readouterr().out
    for header in ("station", "site", "group", "online", "last seen", "software", "config hash"):
        assert header in out
    for header in ("hardware", "printer", "outbox", "phase", "update"):
        assert header in out
    st01 = next(line for line in out.splitlines() if "w1.st01" in line)
    for cell in ("1.4.0", HASH[:12], "scanner ok, printer ok, lights missing"):
        assert cell in st01
    for cell in ("fault (paper_out)", "3 (oldest 42 s)", "picking", "2026-11-24 10:00:05Z"):
        assert cell in st01
    assert HASH not in st01
    assert "pilot" in next(line for line in out.splitlines() if "w2.st01" in line)


def test_fleet_status_json_gives_scripts_every_field(
    bridge_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert packline("status", "--config", str(bridge_toml), "--json") == 0

    stations = json.loads(capsys.readouterr().out)
    assert [station["station_id"] for station in stations] == ["w1.st01", "w1.st02", "w2.st01"]
    st01 = stations[0]
    assert st01["state"] == "online"
    assert st01["config_hash"] == HASH
    assert st01["hardware"][2] == {
        "kind": "lights",
        "name": "lights",
        "status": "missing",
        "detail": None,
    }
    assert (st01["outbox_depth"], st01["outbox_oldest_age_s"], st01["phase"]) == (
        3,
        42.0,
        "picking",
    )
    assert (st01["update_state"], st01["last_seen"]) == (None, "2026-11-24T10:00:05+00:00")


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--site", "w2"], ["w2.st01"]),
        (["--group", "pilot"], ["w2.st01"]),
        (["--version", "1.4.0"], ["w1.st01", "w2.st01"]),
        (["--state", "offline"], ["w1.st02"]),
        (["--state", "online", "--site", "w1"], ["w1.st01"]),
        (["--version", "9.9.9"], []),
    ],
)
def test_fleet_status_filters_by_site_group_version_and_state(
    bridge_toml: Path, capsys: pytest.CaptureFixture[str], flags: list[str], expected: list[str]
) -> None:
    assert packline("status", "--config", str(bridge_toml), "--json", *flags) == 0

    assert [station["station_id"] for station in json.loads(capsys.readouterr().out)] == expected


def test_fleet_status_with_a_bad_config_exits_2_naming_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text('[bridge]\ndatabase_url = "sqlite:///bridge.db"\n', encoding="utf-8")

    assert packline("status", "--config", str(config)) == 2

    out = capsys.readouterr().out
    assert out.startswith("packline fleet status:")
    assert "missing section" in out


def test_fleet_status_refuses_an_unknown_state(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        packline("status", "--config", "bridge.toml", "--state", "asleep")

    assert "invalid choice: 'asleep'" in capsys.readouterr().err
