"""The station's and the bridge's message handlers fed hostile payloads: each refused message is
counted, nothing escapes, and a valid message after the garbage is still applied.

In-process runs (Hypothesis, shrinking) drive the real objects through the entry points their MQTT
loops call; the broker runs send a drawn batch through a real Mosquitto to the running station and
to the bridge's ingest consumer, and read their public counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiomqtt
import pytest
from hypothesis import HealthCheck, given, settings

from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.ingest import ConsumerSettings, IngestConsumer, read_cursor
from edge.contract import (
    ContractError,
    OrderScanned,
    StationId,
    TopicKind,
    decode_for,
    encode,
    station_topic,
)
from edge.station.runtime import Station
from edge.station.uplink import SUBSCRIBED_KINDS
from firmware_sim.broker import MosquittoBroker
from firmware_sim.fuzz.strategies import AT, FuzzPayload, examples, payloads
from firmware_sim.fuzz.targets import (
    BridgeTarget,
    IngestTarget,
    StationTarget,
    valid_allocation,
)
from firmware_sim.gpio import GpioRig
from firmware_sim.sim_station import (
    SCANNER_PRODUCT_ID,
    SCANNER_VENDOR_ID,
    sim_station_config,
)
from firmware_sim.usb import SimulatedHidScanner, SimulatedUsbBackend
from firmware_sim.zebra.server import ZebraTcpServer

BOUNDED = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
BRIDGE_KINDS = (TopicKind.STATE, TopicKind.STATUS, TopicKind.FLEET, TopicKind.FETCH)
BATCH = 120


async def wait_for(condition: Callable[[], object], what: str, seconds: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def station_on_rig(
    broker: MosquittoBroker, station_id: StationId, state_dir: Path
) -> AsyncIterator[Station]:
    """The real station on the simulated rig (USB scanner, GPIO, TCP printer), connected."""
    gpio = GpioRig()
    backend = SimulatedUsbBackend()
    backend.plug(
        SimulatedHidScanner(layout="us", vendor_id=SCANNER_VENDOR_ID, product_id=SCANNER_PRODUCT_ID)
    )
    async with ZebraTcpServer(port=0) as zebra:
        config = sim_station_config(
            station_id,
            broker_url=f"mqtt://{broker.host}:{broker.port}",
            printer_port=zebra.port,
            state_dir=state_dir,
        )
        station = Station(config, usb_backend=backend, pin_factory=gpio.factory)
        ready = asyncio.Event()
        task = asyncio.create_task(station.run(ready=ready.set))
        try:
            await asyncio.wait_for(ready.wait(), 30)
            yield station
        finally:
            await station.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            gpio.reset()


def refused(example: FuzzPayload) -> bool:
    try:
        decode_for(example.kind, example.payload)
    except ContractError:
        return True
    return False


# --- in-process ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def station_target() -> Iterator[StationTarget]:
    with StationTarget() as target:
        yield target


@pytest.fixture(scope="module")
def ingest_target() -> Iterator[IngestTarget]:
    with IngestTarget() as target:
        yield target


@pytest.fixture(scope="module")
def bridge_target() -> Iterator[BridgeTarget]:
    with BridgeTarget() as target:
        yield target


@BOUNDED
@given(example=payloads(SUBSCRIBED_KINDS))
def test_the_station_counts_each_refused_message_once_and_still_takes_allocations(
    station_target: StationTarget, example: FuzzPayload
) -> None:
    station_target.feed(example)
    station_target.sentinel()


@BOUNDED
@given(example=payloads((TopicKind.EVENT,)))
def test_the_bridge_ingest_refuses_bad_events_and_applies_every_valid_one(
    ingest_target: IngestTarget, example: FuzzPayload
) -> None:
    ingest_target.feed(example)
    ingest_target.sentinel()


@BOUNDED
@given(example=payloads(BRIDGE_KINDS))
def test_the_bridge_state_status_fleet_and_fetch_handlers_survive_and_still_see_births(
    bridge_target: BridgeTarget, example: FuzzPayload
) -> None:
    bridge_target.feed(example)
    bridge_target.sentinel()


def test_the_bridge_logs_each_refused_state_message_with_its_reason(
    bridge_target: BridgeTarget, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="packline.bridge")
    batch = examples(payloads(BRIDGE_KINDS), 60, seed=11)
    for example in batch:
        bridge_target.feed(example)
    logged = [r for r in caplog.records if r.getMessage().startswith("rejected message on")]
    assert len(logged) == sum(refused(example) for example in batch)


# --- through a real broker ----------------------------------------------------------------------


@pytest.mark.broker
async def test_a_running_station_counts_garbage_from_the_broker_and_still_caches_an_allocation(
    mosquitto: MosquittoBroker, station_id: StationId, tmp_path: Path
) -> None:
    batch = examples(payloads(SUBSCRIBED_KINDS), BATCH, seed=1)
    async with (
        station_on_rig(mosquitto, station_id, tmp_path / "state") as station,
        aiomqtt.Client(mosquitto.host, mosquitto.port) as bridge,
    ):
        await wait_for(lambda: station.health_checks, "station up")
        await asyncio.sleep(1.0)  # the uplink connects and subscribes
        for example in batch:
            topic = station_topic(station_id, example.kind)
            await bridge.publish(topic, example.payload, qos=1)
        allocation = valid_allocation(f"SO-{uuid.uuid4().hex[:6]}")
        topic = station_topic(station_id, TopicKind.ALLOCATION)
        await bridge.publish(topic, encode(allocation), qos=1)
        await wait_for(
            lambda: station.allocations.get(allocation.order_id) is not None,
            "the valid allocation after the garbage",
        )
        counted = station.status().counters.rejected_messages
    contract_refusals = sum(refused(example) for example in batch)
    assert contract_refusals > BATCH // 2
    assert contract_refusals <= counted <= len(batch)


@pytest.mark.broker
async def test_the_ingest_consumer_counts_each_refused_event_and_applies_the_next_valid_one(
    mosquitto: MosquittoBroker, station_id: StationId, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    consumer = IngestConsumer(
        sessions,
        ConsumerSettings(
            host=mosquitto.host,
            port=mosquitto.port,
            client_id=f"ingest-{uuid.uuid4().hex[:8]}",
            share_group=f"g{uuid.uuid4().hex[:8]}",
        ),
    )
    batch = examples(payloads((TopicKind.EVENT,)), BATCH, seed=2)
    neighbour = StationId(site=station_id.site, station="st99")
    task = asyncio.create_task(consumer.run())
    try:
        await asyncio.wait_for(consumer.ready.wait(), 15)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as station:
            for example in batch:
                await station.publish(
                    station_topic(station_id, TopicKind.EVENT), example.payload, qos=1
                )
            event = OrderScanned(
                event_id=uuid.uuid4(), seq=1, at=AT, order_id="SO-404", order_version=1
            )
            await station.publish(station_topic(neighbour, TopicKind.EVENT), encode(event), qos=1)

        def cursor() -> int:
            with sessions.begin() as session:
                return read_cursor(session, neighbour.client_id)

        await wait_for(lambda: cursor() == 1, "the valid event after the garbage applied")
        await wait_for(lambda: consumer.stats.received >= len(batch) + 1, "every message handled")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        engine.dispose()
    assert consumer.stats.rejected == sum(refused(example) for example in batch)
    assert consumer.stats.failed == 0
