"""What a keyboard-wedge scanner's firmware does: turn text into HID boot-keyboard reports.

A scanner "types" on the layout it was configured for. If that differs from the host's, the
host reads different characters, which is a real fault in the field; so the rig carries its own
layout tables, written from the scanner's side (character -> key), independent of the driver's
(key -> character), and the two only meet in the round-trip tests.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from firmware_sim.errors import SimError

__all__ = [
    "ENTER",
    "LAYOUTS",
    "LEFT_CTRL",
    "LEFT_SHIFT",
    "RELEASE_REPORT",
    "TAB",
    "UK",
    "US",
    "KeyStroke",
    "KeyboardLayout",
    "UntypableCharacter",
    "reports_for",
]

LEFT_CTRL = 0x01
LEFT_SHIFT = 0x02
RELEASE_REPORT = bytes(8)
ENTER = 0x28
TAB = 0x2B
_RIGHT_BRACKET = 0x30
_MAX_KEYS_PER_REPORT = 6


class UntypableCharacter(SimError, ValueError):
    """The layout has no key for a character the test asked the scanner to type."""


@dataclass(frozen=True)
class KeyStroke:
    """One key press: modifier bits and the HID usage id of the key."""

    modifiers: int
    usage: int


class KeyboardLayout:
    """Which key (and Shift or not) types each character on one national layout."""

    def __init__(self, name: str, keys: dict[int, tuple[str, str]]) -> None:
        self.name = name
        self._strokes: dict[str, KeyStroke] = {}
        for usage, (plain, shifted) in keys.items():
            self._strokes.setdefault(plain, KeyStroke(0, usage))
            self._strokes.setdefault(shifted, KeyStroke(LEFT_SHIFT, usage))

    def stroke_for(self, char: str) -> KeyStroke:
        """The key that types `char`, or `UntypableCharacter` naming the layout."""
        try:
            return self._strokes[char]
        except KeyError:
            raise UntypableCharacter(
                f"the {self.name} layout has no key for {char!r}; expected printable ASCII"
                " or a character of that layout"
            ) from None

    def group_separator_as_ctrl(self) -> KeyStroke:
        """Ctrl+] : how terminals and many scanners type the GS1 separator (0x1D)."""
        return KeyStroke(LEFT_CTRL, _RIGHT_BRACKET)


def _shared_keys() -> dict[int, tuple[str, str]]:
    keys = {0x04 + i: (c, c.upper()) for i, c in enumerate(string.ascii_lowercase)}
    keys.update({0x2C: (" ", " "), 0x2D: ("-", "_"), 0x2E: ("=", "+")})
    keys.update({0x2F: ("[", "{"), 0x30: ("]", "}"), 0x33: (";", ":")})
    keys.update({0x36: (",", "<"), 0x37: (".", ">"), 0x38: ("/", "?")})
    return keys


def _digit_row(shifted: str) -> dict[int, tuple[str, str]]:
    return {0x1E + i: (digit, shifted[i]) for i, digit in enumerate("1234567890")}


def _us_keys() -> dict[int, tuple[str, str]]:
    keys = _shared_keys() | _digit_row("!@#$%^&*()")
    keys.update({0x31: ("\\", "|"), 0x34: ("'", '"'), 0x35: ("`", "~")})
    return keys


def _uk_keys() -> dict[int, tuple[str, str]]:
    keys = _shared_keys() | _digit_row('!"£$%^&*()')
    keys.update({0x32: ("#", "~"), 0x34: ("'", "@"), 0x35: ("`", "¬"), 0x64: ("\\", "|")})
    return keys


US = KeyboardLayout("us", _us_keys())
UK = KeyboardLayout("uk", _uk_keys())
LAYOUTS: dict[str, KeyboardLayout] = {"us": US, "uk": UK}


def _press(strokes: Sequence[KeyStroke]) -> bytes:
    keys = [s.usage for s in strokes] + [0] * (_MAX_KEYS_PER_REPORT - len(strokes))
    return bytes([strokes[0].modifiers, 0, *keys])


def reports_for(strokes: Iterable[KeyStroke], keys_per_report: int = 1) -> list[bytes]:
    """Press-and-release reports for `strokes`, several keys per report when rollover allows.

    Keys share a report only when they need the same modifiers and are different keys, because
    a report lists the keys held at one instant: "aa" must be pressed, released and pressed again.
    """
    if not 1 <= keys_per_report <= _MAX_KEYS_PER_REPORT:
        raise SimError(f"keys_per_report is {keys_per_report}; a boot report holds 1 to 6 keys")
    reports: list[bytes] = []
    group: list[KeyStroke] = []
    for stroke in strokes:
        fits = (
            group
            and len(group) < keys_per_report
            and stroke.modifiers == group[0].modifiers
            and all(stroke.usage != held.usage for held in group)
        )
        if group and not fits:
            reports += [_press(group), RELEASE_REPORT]
            group = []
        group.append(stroke)
    if group:
        reports += [_press(group), RELEASE_REPORT]
    return reports
