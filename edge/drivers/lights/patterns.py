"""The named light patterns and buzzer signals a packer learns to read.

Colours follow IEC 60073 (blue: action needed, green: normal, red: fault, amber: abnormal) and
are always paired with a rhythm, so a packer who cannot tell red from green can still tell a
wrong slot (2 Hz) from a pick (1 Hz). No pattern may flash faster than 3 Hz (WCAG 2.3.1); that
limit is enforced when a pattern is built, so a faster one cannot reach a pin.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from edge.drivers.lights.errors import PatternTooFastError

__all__ = [
    "MAX_BLINK_HZ",
    "PATTERNS",
    "SIGNALS",
    "BlinkPattern",
    "BuzzerSignal",
    "Colour",
    "PatternName",
    "SignalName",
]

MAX_BLINK_HZ = 3.0
_HZ_SLACK = 1e-9  # so 1/6 s on + 1/6 s off (exactly 3 Hz in decimal) is not refused by rounding


class Colour(StrEnum):
    """What a slot shows; a slot without colour pins lights its one LED whatever the colour."""

    WHITE = "white"
    BLUE = "blue"
    GREEN = "green"
    RED = "red"
    AMBER = "amber"

    @property
    def rgb(self) -> tuple[float, float, float]:
        """The colour as gpiozero `RGBLED` values (0 to 1 per channel)."""
        return _RGB[self]

    @property
    def is_alert(self) -> bool:
        """True for fault and abnormal colours, which a two-colour slot shows on its alert LED."""
        return self in {Colour.RED, Colour.AMBER}


_RGB: dict[Colour, tuple[float, float, float]] = {
    Colour.WHITE: (1.0, 1.0, 1.0),
    Colour.BLUE: (0.0, 0.0, 1.0),
    Colour.GREEN: (0.0, 1.0, 0.0),
    Colour.RED: (1.0, 0.0, 0.0),
    Colour.AMBER: (1.0, 0.5, 0.0),
}


@dataclass(frozen=True)
class BlinkPattern:
    """A blink rhythm in one colour; `repeat=None` blinks until the slot is told otherwise."""

    name: str
    colour: Colour
    on_seconds: float
    off_seconds: float
    repeat: int | None = None

    def __post_init__(self) -> None:
        if self.on_seconds <= 0 or self.off_seconds <= 0:
            raise ValueError(
                f"pattern {self.name!r}: on and off times must be positive, "
                f"got on={self.on_seconds} s, off={self.off_seconds} s"
            )
        if self.repeat is not None and self.repeat < 1:
            raise ValueError(f"pattern {self.name!r}: repeat must be at least 1 or None")
        if self.frequency_hz > MAX_BLINK_HZ + _HZ_SLACK:
            raise PatternTooFastError(
                f"pattern {self.name!r} blinks at {self.frequency_hz:.2f} Hz; "
                f"expected at most {MAX_BLINK_HZ:g} Hz"
            )

    @property
    def frequency_hz(self) -> float:
        """Flashes per second."""
        return 1.0 / (self.on_seconds + self.off_seconds)


class PatternName(StrEnum):
    """The patterns the station asks for by name."""

    PICK = "pick"
    WRONG_SLOT = "wrong_slot"
    DONE = "done"
    ERROR = "error"
    SHORTAGE = "shortage"
    OFFLINE = "offline"


PATTERNS: dict[PatternName, BlinkPattern] = {
    # Attention, about 1 Hz: take from this slot.
    PatternName.PICK: BlinkPattern("pick", Colour.BLUE, 0.5, 0.5),
    # A press on a slot that is not lit: faster and red, until the station clears it.
    PatternName.WRONG_SLOT: BlinkPattern("wrong_slot", Colour.RED, 0.25, 0.25),
    # Confirmed: three green flashes, then dark.
    PatternName.DONE: BlinkPattern("done", Colour.GREEN, 0.3, 0.3, repeat=3),
    # A fault at this slot: the fastest rhythm allowed.
    PatternName.ERROR: BlinkPattern("error", Colour.RED, 0.17, 0.17),
    # Short-picked, waiting for a supervisor: long amber flashes.
    PatternName.SHORTAGE: BlinkPattern("shortage", Colour.AMBER, 0.75, 0.25),
    # The station lost the bridge: a brief white flash each second.
    PatternName.OFFLINE: BlinkPattern("offline", Colour.WHITE, 0.15, 0.85),
}


@dataclass(frozen=True)
class BuzzerSignal:
    """A short tune: one step per `step_seconds`, each a tone or `None` for silence.

    Tones are `TonalBuzzer` values: 0 is A4 (440 Hz), -1 and 1 an octave below and above. A plain
    buzzer sounds every non-silent step at its one pitch.
    """

    name: str
    step_seconds: float
    steps: tuple[float | None, ...]

    def __post_init__(self) -> None:
        if self.step_seconds <= 0:
            raise ValueError(f"signal {self.name!r}: step_seconds must be positive")
        if not self.steps or self.steps[-1] is not None:
            raise ValueError(f"signal {self.name!r}: must end with a silent step (None)")
        for step in self.steps:
            if step is not None and not -1.0 <= step <= 1.0:
                raise ValueError(f"signal {self.name!r}: tone {step} is outside -1..1")

    @property
    def duration_seconds(self) -> float:
        """How long the signal takes to play out."""
        return self.step_seconds * len(self.steps)


class SignalName(StrEnum):
    """The buzzer signals the station asks for by name."""

    DONE = "done"
    WRONG_SLOT = "wrong_slot"
    ERROR = "error"


_E5 = 7 / 12  # seven semitones above A4
_A5 = 1.0

SIGNALS: dict[SignalName, BuzzerSignal] = {
    # A rising chime: finished, nothing to do.
    SignalName.DONE: BuzzerSignal("done", 0.12, (0.0, _E5, _A5, None)),
    # Two low buzzes: not this slot.
    SignalName.WRONG_SLOT: BuzzerSignal("wrong_slot", 0.15, (-0.5, None, -0.5, None)),
    # Three high buzzes: something needs a person.
    SignalName.ERROR: BuzzerSignal("error", 0.17, (_A5, None, _A5, None, _A5, None)),
}
