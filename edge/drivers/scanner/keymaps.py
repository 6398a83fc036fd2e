"""Pure-Python keymaps: which character a HID key usage types on each national layout.

Decoding on the Pi needs no X server and no per-machine keyboard setting: the layout is part of
each reader's configuration, because it is a property of how the scanner was programmed.
"""

from __future__ import annotations

import string
from typing import Literal

__all__ = ["ENTER", "KEYPAD_ENTER", "TAB", "KeyMap", "LayoutName", "keymap_for"]

LayoutName = Literal["us", "uk"]

ENTER = 0x28
TAB = 0x2B
KEYPAD_ENTER = 0x58


def _letters() -> dict[int, tuple[str, str]]:
    return {0x04 + i: (c, c.upper()) for i, c in enumerate(string.ascii_lowercase)}


def _digits(shifted: str) -> dict[int, tuple[str, str]]:
    return {usage: (digit, shifted[i]) for i, (usage, digit) in enumerate(_DIGIT_KEYS)}


_DIGIT_KEYS = list(zip(range(0x1E, 0x28), "1234567890", strict=True))

_COMMON_PUNCTUATION: dict[int, tuple[str, str]] = {
    ENTER: ("\r", "\r"),
    TAB: ("\t", "\t"),
    0x2C: (" ", " "),
    0x2D: ("-", "_"),
    0x2E: ("=", "+"),
    0x2F: ("[", "{"),
    0x30: ("]", "}"),
    0x33: (";", ":"),
    0x36: (",", "<"),
    0x37: (".", ">"),
    0x38: ("/", "?"),
}

# Scanners in keypad mode type digits on the numeric keypad (Num Lock assumed on).
_KEYPAD: dict[int, tuple[str, str]] = {
    0x54: ("/", "/"),
    0x55: ("*", "*"),
    0x56: ("-", "-"),
    0x57: ("+", "+"),
    KEYPAD_ENTER: ("\r", "\r"),
    **{0x59 + i: (d, d) for i, d in enumerate("123456789")},
    0x62: ("0", "0"),
    0x63: (".", "."),
}

_US: dict[int, tuple[str, str]] = {
    **_letters(),
    **_digits("!@#$%^&*()"),
    **_COMMON_PUNCTUATION,
    **_KEYPAD,
    0x31: ("\\", "|"),
    0x32: ("\\", "|"),  # the ISO hash key reads as backslash on a US layout
    0x34: ("'", '"'),
    0x35: ("`", "~"),
}

_UK: dict[int, tuple[str, str]] = {
    **_letters(),
    **_digits('!"£$%^&*()'),
    **_COMMON_PUNCTUATION,
    **_KEYPAD,
    0x31: ("#", "~"),  # hosts treat the ANSI backslash usage as the same key as 0x32
    0x32: ("#", "~"),
    0x34: ("'", "@"),
    0x35: ("`", "¬"),
    0x64: ("\\", "|"),
}


class KeyMap:
    """Characters typed by each usage, without and with Shift, on one layout."""

    def __init__(self, name: LayoutName, table: dict[int, tuple[str, str]]) -> None:
        self.name = name
        self._table = table

    def char_for(self, usage: int, *, shift: bool) -> str | None:
        """The character `usage` types, or None when the layout has no such key."""
        pair = self._table.get(usage)
        if pair is None:
            return None
        return pair[1] if shift else pair[0]


_KEYMAPS: dict[LayoutName, KeyMap] = {"us": KeyMap("us", _US), "uk": KeyMap("uk", _UK)}


def keymap_for(layout: LayoutName) -> KeyMap:
    """The keymap for a configured layout name."""
    return _KEYMAPS[layout]
