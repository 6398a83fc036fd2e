"""The station buzzer, playing named signals on gpiozero's background source thread.

A tune is fed to the device's `source` with `source_delay` as the step length, so gpiozero's own
thread plays it and a new signal simply replaces the old one.
"""

from __future__ import annotations

from typing import Any

from gpiozero import Buzzer, TonalBuzzer

from edge.drivers.lights.config import BuzzerConfig
from edge.drivers.lights.patterns import BuzzerSignal

__all__ = ["StationBuzzer"]


class StationBuzzer:
    """A tonal buzzer (needs a PWM-capable pin factory) or a plain on/off one."""

    def __init__(self, config: BuzzerConfig, pin_factory: Any) -> None:
        self._tonal = config.tonal
        self._device: Any = (
            TonalBuzzer(config.pin, pin_factory=pin_factory)
            if config.tonal
            else Buzzer(config.pin, pin_factory=pin_factory)
        )

    def play(self, signal: BuzzerSignal) -> None:
        """Start `signal` in the background, cutting off any signal still playing."""
        steps: list[float | bool | None] = (
            list(signal.steps) if self._tonal else [step is not None for step in signal.steps]
        )
        self._device.source_delay = signal.step_seconds
        self._device.source = iter(steps)

    def silence(self) -> None:
        """Stop any signal now."""
        self._device.source = None
        if self._tonal:
            self._device.stop()
        else:
            self._device.off()

    def close(self) -> None:
        """Release the pin."""
        self._device.close()
