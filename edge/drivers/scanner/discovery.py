"""Find the configured reader among the USB devices plugged in.

Vendor and product ids name a model, not a reader, so a station with two readers of one model
picks by serial number, or else by the port it is plugged into. Both are read through pyusb, so
the same code finds a reader through libusb on a Pi and through the simulated backend in CI.
"""

from __future__ import annotations

import logging
from typing import Any

import usb.core
import usb.util

from edge.drivers.scanner.config import ScannerConfig
from edge.drivers.scanner.errors import AmbiguousScanner, ScannerError, ScannerNotFound

__all__ = ["find_reader", "port_path"]

_log = logging.getLogger(__name__)


def port_path(device: Any) -> str | None:
    """Linux's name for where a device is plugged in: ``bus-port.port`` (e.g. ``1-1.4``)."""
    ports = getattr(device, "port_numbers", None)
    if not ports or device.bus is None:
        return None
    return f"{device.bus}-{'.'.join(str(p) for p in ports)}"


def _serial(device: Any) -> str | None:
    try:
        return str(device.serial_number) if device.iSerialNumber else None
    except (usb.core.USBError, ValueError) as error:
        _log.warning("scanner.serial_unreadable port=%s error=%s", port_path(device), error)
        return None


def _describe(device: Any) -> str:
    return f"serial={_serial(device)!s} port={port_path(device)!s}"


def find_reader(config: ScannerConfig, backend: Any) -> Any:
    """The one plugged-in `usb.core.Device` matching `config`, or a `ScannerError`."""
    ids = f"{config.vendor_id:04x}:{config.product_id:04x}"
    try:
        found = list(
            usb.core.find(
                find_all=True,
                backend=backend,
                idVendor=config.vendor_id,
                idProduct=config.product_id,
            )
        )
    except usb.core.NoBackendError as error:
        raise ScannerError(
            "no USB backend available; expected libusb-1.0 to be installed"
        ) from error
    if not found:
        raise ScannerNotFound(f"no USB device {ids} is plugged in (expected a barcode reader)")
    matches = [
        device
        for device in found
        if (config.port_path is None or port_path(device) == config.port_path)
        and (config.serial is None or _serial(device) == config.serial)
    ]
    if len(matches) != 1:
        described = ", ".join(_describe(device) for device in found)
        for device in found:
            usb.util.dispose_resources(device)
        if not matches:
            raise ScannerNotFound(
                f"no USB device {ids} has serial={config.serial} port={config.port_path};"
                f" plugged in: {described}"
            )
        raise AmbiguousScanner(
            f"{len(matches)} USB devices {ids} match; set serial or port_path to choose one"
            f" of: {described}"
        )
    chosen = matches[0]
    for device in found:
        if device is not chosen:
            usb.util.dispose_resources(device)
    return chosen
