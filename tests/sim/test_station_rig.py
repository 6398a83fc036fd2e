"""One station's simulated hardware as a unit, driven directly by the real drivers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from gpiozero import LED

from edge.drivers.printer import JobJournal, LabelPrinter, PrinterOffline, TcpTransport
from edge.drivers.scanner import BarcodeReader, ScannerConfig
from firmware_sim.errors import SimError
from firmware_sim.station_rig import SimulatedStationRig, StationRigError

WAIT = 10.0  # generous: a loaded machine makes tests slower, never wrong
VENDOR, PRODUCT = 0x05E0, 0x1200
ZPL = "^XA^FO20,20^A0N,40,40^FDOrder SO-1001^FS^XZ"


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[JobJournal]:
    journal = JobJournal(tmp_path / "jobs.json")
    yield journal
    journal.close()


@pytest.fixture
async def rig() -> AsyncIterator[SimulatedStationRig]:
    async with SimulatedStationRig(
        scanner_vendor_id=VENDOR, scanner_product_id=PRODUCT, scanner_serial="RIG0001"
    ) as running:
        yield running


async def test_the_scanner_is_on_the_bus_for_a_reader_found_by_its_serial(
    rig: SimulatedStationRig,
) -> None:
    config = ScannerConfig(
        vendor_id=VENDOR, product_id=PRODUCT, serial="RIG0001", symbology_ids=True
    )
    async with BarcodeReader(config, backend=rig.usb_backend) as reader:
        scans = reader.scans()
        rig.scanner.scan("SO-1001", symbology="]C0")
        scan = await asyncio.wait_for(anext(scans), WAIT)

    assert (scan.text, scan.symbology) == ("SO-1001", "]C0")


async def test_the_printer_prints_what_the_tcp_driver_sends(
    rig: SimulatedStationRig, journal: JobJournal
) -> None:
    async with LabelPrinter(
        TcpTransport(rig.printer.host, rig.printer.port), journal, status_timeout=WAIT
    ) as printer:
        await printer.print_label("job-1", ZPL)

    assert [label.field_data() for label in rig.printer_model.printed] == [["Order SO-1001"]]


async def test_leaving_stops_the_printer_and_frees_every_pin(journal: JobJournal) -> None:
    rig = SimulatedStationRig(scanner_vendor_id=VENDOR, scanner_product_id=PRODUCT)
    async with rig:
        port = rig.printer.port
        LED(17, pin_factory=rig.gpio.factory).on()

    assert rig.gpio.factory.pins == {}
    async with LabelPrinter(
        TcpTransport("127.0.0.1", port, connect_timeout=WAIT), journal
    ) as printer:
        with pytest.raises(PrinterOffline):
            await printer.status()


async def test_a_rig_can_run_again_after_it_stopped() -> None:
    rig = SimulatedStationRig(scanner_vendor_id=VENDOR, scanner_product_id=PRODUCT)
    async with rig:
        pass
    async with rig:
        assert rig.printer.port > 0


async def test_entering_a_running_rig_again_is_refused(rig: SimulatedStationRig) -> None:
    with pytest.raises(StationRigError, match="already running"):
        await rig.__aenter__()


def test_an_unknown_scanner_layout_is_refused_naming_it() -> None:
    with pytest.raises(SimError, match=r"'de'.*\['uk', 'us'\]"):
        SimulatedStationRig(scanner_vendor_id=VENDOR, scanner_product_id=PRODUCT, layout="de")
