"""The whole station measured on the rig: scan to light, and memory after many orders.

Scan to light runs from the moment the HID reports of an order barcode enter the simulated USB
backend to the moment the first slot's LED pin goes high: the scanner driver, classification, the
workflow step, the fsynced transaction of state and event, and the lights driver are all inside
it. Its baseline is the scanner alone (the same reports to the scan delivered by the driver), so
the ratio shows what the station adds to reading a barcode.

Memory is the resident set of the process running the station (with its simulated rig) after
complete orders: scan, verify, confirm, label printed by the virtual Zebra.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from edge.contract import OrderAllocated, OrderLine, StationId
from edge.station.runtime import Station
from firmware_sim.broker import MosquittoBroker
from firmware_sim.errors import SimError
from firmware_sim.gpio import GpioRig
from firmware_sim.sim_station import (
    SCANNER_PRODUCT_ID,
    SCANNER_VENDOR_ID,
    SLOT_PINS,
    sim_station_config,
)
from firmware_sim.usb import SimulatedHidScanner, SimulatedUsbBackend
from firmware_sim.zebra.server import ZebraTcpServer

__all__ = ["MemoryResult", "measure_scan_to_light", "measure_station_memory"]

_GTIN = "05012345678900"
_STEP_TIMEOUT = 10.0


@dataclass(frozen=True)
class MemoryResult:
    """Resident memory of the station process, before and after the orders, in KiB."""

    orders: int
    rss_before_kib: int
    rss_after_kib: int


@dataclass
class _Rig:
    station: Station
    gpio: GpioRig
    scanner: SimulatedHidScanner
    zebra: ZebraTcpServer


def _order(number: int) -> OrderAllocated:
    return OrderAllocated(
        order_id=f"B-{number}",
        version=1,
        at=datetime.now(UTC),
        lines=(OrderLine(line_id="1", sku="MUG", gtin=_GTIN, quantity=1, slot="A1"),),
    )


@contextlib.asynccontextmanager
async def _station(directory: Path, orders: int, verification: str) -> AsyncIterator[_Rig]:
    gpio = GpioRig()
    backend = SimulatedUsbBackend()
    scanner = SimulatedHidScanner(vendor_id=SCANNER_VENDOR_ID, product_id=SCANNER_PRODUCT_ID)
    backend.plug(scanner)
    with MosquittoBroker() as broker:
        async with ZebraTcpServer(port=0) as zebra:
            config = sim_station_config(
                StationId("bench", "st01"),
                broker_url=broker.url,
                printer_port=zebra.port,
                state_dir=directory,
                verification=verification,
                alert_seconds=60.0,
            )
            station = Station(config, usb_backend=backend, pin_factory=gpio.factory)
            for number in range(orders):
                station.allocations.apply(_order(number))
            ready = asyncio.Event()
            task = asyncio.create_task(station.run(ready=ready.set))
            try:
                await asyncio.wait_for(ready.wait(), _STEP_TIMEOUT)
                yield _Rig(station, gpio, scanner, zebra)
            finally:
                await station.stop()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    gpio.reset()


async def _until(condition: object, what: str) -> None:
    deadline = time.monotonic() + _STEP_TIMEOUT
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SimError(f"bench: timed out waiting for {what}")
        await asyncio.sleep(0.0002)


async def _scan_to_light(rounds: int) -> list[float]:
    led = SLOT_PINS["A1"][0]
    latencies: list[float] = []
    with tempfile.TemporaryDirectory(prefix="packline-bench-") as directory:
        async with _station(Path(directory), rounds, "line") as rig:
            for number in range(rounds):
                watch = rig.gpio.watch(led)
                started = time.monotonic()
                rig.scanner.scan(f"B-{number}", symbology="]C0")
                await _until(lambda w=watch: w.first_change_at() is not None, "slot A1 lit")
                changed = watch.first_change_at()
                assert changed is not None
                latencies.append(max(0.0, changed - started))
                rig.scanner.scan("PL:ABORT", symbology="]C0")
                await _until(lambda: rig.station.state.order is None, "the order aborted")
    return latencies


def measure_scan_to_light(rounds: int) -> list[float]:
    """Latencies in seconds from order-barcode HID reports to the first slot's pin high."""
    return asyncio.run(_scan_to_light(rounds))


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise SimError("bench: /proc/self/status has no VmRSS line (Linux only)")


async def _memory(orders: int) -> MemoryResult:
    led, button = SLOT_PINS["A1"]
    with tempfile.TemporaryDirectory(prefix="packline-bench-") as directory:
        async with _station(Path(directory), orders, "off") as rig:
            before = _rss_kib()
            for number in range(orders):
                rig.scanner.scan(f"B-{number}", symbology="]C0")
                await _until(lambda n=number: _open_order(rig) == f"B-{n}", "the order open")
                await asyncio.to_thread(rig.gpio.tap, button, seconds=0.04)
                await _until(
                    lambda n=number: rig.station.state.counts.orders_completed == n + 1,
                    "the order completed",
                )
            if len(rig.zebra.model.printed) != orders:
                raise SimError(
                    f"bench: {len(rig.zebra.model.printed)} labels printed for {orders} orders"
                )
            del led
            return MemoryResult(orders=orders, rss_before_kib=before, rss_after_kib=_rss_kib())


def _open_order(rig: _Rig) -> str | None:
    order = rig.station.state.order
    return order.order_id if order is not None else None


def measure_station_memory(orders: int) -> MemoryResult:
    """Run `orders` complete orders through one station in a fresh process; report its memory.

    A fresh process, so what is measured is the station (and its rig), not whatever the
    benchmarks before it left in this interpreter.
    """
    completed = subprocess.run(
        [sys.executable, "-m", "firmware_sim.bench_station", str(orders)],
        capture_output=True,
        text=True,
        check=False,
        timeout=max(120.0, orders * 1.0),
    )
    if completed.returncode != 0:
        raise SimError(f"bench: the memory run failed: {completed.stderr.strip()[-2000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    return MemoryResult(**result)


if __name__ == "__main__":
    print(json.dumps(asdict(asyncio.run(_memory(int(sys.argv[1]))))))
