"""The printer transport over USB bulk endpoints, through pyusb.

Every write's byte count is checked: libusb reports a transfer that timed out part-way as a
short count and no error, and a blind retry would print the first part of a label twice, so a
short write raises `ShortWrite` and leaves the decision to the job layer. pyusb's exceptions
become printer errors here, in one place; ENODEV (unplugged) is `PrinterOffline`. The blocking
pyusb calls run in worker threads so the event loop keeps serving the station.
"""

from __future__ import annotations

import asyncio
import errno
from dataclasses import dataclass
from typing import Any

import usb.core
import usb.util

from edge.drivers.printer.errors import PrinterError, PrinterOffline, ShortWrite, WriteTimeout

__all__ = ["PortStatus", "UsbPrinterTransport"]

_PRINTER_CLASS = 7
_CLASS_INTERFACE_IN = 0xA1
_GET_DEVICE_ID, _GET_PORT_STATUS = 0, 1
_DEVICE_ID_MAX = 1024
_PAPER_EMPTY, _SELECTED, _NOT_ERROR = 0x20, 0x10, 0x08


@dataclass(frozen=True)
class PortStatus:
    """The USB printer-class port status byte, decoded."""

    raw: int

    @property
    def paper_empty(self) -> bool:
        return bool(self.raw & _PAPER_EMPTY)

    @property
    def selected(self) -> bool:
        return bool(self.raw & _SELECTED)

    @property
    def error(self) -> bool:
        """True when the printer signals an error (the "not error" bit is clear)."""
        return not self.raw & _NOT_ERROR


class UsbPrinterTransport:
    """A `PrinterTransport` for a USB printer-class device (ZPL over bulk OUT, replies on IN).

    `backend` is a pyusb backend; None lets pyusb pick libusb. `serial` picks one printer when
    several of the same model are plugged in.
    """

    def __init__(
        self,
        *,
        vendor_id: int,
        product_id: int,
        serial: str | None = None,
        backend: Any = None,
        write_timeout_ms: int = 5000,
    ) -> None:
        self._vendor_id = vendor_id
        self._product_id = product_id
        self._serial = serial
        self._backend = backend
        self._write_timeout_ms = write_timeout_ms
        self._device: Any = None
        self._interface_number = 0
        self._out_address = 0
        self._in_address: int | None = None

    @property
    def description(self) -> str:
        serial = f"/{self._serial}" if self._serial else ""
        return f"usb:{self._vendor_id:04x}:{self._product_id:04x}{serial}"

    @property
    def can_read(self) -> bool:
        return self._in_address is not None or self._device is None

    async def open(self) -> None:
        if self._device is None:
            await asyncio.to_thread(self._open)

    async def close(self) -> None:
        device, self._device = self._device, None
        if device is not None:
            await asyncio.to_thread(usb.util.dispose_resources, device)

    async def write(self, data: bytes) -> None:
        device = self._opened()
        try:
            written = await asyncio.to_thread(
                device.write, self._out_address, data, self._write_timeout_ms
            )
        except usb.core.USBTimeoutError as error:
            raise WriteTimeout(
                f"printer {self.description} accepted none of {len(data)} bytes"
                f" within {self._write_timeout_ms} ms"
            ) from error
        except usb.core.USBError as error:
            raise self._converted(error) from error
        if written != len(data):
            raise ShortWrite(
                f"printer {self.description} took {written} of {len(data)} bytes;"
                " the rest was not sent"
            )

    async def read(self, max_bytes: int, timeout: float) -> bytes:  # noqa: ASYNC109 - the port's signature
        device = self._opened()
        if self._in_address is None:
            raise PrinterError(f"printer {self.description} has no bulk IN endpoint to read")
        timeout_ms = max(1, round(timeout * 1000))
        try:
            answer = await asyncio.to_thread(device.read, self._in_address, max_bytes, timeout_ms)
        except usb.core.USBTimeoutError:
            return b""
        except usb.core.USBError as error:
            raise self._converted(error) from error
        return bytes(answer)

    async def device_id(self) -> str:
        """The IEEE 1284 device id (``MFG:...;CMD:ZPL;MDL:...;``), via GET_DEVICE_ID."""
        device = self._opened()
        index = self._interface_number << 8
        answer = await self._control(device, _GET_DEVICE_ID, index, _DEVICE_ID_MAX)
        if len(answer) < 2:
            raise PrinterError(f"printer {self.description} sent a {len(answer)}-byte device id")
        length = int.from_bytes(answer[:2], "big")
        return answer[2:length].decode("ascii", errors="replace")

    async def port_status(self) -> PortStatus:
        """Paper empty, selected and error flags, via GET_PORT_STATUS."""
        device = self._opened()
        answer = await self._control(device, _GET_PORT_STATUS, self._interface_number, 1)
        if len(answer) != 1:
            raise PrinterError(f"printer {self.description} sent {len(answer)} status bytes")
        return PortStatus(answer[0])

    # -- internals -----------------------------------------------------------------------------

    def _opened(self) -> Any:
        if self._device is None:
            raise PrinterOffline(f"printer {self.description} is not open; call open() first")
        return self._device

    async def _control(self, device: Any, request: int, index: int, length: int) -> bytes:
        try:
            answer = await asyncio.to_thread(
                device.ctrl_transfer, _CLASS_INTERFACE_IN, request, 0, index, length
            )
        except usb.core.USBError as error:
            raise self._converted(error) from error
        return bytes(answer)

    def _converted(self, error: usb.core.USBError) -> PrinterError:
        if error.errno == errno.ENODEV:
            device, self._device = self._device, None
            if device is not None:
                usb.util.dispose_resources(device)
            return PrinterOffline(f"printer {self.description} was unplugged ({error})")
        return PrinterOffline(f"printer {self.description}: USB error {error}")

    def _find(self) -> Any:
        try:
            candidates = list(
                usb.core.find(
                    find_all=True,
                    backend=self._backend,
                    idVendor=self._vendor_id,
                    idProduct=self._product_id,
                )
            )
        except usb.core.NoBackendError as error:
            raise PrinterOffline("no USB backend available; expected libusb-1.0") from error
        for device in candidates:
            if self._serial is None or _serial_of(device) == self._serial:
                return device
        wanted = f" with serial {self._serial}" if self._serial else ""
        raise PrinterOffline(f"no USB printer {self.description}{wanted} is plugged in")

    def _open(self) -> None:
        device = self._find()
        try:
            interface = usb.util.find_descriptor(
                device.get_active_configuration(), bInterfaceClass=_PRINTER_CLASS
            )
            if interface is None:
                raise PrinterError(f"USB device {self.description} has no printer interface")
            number = int(interface.bInterfaceNumber)
            if device.is_kernel_driver_active(number):
                device.detach_kernel_driver(number)  # usblp would compete for the endpoints
            usb.util.claim_interface(device, number)
        except usb.core.USBError as error:
            usb.util.dispose_resources(device)
            raise self._converted(error) from error
        self._interface_number = number
        self._out_address = _bulk_endpoint(interface, usb.util.ENDPOINT_OUT, self.description)
        try:
            self._in_address = _bulk_endpoint(interface, usb.util.ENDPOINT_IN, self.description)
        except PrinterError:
            self._in_address = None
        self._device = device


def _serial_of(device: Any) -> str | None:
    try:
        return str(device.serial_number) if device.iSerialNumber else None
    except (usb.core.USBError, ValueError):
        return None


def _bulk_endpoint(interface: Any, direction: int, description: str) -> int:
    endpoint = usb.util.find_descriptor(
        interface,
        custom_match=lambda e: (
            usb.util.endpoint_direction(e.bEndpointAddress) == direction
            and usb.util.endpoint_type(e.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK
        ),
    )
    if endpoint is None:
        kind = "IN" if direction == usb.util.ENDPOINT_IN else "OUT"
        raise PrinterError(f"USB printer {description} has no bulk {kind} endpoint")
    return int(endpoint.bEndpointAddress)
