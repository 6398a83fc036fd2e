"""The ACL in docs/protocol.md, loaded into a real Mosquitto, fences each station into its subtree.

Publishing uses paho directly because aiomqtt 2.x does not return the PUBACK reason code, and an
ACL refusal under MQTT 5 is visible only there (0x87, not authorized).
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiomqtt
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from edge.contract import StationId, TopicKind, mosquitto_acl, station_topic
from firmware_sim.broker import MosquittoBroker

pytestmark = pytest.mark.broker

PROTOCOL_DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
NOT_AUTHORIZED = 0x87
TIMEOUT = 30.0

STATION_A = StationId("ams1", "st01")
STATION_B = StationId("ams1", "st02")


def documented_acl() -> str:
    found = re.search(r"```acl\n(.*?)```", PROTOCOL_DOC.read_text(), flags=re.DOTALL)
    assert found, "docs/protocol.md has no ```acl block"
    return found.group(1)


@pytest.fixture(scope="module")
def fenced_broker() -> Iterator[MosquittoBroker]:
    # Without TLS here, the username stands in for the certificate name; the binding of client
    # id to username is the same option production uses.
    with MosquittoBroker(
        acl=documented_acl(), extra_config="use_username_as_clientid true"
    ) as broker:
        yield broker


def publish_with_reason(broker: MosquittoBroker, username: str, topic: str) -> ReasonCode:
    """Publish at QoS 1 as `username` and return the broker's PUBACK reason code."""
    acked = threading.Event()
    reasons: list[ReasonCode] = []

    def on_publish(
        _client: paho.Client, _data: object, _mid: int, reason: ReasonCode, _p: object
    ) -> None:
        reasons.append(reason)
        acked.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.username_pw_set(username)
    client.on_publish = on_publish
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.publish(topic, b"{}", qos=1).wait_for_publish(timeout=TIMEOUT)
        assert acked.wait(TIMEOUT), f"no PUBACK for {topic}"
    finally:
        client.disconnect()
        client.loop_stop()
    return reasons[0]


@asynccontextmanager
async def connected(broker: MosquittoBroker, username: str) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(
        broker.host,
        broker.port,
        username=username,
        protocol=aiomqtt.ProtocolVersion.V5,
        timeout=TIMEOUT,
    ) as client:
        yield client


def test_the_documented_acl_is_the_one_generated_from_the_topic_specs() -> None:
    assert documented_acl() == mosquitto_acl(["bridge"])


def test_a_station_may_publish_events_into_its_own_subtree(
    fenced_broker: MosquittoBroker,
) -> None:
    reason = publish_with_reason(
        fenced_broker, STATION_A.client_id, station_topic(STATION_A, TopicKind.EVENT)
    )

    assert not reason.is_failure


@pytest.mark.parametrize("kind", list(TopicKind))
def test_a_station_cannot_publish_into_another_stations_subtree(
    fenced_broker: MosquittoBroker, kind: TopicKind
) -> None:
    reason = publish_with_reason(fenced_broker, STATION_A.client_id, station_topic(STATION_B, kind))

    assert reason.value == NOT_AUTHORIZED


@pytest.mark.parametrize("kind", [TopicKind.ACK, TopicKind.ALLOCATION, TopicKind.COMMAND])
def test_a_station_cannot_forge_what_the_bridge_sends_it(
    fenced_broker: MosquittoBroker, kind: TopicKind
) -> None:
    reason = publish_with_reason(fenced_broker, STATION_A.client_id, station_topic(STATION_A, kind))

    assert reason.value == NOT_AUTHORIZED


def test_a_client_without_a_station_identity_can_publish_nothing(
    fenced_broker: MosquittoBroker,
) -> None:
    reason = publish_with_reason(
        fenced_broker, "not-a-station", station_topic(STATION_A, TopicKind.EVENT)
    )

    assert reason.value == NOT_AUTHORIZED


async def test_a_station_subscribed_to_every_station_receives_only_its_own_messages(
    fenced_broker: MosquittoBroker,
) -> None:
    # Mosquitto accepts the wildcard SUBSCRIBE and filters each message. The bridge sends B's
    # allocation first and A's second; both come from one client in one broker, so had B's been
    # delivered to A it would have arrived before A's.
    async with connected(fenced_broker, STATION_A.client_id) as station_a:
        await station_a.subscribe("packline/v1/station/+/allocation", qos=1)
        async with connected(fenced_broker, "bridge") as bridge:
            await bridge.publish(station_topic(STATION_B, TopicKind.ALLOCATION), b"for B", qos=1)
            await bridge.publish(station_topic(STATION_A, TopicKind.ALLOCATION), b"for A", qos=1)

        first = await asyncio.wait_for(anext(station_a.messages), TIMEOUT)

    assert (str(first.topic), first.payload) == (
        station_topic(STATION_A, TopicKind.ALLOCATION),
        b"for A",
    )


async def test_the_bridge_receives_events_from_every_station(
    fenced_broker: MosquittoBroker,
) -> None:
    async with connected(fenced_broker, "bridge") as bridge:
        await bridge.subscribe("packline/v1/station/+/event", qos=1)
        async with connected(fenced_broker, STATION_B.client_id) as station_b:
            await station_b.publish(station_topic(STATION_B, TopicKind.EVENT), b"from B", qos=1)

        received = await asyncio.wait_for(anext(bridge.messages), TIMEOUT)

    assert str(received.topic) == station_topic(STATION_B, TopicKind.EVENT)
