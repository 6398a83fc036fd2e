"""Rollout groups are a name on each station's inventory row: stations can be grouped before they
ever report, taken out again, and a typo in the list changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.fleet import FleetStation
from cloud_bridge.fleet.groups import group_members, set_group
from cloud_bridge.fleet.inventory import record_birth
from cloud_bridge.fleet.names import FleetNameError
from cloud_bridge.fleet.rows import NEVER_SEEN
from cloud_bridge.fleet.status import FleetFilter, list_fleet
from edge.contract import StationBirth, StationId

AT = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine: Engine = make_engine(f"sqlite:///{tmp_path / 'bridge.db'}")
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


def group(sessions: sessionmaker[Session], stations: list[str], name: str | None) -> list[str]:
    with sessions.begin() as session:
        return [s.client_id for s in set_group(session, stations, name, now=AT)]


def members(sessions: sessionmaker[Session], name: str) -> list[str]:
    with sessions() as session:
        return [row.station_id for row in group_members(session, name)]


def test_a_station_never_seen_is_grouped_offline_and_never_seen(
    sessions: sessionmaker[Session],
) -> None:
    assert group(sessions, ["w2.st09"], "hall-a") == ["w2.st09"]

    with sessions() as session:
        row = session.get_one(FleetStation, "w2.st09")
        [listed] = list_fleet(session, FleetFilter(group="hall-a"))
    assert (row.site, row.group, row.online, row.last_seen) == ("w2", "hall-a", False, NEVER_SEEN)
    assert listed.as_json()["last_seen"] is None


def test_a_grouped_station_keeps_its_group_when_it_is_born(
    sessions: sessionmaker[Session],
) -> None:
    group(sessions, ["w1.st01"], "hall-a")
    birth = StationBirth(
        bd_seq=1, at=AT, software_version="0.1.0", config_version=0, outbox_depth=0, hardware=()
    )
    with sessions.begin() as session:
        record_birth(session, StationId("w1", "st01"), birth)

    with sessions() as session:
        row = session.get_one(FleetStation, "w1.st01")
    assert (row.group, row.online, row.last_seen) == ("hall-a", True, AT)


def test_set_group_reports_only_the_stations_that_moved(sessions: sessionmaker[Session]) -> None:
    group(sessions, ["w1.st01"], "hall-a")

    assert group(sessions, ["w1.st01", "w1.st02"], "hall-a") == ["w1.st02"]
    assert members(sessions, "hall-a") == ["w1.st01", "w1.st02"]


def test_clear_takes_stations_out_of_their_group(sessions: sessionmaker[Session]) -> None:
    group(sessions, ["w1.st01", "w1.st02"], "hall-a")

    assert group(sessions, ["w1.st02"], None) == ["w1.st02"]
    assert members(sessions, "hall-a") == ["w1.st01"]


def test_one_bad_station_id_changes_nothing(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(FleetNameError, match="station 'st02'"):
        group(sessions, ["w1.st01", "st02"], "hall-a")

    assert members(sessions, "hall-a") == []


@pytest.mark.parametrize("name", ["", "hall a", "-hall", "x" * 65])
def test_a_bad_group_name_is_refused_by_name(sessions: sessionmaker[Session], name: str) -> None:
    with pytest.raises(FleetNameError, match=f"group {name!r} is not a valid group name"):
        group(sessions, ["w1.st01"], name)
