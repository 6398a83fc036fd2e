"""`packline fleet group|config|rollout`: the operator's controls write the bridge's database, say
that the running bridge publishes on its tick, and turn every mistake into one line naming it
with exit status 2.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.fleet.cli import add_fleet_commands
from cloud_bridge.fleet.inventory import record_birth
from cloud_bridge.fleet.reports import record_fleet_report
from cloud_bridge.fleet.rollout import rollout_tick
from edge.contract import (
    ConfigReport,
    FleetReport,
    StationBirth,
    StationId,
    UpdateReport,
)

STATIONS = [StationId("w1", f"st0{n}") for n in range(1, 4)]


@pytest.fixture
def bridge_toml(tmp_path: Path) -> Path:
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
        'slots = { MUG = "A1" }\n'
        "[fleet]\n"
        "tick_seconds = 1.0\n"
        "[fleet.rollout]\n"
        "canaries = 1\n"
        "base_rate = 1\n",
        encoding="utf-8",
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.db'}")
    upgrade(engine)
    with session_factory(engine).begin() as session:
        for station in STATIONS:
            birth = StationBirth(
                bd_seq=1,
                at=datetime.now(UTC),
                software_version="0.1.0",
                config_version=0,
                outbox_depth=0,
                hardware=(),
            )
            record_birth(session, station, birth)
    engine.dispose()
    return config


@pytest.fixture
def sessions(bridge_toml: Path) -> sessionmaker[Session]:
    return session_factory(make_engine(f"sqlite:///{bridge_toml.parent / 'bridge.db'}"))


def packline(*argv: str) -> int:
    """Run `packline fleet ...` in this process, as the console command parses it."""
    parser = argparse.ArgumentParser(prog="packline")
    add_fleet_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["fleet", *argv])
    status: int = args.handler(args)
    return status


def test_group_set_puts_stations_in_a_group_and_clear_takes_them_out(
    bridge_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(bridge_toml)

    assert packline("group", "set", "--config", config, "--group", "g1", "w1.st01", "w1.st02") == 0
    assert capsys.readouterr().out.strip() == "moved to group g1: w1.st01, w1.st02"
    assert packline("group", "set", "--config", config, "--clear", "w1.st02") == 0
    assert capsys.readouterr().out.strip() == "moved to no group: w1.st02"

    assert packline("status", "--config", config, "--group", "g1", "--json") == 0
    assert [row["station_id"] for row in json.loads(capsys.readouterr().out)] == ["w1.st01"]


def test_config_set_stores_a_version_and_show_gives_the_effective_config(
    bridge_toml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(bridge_toml)
    group_file = tmp_path / "group.toml"
    group_file.write_text('[station]\nverification = "each"\nalert_seconds = 4.0\n')
    own_file = tmp_path / "own.json"
    own_file.write_text('{"station": {"verification": "off"}}')
    packline("group", "set", "--config", config, "--group", "g1", "w1.st01")

    assert (
        packline("config", "set", "--config", config, "--group", "g1", "--file", str(group_file))
        == 0
    )
    assert (
        packline(
            "config", "set", "--config", config, "--station", "w1.st01", "--file", str(own_file)
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "configuration version 2 for station w1.st01" in out
    assert "the running bridge publishes it on its next fleet tick" in out

    assert packline("config", "show", "--config", config, "w1.st01") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["group"] == "g1"
    assert shown["version"] == 2
    assert shown["settings"] == {"station": {"verification": "off", "alert_seconds": 4.0}}
    assert shown["published_version"] is None


def test_config_set_refuses_identity_keys_with_exit_2(
    bridge_toml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overlay = tmp_path / "bad.toml"
    overlay.write_text('[station]\nid = "st99"\n')

    status = packline(
        "config",
        "set",
        "--config",
        str(bridge_toml),
        "--station",
        "w1.st01",
        "--file",
        str(overlay),
    )

    assert status == 2
    out = capsys.readouterr().out
    assert out.startswith("packline fleet config set: settings set station.id")


def test_rollout_start_uses_the_configured_policy_and_flags_override_it(
    bridge_toml: Path, sessions: sessionmaker[Session], capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(bridge_toml)
    packline("group", "set", "--config", config, "--group", "g1", *[s.client_id for s in STATIONS])
    capsys.readouterr()

    assert packline(
        "rollout", "start", "--config", config, "--version", "0.2.0", "--group", "g1",
        "--abort-percent", "50",
    ) == 0  # fmt: skip
    assert capsys.readouterr().out.startswith("rollout-1 started: 0.2.0 to group g1;")

    assert packline("rollout", "status", "--config", config, "rollout-1", "--json") == 0
    [view] = json.loads(capsys.readouterr().out)
    assert view["policy"]["base_rate"] == 1  # from [fleet.rollout]
    assert view["policy"]["abort_percent"] == 50.0  # from the flag
    assert view["waves"] == [1, 1, 1]
    assert (view["state"], view["updated"], view["untouched"]) == ("running", 0, 3)


def test_rollout_controls_change_the_state_and_refuse_what_does_not_apply(
    bridge_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(bridge_toml)
    packline("group", "set", "--config", config, "--group", "g1", "w1.st01")
    packline("rollout", "start", "--config", config, "--version", "0.2.0", "--group", "g1")
    capsys.readouterr()

    assert packline("rollout", "pause", "--config", config, "rollout-1", "--reason", "lunch") == 0
    assert capsys.readouterr().out.startswith("rollout-1 is paused;")
    assert packline("rollout", "pause", "--config", config, "rollout-1") == 2
    assert "rollout-1 is paused; it must be running to be paused" in capsys.readouterr().out
    assert packline("rollout", "resume", "--config", config, "1") == 0
    assert packline("rollout", "abort", "--config", config, "rollout-1") == 0
    assert packline("rollout", "rollback", "--config", config, "rollout-1") == 0
    assert packline("rollout", "abort", "--config", config, "rollout-7") == 2
    assert "there is no rollout-7" in capsys.readouterr().out

    assert packline("rollout", "status", "--config", config, "rollout-1", "--json") == 0
    [view] = json.loads(capsys.readouterr().out)
    kinds = [event["kind"] for event in view["events"]]
    assert kinds == ["started", "paused", "resumed", "aborted", "rolled_back"]
    assert view["events"][1]["reason"] == "lunch"


def test_rollout_start_refuses_an_empty_group_with_exit_2(
    bridge_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = packline(
        "rollout", "start", "--config", str(bridge_toml), "--version", "0.2.0", "--group", "none"
    )

    assert status == 2
    assert capsys.readouterr().out.startswith(
        "packline fleet rollout start: group 'none' has no stations"
    )


def test_rollout_status_lists_rollouts_and_watch_draws_until_the_rollout_ends(
    bridge_toml: Path,
    sessions: sessionmaker[Session],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    config = str(bridge_toml)
    packline("group", "set", "--config", config, "--group", "g1", "w1.st01")
    packline("rollout", "start", "--config", config, "--version", "0.2.0", "--group", "g1")
    now = datetime.now(UTC)
    with sessions.begin() as session:
        rollout_tick(session, now)
        update = UpdateReport(
            state="committed", running_version="0.2.0", rollout_id="rollout-1", at=now
        )
        report = FleetReport(at=now, config=ConfigReport(applied_version=0), update=update)
        record_fleet_report(session, STATIONS[0], report)
    with sessions.begin() as session:
        rollout_tick(session, now)
    capsys.readouterr()

    assert packline("rollout", "status", "--config", config) == 0
    listing = capsys.readouterr().out
    assert "rollout-1" in listing
    assert "finished" in listing

    assert packline("rollout", "status", "--config", config, "--watch", "--interval", "0.01") == 0
    out = capsys.readouterr().out
    assert "1/1" in out
    assert "w1.st01" in out
    assert "1 updated, 0 failed, of 1 station(s)" in out


def test_help_texts_say_the_running_bridge_publishes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        packline("rollout", "--help")

    assert "fleet tick" in " ".join(capsys.readouterr().out.split())
