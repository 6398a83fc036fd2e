"""The station uplink against a real Mosquitto: order, acks, replay after an outage, presence,
hostile input, and the reconnect backoff."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from tinydb import TinyDB

from edge.contract import (
    MAX_PAYLOAD_BYTES,
    Ack,
    DeviceStatus,
    IdentifyStation,
    OrderScanned,
    RequestRebirth,
    StationBirth,
    StationCounters,
    StationDeath,
    StationEvent,
    StationId,
    StationStatus,
    TopicKind,
    WireMessage,
    decode,
    encode,
    station_topic,
)
from edge.errors import ConfigError
from edge.station.backoff import Backoff
from edge.station.counters import DurableCounter
from edge.station.outbox import Outbox
from edge.station.storage import JournalStorage
from edge.station.uplink import BirthInfo, BrokerSettings, Uplink
from firmware_sim.broker import MosquittoBroker

TIMEOUT = 10.0
CONFIG_HASH = "ab" * 32
AT = datetime(2025, 3, 4, 10, 30, tzinfo=UTC)


# --- helpers ------------------------------------------------------------------------------------


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll until `condition` holds; fail naming `what` after a generous timeout."""
    try:
        async with asyncio.timeout(TIMEOUT):
            while True:
                if condition():
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"timed out waiting for: {what}")


def settings_for(host: str, port: int, **overrides: object) -> BrokerSettings:
    values: dict[str, object] = {
        "url": f"mqtt://{host}:{port}",
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.5,
        "keepalive_s": 5,
    }
    values.update(overrides)
    return BrokerSettings.model_validate(values)


def observer(host: str, port: int, **kwargs: object) -> aiomqtt.Client:
    return aiomqtt.Client(
        host,
        port,
        protocol=aiomqtt.ProtocolVersion.V5,
        timeout=TIMEOUT,
        **kwargs,  # type: ignore[arg-type]
    )


def persistent_session() -> Properties:
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 300
    return properties


def station_status(phase: str = "idle", order_id: str | None = None) -> StationStatus:
    return StationStatus(
        at=AT,
        phase=phase,  # type: ignore[arg-type]
        order_id=order_id,
        printer="ok",
        outbox_depth=0,
        outbox_bytes=0,
        outbox_alarm=False,
        acknowledged_seq=0,
        counters=StationCounters(),
    )


@dataclass
class StationUnderTest:
    """A real outbox, bd_seq counter and uplink, with what reached `on_message` recorded."""

    outbox: Outbox
    uplink: Uplink
    received: list[WireMessage] = field(default_factory=list)

    def append(self, count: int = 1) -> list[StationEvent]:
        events = [
            self.outbox.append(OrderScanned, order_id=f"SO-{uuid.uuid4().hex[:8]}", order_version=1)
            for _ in range(count)
        ]
        self.uplink.notify_appended()
        return list(events)


@contextlib.asynccontextmanager
async def station(
    tmp_path: Path,
    station_id: StationId,
    settings: BrokerSettings,
    *,
    start: bool = True,
    before_start: Callable[[StationUnderTest], Awaitable[None]] | None = None,
    handler_fails_for: type[WireMessage] | None = None,
) -> AsyncIterator[StationUnderTest]:
    db = TinyDB(tmp_path / "station.json", storage=JournalStorage)
    counter = DurableCounter(tmp_path / "bd_seq")
    received: list[WireMessage] = []

    async def on_message(message: WireMessage) -> None:
        received.append(message)
        if handler_fails_for is not None and isinstance(message, handler_fails_for):
            raise RuntimeError(f"handler cannot cope with {message.type}")  # type: ignore[attr-defined]

    outbox = Outbox(db)
    uplink = Uplink(
        station_id,
        settings,
        outbox,
        counter,
        birth=lambda: BirthInfo(
            software_version="0.1.0",
            config_version=3,
            config_hash=CONFIG_HASH,
            hardware=(DeviceStatus(kind="scanner", name="scanner", status="ok"),),
        ),
        on_message=on_message,
        rng=random.Random(7),
    )
    under_test = StationUnderTest(outbox=outbox, uplink=uplink, received=received)
    task: asyncio.Task[None] | None = None
    try:
        if before_start is not None:
            await before_start(under_test)
        if start:
            task = asyncio.create_task(uplink.run())
        yield under_test
    finally:
        await uplink.stop()
        if task is not None:
            await asyncio.wait_for(task, TIMEOUT)
        counter.close()
        db.close()


@dataclass
class FakeBridge:
    """The bridge's delivery rule: apply (station, seq) once, ack the highest contiguous seq.

    Its session is persistent, so events published while it reconnects are queued for it.
    """

    broker_host: str
    broker_port: int
    station_id: StationId
    acknowledge: bool = True
    applied: dict[tuple[str, int], StationEvent] = field(default_factory=dict)
    deliveries: int = 0
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def applied_seqs(self) -> list[int]:
        return sorted(seq for _, seq in self.applied)

    def highest_contiguous(self) -> int:
        seq = 0
        while (self.station_id.client_id, seq + 1) in self.applied:
            seq += 1
        return seq

    async def run(self) -> None:
        client = observer(
            self.broker_host,
            self.broker_port,
            identifier=f"bridge-{uuid.uuid4().hex[:8]}",
            clean_start=False,
            properties=persistent_session(),
        )
        while True:
            try:
                async with client:
                    await client.subscribe(station_topic(self.station_id, TopicKind.EVENT), qos=1)
                    self.connected.set()
                    async for message in client.messages:
                        await self._apply(client, str(message.topic), message.payload)
            except aiomqtt.MqttError:
                self.connected.clear()
                await asyncio.sleep(0.1)

    async def _apply(self, client: aiomqtt.Client, topic: str, payload: object) -> None:
        assert isinstance(payload, bytes)
        decoded = decode(topic, payload)
        event = decoded.message
        assert isinstance(event, StationEvent)
        self.deliveries += 1
        self.applied.setdefault((decoded.address.station_id.client_id, event.seq), event)
        if self.acknowledge:
            ack = Ack(highest_seq=self.highest_contiguous(), at=datetime.now(UTC))
            await client.publish(
                station_topic(self.station_id, TopicKind.ACK), encode(ack), qos=1, retain=True
            )


@contextlib.asynccontextmanager
async def running(coroutine: Awaitable[None]) -> AsyncIterator[None]:
    task = asyncio.ensure_future(coroutine)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class SeverableProxy:
    """A TCP relay to the broker whose connections can be cut without an MQTT DISCONNECT.

    Cutting them is what a crash, a pulled cable or a NAT timeout looks like to the broker, which
    then publishes the station's Will.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._writers: list[asyncio.StreamWriter] = []
        self._flowing: list[asyncio.Event] = []
        self._relays: set[asyncio.Task[object]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> SeverableProxy:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.sever()
        for flowing in self._flowing:
            flowing.set()
        # Let every relay end on its own: a relay task cancelled under asyncio's stream server
        # makes the server's done-callback log a spurious error.
        await asyncio.wait_for(asyncio.gather(*self._relays, return_exceptions=True), TIMEOUT)
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def freeze(self) -> None:
        """Stop relaying the current connections without closing them, as a dead NAT leaves
        them (half-open); new connections still get through."""
        for flowing in self._flowing:
            flowing.clear()

    def sever(self) -> None:
        """Reset every relayed connection, both towards the station and towards the broker."""
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        self._writers += [writer, up_writer]
        flowing = asyncio.Event()
        flowing.set()
        self._flowing.append(flowing)
        await asyncio.gather(
            self._pump(reader, up_writer, flowing),
            self._pump(up_reader, writer, flowing),
            return_exceptions=True,
        )

    @staticmethod
    async def _pump(
        source: asyncio.StreamReader, sink: asyncio.StreamWriter, flowing: asyncio.Event
    ) -> None:
        try:
            while data := await source.read(65536):
                await flowing.wait()
                sink.write(data)
                await sink.drain()
        finally:
            sink.transport.abort()


async def next_state(client: aiomqtt.Client) -> StationBirth | StationDeath:
    message = await asyncio.wait_for(anext(client.messages), TIMEOUT)
    assert isinstance(message.payload, bytes)
    state = decode(str(message.topic), message.payload).message
    assert isinstance(state, StationBirth | StationDeath)
    return state


# --- delivery -----------------------------------------------------------------------------------


@pytest.mark.broker
async def test_events_appended_while_connected_arrive_in_seq_order_and_the_ack_prunes_them(
    mosquitto: MosquittoBroker, tmp_path: Path, station_id: StationId
) -> None:
    settings = settings_for(mosquitto.host, mosquitto.port)
    async with (
        observer(mosquitto.host, mosquitto.port) as bridge,
        station(tmp_path, station_id, settings) as under_test,
    ):
        await bridge.subscribe(station_topic(station_id, TopicKind.EVENT), qos=1)
        await wait_until(lambda: under_test.uplink.online, "uplink online")
        appended = under_test.append(25)

        seqs: list[int] = []
        while len(seqs) < len(appended):
            message = await asyncio.wait_for(anext(bridge.messages), TIMEOUT)
            assert isinstance(message.payload, bytes)
            event = decode(str(message.topic), message.payload).message
            assert isinstance(event, StationEvent)
            seqs.append(event.seq)
        ack = Ack(highest_seq=appended[19].seq, at=datetime.now(UTC))
        await bridge.publish(
            station_topic(station_id, TopicKind.ACK), encode(ack), qos=1, retain=True
        )
        await wait_until(
            lambda: under_test.outbox.stats().acknowledged_seq == appended[19].seq, "ack applied"
        )

        assert seqs == [event.seq for event in appended]
        assert [event.seq for event in under_test.outbox.pending()] == [
            event.seq for event in appended[20:]
        ]


@pytest.mark.broker
async def test_an_outage_loses_nothing_and_the_bridge_applies_every_seq_exactly_once(
    tmp_path: Path, station_id: StationId, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="packline.station.uplink")
    with MosquittoBroker() as broker:
        settings = settings_for(broker.host, broker.port)
        bridge = FakeBridge(broker.host, broker.port, station_id)
        async with running(bridge.run()), station(tmp_path, station_id, settings) as under_test:
            await asyncio.wait_for(bridge.connected.wait(), TIMEOUT)
            await wait_until(lambda: under_test.uplink.online, "uplink online")
            under_test.append(30)
            await wait_until(lambda: len(bridge.applied) == 30, "first events applied")

            await asyncio.to_thread(broker.stop)
            await wait_until(lambda: not under_test.uplink.online, "uplink noticed the outage")
            written_offline = under_test.append(40)
            await wait_until(
                lambda: caplog.text.count("reconnecting station=") >= 3, "uplink keeps retrying"
            )
            assert not under_test.uplink.online
            await asyncio.to_thread(broker.start)

            await wait_until(lambda: len(bridge.applied) == 70, "every event applied")
            await wait_until(lambda: under_test.outbox.stats().depth == 0, "outbox drained")

        assert bridge.applied_seqs == list(range(1, 71))
        assert [bridge.applied[(station_id.client_id, e.seq)] for e in written_offline] == (
            written_offline
        )
        assert under_test.uplink.reconnects >= 1
        assert "replay sent" in caplog.text


@pytest.mark.broker
async def test_unacknowledged_events_are_replayed_on_every_new_connection(
    mosquitto: MosquittoBroker, tmp_path: Path, station_id: StationId
) -> None:
    async with observer(mosquitto.host, mosquitto.port) as bridge:
        await bridge.subscribe(station_topic(station_id, TopicKind.EVENT), qos=1)
        async with SeverableProxy(mosquitto.host, mosquitto.port) as proxy:
            proxied = settings_for(mosquitto.host, proxy.port)
            async with station(tmp_path, station_id, proxied) as under_test:
                await wait_until(lambda: under_test.uplink.online, "uplink online")
                under_test.append(5)
                first = [await asyncio.wait_for(anext(bridge.messages), TIMEOUT) for _ in range(5)]
                proxy.sever()
                await wait_until(lambda: under_test.uplink.reconnects == 1, "reconnected")
                again = [await asyncio.wait_for(anext(bridge.messages), TIMEOUT) for _ in range(5)]

    assert [m.payload for m in again] == [m.payload for m in first]


@pytest.mark.broker
async def test_when_the_ack_stalls_the_pending_events_are_sent_again_without_reconnecting(
    mosquitto: MosquittoBroker,
    tmp_path: Path,
    station_id: StationId,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="packline.station.uplink")
    settings = settings_for(mosquitto.host, mosquitto.port, ack_stall_s=0.3)
    async with (
        observer(mosquitto.host, mosquitto.port) as silent_bridge,
        station(tmp_path, station_id, settings) as under_test,
    ):
        await silent_bridge.subscribe(station_topic(station_id, TopicKind.EVENT), qos=1)
        await wait_until(lambda: under_test.uplink.online, "uplink online")
        appended = under_test.append(3)
        seqs: list[int] = []
        for _ in range(6):
            message = await asyncio.wait_for(anext(silent_bridge.messages), TIMEOUT)
            assert isinstance(message.payload, bytes)
            event = decode(str(message.topic), message.payload).message
            assert isinstance(event, StationEvent)
            seqs.append(event.seq)

        assert under_test.uplink.reconnects == 0
    assert seqs == [event.seq for event in appended] * 2
    assert "ack stalled" in caplog.text


# --- presence -----------------------------------------------------------------------------------


@pytest.mark.broker
async def test_the_birth_reports_the_outbox_depth_and_config_hash(
    mosquitto: MosquittoBroker, tmp_path: Path, station_id: StationId
) -> None:
    settings = settings_for(mosquitto.host, mosquitto.port)

    async def written_before_connecting(under_test: StationUnderTest) -> None:
        under_test.append(3)

    async with observer(mosquitto.host, mosquitto.port) as fleet:
        await fleet.subscribe(station_topic(station_id, TopicKind.STATE), qos=1)
        async with station(tmp_path, station_id, settings, before_start=written_before_connecting):
            birth = await next_state(fleet)

    assert isinstance(birth, StationBirth)
    assert birth.outbox_depth == 3
    assert birth.config_hash == CONFIG_HASH
    assert birth.hardware == (DeviceStatus(kind="scanner", name="scanner", status="ok"),)


@pytest.mark.broker
async def test_a_severed_link_makes_the_broker_publish_the_death_then_the_station_is_born_again(
    mosquitto: MosquittoBroker, tmp_path: Path, station_id: StationId
) -> None:
    async with (
        observer(mosquitto.host, mosquitto.port) as fleet,
        SeverableProxy(mosquitto.host, mosquitto.port) as proxy,
    ):
        await fleet.subscribe(station_topic(station_id, TopicKind.STATE), qos=1)
        async with station(tmp_path, station_id, settings_for(mosquitto.host, proxy.port)):
            born = await next_state(fleet)
            proxy.sever()
            died = await next_state(fleet)
            reborn = await next_state(fleet)

    assert isinstance(born, StationBirth)
    assert isinstance(died, StationDeath)
    assert died.bd_seq == born.bd_seq
    assert isinstance(reborn, StationBirth)
    assert reborn.bd_seq > born.bd_seq


@pytest.mark.broker
async def test_a_half_open_link_is_noticed_while_idle_and_the_station_comes_back(
    mosquitto: MosquittoBroker, tmp_path: Path, station_id: StationId
) -> None:
    async with (
        observer(mosquitto.host, mosquitto.port) as fleet,
        SeverableProxy(mosquitto.host, mosquitto.port) as proxy,
    ):
        await fleet.subscribe(station_topic(station_id, TopicKind.STATE), qos=1)
        settings = settings_for(mosquitto.host, proxy.port, keepalive_s=1)
        async with station(tmp_path, station_id, settings) as under_test:
            born = await next_state(fleet)
            await wait_until(lambda: under_test.uplink.online, "uplink online")
            proxy.freeze()
            await wait_until(lambda: under_test.uplink.reconnects == 1, "keepalive noticed")
            # Whether the broker notices first (and publishes the Will) or the new connection
            # takes the session over (Mosquitto then drops the old Will) is a race; either way
            # the next birth supersedes the old connection.
            after = [await next_state(fleet)]
            while isinstance(after[-1], StationDeath):
                after.append(await next_state(fleet))

    assert isinstance(born, StationBirth)
    assert all(state.bd_seq == born.bd_seq for state in after[:-1])
    assert after[-1].bd_seq > born.bd_seq


@pytest.mark.broker
async def test_stop_publishes_the_death_of_the_current_connection(
    mosquitto: MosquittoBroker, tmp_path: Path, station_id: StationId
) -> None:
    async with observer(mosquitto.host, mosquitto.port) as fleet:
        await fleet.subscribe(station_topic(station_id, TopicKind.STATE), qos=1)
        async with station(
            tmp_path, station_id, settings_for(mosquitto.host, mosquitto.port)
        ) as under_test:
            born = await next_state(fleet)
            await wait_until(lambda: under_test.uplink.online, "uplink online")
            await under_test.uplink.stop()
            died = await next_state(fleet)

        assert not under_test.uplink.online
    assert isinstance(died, StationDeath)
    assert died.bd_seq == born.bd_seq


@pytest.mark.broker
async def test_cancelling_the_uplink_also_publishes_the_death_before_disconnecting(
    mosquitto: MosquittoBroker, tmp_path: Path, station_id: StationId
) -> None:
    async with observer(mosquitto.host, mosquitto.port) as fleet:
        await fleet.subscribe(station_topic(station_id, TopicKind.STATE), qos=1)
        async with station(
            tmp_path, station_id, settings_for(mosquitto.host, mosquitto.port), start=False
        ) as under_test:
            task = asyncio.create_task(under_test.uplink.run())
            born = await next_state(fleet)
            await wait_until(lambda: under_test.uplink.online, "uplink online")
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, TIMEOUT)
            died = await next_state(fleet)

    assert isinstance(died, StationDeath)
    assert died.bd_seq == born.bd_seq


@pytest.mark.broker
async def test_a_rebirth_repeats_the_bd_seq_of_the_connection(
    mosquitto: MosquittoBroker, tmp_path: Path, station_id: StationId
) -> None:
    async with observer(mosquitto.host, mosquitto.port) as fleet:
        await fleet.subscribe(station_topic(station_id, TopicKind.STATE), qos=1)
        async with station(
            tmp_path, station_id, settings_for(mosquitto.host, mosquitto.port)
        ) as under_test:
            born = await next_state(fleet)
            await wait_until(lambda: under_test.uplink.online, "uplink online")
            under_test.append(2)
            await under_test.uplink.rebirth()
            reborn = await next_state(fleet)

    assert isinstance(reborn, StationBirth)
    assert reborn.bd_seq == born.bd_seq
    assert reborn.outbox_depth == 2


@pytest.mark.broker
async def test_only_the_latest_status_written_while_offline_is_published_after_the_birth(
    mosquitto: MosquittoBroker, tmp_path: Path, station_id: StationId
) -> None:
    async def two_statuses_while_offline(under_test: StationUnderTest) -> None:
        await under_test.uplink.publish_status(station_status("picking", "SO-1"))
        await under_test.uplink.publish_status(station_status("idle"))

    async with observer(mosquitto.host, mosquitto.port) as floor:
        await floor.subscribe(station_topic(station_id, TopicKind.STATUS), qos=1)
        await floor.subscribe(station_topic(station_id, TopicKind.STATE), qos=1)
        async with station(
            tmp_path,
            station_id,
            settings_for(mosquitto.host, mosquitto.port),
            before_start=two_statuses_while_offline,
        ) as under_test:
            await wait_until(lambda: under_test.uplink.online, "uplink online")
            await under_test.uplink.publish_status(station_status("labelling", "SO-2"))
            seen: list[WireMessage] = []
            while len(seen) < 3:
                message = await asyncio.wait_for(anext(floor.messages), TIMEOUT)
                assert isinstance(message.payload, bytes)
                seen.append(decode(str(message.topic), message.payload).message)

    assert isinstance(seen[0], StationBirth)
    statuses = [status for status in seen[1:] if isinstance(status, StationStatus)]
    assert [(status.phase, status.order_id) for status in statuses] == [
        ("idle", None),
        ("labelling", "SO-2"),
    ]


# --- hostile input ------------------------------------------------------------------------------


@pytest.mark.broker
async def test_bad_input_is_rejected_with_its_reason_and_the_link_keeps_working(
    mosquitto: MosquittoBroker,
    tmp_path: Path,
    station_id: StationId,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="packline.station.uplink")
    neighbour = StationId(site=station_id.site, station="st02")
    settings = settings_for(mosquitto.host, mosquitto.port)

    async def stale_session_with_a_neighbours_topic(under_test: StationUnderTest) -> None:
        # An old session of this client id still holds a subscription outside what the station
        # reads; the persistent session hands it to the uplink along with its own.
        async with observer(
            mosquitto.host,
            mosquitto.port,
            identifier=station_id.client_id,
            clean_start=False,
            properties=persistent_session(),
        ) as stale:
            await stale.subscribe(station_topic(neighbour, TopicKind.COMMAND), qos=1)

    command = station_topic(station_id, TopicKind.COMMAND)
    at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    valid = {"schema_version": 1, "command_id": str(uuid.uuid4()), "at": at}
    bad_inputs = [
        (command, b'{"schema_version": 1, "type": "request_reb'),
        (command, json.dumps({**valid, "type": "order_allocated"}).encode()),
        (command, b" " * (MAX_PAYLOAD_BYTES + 1)),
        (
            station_topic(station_id, TopicKind.ACK),
            encode(Ack(highest_seq=99, at=datetime.now(UTC))),
        ),
        (
            station_topic(neighbour, TopicKind.COMMAND),
            encode(RequestRebirth(command_id=uuid.uuid4(), at=datetime.now(UTC))),
        ),
    ]
    async with (
        station(
            tmp_path, station_id, settings, before_start=stale_session_with_a_neighbours_topic
        ) as under_test,
        observer(mosquitto.host, mosquitto.port) as bridge,
    ):
        await wait_until(lambda: under_test.uplink.online, "uplink online")
        for topic, payload in bad_inputs:
            await bridge.publish(topic, payload, qos=1)
        identify = IdentifyStation(command_id=uuid.uuid4(), at=datetime.now(UTC), seconds=5)
        await bridge.publish(command, encode(identify), qos=1)
        await wait_until(lambda: identify in under_test.received, "the valid command arrived")
        await wait_until(lambda: under_test.uplink.rejected_messages == 5, "all five rejected")
        assert under_test.uplink.online

    assert under_test.received == [identify]
    reasons = caplog.text
    assert "payload is not JSON" in reasons
    assert "type: 'order_allocated' is not carried on the 'command' topic" in reasons
    assert f"at most {MAX_PAYLOAD_BYTES} allowed" in reasons
    assert "ack highest_seq=99 refused" in reasons
    assert "is not one this station reads" in reasons


@pytest.mark.broker
async def test_a_failing_message_handler_is_logged_and_counted_but_does_not_stop_the_link(
    mosquitto: MosquittoBroker,
    tmp_path: Path,
    station_id: StationId,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="packline.station.uplink")
    command = station_topic(station_id, TopicKind.COMMAND)
    rebirth = RequestRebirth(command_id=uuid.uuid4(), at=datetime.now(UTC))
    identify = IdentifyStation(command_id=uuid.uuid4(), at=datetime.now(UTC), seconds=5)
    async with (
        station(
            tmp_path,
            station_id,
            settings_for(mosquitto.host, mosquitto.port),
            handler_fails_for=RequestRebirth,
        ) as under_test,
        observer(mosquitto.host, mosquitto.port) as bridge,
    ):
        await wait_until(lambda: under_test.uplink.online, "uplink online")
        await bridge.publish(command, encode(rebirth), qos=1)
        await bridge.publish(command, encode(identify), qos=1)
        await wait_until(lambda: len(under_test.received) == 2, "both commands handled")

        assert under_test.uplink.rejected_messages == 1
        assert under_test.uplink.reconnects == 0
    assert "message handler failed" in caplog.text
    assert "handler cannot cope with request_rebirth" in caplog.text


# --- backoff and settings -----------------------------------------------------------------------


def delays(backoff: Backoff, count: int) -> Iterator[tuple[float, float]]:
    for _ in range(count):
        ceiling = backoff.ceiling
        yield ceiling, backoff.next_delay()


def test_the_backoff_ceiling_doubles_until_the_cap_and_each_delay_is_drawn_below_it() -> None:
    drawn = list(delays(Backoff(0.5, 30.0, rng=random.Random(1)), 12))

    ceilings = [ceiling for ceiling, _ in drawn]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0, 30.0, 30.0]
    assert all(0.0 <= delay <= ceiling for ceiling, delay in drawn)


def test_backoff_delays_are_jittered_not_the_ceiling_itself() -> None:
    drawn = list(delays(Backoff(0.5, 30.0, rng=random.Random(1)), 12))

    assert all(delay != ceiling for ceiling, delay in drawn)
    assert len({round(delay, 6) for _, delay in drawn[6:]}) == 6


def test_backoff_delays_grow_on_average() -> None:
    backoff = Backoff(0.5, 30.0, rng=random.Random(3))
    early, late = [], []
    for _ in range(200):
        backoff.reset()
        early.append(backoff.next_delay())
        for _ in range(6):
            backoff.next_delay()
        late.append(backoff.next_delay())

    assert sum(late) / len(late) > 10 * sum(early) / len(early)


def test_backoff_with_the_same_seed_gives_the_same_delays_and_reset_starts_over() -> None:
    first = Backoff(0.5, 30.0, rng=random.Random(9))
    second = Backoff(0.5, 30.0, rng=random.Random(9))
    assert list(delays(first, 8)) == list(delays(second, 8))

    first.reset()
    assert first.ceiling == 0.5
    assert first.failures == 0


def test_backoff_refuses_a_cap_below_the_initial_delay() -> None:
    with pytest.raises(ConfigError, match=r"maximum delay is 0\.1 s"):
        Backoff(1.0, 0.1)


def test_broker_settings_read_host_port_and_tls_from_the_url(tmp_path: Path) -> None:
    plain = BrokerSettings(url="mqtt://broker.local")
    secure = BrokerSettings(
        url="mqtts://broker.local:8884",
        ca_file=tmp_path / "ca.pem",
        cert_file=tmp_path / "st01.pem",
        key_file=tmp_path / "st01.key",
    )

    assert (plain.host, plain.port, plain.tls_parameters()) == ("broker.local", 1883, None)
    tls = secure.tls_parameters()
    assert (secure.host, secure.port) == ("broker.local", 8884)
    assert tls is not None
    assert (tls.ca_certs, tls.certfile, tls.keyfile) == (
        str(tmp_path / "ca.pem"),
        str(tmp_path / "st01.pem"),
        str(tmp_path / "st01.key"),
    )


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"url": "http://broker:1883"}, "must start with mqtt:// or mqtts://"),
        ({"url": "mqtt://:1883"}, "has no host"),
        ({"url": "mqtt://broker:99999"}, "invalid port"),
        ({"url": "mqtt://broker/topic"}, "only a scheme, host and port"),
        ({"url": "mqtts://broker", "cert_file": "st.pem"}, "cert_file and key_file go together"),
        ({"url": "mqtt://broker", "ca_file": "ca.pem"}, "need an mqtts:// url"),
        (
            {"url": "mqtt://broker", "backoff_initial_s": 5, "backoff_max_s": 1},
            "must be at least backoff_initial_s",
        ),
        ({"url": "mqtt://broker", "publish_windw": 5}, "publish_windw"),
    ],
)
def test_broker_settings_refuse_what_cannot_work(values: dict[str, object], reason: str) -> None:
    from edge.config import parse_section

    with pytest.raises(ConfigError, match=reason):
        parse_section(BrokerSettings, values, "broker")
