"""A pyusb backend whose bus holds simulated devices, so real drivers run unchanged in CI.

pyusb reaches hardware only through `usb.backend.IBackend`; `usb.core.find(backend=...)` with a
`SimulatedUsbBackend` therefore exercises every line of a driver except libusb itself. The backend
behaves as libusb does on Linux where a driver could notice the difference: errors carry libusb's
codes, messages and errno values, a read with nothing queued waits out its timeout and raises
`usb.core.USBTimeoutError`, a kernel driver bound to an interface makes claiming it fail with
EBUSY, and after an unplug every call on an old handle fails with ENODEV while the device vanishes
from enumeration (a replugged device gets a new address and needs a new handle).
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Iterable
from types import SimpleNamespace

import usb.backend

from firmware_sim.errors import SimError
from firmware_sim.usb.device import (
    CONFIGURATION_VALUE,
    Attachment,
    Handle,
    InterfaceSpec,
    LibusbError,
    SimulatedUsbDevice,
    TransferType,
    libusb_error,
)

__all__ = ["SimulatedUsbBackend"]

_FIRST_ADDRESS = 2  # address 1 belongs to the root hub


class SimulatedUsbBackend(usb.backend.IBackend):  # type: ignore[misc]
    """A USB bus for `usb.core.find(backend=...)`; tests `plug` and `unplug` devices at run time."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._attachments: list[Attachment] = []
        self._next_address: dict[int, int] = {}

    # -- the test side -------------------------------------------------------------------------

    def plug(self, device: SimulatedUsbDevice) -> None:
        """Connect `device`: it gets a fresh address and its kernel drivers bind."""
        with self._lock:
            if any(a.device is device for a in self._attachments):
                raise SimError(f"{device.describe()} is already plugged into this bus")
            address = self._next_address.get(device.bus, _FIRST_ADDRESS)
            self._next_address[device.bus] = address + 1
            attachment = Attachment(
                device=device,
                address=address,
                kernel_drivers={i.number for i in device.interfaces if i.kernel_driver},
            )
            with device._condition:
                if device._attachment is not None:
                    raise SimError(f"{device.describe()} is plugged into another bus")
                device._attachment = attachment
            self._attachments.append(attachment)

    def unplug(self, device: SimulatedUsbDevice) -> None:
        """Pull `device` out: it leaves enumeration, and waiting and later calls get ENODEV."""
        with self._lock:
            attachment = next((a for a in self._attachments if a.device is device), None)
            if attachment is None:
                raise SimError(f"{device.describe()} is not plugged into this bus")
            self._attachments.remove(attachment)
            with device._condition:
                attachment.alive = False
                attachment.queues.clear()
                device._attachment = None
                device._condition.notify_all()

    @property
    def devices(self) -> tuple[SimulatedUsbDevice, ...]:
        with self._lock:
            return tuple(a.device for a in self._attachments)

    # -- what pyusb calls ----------------------------------------------------------------------

    def enumerate_devices(self) -> Iterable[Attachment]:
        with self._lock:
            return list(self._attachments)

    def get_parent(self, dev: Attachment) -> None:
        return None

    def get_device_descriptor(self, dev: Attachment) -> SimpleNamespace:
        descriptor = dev.device.device_descriptor()
        descriptor.address = dev.address
        return descriptor

    def get_configuration_descriptor(self, dev: Attachment, config: int) -> SimpleNamespace:
        if config != 0:
            raise IndexError(f"invalid configuration index {config}")
        device = dev.device
        total = 9 + len(device.extra)
        for interface in device.interfaces:
            total += 9 + len(interface.extra)
            total += sum(7 + len(e.extra) for e in interface.endpoints)
        return SimpleNamespace(
            bLength=9,
            bDescriptorType=2,
            wTotalLength=total,
            bNumInterfaces=len(device.interfaces),
            bConfigurationValue=CONFIGURATION_VALUE,
            iConfiguration=0,
            bmAttributes=0x80,
            bMaxPower=device.max_power_ma // 2,
            extra_descriptors=list(device.extra),
        )

    def get_interface_descriptor(
        self, dev: Attachment, intf: int, alt: int, config: int
    ) -> SimpleNamespace:
        self.get_configuration_descriptor(dev, config)
        if not 0 <= intf < len(dev.device.interfaces):
            raise IndexError(f"invalid interface index {intf}")
        if alt != 0:
            raise IndexError(f"invalid alternate setting index {alt}")
        interface = dev.device.interfaces[intf]
        return SimpleNamespace(
            bLength=9,
            bDescriptorType=4,
            bInterfaceNumber=interface.number,
            bAlternateSetting=0,
            bNumEndpoints=len(interface.endpoints),
            bInterfaceClass=interface.interface_class,
            bInterfaceSubClass=interface.subclass,
            bInterfaceProtocol=interface.protocol,
            iInterface=0,
            extra_descriptors=list(interface.extra),
        )

    def get_endpoint_descriptor(
        self, dev: Attachment, ep: int, intf: int, alt: int, config: int
    ) -> SimpleNamespace:
        self.get_interface_descriptor(dev, intf, alt, config)
        endpoints = dev.device.interfaces[intf].endpoints
        if not 0 <= ep < len(endpoints):
            raise IndexError(f"invalid endpoint index {ep}")
        endpoint = endpoints[ep]
        return SimpleNamespace(
            bLength=7,
            bDescriptorType=5,
            bEndpointAddress=endpoint.address,
            bmAttributes=int(endpoint.transfer_type),
            wMaxPacketSize=endpoint.max_packet_size,
            bInterval=endpoint.interval,
            bRefresh=0,
            bSynchAddress=0,
            extra_descriptors=list(endpoint.extra),
        )

    def open_device(self, dev: Attachment) -> Handle:
        if not dev.alive:
            raise libusb_error(LibusbError.NO_DEVICE)
        return Handle(dev)

    def close_device(self, dev_handle: Handle) -> None:
        attachment = dev_handle.attachment
        with attachment.device._condition:
            for number in [n for n, h in attachment.claims.items() if h is dev_handle]:
                del attachment.claims[number]
            dev_handle.closed = True

    def get_configuration(self, dev_handle: Handle) -> int:
        with self._live(dev_handle) as attachment:
            return attachment.configuration

    def set_configuration(self, dev_handle: Handle, config_value: int) -> None:
        with self._live(dev_handle) as attachment:
            if config_value not in (0, CONFIGURATION_VALUE):
                raise libusb_error(LibusbError.NOT_FOUND)
            others = any(h is not dev_handle for h in attachment.claims.values())
            if attachment.kernel_drivers or others:
                raise libusb_error(LibusbError.BUSY)
            attachment.configuration = config_value

    def set_interface_altsetting(self, dev_handle: Handle, intf: int, altsetting: int) -> None:
        with self._live(dev_handle):
            self._interface(dev_handle, intf)
            if altsetting != 0:
                raise libusb_error(LibusbError.NOT_FOUND)

    def claim_interface(self, dev_handle: Handle, intf: int) -> None:
        with self._live(dev_handle) as attachment:
            self._claim(dev_handle, attachment, intf)

    def release_interface(self, dev_handle: Handle, intf: int) -> None:
        with self._live(dev_handle) as attachment:
            if attachment.claims.get(intf) is not dev_handle:
                raise libusb_error(LibusbError.NOT_FOUND)
            del attachment.claims[intf]

    def bulk_write(
        self, dev_handle: Handle, ep: int, intf: int, data: array[int], timeout: int
    ) -> int:
        return self._write(dev_handle, ep, intf, data, timeout, kind=TransferType.BULK)

    def intr_write(
        self, dev_handle: Handle, ep: int, intf: int, data: array[int], timeout: int
    ) -> int:
        return self._write(dev_handle, ep, intf, data, timeout, kind=TransferType.INTERRUPT)

    def bulk_read(
        self, dev_handle: Handle, ep: int, intf: int, buff: array[int], timeout: int
    ) -> int:
        return self._read(dev_handle, ep, intf, buff, timeout, kind=TransferType.BULK)

    def intr_read(
        self, dev_handle: Handle, ep: int, intf: int, buff: array[int], timeout: int
    ) -> int:
        return self._read(dev_handle, ep, intf, buff, timeout, kind=TransferType.INTERRUPT)

    def ctrl_transfer(  # noqa: PLR0917 - the signature is pyusb's
        self,
        dev_handle: Handle,
        bmRequestType: int,  # noqa: N803 - pyusb's names for the setup fields
        bRequest: int,  # noqa: N803 - pyusb's names for the setup fields
        wValue: int,  # noqa: N803 - pyusb's names for the setup fields
        wIndex: int,  # noqa: N803 - pyusb's names for the setup fields
        data: array[int],
        timeout: int,
    ) -> int:
        with self._live(dev_handle):
            pass
        device = dev_handle.attachment.device
        kind = (bmRequestType >> 5) & 3
        standard, class_ = 0, 1
        if bmRequestType & 0x80:
            if kind == standard:
                answer = device.standard_request_in(bRequest, wValue, len(data))
            elif kind == class_:
                answer = device.class_request_in(bmRequestType, bRequest, wValue, wIndex, len(data))
            else:
                raise libusb_error(LibusbError.PIPE)
            answer = answer[: len(data)]
            data[: len(answer)] = array("B", answer)
            return len(answer)
        if kind != class_:
            raise libusb_error(LibusbError.PIPE)
        device.class_request_out(bmRequestType, bRequest, wValue, wIndex, data.tobytes())
        return len(data)

    def clear_halt(self, dev_handle: Handle, ep: int) -> None:
        with self._live(dev_handle):
            pass

    def reset_device(self, dev_handle: Handle) -> None:
        with self._live(dev_handle) as attachment:
            attachment.queues.clear()

    def is_kernel_driver_active(self, dev_handle: Handle, intf: int) -> bool:
        with self._live(dev_handle) as attachment:
            self._interface(dev_handle, intf)
            return intf in attachment.kernel_drivers

    def detach_kernel_driver(self, dev_handle: Handle, intf: int) -> None:
        with self._live(dev_handle) as attachment:
            self._interface(dev_handle, intf)
            if intf not in attachment.kernel_drivers:
                raise libusb_error(LibusbError.NOT_FOUND)
            attachment.kernel_drivers.discard(intf)

    def attach_kernel_driver(self, dev_handle: Handle, intf: int) -> None:
        with self._live(dev_handle) as attachment:
            self._interface(dev_handle, intf)
            if intf in attachment.kernel_drivers or intf in attachment.claims:
                raise libusb_error(LibusbError.BUSY)
            attachment.kernel_drivers.add(intf)

    # -- internals -----------------------------------------------------------------------------

    def _live(self, dev_handle: Handle) -> _LiveAttachment:
        return _LiveAttachment(dev_handle)

    @staticmethod
    def _interface(dev_handle: Handle, intf: int) -> InterfaceSpec:
        for interface in dev_handle.attachment.device.interfaces:
            if interface.number == intf:
                return interface
        raise libusb_error(LibusbError.NOT_FOUND)

    def _claim(self, dev_handle: Handle, attachment: Attachment, intf: int) -> None:
        self._interface(dev_handle, intf)
        holder = attachment.claims.get(intf)
        if holder is dev_handle:
            return
        if holder is not None or intf in attachment.kernel_drivers:
            raise libusb_error(LibusbError.BUSY)
        attachment.claims[intf] = dev_handle

    def _checked_endpoint(
        self, dev_handle: Handle, ep: int, intf: int, kind: TransferType, *, want_in: bool
    ) -> None:
        with self._live(dev_handle) as attachment:
            # usbfs claims the interface implicitly on first I/O, with the same rules.
            self._claim(dev_handle, attachment, intf)
        interface = self._interface(dev_handle, intf)
        for endpoint in interface.endpoints:
            if endpoint.address == ep and endpoint.is_in == want_in:
                if endpoint.transfer_type is not kind:
                    raise libusb_error(LibusbError.IO)
                return
        raise libusb_error(LibusbError.NOT_FOUND)

    def _write(
        self,
        dev_handle: Handle,
        ep: int,
        intf: int,
        data: array[int],
        timeout: int,
        *,
        kind: TransferType,
    ) -> int:
        self._checked_endpoint(dev_handle, ep, intf, kind, want_in=False)
        return dev_handle.attachment.device.endpoint_write(ep, data.tobytes(), timeout)

    def _read(
        self,
        dev_handle: Handle,
        ep: int,
        intf: int,
        buff: array[int],
        timeout: int,
        *,
        kind: TransferType,
    ) -> int:
        self._checked_endpoint(dev_handle, ep, intf, kind, want_in=True)
        size = len(buff) * buff.itemsize
        packet = dev_handle.attachment.device.endpoint_read(ep, size, timeout)
        buff[: len(packet)] = array(buff.typecode, packet)
        return len(packet)


class _LiveAttachment:
    """Context manager: hold the device lock and fail with ENODEV if the handle is stale."""

    def __init__(self, dev_handle: Handle) -> None:
        self._handle = dev_handle
        self._condition = dev_handle.attachment.device._condition

    def __enter__(self) -> Attachment:
        self._condition.acquire()
        attachment = self._handle.attachment
        if not attachment.alive:
            self._condition.release()
            raise libusb_error(LibusbError.NO_DEVICE)
        if self._handle.closed:
            self._condition.release()
            raise libusb_error(LibusbError.INVALID_PARAM)
        return attachment

    def __exit__(self, *exc: object) -> None:
        self._condition.release()
