"""A whole station on the simulated rig and a real Mosquitto, with a stand-in for the bridge.

The station under test is the real `Station` on the real drivers; only the far side of each seam
is simulated (USB backend, gpiozero mock pins, a virtual Zebra on TCP). The bridge stand-in does
what the delivery rules ask of the bridge and no more: it applies each (station, seq) once,
acknowledges the highest applied sequence, and publishes allocations.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.contract import (
    Ack,
    Delivery,
    OrderAllocated,
    OrderCancelled,
    OrderLine,
    ShipTo,
    StationBirth,
    StationEvent,
    StationId,
    TopicKind,
    WireMessage,
    decode,
    prepare,
    station_topic,
)
from edge.station.config import StationConfig
from edge.station.runtime import Station
from firmware_sim.gpio import GpioRig
from firmware_sim.sim_station import (
    SLOT_PINS,
    sim_station_config,
)
from firmware_sim.usb import SimulatedHidScanner, SimulatedUsbBackend
from firmware_sim.zebra.server import ZebraTcpServer

MUG = "05012345678900"
TEA = "04006381333931"
PEN = "09501101530003"
TIMEOUT = 15.0


def station_config(
    station_id: StationId, broker_port: int, printer_port: int, state_dir: Path, **station: Any
) -> StationConfig:
    """The simulated station's config, validated by the same parser the CLI uses."""
    return sim_station_config(
        station_id,
        broker_url=f"mqtt://127.0.0.1:{broker_port}",
        printer_port=printer_port,
        state_dir=state_dir,
        **station,
    )


def allocation(
    order_id: str = "SO-1",
    version: int = 1,
    lines: tuple[tuple[str, str, int, str], ...] = (("1", MUG, 2, "A1"), ("2", TEA, 1, "A2")),
) -> OrderAllocated:
    return OrderAllocated(
        order_id=order_id,
        version=version,
        at=datetime.now(UTC),
        lines=tuple(
            OrderLine(line_id=line_id, sku=f"SKU-{gtin[-4:]}", gtin=gtin, quantity=qty, slot=slot)
            for line_id, gtin, qty, slot in lines
        ),
        delivery=Delivery(
            ship_to=ShipTo(
                name="Harbour Cafe Ltd",
                lines=("12 Quay Street",),
                city="Bristol",
                postal_code="BS1 4DJ",
                country="GB",
            ),
            carrier="DPD",
            shipment_reference=f"SH-{order_id}",
        ),
    )


@dataclass
class BridgeStandIn:
    """Applies each (station, seq) once, acks the highest applied, publishes allocations.

    It keeps a persistent MQTT session and reconnects, so it rides out a broker restart the way
    the real bridge must: QoS 1 events published while it was away are queued for it.
    """

    station_id: StationId
    port: int
    applied: dict[int, StationEvent] = field(default_factory=dict)
    duplicates: int = 0
    deliveries: int = 0
    acking: bool = True
    births: int = 0
    client: aiomqtt.Client | None = None
    identifier: str = field(default_factory=lambda: f"bridge-{uuid.uuid4().hex[:8]}")
    tls_context: ssl.SSLContext | None = None
    client_connects: int = 0
    """With TLS the broker names the client by its certificate, so the identifier is ignored."""

    async def run(self, connected: asyncio.Event) -> None:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 3600
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1",
                    self.port,
                    identifier=self.identifier,
                    protocol=aiomqtt.ProtocolVersion.V5,
                    # Fresh on the first connect under TLS: every stand-in then has the same
                    # certificate (and client id), so it must not inherit an earlier test's
                    # session; later connects keep the session, to ride out broker restarts.
                    clean_start=self.tls_context is not None and self.client_connects == 0,
                    tls_context=self.tls_context,
                    properties=properties,
                ) as client:
                    await client.subscribe(station_topic(self.station_id, TopicKind.EVENT), qos=1)
                    await client.subscribe(station_topic(self.station_id, TopicKind.STATE), qos=1)
                    self.client = client
                    self.client_connects += 1
                    connected.set()
                    await self._listen(client)
            except aiomqtt.MqttError:
                self.client = None
                await asyncio.sleep(0.2)

    async def _listen(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            assert isinstance(payload, bytes)
            decoded = decode(str(message.topic), payload).message
            if isinstance(decoded, StationBirth):
                self.births += 1
                continue
            if not isinstance(decoded, StationEvent):
                continue
            self.deliveries += 1
            if decoded.seq in self.applied:
                self.duplicates += 1
            else:
                self.applied[decoded.seq] = decoded
            if self.acking:
                await self.ack()

    async def ack(self) -> None:
        highest = 0
        while highest + 1 in self.applied:
            highest += 1
        await self.send(Ack(highest_seq=highest, at=datetime.now(UTC)))

    async def send(self, message: WireMessage) -> None:
        await wait_for(lambda: self.client is not None, "the bridge stand-in to be connected")
        assert self.client is not None
        publication = prepare(self.station_id, message)
        await self.client.publish(
            publication.topic, publication.payload, qos=publication.qos, retain=publication.retain
        )

    async def allocate(self, message: OrderAllocated | OrderCancelled) -> None:
        await self.send(message)

    def events(self, kind: str) -> list[StationEvent]:
        return [
            self.applied[seq] for seq in sorted(self.applied) if _kind(self.applied[seq]) == kind
        ]

    def kinds(self) -> list[str]:
        return [_kind(self.applied[seq]) for seq in sorted(self.applied)]


def _kind(event: StationEvent) -> str:
    return str(event.model_dump()["type"])


@dataclass
class StationRun:
    """One running station, its rig and the bridge stand-in."""

    station: Station
    gpio: GpioRig
    scanner: SimulatedHidScanner
    zebra: ZebraTcpServer
    bridge: BridgeStandIn
    task: asyncio.Task[None]

    def scan(self, text: str, symbology: str = "]C0") -> None:
        self.scanner.scan(text, symbology=symbology)

    async def press(self, slot: str) -> None:
        await asyncio.to_thread(self.gpio.tap, SLOT_PINS[slot][1], seconds=0.05)

    async def press_pin(self, pin: int, seconds: float = 0.05) -> None:
        await asyncio.to_thread(self.gpio.tap, pin, seconds=seconds)

    async def glows(self, slot: str, window: float = 0.7) -> bool:
        """Whether the slot's light is on at any moment of `window` (patterns blink)."""
        watch = self.gpio.watch(SLOT_PINS[slot][0])
        await asyncio.sleep(window)
        return watch.observed().lit_at_end or any(lit for _, lit in watch.changes())

    async def until_glows(self, slot: str, expected: bool = True) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        while await self.glows(slot) != expected:
            if loop.time() > deadline:
                state = "lit" if expected else "dark"
                raise AssertionError(f"slot {slot} did not become {state}")

    async def until(self, condition: Callable[[], object], what: str) -> None:
        await wait_for(condition, what)


async def wait_for(condition: Callable[[], object], what: str, seconds: float = TIMEOUT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def bridge_stand_in(
    station_id: StationId, port: int, tls_context: ssl.SSLContext | None = None
) -> AsyncIterator[BridgeStandIn]:
    bridge = BridgeStandIn(station_id, port, tls_context=tls_context)
    connected = asyncio.Event()
    task = asyncio.create_task(bridge.run(connected))
    try:
        await asyncio.wait_for(connected.wait(), TIMEOUT)
        yield bridge
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def running_station(
    config: StationConfig, gpio: GpioRig, backend: SimulatedUsbBackend
) -> AsyncIterator[tuple[Station, asyncio.Task[None]]]:
    station = Station(config, usb_backend=backend, pin_factory=gpio.factory)
    ready = asyncio.Event()
    task = asyncio.create_task(station.run(ready=ready.set))
    try:
        await asyncio.wait_for(ready.wait(), TIMEOUT)
        yield station, task
    finally:
        if not task.done():
            await station.stop()
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
