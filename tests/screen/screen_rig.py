"""A whole station on the simulated rig and a real Mosquitto, with its screen, for these tests.

It reuses the station tests' harness (the bridge stand-in and the station runner), which lives
beside them; these tests put that folder on the import path the way pytest does for its own.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

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
    station_config,
    wait_for,
)

from edge.contract import StationId
from firmware_sim.broker import MosquittoBroker
from firmware_sim.gpio import GpioRig
from firmware_sim.sim_station import SCANNER_PRODUCT_ID, SCANNER_VENDOR_ID
from firmware_sim.usb import SimulatedHidScanner, SimulatedUsbBackend
from firmware_sim.zebra.server import ZebraTcpServer

__all__ = ["MUG", "PEN", "TEA", "StationRun", "allocate", "screen_client", "station_on_rig"]


@contextlib.asynccontextmanager
async def station_on_rig(
    broker: MosquittoBroker, station_id: StationId, state_dir: Path, **station: object
) -> AsyncIterator[StationRun]:
    """A station up and born on the broker, its screen listening on a port of its own."""
    gpio = GpioRig()
    backend = SimulatedUsbBackend()
    scanner = SimulatedHidScanner(
        layout="us", vendor_id=SCANNER_VENDOR_ID, product_id=SCANNER_PRODUCT_ID
    )
    backend.plug(scanner)
    async with ZebraTcpServer(port=0) as zebra, bridge_stand_in(station_id, broker.port) as bridge:
        config = station_config(station_id, broker.port, zebra.port, state_dir, **station)
        async with running_station(config, gpio, backend) as (running, task):
            run = StationRun(running, gpio, scanner, zebra, bridge, task)
            await wait_for(lambda: running.screen_url is not None, "the screen to listen")
            await wait_for(lambda: bridge.births >= 1, "the station's birth")
            yield run
    gpio.reset()


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
