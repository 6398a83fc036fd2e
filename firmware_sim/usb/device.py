"""The device side of the simulated bus: descriptors, libusb's errors, and the device base class.

A device model subclasses `SimulatedUsbDevice`. It must describe its interfaces; it may override
`class_request_in`, `class_request_out`, `endpoint_write` and `endpoint_read`, and it feeds IN
endpoints with `queue_in`. Reads block on a `threading.Condition`, because drivers read from
worker threads while tests inject from another.
"""

from __future__ import annotations

import errno
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from types import SimpleNamespace

import usb.core

from firmware_sim.errors import SimError

__all__ = [
    "CONFIGURATION_VALUE",
    "LANGID_EN_US",
    "SPEED_FULL",
    "SPEED_HIGH",
    "Attachment",
    "DeviceNotPlugged",
    "EndpointSpec",
    "Handle",
    "InterfaceSpec",
    "LibusbError",
    "SimulatedUsbDevice",
    "TransferType",
    "libusb_error",
]

LANGID_EN_US = 0x0409
SPEED_FULL = 2
SPEED_HIGH = 3

_STRING_MANUFACTURER = 1
_STRING_PRODUCT = 2
_STRING_SERIAL = 3
CONFIGURATION_VALUE = 1


class DeviceNotPlugged(SimError, RuntimeError):
    """A test asked an unplugged simulated device to send data."""


class TransferType(IntEnum):
    """The transfer type bits of an endpoint's bmAttributes."""

    CONTROL = 0
    ISOCHRONOUS = 1
    BULK = 2
    INTERRUPT = 3


class LibusbError(IntEnum):
    """libusb's return codes, which pyusb's libusb1 backend turns into `USBError`."""

    IO = -1
    INVALID_PARAM = -2
    ACCESS = -3
    NO_DEVICE = -4
    NOT_FOUND = -5
    BUSY = -6
    TIMEOUT = -7
    OVERFLOW = -8
    PIPE = -9


_LIBUSB_MEANING: dict[LibusbError, tuple[str, int]] = {
    LibusbError.IO: ("Input/output error", errno.EIO),
    LibusbError.INVALID_PARAM: ("Invalid parameter", errno.EINVAL),
    LibusbError.ACCESS: ("Access denied (insufficient permissions)", errno.EACCES),
    LibusbError.NO_DEVICE: ("No such device (it may have been disconnected)", errno.ENODEV),
    LibusbError.NOT_FOUND: ("Entity not found", errno.ENOENT),
    LibusbError.BUSY: ("Resource busy", errno.EBUSY),
    LibusbError.TIMEOUT: ("Operation timed out", errno.ETIMEDOUT),
    LibusbError.OVERFLOW: ("Overflow", errno.EOVERFLOW),
    LibusbError.PIPE: ("Pipe error", errno.EPIPE),
}


def libusb_error(code: LibusbError) -> usb.core.USBError:
    """Build the exception pyusb's libusb1 backend raises for `code`, timeouts included."""
    message, errno_value = _LIBUSB_MEANING[code]
    if code is LibusbError.TIMEOUT:
        return usb.core.USBTimeoutError(message, int(code), errno_value)
    return usb.core.USBError(message, int(code), errno_value)


@dataclass(frozen=True)
class EndpointSpec:
    """One endpoint; bit 0x80 of `address` marks an IN (device-to-host) endpoint."""

    address: int
    transfer_type: TransferType
    max_packet_size: int = 64
    interval: int = 0
    extra: bytes = b""

    @property
    def is_in(self) -> bool:
        return bool(self.address & 0x80)


@dataclass(frozen=True)
class InterfaceSpec:
    """One interface (alternate setting 0 only); `kernel_driver` says whether the OS binds one."""

    number: int
    interface_class: int
    subclass: int
    protocol: int
    endpoints: tuple[EndpointSpec, ...]
    extra: bytes = b""
    kernel_driver: bool = True


@dataclass
class Attachment:
    """The backend's record of one plug-in: address, claims and queued input, lost on unplug."""

    device: SimulatedUsbDevice
    address: int
    alive: bool = True
    configuration: int = CONFIGURATION_VALUE
    kernel_drivers: set[int] = field(default_factory=set)
    claims: dict[int, Handle] = field(default_factory=dict)
    queues: dict[int, deque[bytes]] = field(default_factory=dict)


@dataclass(eq=False)
class Handle:
    """What `open_device` returns; it stays bound to the plug-in it was opened on."""

    attachment: Attachment
    closed: bool = False


class SimulatedUsbDevice:
    """A USB device model with one configuration; subclasses add behaviour through the hooks.

    Must provide: `interfaces` (constructor). May override: `class_request_in`,
    `class_request_out`, `endpoint_write`, `endpoint_read`. Standard requests (string, device
    descriptors, configuration, status) are answered here.
    """

    def __init__(
        self,
        *,
        vendor_id: int,
        product_id: int,
        interfaces: Sequence[InterfaceSpec],
        manufacturer: str | None = None,
        product: str | None = None,
        serial: str | None = None,
        bus: int = 1,
        port_numbers: tuple[int, ...] = (1,),
        speed: int = SPEED_FULL,
        device_class: int = 0,
        bcd_device: int = 0x0100,
        max_power_ma: int = 100,
        extra: bytes = b"",
    ) -> None:
        if not port_numbers:
            raise SimError("port_numbers must name at least one hub port, e.g. (1,) or (1, 4)")
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.interfaces = tuple(interfaces)
        self.strings = {
            index: text
            for index, text in (
                (_STRING_MANUFACTURER, manufacturer),
                (_STRING_PRODUCT, product),
                (_STRING_SERIAL, serial),
            )
            if text is not None
        }
        self.bus = bus
        self.port_numbers = port_numbers
        self.speed = speed
        self.device_class = device_class
        self.bcd_device = bcd_device
        self.max_power_ma = max_power_ma
        self.extra = extra
        self._condition = threading.Condition()
        self._attachment: Attachment | None = None

    # -- state visible to tests --------------------------------------------------------------

    @property
    def is_plugged(self) -> bool:
        with self._condition:
            return self._attachment is not None

    @property
    def address(self) -> int | None:
        """The bus address given at the last plug, or None while unplugged."""
        with self._condition:
            return None if self._attachment is None else self._attachment.address

    def kernel_driver_bound(self, interface: int) -> bool:
        """Whether the OS driver (usbhid, usblp) currently owns `interface`."""
        with self._condition:
            return self._attachment is not None and interface in self._attachment.kernel_drivers

    def queue_in(self, endpoint: int, *packets: bytes) -> None:
        """Queue packets for the host to read from IN `endpoint`, all at once and in order."""
        self._endpoint(endpoint, want_in=True)
        with self._condition:
            attachment = self._attachment
            if attachment is None:
                raise DeviceNotPlugged(
                    f"{self.describe()} is unplugged; plug it in before it can send data"
                )
            attachment.queues.setdefault(endpoint, deque()).extend(bytes(p) for p in packets)
            self._condition.notify_all()

    def pending_in(self, endpoint: int) -> int:
        """How many packets wait on IN `endpoint` (0 while unplugged)."""
        with self._condition:
            if self._attachment is None:
                return 0
            return len(self._attachment.queues.get(endpoint, ()))

    def describe(self) -> str:
        return f"simulated USB device {self.vendor_id:04x}:{self.product_id:04x}"

    # -- hooks ---------------------------------------------------------------------------------

    def class_request_in(
        self, request_type: int, request: int, value: int, index: int, length: int
    ) -> bytes:
        """Answer a class-specific IN control request; the default stalls as devices do."""
        raise libusb_error(LibusbError.PIPE)

    def class_request_out(
        self, request_type: int, request: int, value: int, index: int, data: bytes
    ) -> None:
        """Accept a class-specific OUT control request; the default stalls."""
        raise libusb_error(LibusbError.PIPE)

    def endpoint_write(self, endpoint: int, data: bytes, timeout_ms: int) -> int:
        """Take host data on OUT `endpoint`; return how many bytes were accepted.

        Returning fewer bytes than given models a transfer that timed out part-way: libusb then
        reports the partial count and no error.
        """
        raise libusb_error(LibusbError.PIPE)

    def endpoint_read(self, endpoint: int, size: int, timeout_ms: int) -> bytes:
        """Hand the host up to `size` bytes from IN `endpoint`, waiting up to `timeout_ms`."""
        return self._take_queued(endpoint, size, timeout_ms)

    # -- helpers for subclasses and the backend ------------------------------------------------

    def _endpoint(self, address: int, *, want_in: bool) -> EndpointSpec:
        for interface in self.interfaces:
            for endpoint in interface.endpoints:
                if endpoint.address == address and endpoint.is_in == want_in:
                    return endpoint
        direction = "IN" if want_in else "OUT"
        raise SimError(f"{self.describe()} has no {direction} endpoint 0x{address:02x}")

    def _take_queued(self, endpoint: int, size: int, timeout_ms: int) -> bytes:
        spec = self._endpoint(endpoint, want_in=True)
        deadline = None if timeout_ms == 0 else time.monotonic() + timeout_ms / 1000
        with self._condition:
            attachment = self._attachment
            if attachment is None:
                raise libusb_error(LibusbError.NO_DEVICE)
            queue = attachment.queues.setdefault(endpoint, deque())
            while attachment.alive and not queue:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise libusb_error(LibusbError.TIMEOUT)
                self._condition.wait(remaining)
            if not attachment.alive:
                raise libusb_error(LibusbError.NO_DEVICE)
            packet = queue.popleft()
            if len(packet) <= size:
                return packet
            if spec.transfer_type is TransferType.BULK:
                queue.appendleft(packet[size:])
                return packet[:size]
            raise libusb_error(LibusbError.OVERFLOW)

    def _string_descriptor(self, index: int) -> bytes:
        if index == 0:
            return bytes([4, 3]) + LANGID_EN_US.to_bytes(2, "little")
        if index not in self.strings:
            raise libusb_error(LibusbError.PIPE)
        encoded = self.strings[index].encode("utf-16-le")
        return bytes([2 + len(encoded), 3]) + encoded

    def _device_descriptor_bytes(self) -> bytes:
        fields = self.device_descriptor()
        return (
            bytes([18, 1])
            + (0x0200).to_bytes(2, "little")
            + bytes([self.device_class, 0, 0, 64])
            + self.vendor_id.to_bytes(2, "little")
            + self.product_id.to_bytes(2, "little")
            + self.bcd_device.to_bytes(2, "little")
            + bytes([fields.iManufacturer, fields.iProduct, fields.iSerialNumber, 1])
        )

    def standard_request_in(self, request: int, value: int, length: int) -> bytes:
        """Answer GET_STATUS, GET_DESCRIPTOR (device, string) and GET_CONFIGURATION."""
        get_status, get_descriptor, get_configuration = 0, 6, 8
        if request == get_status:
            return b"\x00\x00"
        if request == get_configuration:
            with self._condition:
                configuration = 0 if self._attachment is None else self._attachment.configuration
            return bytes([configuration])
        if request == get_descriptor:
            kind, index = value >> 8, value & 0xFF
            if kind == 1:
                return self._device_descriptor_bytes()
            if kind == 3:
                return self._string_descriptor(index)
        raise libusb_error(LibusbError.PIPE)

    def device_descriptor(self) -> SimpleNamespace:
        """The device descriptor as pyusb reads it, bus topology included."""
        with self._condition:
            address = None if self._attachment is None else self._attachment.address
        return SimpleNamespace(
            bLength=18,
            bDescriptorType=1,
            bcdUSB=0x0200,
            bDeviceClass=self.device_class,
            bDeviceSubClass=0,
            bDeviceProtocol=0,
            bMaxPacketSize0=64,
            idVendor=self.vendor_id,
            idProduct=self.product_id,
            bcdDevice=self.bcd_device,
            iManufacturer=_STRING_MANUFACTURER if _STRING_MANUFACTURER in self.strings else 0,
            iProduct=_STRING_PRODUCT if _STRING_PRODUCT in self.strings else 0,
            iSerialNumber=_STRING_SERIAL if _STRING_SERIAL in self.strings else 0,
            bNumConfigurations=1,
            address=address,
            bus=self.bus,
            port_number=self.port_numbers[-1],
            port_numbers=self.port_numbers,
            speed=self.speed,
        )
