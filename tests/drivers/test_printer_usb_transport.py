"""The USB printer transport, against the simulated Zebra on the simulated USB bus."""

from __future__ import annotations

import pytest

from edge.drivers.printer.errors import PrinterError, PrinterOffline, ShortWrite, WriteTimeout
from edge.drivers.printer.transport import PrinterTransport
from edge.drivers.printer.usb_transport import UsbPrinterTransport
from firmware_sim.usb import SimulatedUsbBackend, SimulatedUsbZebra
from firmware_sim.zebra import Fault, ZebraPrinterModel

LABEL = b"^XA^FO20,20^A0N,40,40^FDORDER-1001^FS^XZ"


@pytest.fixture
def bus() -> SimulatedUsbBackend:
    return SimulatedUsbBackend()


@pytest.fixture
def model() -> ZebraPrinterModel:
    return ZebraPrinterModel(model_name="ZD421")


@pytest.fixture
def zebra(bus: SimulatedUsbBackend, model: ZebraPrinterModel) -> SimulatedUsbZebra:
    printer = SimulatedUsbZebra(model, serial="ZPRN-1")
    bus.plug(printer)
    return printer


def transport(bus: SimulatedUsbBackend, serial: str | None = None) -> UsbPrinterTransport:
    return UsbPrinterTransport(vendor_id=0x0A5F, product_id=0x0164, serial=serial, backend=bus)


def test_it_implements_the_printer_transport_port(bus: SimulatedUsbBackend) -> None:
    assert isinstance(transport(bus), PrinterTransport)
    assert transport(bus, serial="ZPRN-1").description == "usb:0a5f:0164/ZPRN-1"


async def test_a_written_label_is_printed_and_the_usblp_driver_is_detached(
    bus: SimulatedUsbBackend, model: ZebraPrinterModel, zebra: SimulatedUsbZebra
) -> None:
    printer = transport(bus)
    await printer.open()
    try:
        await printer.write(LABEL)
    finally:
        await printer.close()
    assert model.printed[0].field_data() == ["ORDER-1001"]
    assert not zebra.kernel_driver_bound(0)


async def test_host_query_answers_are_read_back(
    bus: SimulatedUsbBackend, zebra: SimulatedUsbZebra
) -> None:
    printer = transport(bus)
    await printer.open()
    assert printer.can_read
    await printer.write(b"~HS")
    answer = await printer.read(1024, timeout=5)
    await printer.close()
    assert answer.startswith(b"\x02")
    assert answer.count(b"\x03") == 3


async def test_a_read_with_nothing_to_say_returns_empty_after_the_timeout(
    bus: SimulatedUsbBackend, zebra: SimulatedUsbZebra
) -> None:
    printer = transport(bus)
    await printer.open()
    assert await printer.read(64, timeout=0.05) == b""
    await printer.close()


async def test_a_short_write_raises_and_is_never_retried(
    bus: SimulatedUsbBackend, zebra: SimulatedUsbZebra
) -> None:
    printer = transport(bus)
    await printer.open()
    zebra.accept_only_next_write(7)
    with pytest.raises(ShortWrite, match=f"took 7 of {len(LABEL)} bytes") as caught:
        await printer.write(LABEL)
    assert isinstance(caught.value, PrinterError)
    assert bytes(zebra.received) == LABEL[:7]
    await printer.close()


async def test_a_write_the_printer_accepts_none_of_is_a_write_timeout(
    bus: SimulatedUsbBackend, zebra: SimulatedUsbZebra
) -> None:
    printer = transport(bus)
    await printer.open()
    zebra.accept_only_next_write(0)
    with pytest.raises(WriteTimeout, match=f"none of {len(LABEL)} bytes"):
        await printer.write(LABEL)
    await printer.close()


async def test_an_unplugged_printer_is_offline(
    bus: SimulatedUsbBackend, zebra: SimulatedUsbZebra
) -> None:
    printer = transport(bus)
    await printer.open()
    bus.unplug(zebra)
    with pytest.raises(PrinterOffline, match="unplugged"):
        await printer.write(LABEL)
    with pytest.raises(PrinterOffline, match="not open"):
        await printer.write(LABEL)
    bus.plug(zebra)
    await printer.open()
    await printer.write(LABEL)
    await printer.close()


async def test_opening_a_printer_that_is_not_plugged_in_raises_offline(
    bus: SimulatedUsbBackend,
) -> None:
    with pytest.raises(PrinterOffline, match="usb:0a5f:0164"):
        await transport(bus).open()


async def test_a_printer_is_picked_by_serial_among_several(
    bus: SimulatedUsbBackend, zebra: SimulatedUsbZebra
) -> None:
    other_model = ZebraPrinterModel()
    bus.plug(SimulatedUsbZebra(other_model, serial="ZPRN-2", port_numbers=(3,)))
    printer = transport(bus, serial="ZPRN-2")
    await printer.open()
    await printer.write(LABEL)
    await printer.close()
    assert len(other_model.printed) == 1
    assert bytes(zebra.received) == b""


async def test_device_id_and_port_status_come_from_printer_class_requests(
    bus: SimulatedUsbBackend, model: ZebraPrinterModel, zebra: SimulatedUsbZebra
) -> None:
    printer = transport(bus)
    await printer.open()
    assert (await printer.device_id()).startswith("MFG:Zebra Technologies;CMD:ZPL;MDL:ZD421;")
    status = await printer.port_status()
    assert (status.paper_empty, status.selected, status.error) == (False, True, False)
    model.set_fault(Fault.PAPER_OUT)
    status = await printer.port_status()
    assert (status.paper_empty, status.error) == (True, True)
    await printer.close()
