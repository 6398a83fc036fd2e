"""Outbox replay: the station uplink draining a backlog to Mosquitto, beside raw paho.

Both runs send the same event payloads at QoS 1 to the same private broker, and both are timed
until a subscriber has received the last one. The uplink run starts when the subscriber sees the
birth (the uplink replays straight after it) and includes what a station really pays: reading the
events back from the journalled outbox, validating and encoding each, and a bounded window of
publishes awaiting their PUBACK. The baseline hands the bytes to paho's network thread as fast as
it takes them.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import threading
import time
from pathlib import Path

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from tinydb import TinyDB

from edge.contract import (
    OrderScanned,
    StationBirth,
    StationEvent,
    StationId,
    TopicKind,
    decode,
    prepare,
    station_topic,
)
from edge.station.counters import DurableCounter
from edge.station.outbox import Outbox
from edge.station.storage import JournalStorage
from edge.station.uplink import BirthInfo, BrokerSettings, Uplink
from firmware_sim.broker import MosquittoBroker

__all__ = ["measure_replay"]

_WAIT = 120.0
_WINDOW = 100
_BENCH_SITE = "bench"
_UNBOUNDED_QUEUES = "max_queued_messages 0\n"
"""Mosquitto drops (silently) what exceeds 1000 queued messages per client by default; a
subscriber that falls behind a 10,000-event burst would otherwise never see the last one."""


async def _receive(subscriber: aiomqtt.Client, expected: int) -> tuple[float | None, float]:
    """Read until `expected` distinct events arrived: (when a birth arrived, when the last did)."""
    seen: set[int] = set()
    born: float | None = None
    async with asyncio.timeout(_WAIT):
        async for message in subscriber.messages:
            assert isinstance(message.payload, bytes)
            decoded = decode(str(message.topic), message.payload).message
            if isinstance(decoded, StationBirth):
                born = time.perf_counter()
            elif isinstance(decoded, StationEvent):
                seen.add(decoded.seq)
                if len(seen) == expected:
                    break
    if len(seen) != expected:
        raise RuntimeError(f"bench: received {len(seen)} of {expected} events")
    return born, time.perf_counter()


def _fill_outbox(directory: Path, events: int) -> tuple[TinyDB, Outbox]:
    db = TinyDB(directory / "station.json", storage=JournalStorage)
    outbox = Outbox(db, max_events=max(50_000, 2 * events))
    storage: JournalStorage = db.storage  # type: ignore[assignment]
    with storage.transaction():
        for index in range(events):
            outbox.append(OrderScanned, order_id=f"BENCH-{index:06d}", order_version=1)
    return db, outbox


async def _noop(_message: object) -> None:
    return None


async def _uplink_replay(
    broker: MosquittoBroker, station_id: StationId, directory: Path, events: int
) -> tuple[float, list[bytes]]:
    db, outbox = _fill_outbox(directory, events)
    payloads = [prepare(station_id, event).payload for event in outbox.pending()]
    settings = BrokerSettings(url=broker.url, publish_window=_WINDOW)
    with DurableCounter(directory / "bd_seq") as counter:
        uplink = Uplink(
            station_id,
            settings,
            outbox,
            counter,
            birth=lambda: BirthInfo(software_version="bench", config_version=0),
            on_message=_noop,
            rng=random.Random(0),
        )
        async with aiomqtt.Client(
            broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5, timeout=_WAIT
        ) as subscriber:
            await subscriber.subscribe(station_topic(station_id, TopicKind.STATE), qos=1)
            await subscriber.subscribe(station_topic(station_id, TopicKind.EVENT), qos=1)
            task = asyncio.create_task(uplink.run())
            try:
                born, end = await _receive(subscriber, events)
            finally:
                await uplink.stop()
                await task
    db.close()
    if born is None:
        raise RuntimeError("bench: the uplink replayed without publishing its birth first")
    return end - born, payloads


async def _paho_publish(broker: MosquittoBroker, topic: str, payloads: list[bytes]) -> float:
    publisher = paho.Client(
        CallbackAPIVersion.VERSION2, client_id="bench-paho", protocol=paho.MQTTv5
    )
    publisher.max_inflight_messages_set(_WINDOW)
    connected = threading.Event()
    publisher.on_connect = lambda *_args: connected.set()
    publisher.connect(broker.host, broker.port)
    publisher.loop_start()
    try:
        if not connected.wait(_WAIT):
            raise RuntimeError("bench: paho did not connect to the broker")
        async with aiomqtt.Client(
            broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5, timeout=_WAIT
        ) as subscriber:
            await subscriber.subscribe(topic, qos=1)

            def publish_all() -> None:
                for payload in payloads:
                    publisher.publish(topic, payload, qos=1)

            receiving = asyncio.create_task(_receive(subscriber, len(payloads)))
            start = time.perf_counter()
            await asyncio.to_thread(publish_all)
            _, end = await receiving
    finally:
        publisher.disconnect()
        publisher.loop_stop()
    return end - start


async def _measure(events: int) -> tuple[float, float]:
    uplink_station = StationId(_BENCH_SITE, "uplink")
    paho_station = StationId(_BENCH_SITE, "paho")
    with (
        tempfile.TemporaryDirectory() as directory,
        MosquittoBroker(extra_config=_UNBOUNDED_QUEUES) as broker,
    ):
        uplink_seconds, payloads = await _uplink_replay(
            broker, uplink_station, Path(directory), events
        )
        topic = station_topic(paho_station, TopicKind.EVENT)
        paho_seconds = await _paho_publish(broker, topic, payloads)
    return uplink_seconds, paho_seconds


def measure_replay(events: int = 10_000) -> tuple[float, float]:
    """(seconds for the uplink to replay `events` pending events, seconds for raw paho).

    Each is measured until a subscriber on the same Mosquitto has received the last event.
    """
    if events < 1:
        raise ValueError(f"events must be at least 1, got {events}")
    return asyncio.run(_measure(events))
