"""A keyboard-wedge barcode reader on the simulated bus, configured like a real one.

The options mirror what a scanner's programming sheet offers and what goes wrong in the field:
the keyboard layout it types on, the key that ends a scan (Enter or Tab), how it sends the GS1
group separator (Ctrl+] or a stand-in character), whether it prefixes the AIM symbology
identifier, and how many keys it packs into one report. `inject_report` sends raw bytes as
they are, for the garbage a flaky cable produces.
"""

from __future__ import annotations

import re
from typing import Literal

from firmware_sim.errors import SimError
from firmware_sim.usb.device import (
    EndpointSpec,
    InterfaceSpec,
    SimulatedUsbDevice,
    TransferType,
)
from firmware_sim.usb.keyboard import ENTER, LAYOUTS, TAB, KeyStroke, reports_for

__all__ = ["CTRL_RIGHT_BRACKET", "HID_REPORT_ENDPOINT", "SimulatedHidScanner"]

CTRL_RIGHT_BRACKET = "ctrl+]"
HID_REPORT_ENDPOINT = 0x81
GROUP_SEPARATOR = "\x1d"
_HID_CLASS, _BOOT_SUBCLASS, _KEYBOARD_PROTOCOL = 3, 1, 1
_SET_REPORT, _SET_IDLE, _SET_PROTOCOL, _GET_PROTOCOL = 0x09, 0x0A, 0x0B, 0x03
_AIM_IDENTIFIER = re.compile(r"\][A-Za-z][0-9A-Za-z]")
_HID_COUNTRY = {"us": 33, "uk": 32}


def _hid_class_descriptor(layout: str) -> bytes:
    """The HID descriptor that follows the interface descriptor (bcdHID 1.11, one report)."""
    return bytes([9, 0x21, 0x11, 0x01, _HID_COUNTRY[layout], 1, 0x22, 63, 0])


class SimulatedHidScanner(SimulatedUsbDevice):
    """A USB HID boot-keyboard barcode reader with interrupt IN endpoint 0x81."""

    def __init__(
        self,
        *,
        serial: str | None = "SIM0001",
        port_numbers: tuple[int, ...] = (1,),
        bus: int = 1,
        vendor_id: int = 0x05E0,
        product_id: int = 0x1200,
        layout: Literal["us", "uk"] = "us",
        terminator: Literal["enter", "tab"] = "enter",
        gs1_separator: str = CTRL_RIGHT_BRACKET,
        send_symbology_id: bool = True,
        keys_per_report: int = 1,
    ) -> None:
        if layout not in LAYOUTS:
            raise SimError(f"layout {layout!r} is unknown; expected one of {sorted(LAYOUTS)}")
        if gs1_separator != CTRL_RIGHT_BRACKET and len(gs1_separator) != 1:
            raise SimError(
                f"gs1_separator {gs1_separator!r}: expected {CTRL_RIGHT_BRACKET!r}"
                " or one stand-in character such as '|'"
            )
        interface = InterfaceSpec(
            number=0,
            interface_class=_HID_CLASS,
            subclass=_BOOT_SUBCLASS,
            protocol=_KEYBOARD_PROTOCOL,
            endpoints=(EndpointSpec(HID_REPORT_ENDPOINT, TransferType.INTERRUPT, 8, 1),),
            extra=_hid_class_descriptor(layout),
        )
        super().__init__(
            vendor_id=vendor_id,
            product_id=product_id,
            interfaces=(interface,),
            manufacturer="Simulated Scanners Ltd",
            product="Simulated HID barcode reader",
            serial=serial,
            bus=bus,
            port_numbers=port_numbers,
        )
        self.layout = LAYOUTS[layout]
        self.terminator = terminator
        self.gs1_separator = gs1_separator
        self.send_symbology_id = send_symbology_id
        self.keys_per_report = keys_per_report
        self.boot_protocol = True
        self.leds = 0

    def describe(self) -> str:
        return f"simulated HID scanner {self.vendor_id:04x}:{self.product_id:04x}"

    def reports_for_scan(self, text: str, *, symbology: str | None = None) -> list[bytes]:
        """The reports `scan` would send, for benchmarks that time their own injection."""
        typed = text
        if symbology is not None:
            if not _AIM_IDENTIFIER.fullmatch(symbology):
                raise SimError(
                    f"symbology {symbology!r} is not an AIM identifier; expected e.g. ']C1'"
                )
            if self.send_symbology_id:
                typed = symbology + text
        strokes = [self._stroke(char) for char in typed]
        strokes.append(KeyStroke(0, ENTER if self.terminator == "enter" else TAB))
        return reports_for(strokes, self.keys_per_report)

    def scan(self, text: str, *, symbology: str | None = None) -> None:
        """Type one barcode: AIM prefix (if enabled), the data, then the terminator key."""
        self.queue_in(HID_REPORT_ENDPOINT, *self.reports_for_scan(text, symbology=symbology))

    def inject_report(self, report: bytes) -> None:
        """Send `report` exactly as given: wrong lengths and undefined usages included."""
        self.queue_in(HID_REPORT_ENDPOINT, report)

    def _stroke(self, char: str) -> KeyStroke:
        if char == GROUP_SEPARATOR:
            if self.gs1_separator == CTRL_RIGHT_BRACKET:
                return self.layout.group_separator_as_ctrl()
            return self.layout.stroke_for(self.gs1_separator)
        return self.layout.stroke_for(char)

    def class_request_out(
        self, request_type: int, request: int, value: int, index: int, data: bytes
    ) -> None:
        """Accept what hosts send a boot keyboard: LED state, idle rate and protocol."""
        if request == _SET_REPORT:
            self.leds = data[0] if data else 0
        elif request == _SET_PROTOCOL:
            self.boot_protocol = value == 0
        elif request != _SET_IDLE:
            super().class_request_out(request_type, request, value, index, data)

    def class_request_in(
        self, request_type: int, request: int, value: int, index: int, length: int
    ) -> bytes:
        if request == _GET_PROTOCOL:
            return bytes([0 if self.boot_protocol else 1])
        return super().class_request_in(request_type, request, value, index, length)
