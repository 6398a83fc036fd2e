"""One slot's light, whatever LEDs it has: one LED, an LED plus an alert LED, or an RGB LED.

Blinking is gpiozero's own `blink()`, which runs on gpiozero's background thread and stops by
itself when the light is next set, so nothing here keeps timers.
"""

from __future__ import annotations

from typing import Any, Protocol

from gpiozero import LED, RGBLED

from edge.drivers.lights.config import SlotConfig
from edge.drivers.lights.patterns import BlinkPattern, Colour

__all__ = ["SlotLight", "build_slot_light"]


class SlotLight(Protocol):
    """What the driver asks of a slot's light."""

    def steady(self, colour: Colour) -> None:
        """Light continuously in `colour` (as near as the LEDs can)."""

    def blink(self, pattern: BlinkPattern) -> None:
        """Blink `pattern` in the background, replacing whatever was shown."""

    def off(self) -> None:
        """Go dark."""

    def close(self) -> None:
        """Release the pins."""


class _SingleLight:
    """A slot with one LED: every colour is that LED."""

    def __init__(self, pin: str, pin_factory: Any) -> None:
        self._led = LED(pin, pin_factory=pin_factory)

    def steady(self, colour: Colour) -> None:
        self._led.on()

    def blink(self, pattern: BlinkPattern) -> None:
        self._led.blink(pattern.on_seconds, pattern.off_seconds, n=pattern.repeat)

    def off(self) -> None:
        self._led.off()

    def close(self) -> None:
        self._led.close()


class _TwoColourLight:
    """A slot with a normal LED and an alert LED: red and amber go to the alert LED."""

    def __init__(self, pin: str, alert_pin: str, pin_factory: Any) -> None:
        self._normal = LED(pin, pin_factory=pin_factory)
        self._alert = LED(alert_pin, pin_factory=pin_factory)

    def _pick(self, colour: Colour) -> tuple[Any, Any]:
        if colour.is_alert:
            return self._alert, self._normal
        return self._normal, self._alert

    def steady(self, colour: Colour) -> None:
        lit, dark = self._pick(colour)
        dark.off()
        lit.on()

    def blink(self, pattern: BlinkPattern) -> None:
        lit, dark = self._pick(pattern.colour)
        dark.off()
        lit.blink(pattern.on_seconds, pattern.off_seconds, n=pattern.repeat)

    def off(self) -> None:
        self._normal.off()
        self._alert.off()

    def close(self) -> None:
        self._normal.close()
        self._alert.close()


class _RgbLight:
    """A slot with an RGB LED on PWM pins."""

    def __init__(self, red: str, green: str, blue: str, pin_factory: Any) -> None:
        self._led = RGBLED(red, green, blue, pin_factory=pin_factory)

    def steady(self, colour: Colour) -> None:
        self._led.color = colour.rgb

    def blink(self, pattern: BlinkPattern) -> None:
        self._led.blink(
            pattern.on_seconds,
            pattern.off_seconds,
            on_color=pattern.colour.rgb,
            n=pattern.repeat,
        )

    def off(self) -> None:
        self._led.off()

    def close(self) -> None:
        self._led.close()


def build_slot_light(slot: SlotConfig, pin_factory: Any) -> SlotLight:
    """Claim the pins of one slot's light; `pin_factory=None` means gpiozero's default."""
    if slot.rgb is not None:
        return _RgbLight(slot.rgb.red, slot.rgb.green, slot.rgb.blue, pin_factory)
    assert slot.led is not None  # the config refuses a slot with neither
    if slot.alert_led is not None:
        return _TwoColourLight(slot.led, slot.alert_led, pin_factory)
    return _SingleLight(slot.led, pin_factory)
