"""What a button press means to the station, once debounced and timed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ButtonEvent", "ButtonRole", "PressKind"]


class ButtonRole(StrEnum):
    """Which button was pressed."""

    SLOT = "slot"
    CONFIRM = "confirm"
    SHORTAGE = "shortage"


class PressKind(StrEnum):
    """A short tap or a deliberate long hold (held at least `long_press_ms`)."""

    SHORT = "short"
    LONG = "long"


@dataclass(frozen=True)
class ButtonEvent:
    """One completed press, delivered when the button is released.

    `slot` names the slot for `ButtonRole.SLOT` and is `None` otherwise. Counting a press on
    release, not on contact, is what lets a long hold be told apart from a tap.
    """

    role: ButtonRole
    press: PressKind
    held_seconds: float
    slot: str | None = None
