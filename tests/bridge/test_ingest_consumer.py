"""Two bridge instances share a station's events through a real Mosquitto and apply each once.

The station's stream is published with pairs swapped, some events sent twice, and then the
whole stream replayed, as a station does after a reconnect. Whatever instance gets whatever
event, each effect happens once, the cursor reaches the last sequence, and the retained ack
says so.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from bridge_world import NOW, add_stock, basic_world, order
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.models import (
    Allocation,
    AllocationState,
    AppliedEvent,
    OrderLine,
    OrderState,
    SalesOrder,
    Shipment,
    StockItem,
)
from cloud_bridge.ingest import ConsumerSettings, IngestConsumer, read_cursor
from edge.contract import (
    Ack,
    LabelPrinted,
    LinePicked,
    LineReturned,
    OrderCompleted,
    OrderScanned,
    StationEvent,
    StationId,
    TopicKind,
    decode_for,
    prepare,
    station_topic,
)
from firmware_sim.broker import MosquittoBroker

AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
GTIN = {"MUG": "05012345678900", "TEA": "04006381333931"}
WAIT_S = 60.0


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bridge.db'}"
    else:
        url = request.getfixturevalue("postgres_schema_url")
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


def two_released_orders(session: Session, station: StationId) -> None:
    """SO1: 5 MUG (3 from A, then 2 borrowed from B) and 3 TEA; SO2: 4 MUG from A."""
    basic_world(session)
    add_stock(session, "A", "MUG", 10)
    add_stock(session, "B", "MUG", 10)
    add_stock(session, "A", "TEA", 10)
    order(session, "SO1", "A", [("MUG", 5), ("TEA", 3)])
    order(session, "SO2", "A", [("MUG", 4)])
    reservations = [
        ("SO1", "1", "MUG", "A", 3),
        ("SO1", "1", "MUG", "B", 2),
        ("SO1", "2", "TEA", "A", 3),
        ("SO2", "1", "MUG", "A", 4),
    ]
    for minute, (order_no, line_id, sku, account, units) in enumerate(reservations):
        session.add(
            Allocation(
                order_no=order_no,
                line_id=line_id,
                sku=sku,
                from_account_id=account,
                quantity=units,
                borrowed=account == "B",
                state=AllocationState.ACTIVE,
                created_at=NOW + timedelta(minutes=minute),
            )
        )
    for order_no in ("SO1", "SO2"):
        released = session.get_one(SalesOrder, order_no)
        released.state = OrderState.RELEASED
        released.station_id = station.client_id


def stream() -> list[StationEvent]:
    """Packing SO1 and SO2 at one station: twelve events, seq 1 to 12."""
    made: list[StationEvent] = []

    def add(event_type: Callable[..., StationEvent], order_id: str, **fields: Any) -> None:
        made.append(
            event_type(event_id=uuid.uuid4(), seq=len(made) + 1, at=AT, order_id=order_id, **fields)
        )

    def pick(order_id: str, line_id: str, sku: str, units: int) -> None:
        add(
            LinePicked,
            order_id,
            line_id=line_id,
            sku=sku,
            gtin=GTIN[sku],
            slot="A1",
            quantity=units,
        )

    def complete(order_id: str, label_id: str) -> None:
        add(
            OrderCompleted,
            order_id,
            order_version=1,
            label_id=label_id,
            carrier="DPD",
            tracking_number=f"TRK-{label_id}",
        )

    add(OrderScanned, "SO1", order_version=1)
    pick("SO1", "1", "MUG", 3)
    pick("SO1", "1", "MUG", 2)
    pick("SO1", "2", "TEA", 3)
    add(LabelPrinted, "SO1", label_id="LBL-1", carrier="DPD", tracking_number="TRK-1")
    complete("SO1", "LBL-1")
    add(OrderScanned, "SO2", order_version=1)
    pick("SO2", "1", "MUG", 1)
    pick("SO2", "1", "MUG", 3)
    add(LineReturned, "SO2", line_id="1", sku="MUG", slot="A1", quantity=1)
    pick("SO2", "1", "MUG", 1)
    complete("SO2", "LBL-2")
    return made


def with_disorder_and_duplicates(events: list[StationEvent]) -> list[StationEvent]:
    """Pairs swapped, some events twice, then the whole stream replayed."""
    by_seq = {event.seq: event for event in events}
    order_sent = [1, 3, 2, 4, 4, 6, 5, 7, 8, 8, 10, 9, 12, 11, 3]
    return [by_seq[seq] for seq in order_sent] + events


@asynccontextmanager
async def consumers(
    engine: Engine, broker: MosquittoBroker, count: int
) -> AsyncIterator[list[IngestConsumer]]:
    group = f"bridge-{uuid.uuid4().hex[:8]}"
    started = [
        IngestConsumer(
            session_factory(engine),
            ConsumerSettings(
                host=broker.host,
                port=broker.port,
                client_id=f"{group}-{number}",
                share_group=group,
            ),
        )
        for number in range(count)
    ]
    tasks = [asyncio.create_task(consumer.run()) for consumer in started]
    try:
        async with asyncio.timeout(WAIT_S):
            for consumer in started:
                await consumer.ready.wait()
        yield started
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def publish(broker: MosquittoBroker, station: StationId, payloads: list[bytes]) -> None:
    topic = station_topic(station, TopicKind.EVENT)
    async with aiomqtt.Client(
        broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5
    ) as client:
        for payload in payloads:
            await client.publish(topic, payload, qos=1)


def encoded(station: StationId, events: list[StationEvent]) -> list[bytes]:
    return [prepare(station, event).payload for event in events]


async def settle(running: list[IngestConsumer], sent: int) -> None:
    """Wait until every sent message was handled and no ack is left to publish."""
    async with asyncio.timeout(WAIT_S):
        while True:
            handled = sum(consumer.stats.received for consumer in running)
            if handled >= sent and all(consumer.acks_settled for consumer in running):
                return
            await asyncio.sleep(0.05)


async def retained_ack(broker: MosquittoBroker, station: StationId) -> int:
    """The ack a station connecting now would receive first."""
    async with aiomqtt.Client(
        broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5
    ) as client:
        await client.subscribe(station_topic(station, TopicKind.ACK), qos=1)
        async with asyncio.timeout(WAIT_S):
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                ack = decode_for(TopicKind.ACK, message.payload)
                assert isinstance(ack, Ack)
                assert message.retain
                return ack.highest_seq
    raise AssertionError("no retained ack arrived")


async def test_two_instances_apply_a_disordered_duplicated_stream_exactly_once(
    engine: Engine, mosquitto: MosquittoBroker, station_id: StationId
) -> None:
    with session_factory(engine).begin() as session:
        two_released_orders(session, station_id)
    events = stream()
    sent = encoded(station_id, with_disorder_and_duplicates(events))

    async with consumers(engine, mosquitto, 2) as running:
        await publish(mosquitto, station_id, sent)
        await settle(running, len(sent))

        assert all(consumer.stats.received > 0 for consumer in running)
        assert sum(consumer.stats.applied for consumer in running) == len(events)
        assert sum(consumer.stats.rejected + consumer.stats.failed for consumer in running) == 0
        assert await retained_ack(mosquitto, station_id) == len(events)

    with session_factory(engine)() as session:
        assert read_cursor(session, station_id.client_id) == len(events)
        assert session.scalars(select(AppliedEvent.seq).order_by(AppliedEvent.seq)).all() == list(
            range(1, len(events) + 1)
        )
        shipments = session.scalars(select(Shipment).order_by(Shipment.order_no)).all()
        assert [(shipment.order_no, shipment.label_id) for shipment in shipments] == [
            ("SO1", "LBL-1"),
            ("SO2", "LBL-2"),
        ]
        shipped = {
            (line.order_no, line.line_id): (line.shipped_quantity, line.picked_quantity)
            for line in session.scalars(select(OrderLine))
        }
        assert shipped == {("SO1", "1"): (5, 0), ("SO1", "2"): (3, 0), ("SO2", "1"): (4, 0)}
        states = {o.order_no: o.state for o in session.scalars(select(SalesOrder))}
        assert states == {"SO1": OrderState.SHIPPED, "SO2": OrderState.SHIPPED}
        stock = {(s.account_id, s.sku): s.on_hand for s in session.scalars(select(StockItem))}
        assert stock == {("A", "MUG"): 3, ("B", "MUG"): 8, ("A", "TEA"): 7}


async def test_malformed_payloads_are_counted_and_ingest_goes_on(
    engine: Engine, mosquitto: MosquittoBroker, station_id: StationId
) -> None:
    first = stream()[0]
    garbage = [b"not json", b'{"schema_version": 1, "type": "order_scanned", "seq": 0}', b"\xff"]

    async with consumers(engine, mosquitto, 1) as running:
        await publish(mosquitto, station_id, [*garbage, *encoded(station_id, [first])])
        await settle(running, len(garbage) + 1)

        (consumer,) = running
        assert consumer.stats.rejected == len(garbage)
        assert consumer.stats.applied == 1
        assert await retained_ack(mosquitto, station_id) == 1
