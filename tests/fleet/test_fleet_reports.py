"""A station's fleet report is folded into its inventory row and into the rollout it names,
newest ``at`` first: a redelivered older report changes nothing, and `packline fleet status`
shows the update state, the release being installed, and any refusal.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.fleet import FleetStation
from cloud_bridge.db.fleet_control import (
    FleetRolloutStation,
    FleetStationReport,
    RolloutStationState,
)
from cloud_bridge.fleet.groups import set_group
from cloud_bridge.fleet.reports import record_fleet_report
from cloud_bridge.fleet.rollout import rollout_tick, start_rollout
from cloud_bridge.fleet.status import fleet_table, list_fleet
from edge.contract import ConfigReport, FleetReport, StationId, UpdateReport, UpdateState

ST01 = StationId("w1", "st01")
AT = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine: Engine = make_engine(f"sqlite:///{tmp_path / 'bridge.db'}")
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


def report(
    state: UpdateState,
    *,
    at: datetime = AT,
    rollout: str | None = None,
    refusal: str | None = None,
    applied: int = 3,
    refused: int | None = None,
) -> FleetReport:
    return FleetReport(
        at=at,
        config=ConfigReport(
            applied_version=applied,
            refused_version=refused,
            refused_reason="printer.port: must be a number" if refused else None,
        ),
        update=UpdateReport(
            state=state,
            running_version="0.1.0",
            previous_version=None,
            target_version="0.2.0",
            rollout_id=rollout,
            refusal=refusal,  # type: ignore[arg-type]
            reason="metadata expired" if refusal else None,
            at=at,
        ),
    )


def record(sessions: sessionmaker[Session], message: FleetReport) -> bool:
    with sessions.begin() as session:
        return record_fleet_report(session, ST01, message)


def test_a_report_fills_the_fleet_row_and_the_report_row(
    sessions: sessionmaker[Session],
) -> None:
    assert record(sessions, report("refused", refusal="freeze", refused=4)) is True

    with sessions() as session:
        row = session.get_one(FleetStation, ST01.client_id)
        stored = session.get_one(FleetStationReport, ST01.client_id)
    assert (row.update_state, row.site, row.last_seen) == ("refused", "w1", AT)
    assert (stored.target_version, stored.refusal, stored.reason) == (
        "0.2.0",
        "freeze",
        "metadata expired",
    )
    assert (stored.config_applied_version, stored.config_refused_version) == (3, 4)
    assert stored.config_refused_reason == "printer.port: must be a number"


def test_an_older_report_arriving_late_changes_nothing(sessions: sessionmaker[Session]) -> None:
    record(sessions, report("trial", at=AT + timedelta(seconds=10)))

    assert record(sessions, report("downloading")) is False

    with sessions() as session:
        assert session.get_one(FleetStation, ST01.client_id).update_state == "trial"
        assert session.get_one(FleetStationReport, ST01.client_id).update_state == "trial"


def test_the_same_report_twice_is_harmless(sessions: sessionmaker[Session]) -> None:
    assert record(sessions, report("committed")) is True
    assert record(sessions, report("committed")) is True

    with sessions() as session:
        assert session.get_one(FleetStation, ST01.client_id).update_state == "committed"


def test_a_report_moves_the_station_in_the_rollout_it_names(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        set_group(session, [ST01.client_id], "g", now=AT)
        name = start_rollout(session, version="0.2.0", group="g", now=AT).name
    with sessions.begin() as session:
        rollout_tick(session, AT)

    steps: list[tuple[UpdateState, RolloutStationState]] = [
        ("downloading", RolloutStationState.STARTED),
        ("trial", RolloutStationState.STARTED),
        ("committed", RolloutStationState.COMMITTED),
    ]
    for seconds, (state, expected) in enumerate(steps, start=1):
        record(sessions, report(state, at=AT + timedelta(seconds=seconds), rollout=name))
        with sessions() as session:
            row = session.get_one(FleetRolloutStation, (1, ST01.client_id))
        assert (row.state, row.update_state) == (expected, state)

    record(sessions, report("downloading", rollout=name))  # an old retained one
    with sessions() as session:
        assert session.get_one(FleetRolloutStation, (1, ST01.client_id)).state is (
            RolloutStationState.COMMITTED
        )


def test_a_refusal_is_kept_on_the_rollout_row_with_its_name(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        set_group(session, [ST01.client_id], "g", now=AT)
        name = start_rollout(session, version="0.2.0", group="g", now=AT).name
    with sessions.begin() as session:
        rollout_tick(session, AT)

    record(
        sessions, report("refused", at=AT + timedelta(seconds=1), rollout=name, refusal="freeze")
    )

    with sessions() as session:
        row = session.get_one(FleetRolloutStation, (1, ST01.client_id))
    assert (row.state, row.refusal, row.reason) == (
        RolloutStationState.FAILED,
        "freeze",
        "metadata expired",
    )


def test_a_report_naming_an_unknown_rollout_is_still_recorded(
    sessions: sessionmaker[Session],
) -> None:
    assert record(sessions, report("committed", rollout="rollout-99")) is True


def test_fleet_status_shows_the_target_version_and_the_refusals(
    sessions: sessionmaker[Session],
) -> None:
    record(sessions, report("refused", refusal="freeze", refused=4))

    with sessions() as session:
        [row] = list_fleet(session)
    assert (row.update_state, row.target_version, row.update_refusal) == (
        "refused",
        "0.2.0",
        "freeze",
    )
    assert row.as_json()["config_refused_version"] == 4
    from rich.console import Console

    console = Console(width=300, record=True)
    console.print(fleet_table([row]))
    line = next(line for line in console.export_text().splitlines() if "w1.st01" in line)
    assert "refused -> 0.2.0 (freeze)" in line
    assert "3 (refused 4: printer.port: must be a number)" in line
    assert "never" not in line
