"""Pushed configuration: a group's overlay with the station's laid over it key by key, versions
from one bridge-wide sequence, each change sent once, and the refusals the bridge can make
itself (not a table of tables, an unknown section, a station's identity keys), each named.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.fleet_control import ConfigScope
from cloud_bridge.fleet.configs import (
    ConfigPushError,
    effective_config,
    load_overlay,
    mark_config_published,
    pending_configs,
    set_config,
    validate_overlay,
)
from cloud_bridge.fleet.groups import set_group
from edge.contract import StationId

ST01 = StationId("w1", "st01")
ST02 = StationId("w1", "st02")
AT = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

GROUP_SETTINGS = {
    "station": {"verification": "each", "alert_seconds": 5.0},
    "outbox": {"max_events": 1000},
}
OWN_SETTINGS = {"station": {"verification": "off"}, "labels": {"copies": 2}}


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine: Engine = make_engine(f"sqlite:///{tmp_path / 'bridge.db'}")
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


def push(sessions: sessionmaker[Session], scope: ConfigScope, target: str, settings: object) -> int:
    with sessions.begin() as session:
        return set_config(session, scope, target, settings, now=AT).version


def pending(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        return {station.client_id: desired.version for station, desired in pending_configs(session)}


def publish_all(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        for station, desired in pending_configs(session):
            mark_config_published(session, station, desired.version, now=AT)


def test_the_station_overlay_wins_key_by_key_over_its_groups(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        set_group(session, [ST01.client_id], "hall-a", now=AT)
    group_version = push(sessions, ConfigScope.GROUP, "hall-a", GROUP_SETTINGS)
    own_version = push(sessions, ConfigScope.STATION, ST01.client_id, OWN_SETTINGS)

    with sessions() as session:
        desired = effective_config(session, ST01)

    assert desired is not None
    assert own_version > group_version
    assert desired.version == own_version
    assert desired.settings == {
        "station": {"verification": "off", "alert_seconds": 5.0},
        "outbox": {"max_events": 1000},
        "labels": {"copies": 2},
    }


def test_a_newer_group_config_raises_the_effective_version(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        set_group(session, [ST01.client_id], "hall-a", now=AT)
    push(sessions, ConfigScope.STATION, ST01.client_id, OWN_SETTINGS)
    newer = push(sessions, ConfigScope.GROUP, "hall-a", GROUP_SETTINGS)

    with sessions() as session:
        desired = effective_config(session, ST01)

    assert desired is not None
    assert desired.version == newer
    assert desired.settings["station"] == {"verification": "off", "alert_seconds": 5.0}


def test_a_station_with_no_config_anywhere_has_none(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        assert effective_config(session, ST01) is None


def test_each_change_is_pending_until_published_and_then_not_again(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        set_group(session, [ST01.client_id, ST02.client_id], "hall-a", now=AT)
    version = push(sessions, ConfigScope.GROUP, "hall-a", GROUP_SETTINGS)
    assert pending(sessions) == {ST01.client_id: version, ST02.client_id: version}

    publish_all(sessions)
    assert pending(sessions) == {}

    own = push(sessions, ConfigScope.STATION, ST02.client_id, OWN_SETTINGS)
    assert pending(sessions) == {ST02.client_id: own}


def test_an_older_publication_mark_never_lowers_the_published_version(
    sessions: sessionmaker[Session],
) -> None:
    first = push(sessions, ConfigScope.STATION, ST01.client_id, OWN_SETTINGS)
    second = push(sessions, ConfigScope.STATION, ST01.client_id, GROUP_SETTINGS)
    with sessions.begin() as session:
        mark_config_published(session, ST01, second, now=AT)
        mark_config_published(session, ST01, first, now=AT + timedelta(seconds=1))

    assert pending(sessions) == {}


def test_a_config_for_a_station_never_seen_waits_for_it(sessions: sessionmaker[Session]) -> None:
    version = push(sessions, ConfigScope.STATION, "w9.new", OWN_SETTINGS)

    assert pending(sessions) == {"w9.new": version}


def test_moving_a_station_to_another_group_reaches_it_under_a_new_version(
    sessions: sessionmaker[Session],
) -> None:
    hall_b = push(sessions, ConfigScope.GROUP, "hall-b", {"outbox": {"max_events": 500}})
    with sessions.begin() as session:
        set_group(session, [ST01.client_id], "hall-a", now=AT)
    push(sessions, ConfigScope.GROUP, "hall-a", GROUP_SETTINGS)
    publish_all(sessions)

    with sessions.begin() as session:
        set_group(session, [ST01.client_id], "hall-b", now=AT)
    [(station, version)] = pending(sessions).items()
    with sessions() as session:
        desired = effective_config(session, ST01)

    assert station == ST01.client_id
    assert version > hall_b
    assert desired is not None
    assert desired.settings == {"outbox": {"max_events": 500}}


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        (["station"], "settings are a list; expected a table of tables"),
        ({"station": "off"}, "settings section 'station' is a str; expected a table"),
        ({"stations": {"verification": "off"}}, "'stations' is not a station.toml section"),
        ({"station": {"id": "st99"}}, "settings set station.id: a station's identity"),
        (
            {"station": {"site": "w2", "state_dir": "/tmp/x"}},
            "settings set station.site, station.state_dir",
        ),
        ({"outbox": {"max_events": float("nan")}}, "a value JSON cannot carry"),
    ],
)
def test_settings_the_bridge_can_tell_are_wrong_are_refused_by_name(
    settings: object, named: str
) -> None:
    with pytest.raises(ConfigPushError) as raised:
        validate_overlay(settings)

    assert named in str(raised.value)


def test_a_refused_overlay_stores_nothing(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session, pytest.raises(ConfigPushError):
        set_config(session, ConfigScope.STATION, ST01.client_id, {"station": {"id": "x"}}, now=AT)

    assert pending(sessions) == {}


def test_a_bad_target_is_refused_by_name(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session, pytest.raises(ValueError, match="station 'nodot'"):
        set_config(session, ConfigScope.STATION, "nodot", {}, now=AT)
    with sessions.begin() as session, pytest.raises(ValueError, match="group 'a b'"):
        set_config(session, ConfigScope.GROUP, "a b", {}, now=AT)


def test_an_overlay_is_read_from_toml_or_json(tmp_path: Path) -> None:
    toml = tmp_path / "overlay.toml"
    toml.write_text('[station]\nverification = "off"\n[labels]\ncopies = 2\n', encoding="utf-8")
    as_json = tmp_path / "overlay.json"
    as_json.write_text(json.dumps(OWN_SETTINGS), encoding="utf-8")

    assert load_overlay(toml) == OWN_SETTINGS
    assert load_overlay(as_json) == OWN_SETTINGS


@pytest.mark.parametrize(
    ("name", "text", "named"),
    [
        ("overlay.yaml", "station: {}", "unknown kind '.yaml'; expected .toml or .json"),
        ("overlay.toml", "[station\n", "not valid toml"),
        ("overlay.toml", "[station]\nwhen = 2026-11-27\n", "a value JSON cannot carry"),
        ("overlay.json", "[1, 2]", "settings are a list"),
    ],
)
def test_an_unreadable_overlay_file_is_refused_naming_the_problem(
    tmp_path: Path, name: str, text: str, named: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ConfigPushError, match=named):
        load_overlay(path)
