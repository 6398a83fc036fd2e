"""Pick-to-light: slot lights and buttons, confirm and shortage buttons, and the buzzer, on GPIO.

`StationLights` is the driver; `LightsConfig` is its `[lights]` config section. Pass gpiozero a
`pin_factory` to choose the pins: None for the Pi's own, a mock factory for the simulated rig.
"""

from __future__ import annotations

from edge.drivers.lights.config import BuzzerConfig, LightsConfig, RgbPins, SlotConfig
from edge.drivers.lights.errors import (
    LightsAlreadyStartedError,
    LightsError,
    LightsNotStartedError,
    PatternTooFastError,
    UnknownSlotError,
)
from edge.drivers.lights.events import ButtonEvent, ButtonRole, PressKind
from edge.drivers.lights.patterns import (
    MAX_BLINK_HZ,
    PATTERNS,
    SIGNALS,
    BlinkPattern,
    BuzzerSignal,
    Colour,
    PatternName,
    SignalName,
)
from edge.drivers.lights.pins import GpioPin, normalise_pin
from edge.drivers.lights.station_lights import SlotState, StationLights

__all__ = [
    "MAX_BLINK_HZ",
    "PATTERNS",
    "SIGNALS",
    "BlinkPattern",
    "ButtonEvent",
    "ButtonRole",
    "BuzzerConfig",
    "BuzzerSignal",
    "Colour",
    "GpioPin",
    "LightsAlreadyStartedError",
    "LightsConfig",
    "LightsError",
    "LightsNotStartedError",
    "PatternName",
    "PatternTooFastError",
    "PressKind",
    "RgbPins",
    "SignalName",
    "SlotConfig",
    "SlotState",
    "StationLights",
    "UnknownSlotError",
    "normalise_pin",
]
