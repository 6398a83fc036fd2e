"""Clients of the secure broker for the security tests: TLS with a site certificate, MQTT 5.

Publishing uses paho directly because aiomqtt 2.x does not return the PUBACK reason code, and an
ACL refusal under MQTT 5 is visible only there (0x87, not authorized). Connection refusals are
probed with a bare TLS socket and a hand-made CONNECT, so that a refusal during the handshake and
a refusal in the CONNACK are told apart from each other and from success.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from cloud_bridge.pki import ClientCredentials

__all__ = [
    "NOT_AUTHORIZED",
    "TIMEOUT",
    "ConnectOutcome",
    "PahoSession",
    "TlsBroker",
    "connected",
    "probe_connect",
    "publish_with_reason",
]

NOT_AUTHORIZED = 0x87
TIMEOUT = 30.0
_CONNACK = 0x20


class TlsBroker(Protocol):
    """Where a broker's TLS listener is: `MosquittoBroker` in secure mode, or the deployed file."""

    @property
    def host(self) -> str: ...

    @property
    def tls_port(self) -> int: ...


@dataclass(frozen=True, slots=True)
class ConnectOutcome:
    """How the broker answered one connection attempt."""

    connack_reason: int | None
    """The CONNACK's reason code, or None when the broker answered none."""
    refusal: str | None
    """Why the connection ended without a CONNACK (the TLS error), if it did."""

    @property
    def accepted(self) -> bool:
        return self.connack_reason == 0


def _connect_packet(client_id: str) -> bytes:
    """An MQTT 5 CONNECT: clean start, keep-alive 60 s, no properties, no will, no username."""
    encoded = client_id.encode()
    body = b"\x00\x04MQTT\x05\x02\x00\x3c\x00" + struct.pack("!H", len(encoded)) + encoded
    return bytes([0x10, len(body)]) + body


def probe_connect(
    broker: TlsBroker, context: ssl.SSLContext, client_id: str = "probe"
) -> ConnectOutcome:
    """Open a TLS connection, send CONNECT and report the CONNACK or the reason there was none."""
    with socket.create_connection((broker.host, broker.tls_port), timeout=TIMEOUT) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=broker.host) as tls:
                tls.sendall(_connect_packet(client_id))
                answer = tls.recv(4)
        except (ssl.SSLError, OSError) as error:
            return ConnectOutcome(connack_reason=None, refusal=f"{type(error).__name__}: {error}")
    if len(answer) < 4 or answer[0] != _CONNACK:
        return ConnectOutcome(connack_reason=None, refusal=f"no CONNACK, got {answer!r}")
    return ConnectOutcome(connack_reason=answer[3], refusal=None)


class PahoSession:
    """A connected paho client over TLS that notes when the broker drops it (paho reconnects)."""

    def __init__(self, broker: TlsBroker, credentials: ClientCredentials, client_id: str) -> None:
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5
        )
        self.client.tls_set_context(credentials.tls_context())
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.connect(broker.host, broker.tls_port)
        self.client.loop_start()
        if not self.connected.wait(TIMEOUT):
            self.close()
            raise AssertionError(f"{client_id!r} got no CONNACK within {TIMEOUT} s")

    def _on_connect(self, *_args: object) -> None:
        self.connected.set()

    def _on_disconnect(self, *_args: object) -> None:
        self.disconnected.set()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publish_with_reason(
    broker: TlsBroker,
    credentials: ClientCredentials,
    topic: str,
    payload: bytes = b"{}",
    *,
    retain: bool = False,
) -> ReasonCode:
    """Publish at QoS 1 with ``credentials`` and return the broker's PUBACK reason code."""
    acked = threading.Event()
    reasons: list[ReasonCode] = []

    def on_publish(
        _client: paho.Client, _data: object, _mid: int, reason: ReasonCode, _p: object
    ) -> None:
        reasons.append(reason)
        acked.set()

    session = PahoSession(broker, credentials, client_id="")
    session.client.on_publish = on_publish
    try:
        session.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(
            timeout=TIMEOUT
        )
        assert acked.wait(TIMEOUT), f"no PUBACK for {topic}"
    finally:
        session.close()
    return reasons[0]


@asynccontextmanager
async def connected(
    broker: TlsBroker, credentials: ClientCredentials, client_id: str | None = None
) -> AsyncIterator[aiomqtt.Client]:
    """An aiomqtt client over TLS, MQTT 5, presenting ``credentials``."""
    async with aiomqtt.Client(
        broker.host,
        broker.tls_port,
        identifier=client_id,
        protocol=aiomqtt.ProtocolVersion.V5,
        tls_context=credentials.tls_context(),
        timeout=TIMEOUT,
    ) as client:
        yield client
