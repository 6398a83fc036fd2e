"""Random HID report streams through the scanner driver, and random barcodes through the
station's scan handling: nothing crashes, a clean scan after garbage still reads, and every
malformed or unknown barcode gets the wrong-scan alert with its reason, counted."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.drivers.scanner import BarcodeReader, DiscardedScan, ScannerConfig
from edge.drivers.scanner.errors import BadReport
from edge.drivers.scanner.hid import ReportDecoder
from edge.drivers.scanner.keymaps import keymap_for
from edge.station.scans import classify_scan
from edge.station.workflow import BadScan, WorkflowState, step
from firmware_sim.fuzz.strategies import (
    GTINS,
    barcodes,
    examples,
    hid_report_streams,
    hid_reports,
)
from firmware_sim.fuzz.targets import check_hid_stream, check_scan
from firmware_sim.sim_station import SCANNER_PRODUCT_ID, SCANNER_VENDOR_ID
from firmware_sim.usb import SimulatedHidScanner, SimulatedUsbBackend

BOUNDED = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
SYMBOLOGIES = st.sampled_from((None, "]C0", "]C1", "]E0", "]d2", "]Q3"))


@BOUNDED
@given(report=hid_reports(), layout=st.sampled_from(("us", "uk")))
def test_a_report_decodes_to_text_or_a_bad_report_naming_it(report: bytes, layout: str) -> None:
    decoder = ReportDecoder(keymap_for(layout))  # type: ignore[arg-type]
    outcome: str | BadReport
    try:
        outcome = decoder.decode(report)
    except BadReport as error:
        outcome = error
    assert isinstance(outcome, str) or "HID report" in str(outcome)


@BOUNDED
@given(hid_report_streams())
def test_any_report_stream_is_assembled_without_crashing_and_a_clean_scan_still_reads(
    reports: list[bytes],
) -> None:
    check_hid_stream(reports)


@BOUNDED
@given(text=barcodes(), symbology=SYMBOLOGIES)
def test_any_barcode_is_classified_and_a_bad_one_is_the_counted_wrong_scan_alert(
    text: str, symbology: str | None
) -> None:
    check_scan(text, symbology)


@pytest.mark.parametrize(
    "text",
    [
        GTINS[0][:-1] + "1",  # bad check digit
        "01" + GTINS[1][:-1] + "0" + "\x1d10LOT",  # GS1 element string, bad check digit
        "\x00\x1b[2J",
        "東京都渋谷区",
        "PL:SHORT:NOPE",
        "9" * 20_000,
    ],
)
def test_named_bad_barcodes_get_the_unknown_barcode_alert(text: str) -> None:
    item = classify_scan(text, "]C1", lambda _: None)
    assert isinstance(item, BadScan)
    result = step(WorkflowState(), item)
    assert result.state.alert is not None
    assert result.state.alert.kind == "unknown_barcode"
    assert result.state.counts.wrong_scans == 1


@pytest.fixture
def rig() -> tuple[SimulatedUsbBackend, SimulatedHidScanner]:
    backend = SimulatedUsbBackend()
    scanner = SimulatedHidScanner(
        layout="us", vendor_id=SCANNER_VENDOR_ID, product_id=SCANNER_PRODUCT_ID
    )
    backend.plug(scanner)
    return backend, scanner


async def test_the_usb_reader_survives_a_garbage_stream_and_reads_the_next_scan(
    rig: tuple[SimulatedUsbBackend, SimulatedHidScanner],
) -> None:
    backend, scanner = rig
    config = ScannerConfig(
        vendor_id=SCANNER_VENDOR_ID, product_id=SCANNER_PRODUCT_ID, symbology_ids=True
    )
    garbage = [report for stream in examples(hid_report_streams(), 30, seed=5) for report in stream]
    discarded: list[DiscardedScan] = []
    async with BarcodeReader(config, backend=backend, on_discard=discarded.append) as reader:
        for report in garbage:
            scanner.inject_report(report)
        await asyncio.sleep(config.idle_reset_s + 0.3)
        scanner.inject_report(bytes(8))
        scanner.scan(GTINS[0][1:], symbology="]E0")
        scans = reader.scans()
        while True:
            scan = await asyncio.wait_for(anext(scans), 10)
            if scan.text == GTINS[0][1:]:
                break
    assert scan.symbology == "]E0"


def test_a_burst_longer_than_any_barcode_is_discarded_and_the_next_scan_still_reads() -> None:
    from edge.drivers.scanner.assembler import (
        MAX_SCAN_CHARACTERS,
        DiscardedScan,
        Scan,
        ScanAssembler,
    )

    assembler = ScanAssembler(
        ReportDecoder(keymap_for("us")),
        terminator="\r",
        gs1_stand_in=None,
        expect_symbology=False,
        idle_reset_s=1.0,
    )
    a_key, release, enter = (
        bytes([0, 0, 4, 0, 0, 0, 0, 0]),
        bytes(8),
        bytes([0, 0, 40, 0, 0, 0, 0, 0]),
    )
    outcomes = []
    for _ in range(MAX_SCAN_CHARACTERS + 10):
        outcomes += assembler.feed(a_key, 0.0)
        outcomes += assembler.feed(release, 0.0)
    outcomes += assembler.feed(enter, 0.0)
    outcomes += assembler.feed(release, 0.0)
    for _ in range(3):
        outcomes += assembler.feed(a_key, 0.0)
        outcomes += assembler.feed(release, 0.0)
    outcomes += assembler.feed(enter, 0.0)

    discarded = [o for o in outcomes if isinstance(o, DiscardedScan)]
    scans = [o for o in outcomes if isinstance(o, Scan)]
    assert len(discarded) == 1
    assert f"longer than {MAX_SCAN_CHARACTERS}" in discarded[0].reason
    assert [scan.text for scan in scans] == ["aaa"]
