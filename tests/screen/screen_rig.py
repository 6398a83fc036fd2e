"""A whole station on the simulated rig and a real Mosquitto, with its screen, for these tests.

It reuses the station tests' harness (the bridge stand-in and the station runner), which lives
beside them; these tests put that folder on the import path the way pytest does for its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "station"))

from station_harness import (
    MUG,
    PEN,
    TEA,
    StationRun,
    allocation,
    bridge_stand_in,
    running_station,
    wait_for,
)

from edge.contract import StationId
from edge.station.config import StationConfig, parse_station_config
from firmware_sim.broker import MosquittoBroker
from firmware_sim.gpio import GpioRig
from firmware_sim.sim_station import (
    SCANNER_PRODUCT_ID,
    SCANNER_VENDOR_ID,
    sim_station_document,
)
from firmware_sim.usb import SimulatedHidScanner, SimulatedUsbBackend
from firmware_sim.zebra.server import ZebraTcpServer

__all__ = [
    "MUG",
    "PEN",
    "TEA",
    "StationRun",
    "allocate",
    "light",
    "line",
    "screen_client",
    "state_when",
    "station_on_rig",
]


@contextlib.asynccontextmanager
async def station_on_rig(
    broker: MosquittoBroker,
    station_id: StationId,
    state_dir: Path,
    *,
    printer_poll_s: float | None = None,
    outbox_max_events: int | None = None,
    **station: Any,
) -> AsyncIterator[StationRun]:
    """A station up and born on the broker, its screen listening on a port of its own.

    `printer_poll_s` sets `[printer] status_poll_s` and `outbox_max_events` sets
    `[outbox] max_events` (the defaults otherwise); `station` adds keys to `[station]`.
    """
    gpio = GpioRig()
    backend = SimulatedUsbBackend()
    scanner = SimulatedHidScanner(
        layout="us", vendor_id=SCANNER_VENDOR_ID, product_id=SCANNER_PRODUCT_ID
    )
    backend.plug(scanner)
    async with ZebraTcpServer(port=0) as zebra, bridge_stand_in(station_id, broker.port) as bridge:
        config = rig_config(
            station_id,
            broker.port,
            zebra.port,
            state_dir,
            printer_poll_s=printer_poll_s,
            outbox_max_events=outbox_max_events,
            station=station,
        )
        async with running_station(config, gpio, backend) as (running, task):
            run = StationRun(running, gpio, scanner, zebra, bridge, task)
            await wait_for(lambda: running.screen_url is not None, "the screen to listen")
            await wait_for(lambda: bridge.births >= 1, "the station's birth")
            yield run
    gpio.reset()


def rig_config(
    station_id: StationId,
    broker_port: int,
    printer_port: int,
    state_dir: Path,
    *,
    printer_poll_s: float | None,
    outbox_max_events: int | None = None,
    station: dict[str, Any],
) -> StationConfig:
    """The simulated station's config, validated by the same parser the CLI uses."""
    document = sim_station_document(
        station_id,
        broker_url=f"mqtt://127.0.0.1:{broker_port}",
        printer_port=printer_port,
        state_dir=state_dir,
        **station,
    )
    if printer_poll_s is not None:
        document["printer"]["status_poll_s"] = printer_poll_s
    if outbox_max_events is not None:
        document.setdefault("outbox", {})["max_events"] = outbox_max_events
    return parse_station_config(document)


@contextlib.asynccontextmanager
async def screen_client(run: StationRun) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client aimed at the station's screen, sending what the page's own fetch sends."""
    url = run.station.screen_url
    assert url is not None
    async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:
        yield client


async def allocate(run: StationRun, **kwargs: object) -> None:
    message = allocation(**kwargs)  # type: ignore[arg-type]
    await run.bridge.allocate(message)
    await wait_for(
        lambda: run.station.allocations.get(message.order_id) is not None,
        f"allocation {message.order_id} cached",
    )


async def state_when(
    client: httpx.AsyncClient, condition: Any, what: str, seconds: float = 10.0
) -> dict[str, Any]:
    """Poll /api/state until `condition(snapshot)` holds; return that snapshot."""
    deadline = time.monotonic() + seconds
    while True:
        response = await client.get("/api/state")
        response.raise_for_status()
        snapshot: dict[str, Any] = response.json()
        if condition(snapshot):
            return snapshot
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last snapshot {snapshot}")
        await asyncio.sleep(0.05)


def line(snapshot: dict[str, Any], slot: str) -> dict[str, Any]:
    return next(item for item in snapshot["order"]["lines"] if item["slot"] == slot)


def light(snapshot: dict[str, Any], slot: str) -> dict[str, Any]:
    return next(item for item in snapshot["lights"] if item["slot"] == slot)
