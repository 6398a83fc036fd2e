"""Property: whatever printable ASCII the simulated scanner types, the driver reads back.

The rig's layouts are written from the scanner's side (character -> key) and the driver's from
the host's (key -> character), so agreement here checks both tables against each other.
"""

from __future__ import annotations

import asyncio
import string
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.drivers.scanner import BarcodeReader, Scan, ScannerConfig
from firmware_sim.usb import CTRL_RIGHT_BRACKET, SimulatedHidScanner, SimulatedUsbBackend

GS = "\x1d"
Rig = tuple[SimulatedHidScanner, AsyncIterator[Scan]]
PRINTABLE_ASCII = st.text(alphabet=st.sampled_from(string.printable[:95]), min_size=1)
ASCII_WITH_GS = st.text(alphabet=st.sampled_from([*string.printable[:95], GS]), min_size=1)
SHARED_READER = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(params=["us", "uk"])
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
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


async def read_back(rig: Rig, text: str) -> str:
    scanner, scans = rig
    scanner.scan(text)
    return (await asyncio.wait_for(anext(scans), 10)).text


@SHARED_READER
@given(text=PRINTABLE_ASCII)
async def test_printable_ascii_typed_on_the_scanner_reads_back_unchanged(
    rig: Rig, text: str
) -> None:
    assert await read_back(rig, text) == text


@SHARED_READER
@given(text=ASCII_WITH_GS.filter(lambda t: t != GS))
async def test_gs1_separators_sent_as_ctrl_right_bracket_read_back_as_gs(
    rig: Rig, text: str
) -> None:
    assert await read_back(rig, text) == text
