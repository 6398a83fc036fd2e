"""How fast one bridge instance ingests durably, next to what the broker alone can deliver.

Both figures come from the same private Mosquitto in the same run, so the ratio says how much
of the broker's delivery rate survives applying each event in its own SQLite transaction (lock
the cursor, apply, record, commit) and acknowledging it. The events are picks and returns on
one order line, alternating, so each one really locks an order and changes a line.
"""

from __future__ import annotations

import asyncio
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine

from cloud_bridge.broker_settings import bridge_cert_names, ingest_client_id
from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.models import (
    Account,
    Debtor,
    Location,
    OrderLine,
    OrderState,
    Product,
    SalesOrder,
    StockItem,
)
from cloud_bridge.ingest.consumer import ConsumerSettings, IngestConsumer
from cloud_bridge.ingest.fairness import FairnessSettings
from cloud_bridge.ingest.sequencer import IngestArgumentError, IngestError
from edge.contract import (
    Ack,
    LinePicked,
    LineReturned,
    StationEvent,
    StationId,
    TopicKind,
    decode_for,
    prepare,
    station_topic,
)
from firmware_sim.broker import MosquittoBroker
from firmware_sim.secure_site import SiteCredentials

__all__ = [
    "GTIN",
    "measure_ingest",
    "measure_secure_ingest",
    "pick_or_return",
    "seed_order_at_station",
    "seed_orders_at_stations",
]

_STATION = StationId(site="bench", station="st01")
_INSTANCE = "bench"
_ACK_READER = "bench-ack-reader"
_ORDER = "SO-BENCH"
GTIN = "05012345678900"
_PUBLISH_BATCH = 100
_SECONDS_PER_EVENT_LIMIT = 0.05
_MIN_LIMIT_S = 60.0

UNTHROTTLED = FairnessSettings(
    station_rate_per_s=1_000_000, station_burst=1_000_000, station_queue=1_000_000
)
"""The bench streams every event from one station to measure what one consumer can apply, so
the per-station limit that protects other stations is lifted here."""


def measure_ingest(events: int) -> tuple[float, float]:
    """(events/s applied durably by one consumer on SQLite, raw paho messages/s on the broker)."""
    if events < 1:
        raise IngestArgumentError(f"events {events} is below 1; expected at least 1")
    # The publisher here is plain paho, which never resends what the broker drops; a station
    # resends until acknowledged. So the broker's per-client queue limit (1,000 by default) is
    # lifted, or a consumer slower than the flood would lose events the bench then waits for.
    with (
        MosquittoBroker(extra_config="max_queued_messages 0\n") as broker,
        tempfile.TemporaryDirectory() as directory,
    ):
        engine = make_engine(f"sqlite:///{Path(directory) / 'bridge.db'}")
        try:
            upgrade(engine)
            seed_order_at_station(
                engine, station_id=_STATION, order_no=_ORDER, sku="SKU-1", gtin=GTIN
            )
            ingested = asyncio.run(_ingest_rate(engine, _Endpoint.plain(broker), events))
        finally:
            engine.dispose()
        raw = _raw_paho_rate(broker, events)
    return ingested, raw


def measure_secure_ingest(events: int) -> tuple[float, float]:
    """(events/s ingested over mutual TLS with the ACL on, the same over the plain listener).

    One broker serves both listeners, each run on a fresh database: the plain run first. The
    station publishes with its own certificate, the consumer with the bridge's ingest one, and
    the ack is read by a read-only client, all as in production.
    """
    if events < 1:
        raise IngestArgumentError(f"events {events} is below 1; expected at least 1")
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        credentials = SiteCredentials.create(directory / "pki")
        with MosquittoBroker(
            extra_config="max_queued_messages 0\n",
            pki=credentials.pki,
            bridge_names=bridge_cert_names(_INSTANCE),
            reader_names=[_ACK_READER],
        ) as broker:
            rates = []
            for endpoint in (_Endpoint.plain(broker), _Endpoint.tls(broker, credentials)):
                engine = make_engine(f"sqlite:///{directory / f'{endpoint.name}.db'}")
                try:
                    upgrade(engine)
                    seed_order_at_station(
                        engine, station_id=_STATION, order_no=_ORDER, sku="SKU-1", gtin=GTIN
                    )
                    rates.append(asyncio.run(_ingest_rate(engine, endpoint, events)))
                finally:
                    engine.dispose()
                if endpoint.name == "plain":
                    # The plain run's ack is retained; the TLS run must wait for its own.
                    _clear_retained_ack(broker)
    plain, tls = rates
    return tls, plain


@dataclass(frozen=True)
class _Endpoint:
    """Where and as whom the bench's three clients connect: plainly, or each with its own
    certificate on the TLS listener."""

    name: str
    host: str
    port: int
    consumer_id: str
    consumer_tls: aiomqtt.TLSParameters | None = None
    station_tls: ssl.SSLContext | None = None
    reader_tls: ssl.SSLContext | None = None

    @classmethod
    def plain(cls, broker: MosquittoBroker) -> _Endpoint:
        return cls("plain", broker.host, broker.port, "bench-bridge")

    @classmethod
    def tls(cls, broker: MosquittoBroker, credentials: SiteCredentials) -> _Endpoint:
        consumer = credentials.credentials(ingest_client_id(_INSTANCE), "bridge")
        return cls(
            "tls",
            broker.host,
            broker.tls_port,
            ingest_client_id(_INSTANCE),
            consumer_tls=aiomqtt.TLSParameters(
                ca_certs=str(consumer.ca_file),
                certfile=str(consumer.cert_file),
                keyfile=str(consumer.key_file),
            ),
            station_tls=credentials.credentials(_STATION.client_id, "station").tls_context(),
            reader_tls=credentials.credentials(_ACK_READER, "bridge").tls_context(),
        )


def _clear_retained_ack(broker: MosquittoBroker) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        topic = station_topic(_STATION, TopicKind.ACK)
        client.publish(topic, b"", qos=1, retain=True).wait_for_publish(_MIN_LIMIT_S)
    finally:
        client.disconnect()
        client.loop_stop()


def _limit_s(events: int) -> float:
    return max(_MIN_LIMIT_S, events * _SECONDS_PER_EVENT_LIMIT)


def seed_order_at_station(
    engine: Engine, *, station_id: StationId, order_no: str, sku: str, gtin: str
) -> None:
    """One order being picked at `station_id`: a 10-unit line of `sku`, with 10 on hand.

    The world every bench that streams picks and returns at the bridge starts from.
    """
    seed_orders_at_stations(engine, {station_id: order_no}, sku=sku, gtin=gtin)


def seed_orders_at_stations(
    engine: Engine, orders: Mapping[StationId, str], *, sku: str, gtin: str
) -> None:
    """One order being picked at each station (station -> order number), each a 10-unit line of
    `sku`, with 10 on hand: picks and returns on it apply for real, however many are streamed."""
    with session_factory(engine).begin() as session:
        session.add_all(
            [
                Account(id="A", name="Bench account"),
                Debtor(debtor_no="D1", name="Bench debtor", credit_line=None),
                Location(id="L1"),
                Product(sku=sku, gtin=gtin, pack_size=1, unit_price=Decimal(1)),
            ]
        )
        session.flush()
        session.add(StockItem(account_id="A", sku=sku, location_id="L1", on_hand=10))
        session.add_all(
            SalesOrder(
                order_no=order_no,
                account_id="A",
                invoice_debtor_no="D1",
                deliver_to_name="Bench",
                deliver_to_line1="1 Bench Street",
                deliver_to_city="Bristol",
                deliver_to_postal_code="BS1 4DJ",
                deliver_to_country="GB",
                carrier="DPD",
                state=OrderState.PICKING,
                station_id=station_id.client_id,
                lines=[OrderLine(line_id="1", sku=sku, quantity=10, unit_price=Decimal(1))],
            )
            for station_id, order_no in orders.items()
        )


def pick_or_return(seq: int, *, order_no: str = _ORDER, sku: str = "SKU-1") -> StationEvent:
    """Event ``seq`` of a stream on line 1 of ``order_no``: a pick when odd, a return when even."""
    at = datetime.now(UTC)
    if seq % 2:
        return LinePicked(
            event_id=uuid.uuid4(),
            seq=seq,
            at=at,
            order_id=order_no,
            line_id="1",
            sku=sku,
            gtin=GTIN,
            slot="A1",
            quantity=1,
        )
    return LineReturned(
        event_id=uuid.uuid4(),
        seq=seq,
        at=at,
        order_id=order_no,
        line_id="1",
        sku=sku,
        slot="A1",
        quantity=1,
    )


async def _ingest_rate(engine: Engine, endpoint: _Endpoint, events: int) -> float:
    payloads = [prepare(_STATION, pick_or_return(seq)).payload for seq in range(1, events + 1)]
    consumer = IngestConsumer(
        session_factory(engine),
        ConsumerSettings(
            host=endpoint.host,
            port=endpoint.port,
            client_id=endpoint.consumer_id,
            tls=endpoint.consumer_tls,
            fairness=UNTHROTTLED,
        ),
    )
    running = asyncio.create_task(consumer.run())
    try:
        async with asyncio.timeout(_limit_s(events)):
            await consumer.ready.wait()
            async with aiomqtt.Client(
                endpoint.host,
                endpoint.port,
                protocol=aiomqtt.ProtocolVersion.V5,
                tls_context=endpoint.reader_tls,
            ) as sub:
                await sub.subscribe(station_topic(_STATION, TopicKind.ACK), qos=1)
                started = time.perf_counter()
                topic = station_topic(_STATION, TopicKind.EVENT)
                # The station side is a plain paho publisher in its own thread (as in the raw
                # baseline), so the measured loop is the consumer's alone.
                await asyncio.to_thread(_publish_batches, endpoint, topic, payloads)
                await _until_acked(sub, events)
                return events / (time.perf_counter() - started)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def _until_acked(client: aiomqtt.Client, highest_seq: int) -> None:
    async for message in client.messages:
        if not isinstance(message.payload, bytes):
            continue
        ack = decode_for(TopicKind.ACK, message.payload)
        if isinstance(ack, Ack) and ack.highest_seq >= highest_seq:
            return
    raise IngestError("the ack subscription ended before the last event was acknowledged")


def _publish_batches(endpoint: _Endpoint, topic: str, payloads: list[bytes]) -> None:
    publisher = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    publisher.max_inflight_messages_set(_PUBLISH_BATCH)
    if endpoint.station_tls is not None:
        publisher.tls_set_context(endpoint.station_tls)
    publisher.connect(endpoint.host, endpoint.port)
    publisher.loop_start()
    try:
        for first in range(0, len(payloads), _PUBLISH_BATCH):
            sent = [
                publisher.publish(topic, body, qos=1)
                for body in payloads[first : first + _PUBLISH_BATCH]
            ]
            for info in sent:
                info.wait_for_publish(_MIN_LIMIT_S)
    finally:
        publisher.disconnect()
        publisher.loop_stop()


def _raw_paho_rate(broker: MosquittoBroker, messages: int) -> float:
    """Messages/s a bare paho subscriber receives at QoS 1, publish to last delivery.

    Published in the same batches as the ingest run, each awaited before the next, so the
    broker never queues more than a batch for the subscriber (Mosquitto drops QoS 1 messages
    beyond a client's queue limit, by default 1000).
    """
    topic = f"packline-bench/{uuid.uuid4().hex}"
    payload = prepare(_STATION, pick_or_return(1)).payload
    received = 0
    done = threading.Event()

    def on_message(_client: paho.Client, _userdata: object, _message: paho.MQTTMessage) -> None:
        nonlocal received
        received += 1
        if received >= messages:
            done.set()

    subscribed = threading.Event()
    subscriber = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    subscriber.on_message = on_message
    subscriber.on_subscribe = lambda *_args: subscribed.set()
    publisher = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    publisher.max_inflight_messages_set(_PUBLISH_BATCH)
    subscriber.connect(broker.host, broker.port)
    publisher.connect(broker.host, broker.port)
    subscriber.loop_start()
    publisher.loop_start()
    try:
        subscriber.subscribe(topic, qos=1)
        if not subscribed.wait(_MIN_LIMIT_S):
            raise IngestError(f"raw subscriber on {topic!r} was never subscribed")
        started = time.perf_counter()
        for first in range(0, messages, _PUBLISH_BATCH):
            sent = [
                publisher.publish(topic, payload, qos=1)
                for _ in range(min(_PUBLISH_BATCH, messages - first))
            ]
            for info in sent:
                info.wait_for_publish(_MIN_LIMIT_S)
        if not done.wait(_limit_s(messages)):
            raise IngestError(f"raw subscriber got {received} of {messages} messages in time")
        return messages / (time.perf_counter() - started)
    finally:
        for client in (publisher, subscriber):
            client.disconnect()
            client.loop_stop()
