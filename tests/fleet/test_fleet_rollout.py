"""A rollout offers its release wave by wave to a group, driven here by simulated fleet reports:
canaries first, the next wave only when the current one has finished, an abort as soon as too
many fail, timeouts that count only while a station is online, pause and resume, offline
stations that pick their offer up when they return, and a rollback that reverts only the
stations that committed. The bridge's tick is the only thing that produces messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from tuf.api.metadata import Metadata, TargetFile, Targets  # type: ignore[attr-defined]

from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.fleet_control import (
    FleetRollout,
    FleetRolloutEvent,
    FleetRolloutStation,
    RolloutState,
    RolloutStationState,
)
from cloud_bridge.fleet.groups import set_group
from cloud_bridge.fleet.inventory import record_birth, record_death
from cloud_bridge.fleet.reports import record_fleet_report
from cloud_bridge.fleet.rollout import (
    RolloutError,
    abort_rollout,
    pause_rollout,
    resume_rollout,
    rollback_rollout,
    rollout_tick,
    start_rollout,
)
from cloud_bridge.fleet.rollout_status import RolloutView, rollout_view
from cloud_bridge.fleet.standing import standing_update_messages
from edge.contract import (
    ConfigReport,
    FleetReport,
    StationBirth,
    StationDeath,
    StationId,
    UpdateOffered,
    UpdateReport,
    UpdateRevert,
    UpdateState,
    UpdateWithdrawn,
    WireMessage,
)

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
OLD, NEW = "0.1.0", "0.2.0"
GROUP = "hall-a"


@pytest.fixture(params=["sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bridge.db'}"
    else:
        url = request.getfixturevalue("postgres_schema_url")
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


class Fleet:
    """The bridge's side of a simulated fleet: births, reports and ticks, each a transaction."""

    def __init__(self, sessions: sessionmaker[Session], size: int) -> None:
        self.sessions = sessions
        self.now = T0
        self.bd_seq: dict[str, int] = {}
        self.stations = [StationId("w1", f"st{n:02d}") for n in range(1, size + 1)]
        for station in self.stations:
            self.birth(station)
        with sessions.begin() as session:
            set_group(session, [s.client_id for s in self.stations], GROUP, now=self.now)

    def station(self, name: str) -> StationId:
        return StationId("w1", name)

    def later(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def birth(self, station: StationId, version: str = OLD) -> None:
        self.bd_seq[station.client_id] = self.bd_seq.get(station.client_id, 0) + 1
        birth = StationBirth(
            bd_seq=self.bd_seq[station.client_id],
            at=self.now,
            software_version=version,
            config_version=0,
            outbox_depth=0,
            hardware=(),
        )
        with self.sessions.begin() as session:
            record_birth(session, station, birth)

    def death(self, station: StationId) -> None:
        death = StationDeath(bd_seq=self.bd_seq[station.client_id], at=self.now)
        with self.sessions.begin() as session:
            record_death(session, station, death)

    def start(self, **policy: Any) -> str:
        with self.sessions.begin() as session:
            rollout = start_rollout(session, version=NEW, group=GROUP, now=self.now, **policy)
            return rollout.name

    def tick(self) -> list[tuple[StationId, WireMessage]]:
        with self.sessions.begin() as session:
            return rollout_tick(session, self.now)

    def report(
        self,
        station: StationId,
        state: UpdateState,
        rollout: str,
        *,
        running: str = OLD,
        refusal: str | None = None,
    ) -> None:
        self.later(1)
        update = UpdateReport(
            state=state,
            running_version=running,
            target_version=NEW,
            rollout_id=rollout,
            refusal=refusal,  # type: ignore[arg-type]
            reason=f"{refusal} on purpose" if refusal else None,
            at=self.now,
        )
        report = FleetReport(at=self.now, config=ConfigReport(applied_version=0), update=update)
        with self.sessions.begin() as session:
            record_fleet_report(session, station, report)

    def commit(self, station: StationId, rollout: str) -> None:
        self.report(station, "downloading", rollout)
        self.report(station, "trial", rollout, running=NEW)
        self.report(station, "committed", rollout, running=NEW)

    def fail(self, station: StationId, rollout: str) -> None:
        self.report(station, "downloading", rollout)
        self.report(station, "rolled_back", rollout, refusal="health_gate")

    def rollout(self, name: str) -> FleetRollout:
        with self.sessions() as session:
            return session.scalars(
                select(FleetRollout).where(FleetRollout.id == int(name.split("-")[1]))
            ).one()

    def states(self, name: str) -> dict[str, RolloutStationState]:
        rollout_id = int(name.split("-")[1])
        with self.sessions() as session:
            rows = session.scalars(
                select(FleetRolloutStation).where(FleetRolloutStation.rollout_id == rollout_id)
            )
            return {row.station_id: row.state for row in rows}


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


def offered(messages: list[tuple[StationId, WireMessage]]) -> list[StationId]:
    return [station for station, message in messages if isinstance(message, UpdateOffered)]


def of_type(messages: list[tuple[StationId, WireMessage]], kind: type[WireMessage]) -> list[str]:
    return sorted(station.client_id for station, message in messages if isinstance(message, kind))


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"], indirect=True)
def test_a_good_release_reaches_twenty_stations_in_waves_of_1_2_4_8_5(
    sessions: sessionmaker[Session],
) -> None:
    fleet = Fleet(sessions, 20)
    name = fleet.start()
    waves: list[int] = []

    for _ in range(20):
        messages = fleet.tick()
        if offered(messages):
            waves.append(len(offered(messages)))
        if fleet.rollout(name).state is not RolloutState.RUNNING:
            break
        for station, message in messages:
            assert isinstance(message, UpdateOffered)
            assert (message.rollout_id, message.version) == (name, NEW)
            assert message.target == f"releases/{NEW}/release.json"
            fleet.commit(station, name)

    assert waves == [1, 2, 4, 8, 5]
    rollout = fleet.rollout(name)
    assert rollout.state is RolloutState.FINISHED
    assert rollout.state_reason == "20 updated, 0 failed, of 20 station(s)"
    assert set(fleet.states(name).values()) == {RolloutStationState.COMMITTED}


def test_the_next_wave_waits_until_every_station_of_the_current_one_finished(
    sessions: sessionmaker[Session],
) -> None:
    fleet = Fleet(sessions, 7)
    name = fleet.start()
    [canary] = offered(fleet.tick())
    fleet.report(canary, "trial", name, running=NEW)
    assert fleet.tick() == []
    fleet.report(canary, "committed", name, running=NEW)
    first, second = offered(fleet.tick())
    fleet.commit(first, name)
    fleet.report(second, "installing", name)

    assert fleet.tick() == []
    fleet.report(second, "committed", name, running=NEW)
    assert len(offered(fleet.tick())) == 4


def test_failing_canaries_abort_the_rollout_before_wave_2_and_withdraw_unstarted_offers(
    sessions: sessionmaker[Session],
) -> None:
    fleet = Fleet(sessions, 20)
    name = fleet.start(canaries=3, min_sample=2)
    canaries = offered(fleet.tick())
    assert len(canaries) == 3

    fleet.fail(canaries[0], name)
    assert fleet.tick() == []  # one failure is below the minimum sample of 2
    fleet.fail(canaries[1], name)
    messages = fleet.tick()

    rollout = fleet.rollout(name)
    assert rollout.state is RolloutState.ABORTED
    assert "2 of 2 finished station(s) failed (100 %" in rollout.state_reason
    assert of_type(messages, UpdateWithdrawn) == [canaries[2].client_id]
    assert offered(messages) == []
    states = fleet.states(name)
    assert states[canaries[2].client_id] is RolloutStationState.WITHDRAWN
    assert sum(state is RolloutStationState.WAITING for state in states.values()) == 17
    fleet.later(3600)
    assert fleet.tick() == []


def test_one_failed_canary_aborts_the_default_rollout(sessions: sessionmaker[Session]) -> None:
    fleet = Fleet(sessions, 20)
    name = fleet.start()
    [canary] = offered(fleet.tick())

    fleet.fail(canary, name)

    assert fleet.tick() == []
    assert fleet.rollout(name).state is RolloutState.ABORTED
    assert fleet.states(name)[canary.client_id] is RolloutStationState.FAILED


def test_a_station_that_does_not_finish_in_time_while_online_counts_as_failed(
    sessions: sessionmaker[Session],
) -> None:
    fleet = Fleet(sessions, 4)
    name = fleet.start(station_timeout_s=600)
    [canary] = offered(fleet.tick())
    fleet.report(canary, "downloading", name)

    fleet.later(590)
    assert fleet.tick() == []
    assert fleet.rollout(name).state is RolloutState.RUNNING
    fleet.later(20)
    fleet.tick()

    assert fleet.states(name)[canary.client_id] is RolloutStationState.TIMED_OUT
    rollout = fleet.rollout(name)
    assert rollout.state is RolloutState.ABORTED
    with sessions() as session:
        kinds = session.scalars(
            select(FleetRolloutEvent.kind).where(FleetRolloutEvent.rollout_id == rollout.id)
        ).all()
    assert kinds == ["started", "wave", "timed_out", "aborted"]


def test_pause_withdraws_unstarted_offers_and_resume_offers_them_again(
    sessions: sessionmaker[Session],
) -> None:
    fleet = Fleet(sessions, 7)
    name = fleet.start()
    [canary] = offered(fleet.tick())
    fleet.commit(canary, name)
    first, second = offered(fleet.tick())
    fleet.report(first, "downloading", name)

    with sessions.begin() as session:
        pause_rollout(session, name, now=fleet.now, reason="night shift")
    messages = fleet.tick()

    assert of_type(messages, UpdateWithdrawn) == [second.client_id]
    [(_, withdrawn)] = messages
    assert isinstance(withdrawn, UpdateWithdrawn)
    assert withdrawn.reason == f"{name} paused: night shift"
    fleet.commit(first, name)
    assert fleet.tick() == []  # paused: nothing more, though wave 1 could be done

    with sessions.begin() as session:
        resume_rollout(session, name, now=fleet.now)
    assert [s.client_id for s in offered(fleet.tick())] == [second.client_id]
    fleet.commit(second, name)
    assert len(offered(fleet.tick())) == 4  # the next wave
    assert fleet.rollout(name).state is RolloutState.RUNNING


def test_an_offline_station_keeps_its_offer_and_takes_it_when_it_returns(
    sessions: sessionmaker[Session],
) -> None:
    fleet = Fleet(sessions, 3)
    away = fleet.station("st03")
    fleet.death(away)
    name = fleet.start(station_timeout_s=600)
    [canary] = offered(fleet.tick())
    assert canary != away  # online stations are the canaries
    fleet.commit(canary, name)
    assert sorted(s.client_id for s in offered(fleet.tick())) == ["w1.st02", "w1.st03"]
    fleet.commit(fleet.station("st02"), name)

    fleet.later(7200)  # two hours offline do not count against its timeout
    assert fleet.tick() == []
    view_rows = {s.station_id: s for s in _view(sessions, name).stations}
    assert view_rows[away.client_id].state == "offered"
    assert view_rows[away.client_id].absent
    assert fleet.rollout(name).state is RolloutState.RUNNING

    fleet.birth(away)  # its retained offer is delivered on reconnect
    fleet.commit(away, name)
    fleet.tick()

    assert fleet.rollout(name).state is RolloutState.FINISHED
    assert fleet.states(name)[away.client_id] is RolloutStationState.COMMITTED


def test_an_offline_station_times_out_only_on_its_online_time(
    sessions: sessionmaker[Session],
) -> None:
    fleet = Fleet(sessions, 3)
    away = fleet.station("st03")
    fleet.death(away)
    name = fleet.start(station_timeout_s=600, abort_percent=50.0)
    fleet.commit(offered(fleet.tick())[0], name)
    fleet.tick()
    fleet.commit(fleet.station("st02"), name)
    fleet.later(3600)
    fleet.tick()

    fleet.birth(away)  # back, but it never starts
    fleet.later(500)
    fleet.tick()
    assert fleet.states(name)[away.client_id] is RolloutStationState.OFFERED
    fleet.later(200)
    fleet.tick()

    assert fleet.states(name)[away.client_id] is RolloutStationState.TIMED_OUT
    assert fleet.rollout(name).state is RolloutState.FINISHED
    assert fleet.rollout(name).state_reason == "2 updated, 1 failed, of 3 station(s)"


def test_a_wave_of_only_absent_stations_holds_the_rollout_until_one_returns(
    sessions: sessionmaker[Session],
) -> None:
    fleet = Fleet(sessions, 2)
    for station in fleet.stations:
        fleet.death(station)
    name = fleet.start()

    assert len(offered(fleet.tick())) == 1
    fleet.later(3600)
    assert fleet.tick() == []
    assert fleet.rollout(name).current_wave == 0


def test_rollback_sends_reverts_only_to_stations_that_committed(
    sessions: sessionmaker[Session],
) -> None:
    fleet = Fleet(sessions, 3)
    name = fleet.start(abort_percent=60.0)
    fleet.commit(offered(fleet.tick())[0], name)
    second, third = offered(fleet.tick())
    fleet.commit(second, name)
    fleet.fail(third, name)
    fleet.tick()
    assert fleet.rollout(name).state is RolloutState.FINISHED

    with sessions.begin() as session:
        rollback_rollout(session, name, now=fleet.now, reason="bad labels on 0.2.0")
    messages = fleet.tick()

    assert of_type(messages, UpdateRevert) == ["w1.st01", second.client_id]
    assert all(isinstance(m, UpdateRevert) and m.from_version == NEW for _, m in messages)
    assert fleet.tick() == []  # each revert is sent once
    fleet.report(second, "rolled_back", name, running=OLD)
    states = fleet.states(name)
    assert states[second.client_id] is RolloutStationState.REVERTED
    assert states["w1.st01"] is RolloutStationState.REVERTING
    assert states[third.client_id] is RolloutStationState.FAILED


def test_abort_ends_the_rollout_and_updated_stations_keep_the_release(
    sessions: sessionmaker[Session],
) -> None:
    fleet = Fleet(sessions, 5)
    name = fleet.start()
    [canary] = offered(fleet.tick())
    fleet.commit(canary, name)
    wave = offered(fleet.tick())

    with sessions.begin() as session:
        abort_rollout(session, name, now=fleet.now)
    messages = fleet.tick()

    assert of_type(messages, UpdateWithdrawn) == sorted(s.client_id for s in wave)
    assert of_type(messages, UpdateRevert) == []
    assert fleet.states(name)[canary.client_id] is RolloutStationState.COMMITTED
    with sessions.begin() as session, pytest.raises(RolloutError, match="aborted; it must be"):
        resume_rollout(session, name, now=fleet.now)


def test_stations_already_on_the_version_are_not_offered_it(
    sessions: sessionmaker[Session],
) -> None:
    fleet = Fleet(sessions, 3)
    fleet.birth(fleet.station("st01"), version="0.2.0")
    name = fleet.start()

    assert "w1.st01" not in [s.client_id for s in offered(fleet.tick())]
    assert fleet.states(name)["w1.st01"] is RolloutStationState.ALREADY


def test_a_rollout_needs_a_group_with_stations_and_only_one_runs_per_group(
    sessions: sessionmaker[Session],
) -> None:
    fleet = Fleet(sessions, 2)
    with sessions.begin() as session, pytest.raises(RolloutError, match="has no stations"):
        start_rollout(session, version=NEW, group="empty", now=fleet.now)
    name = fleet.start()

    with sessions.begin() as session, pytest.raises(RolloutError, match=f"already has {name}"):
        start_rollout(session, version="0.3.0", group=GROUP, now=fleet.now)


def test_a_rollout_of_a_version_the_repository_does_not_publish_is_refused(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    Fleet(sessions, 2)
    repository = tmp_path / "repo"
    (repository / "metadata").mkdir(parents=True)
    targets = Targets()
    path = "releases/0.1.5/release.json"
    targets.targets[path] = TargetFile.from_data(path, b"{}")
    Metadata(targets).to_file(str(repository / "metadata" / "targets.json"))

    with sessions.begin() as session, pytest.raises(RolloutError, match=r"published: 0\.1\.5"):
        start_rollout(session, version=NEW, group=GROUP, now=T0, repository_dir=repository)
    with sessions.begin() as session:
        start_rollout(session, version="0.1.5", group=GROUP, now=T0, repository_dir=repository)


def test_a_version_that_is_not_a_release_version_is_refused(
    sessions: sessionmaker[Session],
) -> None:
    Fleet(sessions, 1)
    with sessions.begin() as session, pytest.raises(RolloutError, match="not a valid release"):
        start_rollout(session, version="latest", group=GROUP, now=T0)


def _view(sessions: sessionmaker[Session], name: str) -> RolloutView:
    with sessions() as session:
        return rollout_view(session, name)


def test_after_an_abort_every_station_that_did_not_commit_is_told_to_stand_down(
    sessions: sessionmaker[Session],
) -> None:
    fleet = Fleet(sessions, 6)
    name = fleet.start(canaries=2, min_sample=2, abort_percent=40)
    first, second = offered(fleet.tick())
    fleet.commit(first, name)
    fleet.fail(second, name)
    fleet.tick()
    assert fleet.rollout(name).state is RolloutState.ABORTED

    with sessions() as session:
        standing = dict(standing_update_messages(session, fleet.now))

    assert isinstance(standing[second], UpdateWithdrawn)  # failed: its retained offer is replaced
    assert isinstance(standing[first], UpdateOffered)  # committed: the offer stands (a no-op)
    assert set(standing) == {first, second}  # the waiting ones were never sent anything


def test_after_a_rollback_the_committed_stations_keep_being_asked_to_revert(
    sessions: sessionmaker[Session],
) -> None:
    fleet = Fleet(sessions, 3)
    name = fleet.start()
    [canary] = offered(fleet.tick())
    fleet.commit(canary, name)
    fleet.tick()
    with sessions.begin() as session:
        rollback_rollout(session, name, now=fleet.now, reason="operator")
    lost = fleet.tick()  # as if these were published into a broker that then went away
    assert of_type(lost, UpdateRevert) == [canary.client_id]

    with sessions() as session:
        standing = dict(standing_update_messages(session, fleet.now))

    revert = standing[canary]
    assert isinstance(revert, UpdateRevert)
    assert revert.from_version == NEW
