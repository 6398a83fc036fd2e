"""The rig's Mosquitto: private, loopback, restartable, and clear about what is missing."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiomqtt
import pytest

from firmware_sim.broker import (
    BrokerError,
    BrokerStartError,
    MosquittoBroker,
    MosquittoNotInstalledError,
    find_mosquitto,
)
from firmware_sim.errors import SimError

pytestmark = pytest.mark.broker
TIMEOUT = 30.0


def client(broker: MosquittoBroker) -> aiomqtt.Client:
    return aiomqtt.Client(
        broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5, timeout=TIMEOUT
    )


def test_a_missing_mosquitto_is_reported_naming_the_debian_package(tmp_path: Path) -> None:
    with pytest.raises(MosquittoNotInstalledError, match="apt-get install mosquitto"):
        MosquittoBroker(executable=tmp_path / "mosquitto")


def test_mosquitto_is_looked_for_on_path_when_not_in_the_debian_location(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(MosquittoNotInstalledError, match="or on PATH; install the Debian package"):
        find_mosquitto(default=tmp_path / "absent")


def test_broker_errors_belong_to_the_rigs_error_tree() -> None:
    assert issubclass(MosquittoNotInstalledError, SimError)
    assert issubclass(MosquittoNotInstalledError, FileNotFoundError)


def test_the_broker_listens_on_loopback_only_while_it_is_open() -> None:
    with MosquittoBroker() as broker:
        assert broker.url == f"mqtt://127.0.0.1:{broker.port}"
        with socket.create_connection((broker.host, broker.port), timeout=TIMEOUT):
            pass
        port = broker.port

    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT):
        pass


def test_a_broker_cannot_be_entered_twice() -> None:
    broker = MosquittoBroker()
    with broker, pytest.raises(BrokerError, match="not re-entrant"):
        broker.__enter__()


def test_invalid_extra_config_fails_start_up_quoting_mosquittos_complaint() -> None:
    with (
        pytest.raises(BrokerStartError, match="no_such_option"),
        MosquittoBroker(extra_config="no_such_option true"),
    ):
        pass


async def test_retained_messages_survive_a_clean_restart_on_the_same_port(
    unique_topic_prefix: str,
) -> None:
    topic = f"{unique_topic_prefix}/retained"
    with MosquittoBroker() as broker:
        async with client(broker) as publisher:
            await publisher.publish(topic, b"kept", qos=1, retain=True)
        port = broker.port

        broker.stop()
        broker.start()

        assert broker.port == port
        async with client(broker) as subscriber:
            await subscriber.subscribe(topic, qos=1)
            message = await asyncio.wait_for(anext(subscriber.messages), TIMEOUT)
    assert message.payload == b"kept"
