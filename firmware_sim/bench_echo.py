"""MQTT round trip with nothing in between: a raw paho publish, echoed back by a second client.

The publisher sends a payload at QoS 1 to the echo, a paho client in a process of its own (as
the bridge is), which publishes it straight back at QoS 1: two trips through the broker, the
same as a station event and the bridge's ack, with no storage or decoding on either side.

`nodelay` turns Nagle's algorithm off on both clients' sockets with the socket options the
station's and the bridge's clients use (`NO_DELAY`), so the echo compares like for like with
them. The broker's side is its own setting: the rig's Mosquitto sets `set_tcp_nodelay true`,
and `NODELAY_BROKER_CONFIG` states it explicitly for a broker that must be Nagle-free whatever
the rig's default. With Nagle on at either end, a small packet held back behind an
unacknowledged one waits for the peer's delayed ACK (about 40 ms on Linux), once per hop of a
request and reply, and the echo then measures mostly those timers.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edge.station.uplink import NO_DELAY
from firmware_sim.broker import MosquittoBroker
from firmware_sim.errors import SimError

__all__ = ["NODELAY_BROKER_CONFIG", "EchoError", "measure_paho_echo"]

NODELAY_BROKER_CONFIG = "set_tcp_nodelay true\n"
"""Mosquitto setting that turns Nagle's algorithm off on the broker's sockets (the rig's
default; repeating it keeps a floor measurement independent of that default)."""

_ECHO_IN = "packline-bench/echo/in"
_ECHO_OUT = "packline-bench/echo/out"
_READY = "ready"
_NODELAY_FLAG = "--nodelay"
_ROUND_TIMEOUT_S = 30.0
_START_TIMEOUT_S = 60.0


class EchoError(SimError, RuntimeError):
    """The echo bench was given bad arguments, or the echo did not answer in time."""


def measure_paho_echo(
    broker: MosquittoBroker, payload: bytes, rounds: int, *, nodelay: bool, warm_up: int = 3
) -> list[float]:
    """Seconds from each publish to its echo arriving back, `rounds` of them, one at a time."""
    if rounds < 1:
        raise EchoError(f"rounds {rounds} is below 1; expected at least 1")
    received = threading.Event()
    arrived = [0.0]

    def on_message(_client: paho.Client, _userdata: object, _message: paho.MQTTMessage) -> None:
        arrived[0] = time.perf_counter()
        received.set()

    samples = []
    with (
        _echo_process(broker, nodelay=nodelay),
        _subscribed_client(broker, on_message, nodelay=nodelay) as client,
    ):
        for _ in range(warm_up + rounds):
            received.clear()
            started = time.perf_counter()
            client.publish(_ECHO_IN, payload, qos=1)
            if not received.wait(_ROUND_TIMEOUT_S):
                raise EchoError(f"the paho echo did not come back within {_ROUND_TIMEOUT_S:.0f} s")
            samples.append(arrived[0] - started)
    return samples[warm_up:]


def _connected(host: str, port: int, *, nodelay: bool) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.connect(host, port)
    if nodelay:
        connected = client.socket()
        if not isinstance(connected, socket.socket):
            raise EchoError(
                f"paho gave {type(connected).__name__} after connecting to {host}:{port}; "
                "expected a plain TCP socket"
            )
        for option in NO_DELAY:
            connected.setsockopt(*option)
    return client


@contextlib.contextmanager
def _subscribed_client(
    broker: MosquittoBroker, on_message: paho.CallbackOnMessage, *, nodelay: bool
) -> Iterator[paho.Client]:
    """A connected paho client with its network thread, subscribed to the echo's output."""
    subscribed = threading.Event()
    client = _connected(broker.host, broker.port, nodelay=nodelay)
    client.on_message = on_message
    client.on_subscribe = lambda *_args: subscribed.set()
    client.loop_start()
    try:
        client.subscribe(_ECHO_OUT, qos=1)
        if not subscribed.wait(_START_TIMEOUT_S):
            raise EchoError(f"paho was never subscribed to {_ECHO_OUT!r}")
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


@contextlib.contextmanager
def _echo_process(broker: MosquittoBroker, *, nodelay: bool) -> Iterator[None]:
    """The echo client in a process of its own, until the block ends."""
    command = [sys.executable, "-m", "firmware_sim.bench_echo", broker.host, str(broker.port)]
    if nodelay:
        command.append(_NODELAY_FLAG)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if line != _READY:
            raise EchoError(f"the echo process said {line!r}; expected {_READY!r}")
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()  # type: ignore[union-attr]


def _run_echo(host: str, port: int, *, nodelay: bool) -> None:
    """Publish every message on the echo's input topic back on its output topic, at QoS 1."""

    def on_message(client: paho.Client, _userdata: object, message: paho.MQTTMessage) -> None:
        client.publish(_ECHO_OUT, message.payload, qos=1)

    def on_connect(*_args: object) -> None:
        client.subscribe(_ECHO_IN, qos=1)

    client = _connected(host, port, nodelay=nodelay)
    client.on_connect = on_connect
    client.on_subscribe = lambda *_args: print(_READY, flush=True)
    client.on_message = on_message
    client.loop_forever()


if __name__ == "__main__":
    _run_echo(sys.argv[1], int(sys.argv[2]), nodelay=_NODELAY_FLAG in sys.argv[3:])
