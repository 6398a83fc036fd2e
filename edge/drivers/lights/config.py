"""The `[lights]` config section: which pin drives each slot's light and reads its button.

A pin wired to two devices is a fault that shows up only as a light that will not stay on or a
button that "presses itself", so the map is refused at start-up, naming the pin and both users,
whatever spelling each use gives it.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from edge.config import StrictConfig
from edge.drivers.lights.pins import GpioPin

__all__ = ["BuzzerConfig", "LightsConfig", "RgbPins", "SlotConfig"]


class RgbPins(StrictConfig):
    """The three channels of an RGB slot light (driven with PWM, so mixes such as amber work)."""

    red: GpioPin
    green: GpioPin
    blue: GpioPin


class SlotConfig(StrictConfig):
    """One slot: a button and either one LED (plus an optional alert LED) or an RGB LED."""

    button: GpioPin
    led: GpioPin | None = None
    alert_led: GpioPin | None = Field(
        default=None, description="second colour, lit instead of `led` for red/amber patterns"
    )
    rgb: RgbPins | None = None

    @model_validator(mode="after")
    def _one_kind_of_light(self) -> SlotConfig:
        if (self.led is None) == (self.rgb is None):
            raise ValueError("a slot needs exactly one of `led` or `rgb`")
        if self.alert_led is not None and self.led is None:
            raise ValueError("`alert_led` is the second colour of `led`; set `led` too")
        return self

    def pin_uses(self, slot: str) -> list[tuple[str, str]]:
        """Each pin this slot claims, beside the config path that claims it."""
        uses = [(self.button, f"slots.{slot}.button")]
        if self.led is not None:
            uses.append((self.led, f"slots.{slot}.led"))
        if self.alert_led is not None:
            uses.append((self.alert_led, f"slots.{slot}.alert_led"))
        if self.rgb is not None:
            uses += [
                (self.rgb.red, f"slots.{slot}.rgb.red"),
                (self.rgb.green, f"slots.{slot}.rgb.green"),
                (self.rgb.blue, f"slots.{slot}.rgb.blue"),
            ]
        return uses


class BuzzerConfig(StrictConfig):
    """The station buzzer; a tonal one (PWM pin) can play chimes, a plain one only beeps."""

    pin: GpioPin
    tonal: bool = True


class LightsConfig(StrictConfig):
    """Every GPIO the station's pick-to-light uses, with the button timing.

    Buttons are wired from the pin to ground and use the Pi's internal pull-up; LEDs and the
    buzzer are active high. `debounce_ms` is how long a contact must stay put to count (20-50 ms
    suits most switches); a press held `long_press_ms` or longer is a long press.
    """

    slots: dict[str, SlotConfig] = Field(min_length=1)
    confirm_button: GpioPin
    shortage_button: GpioPin
    buzzer: BuzzerConfig | None = None
    debounce_ms: int = Field(default=30, ge=1, le=500)
    long_press_ms: int = Field(default=1000, ge=100, le=10_000)

    @model_validator(mode="after")
    def _each_pin_used_once(self) -> LightsConfig:
        first_user: dict[str, str] = {}
        for pin, user in self.pin_uses():
            if pin in first_user:
                raise ValueError(
                    f"pin {pin} is used twice: by {first_user[pin]} and by {user}; "
                    "expected each pin to drive or read one thing"
                )
            first_user[pin] = user
        return self

    @model_validator(mode="after")
    def _long_press_outlasts_debounce(self) -> LightsConfig:
        if self.long_press_ms <= self.debounce_ms:
            raise ValueError(
                f"long_press_ms ({self.long_press_ms}) must be longer than "
                f"debounce_ms ({self.debounce_ms})"
            )
        return self

    def pin_uses(self) -> list[tuple[str, str]]:
        """Every pin claimed, beside the config path that claims it, in config order."""
        uses: list[tuple[str, str]] = []
        for name, slot in self.slots.items():
            uses += slot.pin_uses(name)
        uses.append((self.confirm_button, "confirm_button"))
        uses.append((self.shortage_button, "shortage_button"))
        if self.buzzer is not None:
            uses.append((self.buzzer.pin, "buzzer.pin"))
        return uses
