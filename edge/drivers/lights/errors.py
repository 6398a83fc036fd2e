"""Pick-to-light errors: each names the slot, pin or pattern at fault and what was expected."""

from __future__ import annotations

from edge.errors import EdgeError

__all__ = [
    "LightsAlreadyStartedError",
    "LightsError",
    "LightsNotStartedError",
    "PatternTooFastError",
    "UnknownSlotError",
]


class LightsError(EdgeError):
    """Base of all pick-to-light errors."""


class PatternTooFastError(LightsError, ValueError):
    """A blink pattern flashes faster than 3 Hz, the limit for lights that are safe to look at."""


class UnknownSlotError(LightsError, LookupError):
    """A slot name that the station's slot map does not contain."""


class LightsNotStartedError(LightsError, RuntimeError):
    """The lights were used outside `async with`, so no pins are claimed and no loop is bound."""


class LightsAlreadyStartedError(LightsError, RuntimeError):
    """`async with` was entered twice at once; the pins can only be claimed once."""
