"""The simulated USB bus: a pyusb backend with a HID barcode reader and a Zebra printer on it.

Drivers receive a `SimulatedUsbBackend` where they would otherwise let pyusb pick libusb; nothing
else in them changes.
"""

from firmware_sim.usb.backend import SimulatedUsbBackend
from firmware_sim.usb.device import (
    DeviceNotPlugged,
    EndpointSpec,
    InterfaceSpec,
    LibusbError,
    SimulatedUsbDevice,
    TransferType,
    libusb_error,
)
from firmware_sim.usb.hid_scanner import CTRL_RIGHT_BRACKET, SimulatedHidScanner
from firmware_sim.usb.keyboard import LAYOUTS, KeyboardLayout, UntypableCharacter
from firmware_sim.usb.zebra_usb import PrinterModel, SimulatedUsbZebra

__all__ = [
    "CTRL_RIGHT_BRACKET",
    "LAYOUTS",
    "DeviceNotPlugged",
    "EndpointSpec",
    "InterfaceSpec",
    "KeyboardLayout",
    "LibusbError",
    "PrinterModel",
    "SimulatedHidScanner",
    "SimulatedUsbBackend",
    "SimulatedUsbDevice",
    "SimulatedUsbZebra",
    "TransferType",
    "UntypableCharacter",
    "libusb_error",
]
