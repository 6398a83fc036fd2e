"""A station flooding the bridge is throttled there without starving the other stations' ingest.

The fair queue's rules are pinned down first, on their own with a hand-driven clock; then a real
Mosquitto and a real SQLite bridge database take a 20,000-event flood from a station in a
process of its own while three stations work at a packer's pace, and the flooder replays from
its acknowledged cursor, as its outbox does, until every event it sent is applied once.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import aiomqtt
import pytest
from sqlalchemy import Engine, func, select

from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.models import AppliedEvent
from cloud_bridge.db.parking import ParkedEvent
from cloud_bridge.ingest.bench_flood import (
    ApplyClock,
    FloodScenario,
    consumer_on,
    poll_until,
    publish_from_another_process,
    run_flood,
    seed_scenario,
    stream_of,
)
from cloud_bridge.ingest.consumer import ConsumerSettings, IngestConsumer
from cloud_bridge.ingest.fairness import Admission, FairnessSettings, FairQueue
from cloud_bridge.ingest.sequencer import read_cursor
from edge.contract import Ack, StationId, TopicKind, decode_for, station_topic
from firmware_sim.broker import MosquittoBroker

pytestmark = pytest.mark.broker

WAIT_S = 240.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def drain(queue: FairQueue[str]) -> list[str]:
    taken: list[str] = []
    while (item := queue.take()) is not None:
        taken.append(item[1])
    return taken


# --- the fair queue on its own -------------------------------------------------------------


def test_stations_are_served_in_turn_so_a_backlog_delays_another_station_by_one_event() -> None:
    queue: FairQueue[str] = FairQueue(FairnessSettings(station_burst=1000), clock=Clock())
    for seq in range(1, 101):
        queue.offer("flood", seq, f"flood-{seq}")
    queue.offer("quiet", 1, "quiet-1")
    queue.offer("other", 1, "other-1")

    assert drain(queue)[:5] == ["flood-1", "quiet-1", "other-1", "flood-2", "flood-3"]


def test_a_station_past_its_burst_is_served_at_its_sustained_rate() -> None:
    clock = Clock()
    settings = FairnessSettings(station_rate_per_s=10, station_burst=3)
    queue: FairQueue[str] = FairQueue(settings, clock=clock)
    for seq in range(1, 11):
        queue.offer("busy", seq, f"busy-{seq}")

    assert drain(queue) == ["busy-1", "busy-2", "busy-3"]
    assert queue.wait_s() == pytest.approx(0.1)
    clock.now += 0.2
    assert drain(queue) == ["busy-4", "busy-5"]
    clock.now += 10
    assert drain(queue) == ["busy-6", "busy-7", "busy-8"], "a long pause earns one burst at most"
    assert len(queue) == 2


def test_a_full_queue_drops_and_holds_back_later_events_until_the_missing_one_returns() -> None:
    queue: FairQueue[str] = FairQueue(FairnessSettings(station_queue=3), clock=Clock())
    offered = [queue.offer("busy", seq, f"busy-{seq}") for seq in range(1, 7)]

    assert offered == [Admission.QUEUED] * 3 + [Admission.QUEUE_FULL] + [Admission.BEHIND_GAP] * 2
    assert drain(queue) == ["busy-1", "busy-2", "busy-3"]
    assert queue.held_stations == ["busy"]
    assert queue.offer("busy", 5, "busy-5") is Admission.BEHIND_GAP
    assert queue.offer("busy", 4, "busy-4") is Admission.QUEUED
    assert queue.held_stations == []
    assert queue.offer("busy", 5, "busy-5") is Admission.QUEUED
    assert queue.dropped["busy"] == 4


def test_a_hold_ends_when_the_cursor_is_seen_past_the_missing_event() -> None:
    queue: FairQueue[str] = FairQueue(FairnessSettings(station_queue=1), clock=Clock())
    queue.offer("busy", 1, "busy-1")
    queue.offer("busy", 2, "busy-2")
    drain(queue)

    queue.cursor_seen("busy", 1)
    assert queue.held_stations == ["busy"]
    queue.cursor_seen("busy", 2)
    assert queue.held_stations == []
    assert queue.offer("busy", 3, "busy-3") is Admission.QUEUED


def test_a_throttled_station_is_logged_once_per_interval_with_its_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    settings = FairnessSettings(station_queue=1, throttle_log_interval_s=10)
    queue: FairQueue[str] = FairQueue(settings, clock=clock)
    with caplog.at_level("WARNING", logger="packline.bridge.ingest"):
        for seq in range(1, 6):
            queue.offer("busy", seq, f"busy-{seq}")
        clock.now += 10
        queue.tick()

    lines = [record.getMessage() for record in caplog.records if "throttled" in record.message]
    assert len(lines) == 2
    assert "station=busy dropped=1 total_dropped=1" in lines[0]
    assert "station=busy dropped=3 total_dropped=4" in lines[1]


def test_an_idle_station_is_forgotten_once_its_bucket_is_full_again() -> None:
    clock = Clock()
    queue: FairQueue[str] = FairQueue(FairnessSettings(station_rate_per_s=10), clock=clock)
    queue.offer("quiet", 1, "quiet-1")
    drain(queue)
    queue.tick()
    assert queue.queued("quiet") == 0
    clock.now += 1
    queue.tick()

    assert queue.wait_s() is None
    assert not queue.held_stations


def test_fairness_settings_refuse_a_rate_of_zero_naming_the_key() -> None:
    with pytest.raises(ValueError, match="station_rate_per_s"):
        FairnessSettings(station_rate_per_s=0)


# --- a real broker and database ------------------------------------------------------------


@pytest.fixture(scope="module")
def roomy_broker() -> Iterator[MosquittoBroker]:
    """A broker that queues without limit for the bridge, so only the bridge drops events."""
    with MosquittoBroker(extra_config="max_queued_messages 0\n") as broker:
        yield broker


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


class AckWatch:
    """What the station's outbox knows: the highest ack the bridge has published for it."""

    def __init__(self) -> None:
        self.highest = 0

    def reached(self, seq: int) -> bool:
        return self.highest >= seq


@asynccontextmanager
async def watching_acks(broker: MosquittoBroker, station: StationId) -> AsyncIterator[AckWatch]:
    watch = AckWatch()
    async with aiomqtt.Client(
        broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5
    ) as client:
        await client.subscribe(station_topic(station, TopicKind.ACK), qos=1)

        async def follow() -> None:
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                ack = decode_for(TopicKind.ACK, message.payload)
                assert isinstance(ack, Ack)
                watch.highest = max(watch.highest, ack.highest_seq)

        following = asyncio.create_task(follow())
        try:
            yield watch
        finally:
            following.cancel()
            await asyncio.gather(following, return_exceptions=True)


async def settled(consumers: Sequence[IngestConsumer], published: int) -> None:
    """Every published message dealt with, nothing queued, no ack left to publish."""
    await poll_until(
        lambda: (
            sum(consumer.stats.received for consumer in consumers) >= published
            and all(consumer.queued == 0 and consumer.acks_settled for consumer in consumers)
        ),
        WAIT_S,
    )


async def replay_until_acknowledged(
    broker: MosquittoBroker,
    consumers: Sequence[IngestConsumer],
    engine: Engine,
    *,
    station: StationId,
    events: list[bytes],
    watch: AckWatch,
    published: int,
) -> int:
    """Republish from the acknowledged seq on, as the outbox does after an ack stall, until the
    last event is acknowledged; return how many messages were published in all."""
    topic = station_topic(station, TopicKind.EVENT)
    while True:
        await settled(consumers, published)
        await poll_until(partial(watch.reached, cursor_of(engine, station)), WAIT_S)
        if watch.highest >= len(events):
            return published
        pending = events[watch.highest :]
        await asyncio.to_thread(publish_from_another_process, broker, topic, pending)
        published += len(pending)


def cursor_of(engine: Engine, station: StationId) -> int:
    with session_factory(engine)() as session:
        return read_cursor(session, station.client_id)


def applied_seqs(engine: Engine, station: StationId) -> list[int]:
    with session_factory(engine)() as session:
        return list(
            session.scalars(
                select(AppliedEvent.seq)
                .where(AppliedEvent.station_id == station.client_id)
                .order_by(AppliedEvent.seq)
            )
        )


def parked_rows(engine: Engine) -> int:
    with session_factory(engine)() as session:
        return session.scalar(select(func.count()).select_from(ParkedEvent)) or 0


def event_ids(payloads: Sequence[bytes]) -> set[str]:
    return {json.loads(payload)["event_id"] for payload in payloads}


def applied_event_ids(engine: Engine, station: StationId) -> set[str]:
    with session_factory(engine)() as session:
        return set(
            session.scalars(
                select(AppliedEvent.event_id).where(AppliedEvent.station_id == station.client_id)
            )
        )


@pytest.mark.timeout(900)
async def test_a_flooding_station_does_not_starve_the_others_and_loses_nothing(
    engine: Engine, roomy_broker: MosquittoBroker
) -> None:
    scenario = FloodScenario(
        normal_stations=3, normal_events=50, normal_pace_s=0.1, flood_events=20_000
    )
    # The flooder may use the database as fast as it goes, so the test ends in minutes; the
    # queue bound, not the rate, is what drops its events here.
    fairness = FairnessSettings(station_rate_per_s=1000, station_burst=500, station_queue=1000)
    site = f"f{uuid.uuid4().hex[:12]}"
    seed_scenario(engine, scenario, site)
    flooder = scenario.flooder(site)
    flood = stream_of(flooder, scenario.flood_events)

    async with (
        consumer_on(engine, roomy_broker, fairness) as (consumer, clock),
        watching_acks(roomy_broker, flooder) as watch,
    ):
        started = time.perf_counter()
        run = await run_flood(roomy_broker, consumer, clock, scenario, site, flood=flood)
        published = scenario.normal_stations * scenario.normal_events + len(flood)
        await replay_until_acknowledged(
            roomy_broker,
            [consumer],
            engine,
            station=flooder,
            events=flood,
            watch=watch,
            published=published,
        )
        flood_done = max(clock.applied_at[(flooder.client_id, seq)] for seq in range(1, 20_001))

    assert run.normal_done_s < flood_done - started
    assert max(run.latencies_s) < 10.0, f"normal p99 {run.percentile_ms(0.99):.0f} ms"
    assert run.flood_throttled > 0
    assert consumer.stats.throttled_by_station == {flooder.client_id: consumer.stats.throttled}
    for station in scenario.normal(site):
        assert applied_seqs(engine, station) == list(range(1, 51))
    assert applied_seqs(engine, flooder) == list(range(1, 20_001))
    assert applied_event_ids(engine, flooder) == event_ids(flood)
    assert parked_rows(engine) == 0


async def test_two_instances_dropping_a_flood_apply_every_event_once_after_the_replay(
    engine: Engine, roomy_broker: MosquittoBroker
) -> None:
    """Each instance drops what overflows its own queue, so one instance can apply (or park)
    an event after a gap the other left: the sequencer parks it and the replay fills the gap."""
    scenario = FloodScenario(normal_stations=1, flood_events=2_000)
    fairness = FairnessSettings(station_rate_per_s=1000, station_burst=50, station_queue=50)
    site = f"f{uuid.uuid4().hex[:12]}"
    seed_scenario(engine, scenario, site)
    flooder = scenario.flooder(site)
    flood = stream_of(flooder, scenario.flood_events)
    group = f"bridge-{uuid.uuid4().hex[:8]}"
    consumers = [
        IngestConsumer(
            session_factory(engine),
            ConsumerSettings(
                host=roomy_broker.host,
                port=roomy_broker.port,
                client_id=f"{group}-{number}",
                share_group=group,
                fairness=fairness,
            ),
            on_applied=ApplyClock(),
        )
        for number in range(2)
    ]
    running = [asyncio.create_task(consumer.run()) for consumer in consumers]
    try:
        await poll_until(lambda: all(consumer.ready.is_set() for consumer in consumers), WAIT_S)
        async with watching_acks(roomy_broker, flooder) as watch:
            topic = station_topic(flooder, TopicKind.EVENT)
            await asyncio.to_thread(publish_from_another_process, roomy_broker, topic, flood)
            await replay_until_acknowledged(
                roomy_broker,
                consumers,
                engine,
                station=flooder,
                events=flood,
                watch=watch,
                published=len(flood),
            )
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    assert sum(consumer.stats.throttled for consumer in consumers) > 0
    assert sum(consumer.stats.applied for consumer in consumers) == len(flood)
    assert applied_seqs(engine, flooder) == list(range(1, len(flood) + 1))
    assert applied_event_ids(engine, flooder) == event_ids(flood)
    assert parked_rows(engine) == 0


async def test_a_burst_past_the_limit_waits_in_its_queue_and_is_applied_at_the_rate(
    engine: Engine, roomy_broker: MosquittoBroker
) -> None:
    scenario = FloodScenario(normal_stations=1, flood_events=0)
    fairness = FairnessSettings(station_rate_per_s=20, station_burst=10, station_queue=100)
    site = f"f{uuid.uuid4().hex[:12]}"
    seed_scenario(engine, scenario, site)
    (station,) = scenario.normal(site)
    events = stream_of(station, 50)

    async with consumer_on(engine, roomy_broker, fairness) as (consumer, clock):
        topic = station_topic(station, TopicKind.EVENT)
        await asyncio.to_thread(publish_from_another_process, roomy_broker, topic, events)
        await settled([consumer], len(events))

    times = sorted(clock.applied_at.values())
    assert consumer.stats.throttled == 0
    assert applied_seqs(engine, station) == list(range(1, 51))
    # 10 at once, then 40 at 20/s: about two seconds from the first to the last.
    assert times[-1] - times[0] >= 1.6
