"""Decode 8-byte HID boot-keyboard reports into the characters a scanner typed.

A report lists the keys held at one instant, so a key is typed when it first appears; several
keys can appear at once (rollover), in the order the report lists them. Ctrl turns a key into
its ASCII control character, which is how Ctrl+] delivers the GS1 separator (0x1D). Anything a
boot keyboard would not send raises `BadReport` naming the byte at fault.
"""

from __future__ import annotations

from edge.drivers.scanner.errors import BadReport
from edge.drivers.scanner.keymaps import KeyMap

__all__ = ["REPORT_LENGTH", "ReportDecoder"]

REPORT_LENGTH = 8
_CTRL = 0x01 | 0x10
_SHIFT = 0x02 | 0x20
_ALT_OR_GUI = 0x04 | 0x08 | 0x40 | 0x80
_KEYBOARD_ERRORS = {0x01: "rollover error", 0x02: "POST failure", 0x03: "undefined error"}


def _control_character(char: str) -> str | None:
    """ASCII's Ctrl mapping: Ctrl+] is GS (0x1D), Ctrl+A is SOH, and so on."""
    code = ord(char.upper())
    if 0x40 <= code <= 0x5F:
        return chr(code & 0x1F)
    return None


class ReportDecoder:
    """Turns successive reports from one keyboard into newly typed characters."""

    def __init__(self, keymap: KeyMap) -> None:
        self._keymap = keymap
        self._held: frozenset[int] = frozenset()

    def reset(self) -> None:
        """Forget held keys, e.g. after the device was replugged."""
        self._held = frozenset()

    def decode(self, report: bytes) -> str:
        """The characters typed by `report` (empty for releases and modifier-only reports)."""
        if len(report) != REPORT_LENGTH:
            raise BadReport(
                f"HID report {report.hex(' ')} is {len(report)} bytes;"
                f" a boot keyboard report is {REPORT_LENGTH}"
            )
        modifiers, pressed = report[0], [usage for usage in report[2:] if usage]
        for usage in pressed:
            if usage in _KEYBOARD_ERRORS:
                raise BadReport(
                    f"HID report {report.hex(' ')} signals a keyboard "
                    f"{_KEYBOARD_ERRORS[usage]} instead of keys"
                )
        if len(set(pressed)) != len(pressed):
            raise BadReport(f"HID report {report.hex(' ')} lists the same key twice")
        new_keys = [usage for usage in pressed if usage not in self._held]
        self._held = frozenset(pressed)
        if new_keys and modifiers & _ALT_OR_GUI:
            raise BadReport(
                f"HID report {report.hex(' ')} holds Alt, AltGr or GUI (modifiers"
                f" 0x{modifiers:02x}); a scanner sends only Shift and Ctrl"
            )
        return "".join(self._char(usage, modifiers, report) for usage in new_keys)

    def _char(self, usage: int, modifiers: int, report: bytes) -> str:
        char = self._keymap.char_for(usage, shift=bool(modifiers & _SHIFT))
        if char is None:
            raise BadReport(
                f"HID report {report.hex(' ')}: usage 0x{usage:02x} is not a key of the"
                f" {self._keymap.name} layout"
            )
        if not modifiers & _CTRL:
            return char
        control = _control_character(char)
        if control is None:
            raise BadReport(
                f"HID report {report.hex(' ')}: Ctrl+{char!r} has no control character;"
                " expected Ctrl with a letter or one of @[\\]^_"
            )
        return control
