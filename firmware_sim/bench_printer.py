"""Label throughput: the real printer driver to the virtual Zebra, beside a plain socket.

Both runs send the same label bytes to the same virtual printer over loopback TCP. The driver
run adds what a station really pays per label: the journal write (with fsync), `~HS` before and
after. The baseline writes the labels back to back and asks `~HS` once at the end.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from edge.drivers.printer import (
    Address,
    JobJournal,
    LabelPrinter,
    TcpTransport,
    build_shipping_label,
)
from edge.drivers.printer.status import HOST_STATUS_QUERY, host_status_complete
from firmware_sim.zebra.server import ZebraTcpServer

__all__ = ["measure_label_throughput"]

_WAIT = 30.0


def _label() -> bytes:
    zpl = build_shipping_label(
        ship_to=Address("Bench Receiver", ("1 Loop Road",), "Testville", "1000", "CH"),
        order_reference="BENCH-1",
        carrier="Loopback",
        tracking_number="BENCH0000001",
        sscc="376130321109103420",
    )
    return zpl.encode("utf-8")


async def _driver_rate(port: int, label: bytes, labels: int, journal_path: Path) -> float:
    journal = JobJournal(journal_path)
    printer = LabelPrinter(TcpTransport("127.0.0.1", port), journal, status_timeout=_WAIT)
    zpl = label.decode("utf-8")
    try:
        start = time.perf_counter()
        for index in range(labels):
            await printer.print_label(f"bench-{index}", zpl)
        elapsed = time.perf_counter() - start
    finally:
        await printer.close()
        journal.close()
    return labels / elapsed


async def _baseline_rate(port: int, label: bytes, labels: int) -> float:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        start = time.perf_counter()
        writer.write(label * labels + HOST_STATUS_QUERY)
        await writer.drain()
        reply = b""
        async with asyncio.timeout(_WAIT):
            while not host_status_complete(reply):
                reply += await reader.read(1024)
        elapsed = time.perf_counter() - start
    finally:
        writer.close()
        await writer.wait_closed()
    return labels / elapsed


async def _measure(labels: int) -> tuple[float, float]:
    label = _label()
    with tempfile.TemporaryDirectory() as directory:
        async with ZebraTcpServer(port=0) as server:
            driver = await _driver_rate(server.port, label, labels, Path(directory) / "jobs.json")
            baseline = await _baseline_rate(server.port, label, labels)
            expected = 2 * labels
            if len(server.model.printed) != expected:
                raise RuntimeError(
                    f"bench: the virtual printer printed {len(server.model.printed)} labels, "
                    f"expected {expected}"
                )
    return driver, baseline


def measure_label_throughput(labels: int) -> tuple[float, float]:
    """(labels/s through the driver, labels/s of the same bytes on a plain socket)."""
    if labels < 1:
        raise ValueError(f"labels must be at least 1, got {labels}")
    return asyncio.run(_measure(labels))
