"""How much one flooding station slows the other stations' ingest at one bridge instance.

A few stations publish at a packer's pace while one station floods the bridge with thousands of
valid events as fast as the broker takes them. The figure is the normal stations' apply latency
(publish to applied) with and without the flood, from the same broker and the same settings.
The flooder runs in a process of its own, like a real device, so it does not share this
process's interpreter lock with the bridge it floods.

The pieces are public because the flood test drives the same scenario and then replays the
flooder's events from its acknowledged cursor, as its outbox would.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine

from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.ingest.bench import GTIN, pick_or_return, seed_orders_at_stations
from cloud_bridge.ingest.consumer import ConsumerSettings, IngestConsumer
from cloud_bridge.ingest.fairness import FairnessSettings
from cloud_bridge.ingest.sequencer import IngestArgumentError, IngestError, IngestResult
from edge.contract import StationEvent, StationId, TopicKind, prepare, station_topic
from firmware_sim.broker import MosquittoBroker

__all__ = [
    "ApplyClock",
    "FloodRun",
    "FloodScenario",
    "consumer_on",
    "measure_flood",
    "order_of",
    "poll_until",
    "publish_from_another_process",
    "run_flood",
    "seed_scenario",
    "stream_of",
]

_SKU = "SKU-1"
_WINDOW = 100
"""QoS 1 publishes in flight at once, as a station's outbox replay keeps."""
_PUBLISH_LIMIT_S = 600.0
_WAIT_S = 120.0
_POLL_S = 0.02


@dataclass(frozen=True, slots=True)
class FloodScenario:
    """Who publishes what: ``normal_stations`` at a packer's pace, one station flooding."""

    normal_stations: int = 3
    normal_events: int = 50
    normal_pace_s: float = 0.1
    flood_events: int = 20_000

    def __post_init__(self) -> None:
        if self.normal_stations < 1 or self.normal_events < 1:
            raise IngestArgumentError(
                f"{self.normal_stations} normal stations of {self.normal_events} events; "
                "expected at least one of each"
            )
        if self.flood_events < 0 or self.normal_pace_s < 0:
            raise IngestArgumentError(
                f"flood_events {self.flood_events}, normal_pace_s {self.normal_pace_s}; "
                "expected neither below 0"
            )

    def normal(self, site: str) -> list[StationId]:
        return [
            StationId(site=site, station=f"st{n:02d}") for n in range(1, self.normal_stations + 1)
        ]

    def flooder(self, site: str) -> StationId:
        return StationId(site=site, station="flood")


@dataclass
class FloodRun:
    """What the normal stations saw while (or without) one station flooded."""

    latencies_s: list[float]
    """Publish to applied, for every normal event."""
    normal_done_s: float
    """From the start to the last normal event applied."""
    flood_published_s: float | None
    """From the start to the flooder's last PUBACK (None without a flood)."""
    flood_applied: int
    """Flood events applied by the time the normal stations were done."""
    flood_throttled: int

    def percentile_ms(self, share: float) -> float:
        ordered = sorted(self.latencies_s)
        index = min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))
        return ordered[index] * 1000.0


@dataclass
class ApplyClock:
    """The consumer's ``on_applied``: when each ``(station, seq)`` was applied, by this clock."""

    applied_at: dict[tuple[str, int], float] = field(default_factory=dict)

    def __call__(self, _event: StationEvent, result: IngestResult) -> None:
        now = time.perf_counter()
        for seq in result.applied:
            self.applied_at[(result.station_id, seq)] = now

    def applied(self, station: StationId) -> int:
        name = station.client_id
        return sum(1 for applied_station, _ in self.applied_at if applied_station == name)

    async def until_applied(self, keys: Sequence[tuple[str, int]], timeout_s: float) -> None:
        await poll_until(lambda: all(key in self.applied_at for key in keys), timeout_s)


async def poll_until(condition: Callable[[], bool], timeout_s: float) -> None:
    """Return once ``condition()`` holds; the consumer's counters have no event to wait on."""
    async with asyncio.timeout(timeout_s):
        while True:
            if condition():
                return
            await asyncio.sleep(_POLL_S)


def order_of(station: StationId) -> str:
    return f"SO-{station.station}"


def stream_of(station: StationId, events: int, *, first_seq: int = 1) -> list[bytes]:
    """The station's events ``first_seq``.. as published: picks and returns on its own order."""
    return [
        prepare(station, pick_or_return(seq, order_no=order_of(station), sku=_SKU)).payload
        for seq in range(first_seq, events + 1)
    ]


def seed_scenario(engine: Engine, scenario: FloodScenario, site: str) -> None:
    """An order being picked at every station of the scenario, the flooder's included."""
    stations = [*scenario.normal(site), scenario.flooder(site)]
    seed_orders_at_stations(
        engine, {station: order_of(station) for station in stations}, sku=_SKU, gtin=GTIN
    )


@asynccontextmanager
async def consumer_on(
    engine: Engine, broker: MosquittoBroker, fairness: FairnessSettings
) -> AsyncIterator[tuple[IngestConsumer, ApplyClock]]:
    """One bridge ingest consumer running on ``engine``, subscribed, with its apply clock."""
    clock = ApplyClock()
    consumer = IngestConsumer(
        session_factory(engine),
        ConsumerSettings(
            host=broker.host,
            port=broker.port,
            client_id=f"flood-bridge-{uuid.uuid4().hex[:8]}",
            fairness=fairness,
        ),
        on_applied=clock,
    )
    running = asyncio.create_task(consumer.run())
    try:
        async with asyncio.timeout(_WAIT_S):
            await consumer.ready.wait()
        yield consumer, clock
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def run_flood(
    broker: MosquittoBroker,
    consumer: IngestConsumer,
    clock: ApplyClock,
    scenario: FloodScenario,
    site: str,
    *,
    flood: Sequence[bytes] = (),
) -> FloodRun:
    """Publish the normal stations' events at their pace while the flooder publishes ``flood``
    (its payloads, `stream_of` the flooder) as fast as the broker takes them."""
    normal = scenario.normal(site)
    flooder = scenario.flooder(site)
    sent_at: dict[tuple[str, int], float] = {}
    started = time.perf_counter()
    flooding: asyncio.Task[None] | None = None
    if flood:
        topic = station_topic(flooder, TopicKind.EVENT)
        flooding = asyncio.create_task(
            asyncio.to_thread(publish_from_another_process, broker, topic, list(flood))
        )
        await _until_flooding(consumer, flooding)
    await asyncio.gather(
        *(_paced_station(broker, station, scenario, sent_at) for station in normal)
    )
    await clock.until_applied(list(sent_at), _WAIT_S)
    normal_done = max(clock.applied_at[key] for key in sent_at) - started
    flood_applied = clock.applied(flooder)
    flood_published: float | None = None
    if flooding is not None:
        await flooding
        flood_published = time.perf_counter() - started
    return FloodRun(
        latencies_s=[clock.applied_at[key] - sent for key, sent in sent_at.items()],
        normal_done_s=normal_done,
        flood_published_s=flood_published,
        flood_applied=flood_applied,
        flood_throttled=consumer.stats.throttled_by_station.get(flooder.client_id, 0),
    )


async def _until_flooding(consumer: IngestConsumer, flood: asyncio.Task[None]) -> None:
    """Wait for the flood to reach the consumer, so the normal stations publish into it."""
    await poll_until(lambda: consumer.stats.received + consumer.queued > 0 or flood.done(), _WAIT_S)


async def _paced_station(
    broker: MosquittoBroker,
    station: StationId,
    scenario: FloodScenario,
    sent_at: dict[tuple[str, int], float],
) -> None:
    topic = station_topic(station, TopicKind.EVENT)
    payloads = stream_of(station, scenario.normal_events)
    async with aiomqtt.Client(
        broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5
    ) as client:
        for seq, payload in enumerate(payloads, start=1):
            sent_at[(station.client_id, seq)] = time.perf_counter()
            await client.publish(topic, payload, qos=1)
            await asyncio.sleep(scenario.normal_pace_s)


def publish_from_another_process(
    broker: MosquittoBroker, topic: str, payloads: list[bytes]
) -> None:
    """Publish ``payloads`` on ``topic`` at QoS 1 from a child process, as fast as the broker
    takes them, and return once every PUBACK is in (blocking: call it in a worker thread)."""
    context = multiprocessing.get_context("spawn")
    child = context.Process(
        target=_publish_all, args=(broker.host, broker.port, topic, payloads), daemon=True
    )
    child.start()
    child.join(_PUBLISH_LIMIT_S)
    if child.is_alive():
        child.kill()
        child.join()
        raise IngestError(f"publishing {len(payloads)} messages on {topic!r} did not finish")
    if child.exitcode != 0:
        raise IngestError(f"the publisher of {topic!r} exited with {child.exitcode}; expected 0")


def _publish_all(host: str, port: int, topic: str, payloads: list[bytes]) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.max_inflight_messages_set(_WINDOW)
    client.connect(host, port)
    client.loop_start()
    try:
        sent = [client.publish(topic, payload, qos=1) for payload in payloads]
        for info in sent:
            info.wait_for_publish(_PUBLISH_LIMIT_S)
    finally:
        client.disconnect()
        client.loop_stop()


def measure_flood(
    scenario: FloodScenario | None = None, fairness: FairnessSettings | None = None
) -> dict[str, float]:
    """The normal stations' apply latency without and with a concurrent flood, same broker.

    Keys: ``quiet_p50_ms``, ``quiet_p95_ms``, ``quiet_p99_ms``, ``flood_p50_ms``,
    ``flood_p95_ms``, ``flood_p99_ms``,
    ``p99_ratio`` (flood over quiet), ``flood_events``, ``flood_throttled`` (dropped for the
    flooder's replay) and ``flood_applied`` (by the time the normal stations were done).
    """
    scenario = scenario or FloodScenario()
    fairness = fairness or FairnessSettings()
    quiet_scenario = FloodScenario(
        normal_stations=scenario.normal_stations,
        normal_events=scenario.normal_events,
        normal_pace_s=scenario.normal_pace_s,
        flood_events=0,
    )
    # A flood far beyond one client's default queue of 1,000 would otherwise be cut by the broker.
    with MosquittoBroker(extra_config="max_queued_messages 0\n") as broker:
        quiet = _run_on_fresh_database(broker, quiet_scenario, fairness)
        flooded = _run_on_fresh_database(broker, scenario, fairness)
    return {
        "quiet_p50_ms": quiet.percentile_ms(0.50),
        "quiet_p95_ms": quiet.percentile_ms(0.95),
        "quiet_p99_ms": quiet.percentile_ms(0.99),
        "flood_p50_ms": flooded.percentile_ms(0.50),
        "flood_p95_ms": flooded.percentile_ms(0.95),
        "flood_p99_ms": flooded.percentile_ms(0.99),
        "p99_ratio": flooded.percentile_ms(0.99) / quiet.percentile_ms(0.99),
        "flood_events": float(scenario.flood_events),
        "flood_throttled": float(flooded.flood_throttled),
        "flood_applied": float(flooded.flood_applied),
    }


def _run_on_fresh_database(
    broker: MosquittoBroker, scenario: FloodScenario, fairness: FairnessSettings
) -> FloodRun:
    site = f"b{uuid.uuid4().hex[:12]}"
    with tempfile.TemporaryDirectory() as directory:
        engine = make_engine(f"sqlite:///{Path(directory) / 'bridge.db'}")
        try:
            upgrade(engine)
            seed_scenario(engine, scenario, site)
            return asyncio.run(_run(engine, broker, scenario, fairness, site))
        finally:
            engine.dispose()


async def _run(
    engine: Engine,
    broker: MosquittoBroker,
    scenario: FloodScenario,
    fairness: FairnessSettings,
    site: str,
) -> FloodRun:
    flood = stream_of(scenario.flooder(site), scenario.flood_events)
    async with consumer_on(engine, broker, fairness) as (consumer, clock):
        return await run_flood(broker, consumer, clock, scenario, site, flood=flood)
