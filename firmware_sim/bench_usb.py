"""Scan latency: a HID report injected into the simulated bus, to a scan out of the driver.

The baseline reads the same reports from the same simulated endpoint with bare pyusb calls and
no driver, so the ratio between the two is the cost of the driver itself: its worker thread,
decoding, and the hand-over to the event loop.
"""

from __future__ import annotations

import asyncio
import time

import usb.core
import usb.util

from edge.drivers.scanner import BarcodeReader, ScannerConfig
from firmware_sim.usb import SimulatedHidScanner, SimulatedUsbBackend
from firmware_sim.usb.hid_scanner import HID_REPORT_ENDPOINT

__all__ = ["measure_scan_latency"]

_BARCODE = "0105012345678900"
_WAIT_S = 10.0


def _plugged_scanner() -> tuple[SimulatedUsbBackend, SimulatedHidScanner]:
    bus = SimulatedUsbBackend()
    scanner = SimulatedHidScanner()
    bus.plug(scanner)
    return bus, scanner


async def _driver_latencies(rounds: int) -> list[float]:
    bus, scanner = _plugged_scanner()
    config = ScannerConfig(vendor_id=scanner.vendor_id, product_id=scanner.product_id)
    reports = scanner.reports_for_scan(_BARCODE)
    latencies = []
    async with BarcodeReader(config, backend=bus) as reader:
        scans = reader.scans()
        for _ in range(rounds):
            started = time.perf_counter()
            scanner.queue_in(HID_REPORT_ENDPOINT, *reports)
            scan = await asyncio.wait_for(anext(scans), _WAIT_S)
            latencies.append(time.perf_counter() - started)
            if scan.text != _BARCODE:
                raise RuntimeError(f"bench read {scan.text!r}, expected {_BARCODE!r}")
    return latencies


def _baseline_latencies(rounds: int) -> list[float]:
    bus, scanner = _plugged_scanner()
    device = usb.core.find(backend=bus)
    device.detach_kernel_driver(0)
    usb.util.claim_interface(device, 0)
    reports = scanner.reports_for_scan(_BARCODE)
    latencies = []
    for _ in range(rounds):
        started = time.perf_counter()
        scanner.queue_in(HID_REPORT_ENDPOINT, *reports)
        for _report in reports:
            device.read(HID_REPORT_ENDPOINT, 8, int(_WAIT_S * 1000))
        latencies.append(time.perf_counter() - started)
    usb.util.dispose_resources(device)
    return latencies


def measure_scan_latency(rounds: int) -> tuple[list[float], list[float]]:
    """(driver latencies, baseline latencies) in seconds, `rounds` scans each."""
    return asyncio.run(_driver_latencies(rounds)), _baseline_latencies(rounds)
