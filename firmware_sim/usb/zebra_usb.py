"""A Zebra label printer on the simulated USB bus, around the rig's printer model.

The model decides what the printer says; this class only speaks USB printer class for it: ZPL
arrives on bulk OUT 0x01, answers to host queries (~HS and the like) leave on bulk IN 0x81, and
the two printer-class requests report the IEEE 1284 device id and the port status byte. A test
can make the next write stop short, as a transfer that times out part-way does.
"""

from __future__ import annotations

from typing import Protocol

from firmware_sim.errors import SimError
from firmware_sim.usb.device import (
    SPEED_HIGH,
    EndpointSpec,
    InterfaceSpec,
    LibusbError,
    SimulatedUsbDevice,
    TransferType,
    libusb_error,
)

__all__ = [
    "PRINTER_BULK_IN",
    "PRINTER_BULK_OUT",
    "PrinterModel",
    "SimulatedUsbZebra",
]

PRINTER_BULK_OUT = 0x01
PRINTER_BULK_IN = 0x81
_PRINTER_CLASS, _PRINTER_SUBCLASS, _BIDIRECTIONAL = 7, 1, 2
_GET_DEVICE_ID, _GET_PORT_STATUS, _SOFT_RESET = 0, 1, 2
_CLASS_INTERFACE_IN = 0xA1


class PrinterModel(Protocol):
    """What the USB face needs from a printer model."""

    def receive(self, data: bytes) -> bytes:
        """Feed host bytes; return the reply they produce (possibly empty)."""
        ...

    def device_id(self) -> str:
        """The IEEE 1284 device id, e.g. ``MFG:Zebra Technologies;CMD:ZPL;MDL:ZD421;``."""
        ...

    def port_status(self) -> int:
        """The GET_PORT_STATUS byte (0x20 paper empty, 0x10 selected, 0x08 no error)."""
        ...


class SimulatedUsbZebra(SimulatedUsbDevice):
    """A USB Zebra printer (class 7/1/2) whose behaviour comes from `model`."""

    def __init__(
        self,
        model: PrinterModel,
        *,
        serial: str | None = "SIMZ0001",
        port_numbers: tuple[int, ...] = (2,),
        bus: int = 1,
        vendor_id: int = 0x0A5F,
        product_id: int = 0x0164,
    ) -> None:
        interface = InterfaceSpec(
            number=0,
            interface_class=_PRINTER_CLASS,
            subclass=_PRINTER_SUBCLASS,
            protocol=_BIDIRECTIONAL,
            endpoints=(
                EndpointSpec(PRINTER_BULK_OUT, TransferType.BULK, 512),
                EndpointSpec(PRINTER_BULK_IN, TransferType.BULK, 512),
            ),
        )
        super().__init__(
            vendor_id=vendor_id,
            product_id=product_id,
            interfaces=(interface,),
            manufacturer="Zebra Technologies",
            product="Simulated ZTC label printer",
            serial=serial,
            bus=bus,
            port_numbers=port_numbers,
            speed=SPEED_HIGH,
        )
        self.model = model
        self.received = bytearray()
        self._next_write_limit: int | None = None

    def describe(self) -> str:
        return f"simulated USB Zebra {self.vendor_id:04x}:{self.product_id:04x}"

    def accept_only_next_write(self, byte_count: int) -> None:
        """Make the next bulk write take only `byte_count` bytes, then time out."""
        if byte_count < 0:
            raise SimError(f"byte_count is {byte_count}; expected 0 or more")
        self._next_write_limit = byte_count

    def endpoint_write(self, endpoint: int, data: bytes, timeout_ms: int) -> int:
        limit, self._next_write_limit = self._next_write_limit, None
        accepted = data if limit is None else data[:limit]
        if limit is not None and not accepted:
            raise libusb_error(LibusbError.TIMEOUT)
        self.received += accepted
        reply = self.model.receive(accepted)
        if reply:
            self.queue_in(PRINTER_BULK_IN, reply)
        return len(accepted)

    def class_request_in(
        self, request_type: int, request: int, value: int, index: int, length: int
    ) -> bytes:
        if request_type == _CLASS_INTERFACE_IN and request == _GET_DEVICE_ID:
            device_id = self.model.device_id().encode("ascii")
            return (len(device_id) + 2).to_bytes(2, "big") + device_id
        if request_type == _CLASS_INTERFACE_IN and request == _GET_PORT_STATUS:
            return bytes([self.model.port_status() & 0xFF])
        return super().class_request_in(request_type, request, value, index, length)

    def class_request_out(
        self, request_type: int, request: int, value: int, index: int, data: bytes
    ) -> None:
        if request != _SOFT_RESET:
            super().class_request_out(request_type, request, value, index, data)
