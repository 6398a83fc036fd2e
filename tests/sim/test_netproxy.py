"""The partition proxy: forwards bytes both ways, cuts and mends the link, and MQTT lives with it.

The byte-level tests put a plain asyncio server behind the proxy; the MQTT tests put the session's
real Mosquitto behind it and connect with aiomqtt, as a station would.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from firmware_sim.broker import MosquittoBroker
from firmware_sim.errors import SimError
from firmware_sim.netproxy import PartitionProxy, ProxyError

WAIT = 10.0
QUIET = 0.3
"""How long a test watches for bytes that must not arrive."""

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Upstream:
    """A plain TCP server that hands each accepted connection to the test."""

    def __init__(self) -> None:
        self.accepted: asyncio.Queue[Connection] = asyncio.Queue()
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def __aenter__(self) -> Upstream:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        while not self.accepted.empty():
            self.accepted.get_nowait()[1].close()
        await self._server.wait_closed()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted.put_nowait((reader, writer))

    async def next_connection(self) -> Connection:
        async with asyncio.timeout(WAIT):
            return await self.accepted.get()


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    async with Upstream() as server:
        yield server


@pytest.fixture
async def proxy(upstream: Upstream) -> AsyncIterator[PartitionProxy]:
    async with PartitionProxy("127.0.0.1", upstream.port) as running:
        yield running


async def connect(proxy: PartitionProxy) -> Connection:
    return await asyncio.open_connection(proxy.host, proxy.port)


async def read_exactly(reader: asyncio.StreamReader, size: int) -> bytes:
    async with asyncio.timeout(WAIT):
        return await reader.readexactly(size)


async def assert_dead(reader: asyncio.StreamReader) -> None:
    """The connection ends (EOF or reset) without another byte arriving."""
    async with asyncio.timeout(WAIT):
        try:
            data = await reader.read(1024)
        except ConnectionError:
            return
    assert data == b"", f"expected the connection to be dead, got {data!r}"


async def assert_nothing_arrives(reader: asyncio.StreamReader) -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(QUIET):
            await reader.read(1024)


# Plain bytes


async def test_bytes_are_forwarded_both_ways_and_counted(
    proxy: PartitionProxy, upstream: Upstream
) -> None:
    client_reader, client_writer = await connect(proxy)
    client_writer.write(b"hello upstream")
    far_reader, far_writer = await upstream.next_connection()
    assert await read_exactly(far_reader, 14) == b"hello upstream"

    far_writer.write(b"hi client")
    assert await read_exactly(client_reader, 9) == b"hi client"

    stats = proxy.stats
    assert (stats.connections_accepted, stats.bytes_to_upstream, stats.bytes_to_client) == (
        1,
        14,
        9,
    )
    assert proxy.open_connections == 1
    client_writer.close()
    far_writer.close()


async def test_a_clean_close_by_the_client_reaches_the_upstream_as_eof(
    proxy: PartitionProxy, upstream: Upstream
) -> None:
    _, client_writer = await connect(proxy)
    client_writer.write(b"bye")
    await client_writer.drain()
    client_writer.close()
    far_reader, far_writer = await upstream.next_connection()

    async with asyncio.timeout(WAIT):
        assert await far_reader.read() == b"bye"
    far_writer.close()


async def test_the_url_names_the_proxys_own_address(proxy: PartitionProxy) -> None:
    assert proxy.url_for() == f"mqtt://127.0.0.1:{proxy.port}"
    assert proxy.url_for("tcp") == f"tcp://127.0.0.1:{proxy.port}"


def test_the_port_of_a_proxy_not_started_is_an_error_of_the_rig() -> None:
    proxy = PartitionProxy("127.0.0.1", 1)
    with pytest.raises(ProxyError, match="not started"):
        _ = proxy.port
    assert issubclass(ProxyError, SimError)


async def test_an_unreachable_upstream_drops_the_client_and_is_counted() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        closed_port = placeholder.getsockname()[1]
    async with PartitionProxy("127.0.0.1", closed_port) as proxy:
        reader, writer = await connect(proxy)
        await assert_dead(reader)
        writer.close()
        assert proxy.stats.upstream_failures == 1


# Reset partition


async def test_a_partition_resets_open_connections_on_both_sides(
    proxy: PartitionProxy, upstream: Upstream
) -> None:
    client_reader, client_writer = await connect(proxy)
    client_writer.write(b"x")
    far_reader, far_writer = await upstream.next_connection()
    assert await read_exactly(far_reader, 1) == b"x"

    proxy.partition()

    assert proxy.partitioned
    assert not proxy.blackhole
    await assert_dead(client_reader)
    await assert_dead(far_reader)
    assert proxy.stats.connections_cut == 1
    assert proxy.open_connections == 0
    client_writer.close()
    far_writer.close()


async def test_a_connection_made_as_the_partition_begins_sees_a_dead_network(
    proxy: PartitionProxy, upstream: Upstream
) -> None:
    proxy.partition()

    try:
        reader, writer = await connect(proxy)
    except ConnectionError:
        pass
    else:
        writer.write(b"anyone there?")
        await assert_dead(reader)
        writer.close()

    assert upstream.accepted.empty()
    assert proxy.stats.bytes_to_upstream == 0


async def test_new_connections_are_refused_while_partitioned_and_accepted_on_heal(
    proxy: PartitionProxy, upstream: Upstream
) -> None:
    port = proxy.port
    proxy.partition()
    await asyncio.sleep(0.05)

    with pytest.raises(ConnectionRefusedError):
        await connect(proxy)

    proxy.heal()
    _, client_writer = await connect(proxy)
    client_writer.write(b"back")
    far_reader, far_writer = await upstream.next_connection()
    assert await read_exactly(far_reader, 4) == b"back"
    assert proxy.port == port
    client_writer.close()
    far_writer.close()


async def test_partition_and_heal_in_quick_succession_leave_the_last_one_in_force(
    proxy: PartitionProxy, upstream: Upstream
) -> None:
    for _ in range(3):
        proxy.partition()
        proxy.heal()
        proxy.partition()
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    with pytest.raises(ConnectionRefusedError):
        await connect(proxy)

    proxy.heal()
    proxy.partition()
    proxy.heal()
    _, client_writer = await connect(proxy)
    client_writer.write(b"ok")
    far_reader, far_writer = await upstream.next_connection()
    assert await read_exactly(far_reader, 2) == b"ok"
    client_writer.close()
    far_writer.close()


async def test_repeated_partition_calls_count_as_one_partition(proxy: PartitionProxy) -> None:
    proxy.partition()
    proxy.partition(blackhole=True)
    proxy.partition()
    proxy.heal()
    proxy.heal()

    assert not proxy.partitioned
    assert proxy.stats.partitions == 1


async def test_stop_closes_every_connection_and_the_listener(
    upstream: Upstream,
) -> None:
    proxy = PartitionProxy("127.0.0.1", upstream.port)
    await proxy.start()
    port = proxy.port
    client_reader, client_writer = await connect(proxy)
    far_reader, far_writer = await upstream.next_connection()

    await proxy.stop()

    await assert_dead(client_reader)
    await assert_dead(far_reader)
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
    client_writer.close()
    far_writer.close()


# Blackhole partition


async def test_stop_during_a_blackhole_closes_the_held_connections(upstream: Upstream) -> None:
    proxy = PartitionProxy("127.0.0.1", upstream.port)
    await proxy.start()
    client_reader, client_writer = await connect(proxy)
    far_reader, far_writer = await upstream.next_connection()
    proxy.partition(blackhole=True)
    late_reader, late_writer = await connect(proxy)

    await proxy.stop()

    for reader in (client_reader, far_reader, late_reader):
        await assert_dead(reader)
    for writer in (client_writer, far_writer, late_writer):
        writer.close()


async def test_a_blackhole_withholds_bytes_without_closing_and_delivers_them_after_heal(
    proxy: PartitionProxy, upstream: Upstream
) -> None:
    client_reader, client_writer = await connect(proxy)
    client_writer.write(b"a")
    far_reader, far_writer = await upstream.next_connection()
    assert await read_exactly(far_reader, 1) == b"a"

    proxy.partition(blackhole=True)
    client_writer.write(b"up")
    far_writer.write(b"down")

    assert proxy.blackhole
    await assert_nothing_arrives(far_reader)
    await assert_nothing_arrives(client_reader)
    assert proxy.open_connections == 1

    proxy.heal()
    assert await read_exactly(far_reader, 2) == b"up"
    assert await read_exactly(client_reader, 4) == b"down"
    client_writer.close()
    far_writer.close()


async def test_a_connection_made_into_a_blackhole_reaches_upstream_only_after_heal(
    proxy: PartitionProxy, upstream: Upstream
) -> None:
    proxy.partition(blackhole=True)
    _, client_writer = await connect(proxy)
    client_writer.write(b"CONNECT")
    await asyncio.sleep(QUIET)
    assert upstream.accepted.empty()

    proxy.heal()
    far_reader, far_writer = await upstream.next_connection()
    assert await read_exactly(far_reader, 7) == b"CONNECT"
    client_writer.close()
    far_writer.close()


async def test_switching_a_blackhole_to_reset_cuts_the_held_connections(
    proxy: PartitionProxy, upstream: Upstream
) -> None:
    client_reader, client_writer = await connect(proxy)
    far_reader, far_writer = await upstream.next_connection()
    proxy.partition(blackhole=True)

    proxy.partition()

    await assert_dead(client_reader)
    await assert_dead(far_reader)
    assert proxy.stats.partitions == 1
    client_writer.close()
    far_writer.close()


# MQTT through the proxy, against the real broker

MQTT_TIMEOUT = 5.0
SESSION_EXPIRY = 300


@pytest.fixture
async def broker_proxy(mosquitto: MosquittoBroker) -> AsyncIterator[PartitionProxy]:
    async with PartitionProxy(mosquitto.host, mosquitto.port) as running:
        yield running


def persistent_client(proxy: PartitionProxy, identifier: str, *, resume: bool) -> aiomqtt.Client:
    """A v5 client whose session outlives its connection, resuming it when ``resume``."""
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = SESSION_EXPIRY
    return aiomqtt.Client(
        proxy.host,
        proxy.port,
        identifier=identifier,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=not resume,
        properties=properties,
        timeout=MQTT_TIMEOUT,
    )


def direct_client(broker: MosquittoBroker) -> aiomqtt.Client:
    return aiomqtt.Client(
        broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5, timeout=MQTT_TIMEOUT
    )


async def next_message(client: aiomqtt.Client) -> aiomqtt.Message:
    async with asyncio.timeout(MQTT_TIMEOUT):
        return await anext(client.messages)


async def subscribe_then_partition(proxy: PartitionProxy, identifier: str, topic: str) -> None:
    """Subscribe in a persistent session, cut the link and wait for a message that cannot come."""
    async with persistent_client(proxy, identifier, resume=False) as station:
        await station.subscribe(topic, qos=1)
        proxy.partition()
        await next_message(station)


async def test_an_mqtt_client_through_the_proxy_publishes_and_receives(
    broker_proxy: PartitionProxy, unique_topic_prefix: str
) -> None:
    topic = f"{unique_topic_prefix}/echo"
    async with persistent_client(broker_proxy, "proxy-echo", resume=False) as client:
        await client.subscribe(topic, qos=1)
        await client.publish(topic, b"through the proxy", qos=1)
        message = await next_message(client)

    assert message.payload == b"through the proxy"
    assert broker_proxy.stats.bytes_to_upstream > 0
    assert broker_proxy.stats.bytes_to_client > 0


async def test_an_mqtt_session_survives_a_partition_and_gets_what_was_published_meanwhile(
    broker_proxy: PartitionProxy, mosquitto: MosquittoBroker, unique_topic_prefix: str
) -> None:
    topic = f"{unique_topic_prefix}/orders"
    identifier = f"proxy-{unique_topic_prefix.rsplit('/', 1)[1][:12]}"
    with pytest.raises(aiomqtt.MqttError):
        await subscribe_then_partition(broker_proxy, identifier, topic)

    async with direct_client(mosquitto) as bridge:
        await bridge.publish(topic, b"sent while cut off", qos=1)

    with pytest.raises(aiomqtt.MqttError, match="refused"):
        async with persistent_client(broker_proxy, identifier, resume=True):
            pass

    broker_proxy.heal()
    async with persistent_client(broker_proxy, identifier, resume=True) as station:
        message = await next_message(station)

    assert message.topic.matches(topic)
    assert message.payload == b"sent while cut off"
    assert message.qos == 1


async def subscribe_then_blackhole(proxy: PartitionProxy, topic: str) -> None:
    """Subscribe with a one-second keepalive, then withhold every byte until the client gives up."""
    async with aiomqtt.Client(
        proxy.host,
        proxy.port,
        protocol=aiomqtt.ProtocolVersion.V5,
        keepalive=1,
        timeout=MQTT_TIMEOUT,
    ) as station:
        await station.subscribe(topic, qos=1)
        proxy.partition(blackhole=True)
        await next_message(station)


async def test_an_mqtt_client_in_a_blackhole_finds_out_through_its_keepalive(
    broker_proxy: PartitionProxy, unique_topic_prefix: str
) -> None:
    with pytest.raises(aiomqtt.MqttError):
        await subscribe_then_blackhole(broker_proxy, f"{unique_topic_prefix}/quiet")

    assert broker_proxy.stats.connections_cut == 0
    assert broker_proxy.open_connections == 1
