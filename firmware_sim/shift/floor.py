"""The shop floor: which orders each station holds, and a packer working each station.

The board listens to the stations' allocation topics the way a station does (the one wire
contract, a persistent MQTT 5 session), so it knows what each station was sent, in order, with
cancellations and newer versions. A packer takes the station's orders one at a time and packs
them through the rig's control socket, reacting to the lights. When a station process is killed
under it, the packer waits for the station to come back and carries on with the same order:
the station resumes from its saved state, and the lights say what is left. Before each try the
packer asks the bridge whether the station still holds the order, because a station killed just
after its label printed has finished an order the packer never saw finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.contract import OrderAllocated, OrderCancelled, StationId, decode
from edge.contract.topics import TopicKind, station_topic
from firmware_sim.control import RigControlClient
from firmware_sim.errors import SimError
from firmware_sim.packer import MistakePlan, PackResult, SimulatedPacker

__all__ = ["BOARD_NAME", "AllocationBoard", "PackerFigures", "StationPacker"]

BOARD_NAME = "shift-allocation-board"
"""The board's client id and certificate name: a reader in the broker's ACL."""

log = logging.getLogger(__name__)


class AllocationBoard:
    """The latest allocation message per order and station, as the bridge sent them."""

    def __init__(
        self,
        stations: list[StationId],
        host: str,
        port: int,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._stations = stations
        self._host = host
        self._port = port
        self._tls_context = tls_context
        self.latest: dict[tuple[str, str], OrderAllocated | OrderCancelled] = {}
        """(station, order) -> the newest message for it."""
        self.changed = asyncio.Event()
        self.messages = 0

    def open_orders(self, station: str) -> list[OrderAllocated]:
        """Orders the station holds now, oldest message first."""
        return [
            message
            for (holder, _), message in self.latest.items()
            if holder == station and isinstance(message, OrderAllocated)
        ]

    def still_open(self, station: str, order: OrderAllocated) -> OrderAllocated | None:
        """The newest version of `order` at the station, or None once it was withdrawn."""
        message = self.latest.get((station, order.order_id))
        return message if isinstance(message, OrderAllocated) else None

    def done(self, station: str, order_id: str, version: int) -> None:
        """Forget an order the station completed, unless a newer version came meanwhile."""
        message = self.latest.get((station, order_id))
        if message is not None and message.version <= version:
            del self.latest[(station, order_id)]

    async def run(self) -> None:
        """Listen until cancelled, reconnecting (with its session) after a broker restart."""
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 3600
        while True:
            try:
                async with aiomqtt.Client(
                    self._host,
                    self._port,
                    identifier=BOARD_NAME,
                    tls_context=self._tls_context,
                    protocol=aiomqtt.ProtocolVersion.V5,
                    clean_start=False,
                    properties=properties,
                ) as client:
                    for station in self._stations:
                        await client.subscribe(station_topic(station, TopicKind.ALLOCATION), qos=1)
                    async for message in client.messages:
                        if isinstance(message.payload, bytes):
                            self._take(str(message.topic), message.payload)
            except aiomqtt.MqttError:
                await asyncio.sleep(0.5)

    def _take(self, topic: str, payload: bytes) -> None:
        try:
            decoded = decode(topic, payload)
        except ValueError as error:
            log.warning("board: ignored a message on %s: %s", topic, error)
            return
        message = decoded.message
        if not isinstance(message, OrderAllocated | OrderCancelled):
            return
        station = decoded.address.station_id.client_id
        key = (station, message.order_id)
        held = self.latest.get(key)
        if held is None or message.version >= held.version:
            self.latest[key] = message
        self.messages += 1
        self.changed.set()


@dataclass
class PackerFigures:
    """What one station's packer did over the shift."""

    orders_packed: int = 0
    units_picked: int = 0
    mistakes: dict[str, int] = field(default_factory=dict)
    shortages: int = 0
    interruptions: int = 0
    """Packs cut short by a crash, a lost link or a printer fault, and picked up again."""


class StationPacker:
    """One simulated packer at one station, working until cancelled."""

    def __init__(
        self,
        station: StationId,
        state_dir: Path,
        board: AllocationBoard,
        *,
        mistakes: MistakePlan,
        seed: int,
        on_packed: Callable[[str, PackResult], None],
        still_here: Callable[[str, str], Awaitable[bool]],
    ) -> None:
        self.station = station
        self._state_dir = state_dir
        self._board = board
        self._mistakes = mistakes
        self._rng = random.Random(seed)
        self._on_packed = on_packed
        self._still_here = still_here
        self.figures = PackerFigures()
        self.current: str | None = None

    async def _client(self) -> RigControlClient:
        """A control connection to the station's rig, waiting for it to (re)start."""
        port_file = self._state_dir / "sim-control.port"
        while True:
            with contextlib.suppress(OSError, ValueError):
                port = int(port_file.read_text().strip())
                return await RigControlClient.connect("127.0.0.1", port, timeout=5.0)
            await asyncio.sleep(0.2)

    async def run(self) -> None:
        name = self.station.client_id
        while True:
            orders = self._board.open_orders(name)
            if not orders:
                self._board.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._board.changed.wait(), 1.0)
                continue
            order = orders[0]
            self.current = order.order_id
            if not await self._still_here(name, order.order_id):
                # The bridge has it back (completed, withdrawn, or moved): nothing to pack.
                self._board.done(name, order.order_id, order.version)
                continue
            try:
                client = await self._client()
                try:
                    packer = SimulatedPacker(
                        client,
                        mistakes=self._mistakes,
                        rng=self._rng,
                        timeout=120.0,
                        first_light_timeout=8.0,
                    )
                    result = await packer.pack(order)
                finally:
                    with contextlib.suppress(SimError, OSError, ConnectionError):
                        await client.close()
            except (SimError, OSError, ConnectionError, TimeoutError) as error:
                self.figures.interruptions += 1
                log.info("packer %s: %s interrupted (%s)", name, order.order_id, error)
                await asyncio.sleep(1.0)
                continue
            self._record(result)
            self._board.done(name, order.order_id, order.version)
            self.current = None

    def _record(self, result: PackResult) -> None:
        figures = self.figures
        figures.orders_packed += 1
        figures.units_picked += result.units_picked
        figures.shortages += len(result.shortages)
        for kind, count in result.mistakes.items():
            figures.mistakes[str(kind)] = figures.mistakes.get(str(kind), 0) + count
        self._on_packed(self.station.client_id, result)
