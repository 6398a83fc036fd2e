"""Property: whatever printable ASCII the simulated scanner types, the driver reads back.

The rig's layouts are written from the scanner's side (character -> key) and the driver's from
the host's (key -> character), so agreement here checks both tables against each other.
"""

from __future__ import annotations

import asyncio
import string
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.drivers.scanner import BarcodeReader, Scan, ScannerConfig
from firmware_sim.usb import CTRL_RIGHT_BRACKET, SimulatedHidScanner, SimulatedUsbBackend

GS = "\x1d"
PRINTABLE_ASCII = st.text(alphabet=st.sampled_from(string.printable[:95]), min_size=1)
ASCII_WITH_GS = st.text(alphabet=st.sampled_from([*string.printable[:95], GS]), min_size=1)
SHARED_READER = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(params=["us", "uk"])
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Any, AsyncIterator[Scan]]]:
    """One scanner and one open reader, shared by every example of a property."""
    bus = SimulatedUsbBackend()
    scanner = SimulatedHidScanner(layout=request.param, gs1_separator=CTRL_RIGHT_BRACKET)
    bus.plug(scanner)
    config = ScannerConfig(
        vendor_id=scanner.vendor_id,
        product_id=scanner.product_id,
        layout=request.param,
        read_timeout_ms=20,
    )
    async with BarcodeReader(config, backend=bus) as reader:
        yield scanner, reader.scans()


async def read_back(rig: tuple[Any, AsyncIterator[Scan]], text: str) -> str:
    scanner, scans = rig
    scanner.scan(text)
    return (await asyncio.wait_for(anext(scans), 10)).text


@SHARED_READER
@given(text=PRINTABLE_ASCII)
async def test_printable_ascii_typed_on_the_scanner_reads_back_unchanged(rig, text):
    assert await read_back(rig, text) == text


@SHARED_READER
@given(text=ASCII_WITH_GS.filter(lambda t: t != GS))
async def test_gs1_separators_sent_as_ctrl_right_bracket_read_back_as_gs(rig, text):
    assert await read_back(rig, text) == text


@pytest.mark.parametrize("layout", ["us", "uk"])
@settings(max_examples=200, deadline=None)
@given(text=PRINTABLE_ASCII, keys_per_report=st.integers(1, 6))
def test_rollover_never_changes_the_keys_typed(layout, text, keys_per_report):
    one_at_a_time = SimulatedHidScanner(layout=layout).reports_for_scan(text)
    packed = SimulatedHidScanner(layout=layout, keys_per_report=keys_per_report)
    pressed = [r[2:] for r in one_at_a_time if any(r)]
    pressed_packed = [r[2:] for r in packed.reports_for_scan(text) if any(r)]
    flatten = [usage for keys in pressed for usage in keys if usage]
    flatten_packed = [usage for keys in pressed_packed for usage in keys if usage]
    assert flatten_packed == flatten
