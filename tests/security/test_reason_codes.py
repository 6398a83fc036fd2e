"""The station's and the bridge's MQTT client turn a refused PUBACK into an error naming the topic.

Under MQTT 5 Mosquitto answers a publish its ACL forbids with 0x87 and drops the message; aiomqtt
alone reports that as a success. These tests run against a real Mosquitto with the project's ACL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import aiomqtt
import pytest

from edge.contract import StationId, TopicKind, mosquitto_acl, station_topic
from edge.mqtt_client import (
    PublishRefusedError,
    ReasonCheckedClient,
    SubscribeRefusedError,
    check_subscriptions,
)
from firmware_sim.broker import MosquittoBroker

pytestmark = pytest.mark.broker

STATION_A = StationId("ams1", "st01")
STATION_B = StationId("ams1", "st02")
TIMEOUT = 30.0


@pytest.fixture(scope="module")
def fenced_broker() -> Iterator[MosquittoBroker]:
    with MosquittoBroker(
        acl=mosquitto_acl(["bridge"]), extra_config="use_username_as_clientid true"
    ) as broker:
        yield broker


@asynccontextmanager
async def checked(broker: MosquittoBroker, username: str) -> AsyncIterator[ReasonCheckedClient]:
    async with ReasonCheckedClient(
        broker.host,
        broker.port,
        username=username,
        protocol=aiomqtt.ProtocolVersion.V5,
        timeout=TIMEOUT,
    ) as client:
        yield client


async def test_a_refused_publish_raises_an_error_naming_the_topic(
    fenced_broker: MosquittoBroker,
) -> None:
    forbidden = station_topic(STATION_B, TopicKind.EVENT)
    async with checked(fenced_broker, STATION_A.client_id) as station_a:
        with pytest.raises(PublishRefusedError) as refused:
            await station_a.publish(forbidden, b"{}", qos=1)

    assert refused.value.reason == 0x87
    assert forbidden in str(refused.value)
    assert "Not authorized" in str(refused.value)


async def test_an_allowed_publish_after_a_refused_one_succeeds(
    fenced_broker: MosquittoBroker,
) -> None:
    async with checked(fenced_broker, STATION_A.client_id) as station_a:
        with pytest.raises(PublishRefusedError):
            await station_a.publish(station_topic(STATION_B, TopicKind.STATE), b"{}", qos=1)
        await station_a.publish(station_topic(STATION_A, TopicKind.STATE), b"{}", qos=1)


async def test_concurrent_publishes_each_get_their_own_answer(
    fenced_broker: MosquittoBroker,
) -> None:
    own = station_topic(STATION_A, TopicKind.EVENT)
    other = station_topic(STATION_B, TopicKind.EVENT)
    async with checked(fenced_broker, STATION_A.client_id) as station_a:
        results = await asyncio.gather(
            *(station_a.publish(own if i % 2 else other, b"{}", qos=1) for i in range(40)),
            return_exceptions=True,
        )

    refused = [r for r in results if isinstance(r, PublishRefusedError)]
    assert len(refused) == 20
    assert all(r.topic == other for r in refused)
    assert [r for i, r in enumerate(results) if i % 2] == [None] * 20


def test_a_failure_suback_entry_raises_naming_its_topic() -> None:
    with pytest.raises(SubscribeRefusedError, match="'a/b'"):
        check_subscriptions(["ok/topic", "a/b"], [1, 0x87])

    check_subscriptions(["ok/topic"], [1])
