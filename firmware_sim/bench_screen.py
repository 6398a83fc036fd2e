"""Scan to the packer's screen, measured in the browser, beside scan to light in the same run.

One station on the simulated rig (in this process, so the scanner and the light's pin are at
hand) serves its screen to headless Chromium. Each scan starts when its HID reports enter the
simulated USB backend; the wall clock is read then. The screen's figure ends when the page has
applied the snapshot carrying that scan and painted it: the page stamps
``performance.timeOrigin + performance.now()`` inside ``requestAnimationFrame`` after the DOM
update (`window.__screenRenders`). The light's figure ends when the slot's LED pin changes
(gpiozero's mock pin records it). Both clocks are this machine's; the page's offset from
Python's wall clock is measured first (the least round trip of several readings) and taken off.

The scans go round orders: the order's barcode (the slot lights up), an item of it (the line
shows it scanned; no light changes), then the abort command (the order closes). The screen's
figure covers every scan; the light's, the order scans, the only ones whose light change is
certain (an abort of a blinking light may land in its dark half and change no pin).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.contract import OrderAllocated, OrderLine, StationId
from edge.station.config import parse_station_config
from edge.station.runtime import Station
from firmware_sim.broker import MosquittoBroker
from firmware_sim.browser import local_browser_async
from firmware_sim.errors import SimError
from firmware_sim.gpio import GpioRig
from firmware_sim.ports import free_port
from firmware_sim.sim_station import (
    SCANNER_PRODUCT_ID,
    SCANNER_VENDOR_ID,
    SLOT_PINS,
    sim_station_document,
)
from firmware_sim.usb import SimulatedHidScanner, SimulatedUsbBackend
from firmware_sim.zebra.server import ZebraTcpServer

if TYPE_CHECKING:
    from playwright.async_api import Page

__all__ = ["ScreenFigures", "measure_screen"]

_GTIN = "05012345678900"
_SLOT = "A1"
_STEP_TIMEOUT_S = 10.0
_CLOCK_READINGS = 7

_RENDER_AFTER = """
(seq) => (window.__screenRenders || []).find((render) => render.scanSeq > seq) || null
"""
"""The first render of a snapshot newer than scan `seq`, or null."""


@dataclass(frozen=True)
class ScreenFigures:
    """Latencies in seconds: every scan to the screen, the order scans to the light."""

    screen: list[float]
    light: list[float]
    clock_offset_ms: float
    """The page's clock minus Python's wall clock, taken off every screen figure."""


def _order(number: int) -> OrderAllocated:
    return OrderAllocated(
        order_id=f"S-{number}",
        version=1,
        at=datetime.now(UTC),
        lines=(OrderLine(line_id="1", sku="MUG", gtin=_GTIN, quantity=2, slot=_SLOT),),
    )


@dataclass
class _Rig:
    station: Station
    gpio: GpioRig
    scanner: SimulatedHidScanner
    screen_url: str


@contextlib.asynccontextmanager
async def _station(directory: Path, orders: int) -> AsyncIterator[_Rig]:
    gpio = GpioRig()
    backend = SimulatedUsbBackend()
    scanner = SimulatedHidScanner(vendor_id=SCANNER_VENDOR_ID, product_id=SCANNER_PRODUCT_ID)
    backend.plug(scanner)
    screen_port = free_port()
    with MosquittoBroker() as broker:
        async with ZebraTcpServer(port=0) as zebra:
            document = sim_station_document(
                StationId("bench", "screen"),
                broker_url=broker.url,
                printer_port=zebra.port,
                state_dir=directory,
                verification="line",
                alert_seconds=60.0,
            )
            document["screen"] = {"host": "127.0.0.1", "port": screen_port}
            station = Station(
                parse_station_config(document), usb_backend=backend, pin_factory=gpio.factory
            )
            for number in range(orders):
                station.allocations.apply(_order(number))
            ready = asyncio.Event()
            task = asyncio.create_task(station.run(ready=ready.set))
            try:
                await asyncio.wait_for(ready.wait(), _STEP_TIMEOUT_S)
                yield _Rig(station, gpio, scanner, f"http://127.0.0.1:{screen_port}/")
            finally:
                await station.stop()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    gpio.reset()


async def _open_screen(page: Page, url: str) -> None:
    """Load the screen, retrying while the station's web server is still binding."""
    deadline = time.monotonic() + _STEP_TIMEOUT_S
    while True:
        try:
            await page.goto(url)
            break
        except Exception as error:  # playwright raises its own Error for a refused connection
            if time.monotonic() > deadline:
                raise SimError(f"bench: the screen at {url} did not load: {error}") from None
            await asyncio.sleep(0.2)
    await page.wait_for_function(
        "() => document.body && document.body.dataset.revision !== undefined",
        timeout=_STEP_TIMEOUT_S * 1000,
    )


async def _clock_offset_ms(page: Page) -> float:
    """The page's clock minus `time.time()`, from the reading with the least round trip."""
    readings: list[tuple[float, float]] = []
    for _ in range(_CLOCK_READINGS):
        before = time.time() * 1000
        page_now = float(await page.evaluate("performance.timeOrigin + performance.now()"))
        after = time.time() * 1000
        readings.append((after - before, page_now - (before + after) / 2))
    return min(readings)[1]


async def _render_after(page: Page, seq: int) -> dict[str, Any]:
    handle = await page.wait_for_function(
        _RENDER_AFTER, arg=seq, timeout=_STEP_TIMEOUT_S * 1000, polling=5
    )
    render: dict[str, Any] = await handle.json_value()
    return render


async def _until_changed(rig: _Rig, watch: Any) -> float:
    deadline = time.monotonic() + _STEP_TIMEOUT_S
    while (changed := watch.first_change_at()) is None:
        if time.monotonic() > deadline:
            raise SimError(f"bench: slot {_SLOT}'s light did not change")
        await asyncio.sleep(0.0005)
    return float(changed)


async def _measure(scans: int) -> ScreenFigures:
    cycles = max(1, scans // 3)
    led = SLOT_PINS[_SLOT][0]
    screen: list[float] = []
    light: list[float] = []
    with tempfile.TemporaryDirectory(prefix="packline-bench-") as directory:
        async with (
            _station(Path(directory), cycles) as rig,
            local_browser_async() as browser,
        ):
            page = await browser.context.new_page()
            await _open_screen(page, rig.screen_url)
            offset = await _clock_offset_ms(page)
            seq = 0
            for number in range(cycles):
                for kind, text, symbology in (
                    ("order", f"S-{number}", "]C0"),
                    ("item", _GTIN[1:], "]E0"),
                    ("abort", "PL:ABORT", "]C0"),
                ):
                    watch = rig.gpio.watch(led) if kind == "order" else None
                    injected_wall_ms = time.time() * 1000
                    injected = time.monotonic()
                    rig.scanner.scan(text, symbology=symbology)
                    render = await _render_after(page, seq)
                    seq = int(render["scanSeq"])
                    rendered_ms = float(render["renderedAt"]) - offset
                    screen.append(max(0.0, rendered_ms - injected_wall_ms) / 1000)
                    if watch is not None:
                        light.append(max(0.0, await _until_changed(rig, watch) - injected))
            browser.offsite.assert_stayed_local()
    return ScreenFigures(screen=screen, light=light, clock_offset_ms=offset)


def measure_screen(scans: int) -> ScreenFigures:
    """`scans` scans (a multiple of three: order, item, abort) timed to the screen and light."""
    figures = asyncio.run(_measure(scans))
    if not figures.light or len(figures.screen) < 3:
        raise SimError("bench: the screen figure took no samples")
    return figures


if __name__ == "__main__":
    result = measure_screen(30)
    print(
        f"screen p50 {statistics.median(result.screen) * 1000:.1f} ms, "
        f"light p50 {statistics.median(result.light) * 1000:.1f} ms, "
        f"clock offset {result.clock_offset_ms:.2f} ms"
    )
