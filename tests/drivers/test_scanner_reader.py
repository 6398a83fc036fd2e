"""The barcode reader driver, end to end on the simulated USB bus.

Every test runs the real driver: pyusb, discovery, claiming, the worker thread and decoding. Only
the backend under pyusb is simulated.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Literal

import pytest

from edge.config import parse_section
from edge.drivers.scanner import (
    AmbiguousScanner,
    BarcodeReader,
    DiscardedScan,
    ReaderState,
    Scan,
    ScannerConfig,
    ScannerNotFound,
)
from edge.errors import ConfigError
from firmware_sim.usb import CTRL_RIGHT_BRACKET, SimulatedHidScanner, SimulatedUsbBackend

WAIT = 10.0  # generous: a loaded machine makes tests slower, never wrong
GS = "\x1d"
Layout = Literal["us", "uk"]


class ReaderEvents:
    """Collects a reader's state changes and discarded scans, to be awaited in order."""

    def __init__(self) -> None:
        self.states: asyncio.Queue[ReaderState] = asyncio.Queue()
        self.discards: asyncio.Queue[DiscardedScan] = asyncio.Queue()

    def on_state(self, state: ReaderState) -> None:
        self.states.put_nowait(state)

    def on_discard(self, discarded: DiscardedScan) -> None:
        self.discards.put_nowait(discarded)

    async def until_state(self, wanted: ReaderState) -> None:
        async with asyncio.timeout(WAIT):
            while await self.states.get() is not wanted:
                pass

    async def next_discard(self) -> DiscardedScan:
        async with asyncio.timeout(WAIT):
            return await self.discards.get()


@pytest.fixture
def bus() -> SimulatedUsbBackend:
    return SimulatedUsbBackend()


@pytest.fixture
def events() -> ReaderEvents:
    return ReaderEvents()


def config(**overrides: Any) -> ScannerConfig:
    settings: dict[str, Any] = {
        "vendor_id": 0x05E0,
        "product_id": 0x1200,
        "read_timeout_ms": 20,
        "reconnect_poll_s": 0.02,
    }
    return ScannerConfig(**(settings | overrides))


def reader(bus: SimulatedUsbBackend, events: ReaderEvents, **overrides: Any) -> BarcodeReader:
    return BarcodeReader(
        config(**overrides), backend=bus, on_state=events.on_state, on_discard=events.on_discard
    )


async def next_scan(scans: AsyncIterator[Scan]) -> Scan:
    return await asyncio.wait_for(anext(scans), WAIT)


def plugged(bus: SimulatedUsbBackend, **options: Any) -> SimulatedHidScanner:
    scanner = SimulatedHidScanner(**options)
    bus.plug(scanner)
    return scanner


async def test_a_scan_arrives_with_its_text_and_a_utc_timestamp(
    bus: SimulatedUsbBackend, events: ReaderEvents
) -> None:
    scanner = plugged(bus)
    async with reader(bus, events) as barcode_reader:
        scans = barcode_reader.scans()
        scanner.scan("5012345678900")
        scan = await next_scan(scans)
    assert scan.text == "5012345678900"
    assert scan.symbology is None
    assert scan.timestamp.utcoffset() is not None


async def test_scans_arrive_in_the_order_they_were_read(
    bus: SimulatedUsbBackend, events: ReaderEvents
) -> None:
    scanner = plugged(bus)
    async with reader(bus, events) as barcode_reader:
        scans = barcode_reader.scans()
        for text in ("first", "second", "third"):
            scanner.scan(text)
        received = [(await next_scan(scans)).text for _ in range(3)]
    assert received == ["first", "second", "third"]


async def test_opening_detaches_the_kernel_hid_driver_so_scans_do_not_reach_the_console(
    bus: SimulatedUsbBackend, events: ReaderEvents
) -> None:
    scanner = plugged(bus)
    assert scanner.kernel_driver_bound(0)
    async with reader(bus, events):
        assert not scanner.kernel_driver_bound(0)


@pytest.mark.parametrize("layout", ["us", "uk"])
async def test_symbols_that_differ_between_layouts_decode_on_the_matching_layout(
    bus: SimulatedUsbBackend, events: ReaderEvents, layout: Layout
) -> None:
    text = "\"@#\\|~'`Az09!$%^&*()-_=+[]{};:,.<>/? "
    if layout == "uk":
        text += "£¬"
    scanner = plugged(bus, layout=layout)
    async with reader(bus, events, layout=layout) as barcode_reader:
        scans = barcode_reader.scans()
        scanner.scan(text)
        assert (await next_scan(scans)).text == text


async def test_a_uk_scanner_read_as_us_gives_the_wrong_symbols_not_silence(
    bus: SimulatedUsbBackend, events: ReaderEvents
) -> None:
    scanner = plugged(bus, layout="uk")
    async with reader(bus, events, layout="us") as barcode_reader:
        scans = barcode_reader.scans()
        scanner.scan('a"b@c')
        assert (await next_scan(scans)).text == 'a@b"c'


async def test_ctrl_right_bracket_becomes_the_gs1_group_separator(
    bus: SimulatedUsbBackend, events: ReaderEvents
) -> None:
    scanner = plugged(bus, gs1_separator=CTRL_RIGHT_BRACKET)
    async with reader(bus, events) as barcode_reader:
        scans = barcode_reader.scans()
        scanner.scan(f"0105012345678900{GS}10ABC123{GS}17260526")
        assert (await next_scan(scans)).text == f"0105012345678900{GS}10ABC123{GS}17260526"


async def test_a_configured_stand_in_character_becomes_the_gs1_group_separator(
    bus: SimulatedUsbBackend, events: ReaderEvents
) -> None:
    scanner = plugged(bus, gs1_separator="|")
    async with reader(bus, events, gs1_separator="|") as barcode_reader:
        scans = barcode_reader.scans()
        scanner.scan(f"0105012345678900{GS}10ABC123")
        assert (await next_scan(scans)).text == f"0105012345678900{GS}10ABC123"


async def test_without_a_configured_stand_in_the_character_is_kept_as_typed(
    bus: SimulatedUsbBackend, events: ReaderEvents
) -> None:
    scanner = plugged(bus, gs1_separator="|")
    async with reader(bus, events) as barcode_reader:
        scans = barcode_reader.scans()
        scanner.scan(f"10AB{GS}21X")
        assert (await next_scan(scans)).text == "10AB|21X"


@pytest.mark.parametrize("identifier", ["]C1", "]d2", "]E0", "]Q3"])
async def test_the_aim_symbology_identifier_is_stripped_into_its_own_field(
    bus: SimulatedUsbBackend, events: ReaderEvents, identifier: str
) -> None:
    scanner = plugged(bus, send_symbology_id=True)
    async with reader(bus, events, symbology_ids=True) as barcode_reader:
        scans = barcode_reader.scans()
        scanner.scan("0105012345678900", symbology=identifier)
        scan = await next_scan(scans)
    assert (scan.symbology, scan.text) == (identifier, "0105012345678900")


async def test_a_scan_without_the_expected_aim_identifier_is_discarded_with_a_reason(
    bus: SimulatedUsbBackend, events: ReaderEvents
) -> None:
    scanner = plugged(bus, send_symbology_id=False)
    async with reader(bus, events, symbology_ids=True) as barcode_reader:
        scans = barcode_reader.scans()
        scanner.scan("0105012345678900", symbology="]C1")
        discarded = await events.next_discard()
        assert "AIM symbology identifier" in discarded.reason
        assert discarded.partial == "0105012345678900"
        scanner.send_symbology_id = True
        scanner.scan("later", symbology="]C0")
        assert (await next_scan(scans)).text == "later"


@pytest.mark.parametrize("keys_per_report", [2, 6])
async def test_several_keys_in_one_report_are_typed_in_report_order(
    bus: SimulatedUsbBackend, events: ReaderEvents, keys_per_report: int
) -> None:
    scanner = plugged(bus, keys_per_report=keys_per_report)
    text = "ABCdef123aab!!x"
    assert len(scanner.reports_for_scan(text)) < len(SimulatedHidScanner().reports_for_scan(text))
    async with reader(bus, events) as barcode_reader:
        scans = barcode_reader.scans()
        scanner.scan(text)
        assert (await next_scan(scans)).text == text


async def test_tab_can_be_the_terminator(bus: SimulatedUsbBackend, events: ReaderEvents) -> None:
    scanner = plugged(bus, terminator="tab")
    async with reader(bus, events, terminator="tab") as barcode_reader:
        scans = barcode_reader.scans()
        scanner.scan("ABC")
        scanner.scan("DEF")
        assert [(await next_scan(scans)).text for _ in range(2)] == ["ABC", "DEF"]


@pytest.mark.parametrize(
    ("garbage", "reason"),
    [
        (bytes([0, 0, 0x04, 0, 0, 0, 0]), "is 7 bytes"),
        (bytes([0, 0, 0x04, 0, 0, 0, 0, 0, 0]), "longer than a boot keyboard report"),
        (bytes([0, 0, 0xE8, 0, 0, 0, 0, 0]), "usage 0xe8 is not a key"),
        (bytes([0, 0, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01]), "rollover error"),
        (bytes([0x04, 0, 0x04, 0, 0, 0, 0, 0]), "Alt"),
        (bytes([0x01, 0, 0x1E, 0, 0, 0, 0, 0]), "Ctrl+'1' has no control character"),
    ],
)
async def test_a_garbage_report_discards_its_whole_scan_and_the_stream_carries_on(
    bus: SimulatedUsbBackend, events: ReaderEvents, garbage: bytes, reason: str
) -> None:
    scanner = plugged(bus)
    first_half, second_half = scanner.reports_for_scan("AB"), scanner.reports_for_scan("CD")
    async with reader(bus, events) as barcode_reader:
        scans = barcode_reader.scans()
        scanner.queue_in(0x81, *first_half[:-2], garbage, *second_half)
        scanner.scan("GOOD")
        discarded = await events.next_discard()
        assert reason in discarded.reason
        assert discarded.partial == "AB"
        assert (await next_scan(scans)).text == "GOOD"


async def test_garbage_between_scans_spares_the_next_scan_after_a_pause(
    bus: SimulatedUsbBackend, events: ReaderEvents
) -> None:
    scanner = plugged(bus)
    async with reader(bus, events, idle_reset_s=0.05) as barcode_reader:
        scans = barcode_reader.scans()
        scanner.inject_report(b"\xff\xff")
        discarded = await events.next_discard()
        assert discarded.partial == ""
        await asyncio.sleep(0.3)  # longer than idle_reset_s: the next burst is a new scan
        scanner.scan("AFTER")
        assert (await next_scan(scans)).text == "AFTER"


async def test_a_burst_without_its_terminator_is_not_glued_to_the_next_scan(
    bus: SimulatedUsbBackend, events: ReaderEvents
) -> None:
    scanner = plugged(bus)
    async with reader(bus, events, idle_reset_s=0.05) as barcode_reader:
        scans = barcode_reader.scans()
        scanner.queue_in(0x81, *scanner.reports_for_scan("LOST")[:-2])
        await asyncio.sleep(0.3)
        scanner.scan("NEXT")
        assert (await next_scan(scans)).text == "NEXT"
        discarded = await events.next_discard()
        assert discarded.partial == "LOST"
        assert "pause" in discarded.reason


async def test_unknown_usb_ids_raise_scanner_not_found_naming_the_ids(
    bus: SimulatedUsbBackend, events: ReaderEvents
) -> None:
    plugged(bus)
    with pytest.raises(ScannerNotFound, match="0bad:beef"):
        async with reader(bus, events, vendor_id=0x0BAD, product_id=0xBEEF):
            pass


async def test_readers_of_one_model_are_told_apart_by_serial(
    bus: SimulatedUsbBackend, events: ReaderEvents
) -> None:
    left = plugged(bus, serial="LEFT-1", port_numbers=(1, 1))
    right = plugged(bus, serial="RIGHT-2", port_numbers=(1, 2))
    async with reader(bus, events, serial="RIGHT-2") as barcode_reader:
        scans = barcode_reader.scans()
        left.scan("from-left")
        right.scan("from-right")
        assert (await next_scan(scans)).text == "from-right"
    assert left.kernel_driver_bound(0)


async def test_readers_of_one_model_are_told_apart_by_port_path(
    bus: SimulatedUsbBackend, events: ReaderEvents
) -> None:
    plugged(bus, serial=None, port_numbers=(1, 3))
    wanted = plugged(bus, serial=None, port_numbers=(1, 4))
    async with reader(bus, events, port_path="1-1.4") as barcode_reader:
        scans = barcode_reader.scans()
        wanted.scan("from-port-4")
        assert (await next_scan(scans)).text == "from-port-4"
    assert not wanted.kernel_driver_bound(0)


async def test_two_matching_readers_without_serial_or_port_are_ambiguous(
    bus: SimulatedUsbBackend, events: ReaderEvents
) -> None:
    plugged(bus, serial="A", port_numbers=(1,))
    plugged(bus, serial="B", port_numbers=(2,))
    with pytest.raises(AmbiguousScanner, match=r"serial=A port=1-1.*serial=B port=1-2"):
        async with reader(bus, events):
            pass


async def test_a_serial_that_is_not_plugged_in_is_not_found_and_the_message_lists_the_others(
    bus: SimulatedUsbBackend, events: ReaderEvents
) -> None:
    plugged(bus, serial="PRESENT")
    with pytest.raises(ScannerNotFound, match="serial=PRESENT"):
        async with reader(bus, events, serial="ABSENT"):
            pass


async def test_after_unplug_and_replug_the_reader_reopens_and_scans_again(
    bus: SimulatedUsbBackend, events: ReaderEvents
) -> None:
    scanner = plugged(bus)
    async with reader(bus, events) as barcode_reader:
        scans = barcode_reader.scans()
        await events.until_state(ReaderState.CONNECTED)
        scanner.scan("before")
        assert (await next_scan(scans)).text == "before"

        bus.unplug(scanner)
        await events.until_state(ReaderState.DISCONNECTED)
        assert barcode_reader.state == ReaderState.DISCONNECTED

        bus.plug(scanner)
        await events.until_state(ReaderState.CONNECTED)
        scanner.scan("after")
        assert (await next_scan(scans)).text == "after"
    await events.until_state(ReaderState.STOPPED)


async def test_a_scan_cut_off_by_an_unplug_is_discarded_not_completed_later(
    bus: SimulatedUsbBackend, events: ReaderEvents
) -> None:
    scanner = plugged(bus)
    async with reader(bus, events) as barcode_reader:
        scans = barcode_reader.scans()
        await events.until_state(ReaderState.CONNECTED)
        scanner.queue_in(0x81, *scanner.reports_for_scan("HALF")[:-2])
        async with asyncio.timeout(WAIT):
            while scanner.pending_in(0x81):  # the reader has taken every report  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        bus.unplug(scanner)
        await events.until_state(ReaderState.DISCONNECTED)
        assert (await events.next_discard()).partial == "HALF"
        bus.plug(scanner)
        await events.until_state(ReaderState.CONNECTED)
        scanner.scan("WHOLE")
        assert (await next_scan(scans)).text == "WHOLE"


async def test_a_reader_absent_at_start_is_picked_up_when_plugged_if_allowed(
    bus: SimulatedUsbBackend, events: ReaderEvents
) -> None:
    scanner = SimulatedHidScanner()
    async with reader(bus, events, require_at_start=False) as barcode_reader:
        scans = barcode_reader.scans()
        await events.until_state(ReaderState.DISCONNECTED)
        bus.plug(scanner)
        await events.until_state(ReaderState.CONNECTED)
        scanner.scan("late")
        assert (await next_scan(scans)).text == "late"


async def test_the_stream_ends_when_the_reader_closes(
    bus: SimulatedUsbBackend, events: ReaderEvents
) -> None:
    plugged(bus)
    async with reader(bus, events) as barcode_reader:
        scans = barcode_reader.scans()
    assert [scan async for scan in scans] == []


async def test_a_closed_reader_can_be_opened_again(
    bus: SimulatedUsbBackend, events: ReaderEvents
) -> None:
    scanner = plugged(bus)
    barcode_reader = reader(bus, events)
    async with barcode_reader:
        pass
    async with barcode_reader:
        scans = barcode_reader.scans()
        scanner.scan("again")
        assert (await next_scan(scans)).text == "again"


def test_config_refuses_unknown_keys_and_bad_values_naming_them() -> None:
    with pytest.raises(ConfigError, match=r"scanner\.colour: unknown key"):
        parse_section(ScannerConfig, {"vendor_id": 1, "product_id": 2, "colour": "red"}, "scanner")
    with pytest.raises(ConfigError, match=r"scanner\.gs1_separator"):
        parse_section(
            ScannerConfig, {"vendor_id": 1, "product_id": 2, "gs1_separator": "||"}, "scanner"
        )
    with pytest.raises(ConfigError, match=r"scanner\.port_path"):
        parse_section(
            ScannerConfig, {"vendor_id": 1, "product_id": 2, "port_path": "usb1"}, "scanner"
        )
