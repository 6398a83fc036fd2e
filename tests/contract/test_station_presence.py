"""Presence: a persisted bd_seq per connection, a retained Will for death, stale deaths ignored."""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import pytest

from edge.contract import (
    StationBirth,
    StationDeath,
    StationId,
    TopicKind,
    decode,
    station_topic,
)
from edge.station.counters import DurableCounter
from edge.station.presence import begin_connection, is_stale_death, supersedes
from firmware_sim.broker import MosquittoBroker

TIMEOUT = 30.0
AT = datetime(2025, 3, 4, 10, 30, tzinfo=UTC)
CHILD = Path(__file__).with_name("presence_station.py")


def birth(bd_seq: int) -> StationBirth:
    return StationBirth(bd_seq=bd_seq, at=AT, software_version="1.0", config_version=1)


def death(bd_seq: int) -> StationDeath:
    return StationDeath(bd_seq=bd_seq, at=AT)


# --- the bridge-side rule ----------------------------------------------------------------------


def test_a_death_older_than_the_current_birth_is_stale() -> None:
    assert is_stale_death(death(4), current=birth(5))
    assert not supersedes(death(4), current=birth(5))


def test_the_death_of_the_current_connection_takes_the_station_offline() -> None:
    assert not is_stale_death(death(5), current=birth(5))
    assert supersedes(death(5), current=birth(5))


def test_a_birth_of_a_new_connection_supersedes_the_previous_death() -> None:
    assert supersedes(birth(6), current=death(5))


def test_a_late_duplicate_of_a_birth_does_not_undo_its_own_death() -> None:
    assert not supersedes(birth(5), current=death(5))


def test_a_rebirth_with_the_same_bd_seq_refreshes_the_state() -> None:
    assert supersedes(birth(5), current=birth(5))


def test_a_death_for_a_connection_whose_birth_was_never_seen_still_counts() -> None:
    assert supersedes(death(7), current=birth(5))
    assert not is_stale_death(death(7), current=birth(5))


def test_the_first_state_seen_is_always_taken() -> None:
    assert supersedes(death(1), current=None)
    assert not is_stale_death(death(1), current=None)


# --- building the Will and birth -----------------------------------------------------------------


def test_each_connection_takes_a_higher_bd_seq_shared_by_its_will_and_birth(
    tmp_path: Path, station_id: StationId
) -> None:
    with DurableCounter(tmp_path / "bd_seq") as counter:
        first = begin_connection(station_id, counter, software_version="1.0", config_version=2)
        second = begin_connection(station_id, counter, software_version="1.0", config_version=2)

    will = decode(first.will.topic, bytes(first.will.payload)).message  # type: ignore[arg-type]
    born = decode(first.birth.topic, first.birth.payload).message
    assert isinstance(will, StationDeath)
    assert isinstance(born, StationBirth)
    assert will.bd_seq == born.bd_seq == first.bd_seq
    assert second.bd_seq > first.bd_seq


def test_the_will_is_a_retained_qos1_death_on_the_stations_state_topic(
    tmp_path: Path, station_id: StationId
) -> None:
    with DurableCounter(tmp_path / "bd_seq") as counter:
        presence = begin_connection(station_id, counter, software_version="1", config_version=0)

    assert presence.will.topic == station_topic(station_id, TopicKind.STATE)
    assert (presence.will.qos, presence.will.retain) == (1, True)
    assert (presence.birth.qos, presence.birth.retain) == (1, True)


def test_bd_seq_continues_after_a_restart(tmp_path: Path, station_id: StationId) -> None:
    with DurableCounter(tmp_path / "bd_seq") as counter:
        before = begin_connection(station_id, counter, software_version="1", config_version=0)
    with DurableCounter(tmp_path / "bd_seq") as counter:
        after = begin_connection(station_id, counter, software_version="1", config_version=0)

    assert after.bd_seq == before.bd_seq + 1


# --- with a real broker and a station process that gets killed -----------------------------------


class StationProcess:
    """The presence station in its own process, so SIGKILL is a real unclean death."""

    def __init__(self, broker: MosquittoBroker, state_dir: Path, station_id: StationId) -> None:
        self._args = [
            str(CHILD),
            f"--host={broker.host}",
            f"--port={broker.port}",
            f"--state-dir={state_dir}",
            f"--station-id={station_id.client_id}",
        ]
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> int:
        """Start the station and return the bd_seq it announced."""
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, *self._args, stdout=asyncio.subprocess.PIPE
        )
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), TIMEOUT)
        assert line.startswith(b"online "), f"station did not come online: {line!r}"
        return int(line.split()[1])

    async def kill(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self._process.wait(), TIMEOUT)

    async def close(self) -> None:
        if self._process is not None and self._process.returncode is None:
            await self.kill()


async def next_state(client: aiomqtt.Client) -> StationBirth | StationDeath:
    message = await asyncio.wait_for(anext(client.messages), TIMEOUT)
    assert isinstance(message.payload, bytes)
    state = decode(str(message.topic), message.payload).message
    assert isinstance(state, StationBirth | StationDeath)
    return state


def observer(broker: MosquittoBroker) -> aiomqtt.Client:
    return aiomqtt.Client(
        broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5, timeout=TIMEOUT
    )


async def retained_state(
    broker: MosquittoBroker, station_id: StationId
) -> StationBirth | StationDeath:
    """What a bridge connecting now would learn from the retained state topic."""
    async with observer(broker) as late_comer:
        await late_comer.subscribe(station_topic(station_id, TopicKind.STATE), qos=1)
        return await next_state(late_comer)


@pytest.mark.broker
async def test_killing_a_station_makes_the_broker_publish_its_retained_death(
    mosquitto: MosquittoBroker, tmp_path: Path, station_id: StationId
) -> None:
    station = StationProcess(mosquitto, tmp_path, station_id)
    try:
        async with observer(mosquitto) as bridge:
            await bridge.subscribe(station_topic(station_id, TopicKind.STATE), qos=1)
            bd_seq = await station.start()
            born = await next_state(bridge)
            await station.kill()
            died = await next_state(bridge)

        assert isinstance(born, StationBirth)
        assert isinstance(died, StationDeath)
        assert died.bd_seq == born.bd_seq == bd_seq
        assert await retained_state(mosquitto, station_id) == died
    finally:
        await station.close()


@pytest.mark.broker
async def test_a_restarted_station_is_born_again_with_a_higher_bd_seq_and_that_is_retained(
    mosquitto: MosquittoBroker, tmp_path: Path, station_id: StationId
) -> None:
    station = StationProcess(mosquitto, tmp_path, station_id)
    try:
        async with observer(mosquitto) as bridge:
            await bridge.subscribe(station_topic(station_id, TopicKind.STATE), qos=1)
            first_bd_seq = await station.start()
            await station.kill()
            second_bd_seq = await station.start()
            seen = [await next_state(bridge) for _ in range(3)]

        assert [(type(state), state.bd_seq) for state in seen] == [
            (StationBirth, first_bd_seq),
            (StationDeath, first_bd_seq),
            (StationBirth, second_bd_seq),
        ]
        assert second_bd_seq > first_bd_seq
        latest = await retained_state(mosquitto, station_id)
        assert isinstance(latest, StationBirth)
        assert latest.bd_seq == second_bd_seq
    finally:
        await station.close()


@pytest.mark.broker
async def test_the_bridge_rule_keeps_the_station_online_whatever_order_the_states_arrive_in(
    mosquitto: MosquittoBroker, tmp_path: Path, station_id: StationId
) -> None:
    station = StationProcess(mosquitto, tmp_path, station_id)
    try:
        async with observer(mosquitto) as bridge:
            await bridge.subscribe(station_topic(station_id, TopicKind.STATE), qos=1)
            await station.start()
            await station.kill()
            await station.start()
            first_birth, first_death, second_birth = [await next_state(bridge) for _ in range(3)]
        assert isinstance(first_death, StationDeath)

        # Replay the real states with the Will arriving last, as a clustered broker could.
        current: StationBirth | StationDeath | None = None
        for state in (first_birth, second_birth, first_death):
            if supersedes(state, current):
                current = state

        assert current == second_birth
        assert is_stale_death(first_death, current)
    finally:
        await station.close()
