"""An open, claimed HID boot-keyboard interface, from which the reader pulls raw reports."""

from __future__ import annotations

import contextlib
from typing import Any

import usb.core
import usb.util

from edge.drivers.scanner.errors import ScannerError

__all__ = ["HidLink"]

_HID_CLASS, _BOOT_SUBCLASS, _KEYBOARD_PROTOCOL = 3, 1, 1


class HidLink:
    """Owns one claimed interface; `read` blocks for at most its timeout, as libusb does."""

    def __init__(self, device: Any, interface_number: int, endpoint: Any) -> None:
        self._device = device
        self._interface_number = interface_number
        self._endpoint_address = int(endpoint.bEndpointAddress)
        self._packet_size = int(endpoint.wMaxPacketSize)

    @classmethod
    def open(cls, device: Any) -> HidLink:
        """Claim `device`'s boot-keyboard interface, detaching the kernel's usbhid first.

        The kernel driver would otherwise type every scan into the console as well.
        """
        try:
            configuration = device.get_active_configuration()
        except usb.core.USBError:
            device.set_configuration()
            configuration = device.get_active_configuration()
        interface = usb.util.find_descriptor(
            configuration,
            bInterfaceClass=_HID_CLASS,
            bInterfaceSubClass=_BOOT_SUBCLASS,
            bInterfaceProtocol=_KEYBOARD_PROTOCOL,
        )
        name = f"{device.idVendor:04x}:{device.idProduct:04x}"
        if interface is None:
            raise ScannerError(f"USB device {name} has no HID boot-keyboard interface (3/1/1)")
        endpoint = usb.util.find_descriptor(
            interface,
            custom_match=lambda e: (
                usb.util.endpoint_direction(e.bEndpointAddress) == usb.util.ENDPOINT_IN
                and usb.util.endpoint_type(e.bmAttributes) == usb.util.ENDPOINT_TYPE_INTR
            ),
        )
        if endpoint is None:
            raise ScannerError(
                f"USB device {name} has no interrupt IN endpoint on its HID interface"
            )
        number = int(interface.bInterfaceNumber)
        if device.is_kernel_driver_active(number):
            device.detach_kernel_driver(number)
        usb.util.claim_interface(device, number)
        return cls(device, number, endpoint)

    def read(self, timeout_ms: int) -> bytes:
        """One report; raises `usb.core.USBTimeoutError` when none came within the timeout."""
        return bytes(self._device.read(self._endpoint_address, self._packet_size, timeout_ms))

    def close(self) -> None:
        """Release the interface and the handle; a vanished device cannot make this fail."""
        with contextlib.suppress(usb.core.USBError):
            usb.util.release_interface(self._device, self._interface_number)
        usb.util.dispose_resources(self._device)
