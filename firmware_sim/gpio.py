"""The GPIO side of the simulated rig: gpiozero's mock pins, plus a packer's hands and eyes.

The driver under test gets `rig.factory` as its `pin_factory` and otherwise runs unchanged. The
rig then presses buttons the way real switches do (with contact bounce), and reads back what each
light did over time from the mock pins' own `(interval, state)` records, so a test can say
"slot 3 blinks at about 2 Hz" without polling or timing anything itself.

Two gpiozero quirks shape it: `close()` on a device does not release mock pins (gpiozero #1087),
and mock factories have shared pin state between instances (#915), so each rig owns one factory
and `reset()` clears it between tests.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from types import TracebackType
from typing import Any, Self

from gpiozero.pins.mock import MockFactory, MockPin, MockPWMPin

from firmware_sim.errors import SimError

__all__ = ["GpioRig", "GpioRigError", "LightWatch", "ObservedBlink"]


class GpioRigError(SimError, ValueError):
    """The rig was asked to do something a packer could not, such as press an LED."""


@dataclass(frozen=True)
class ObservedBlink:
    """A light's rhythm as recorded on its pins; `None` where too few flashes were seen.

    `frequency_hz` comes from the spacing of the first and last switch-on, so a single late
    wake-up of gpiozero's blink thread barely moves it; on and off times are medians.
    """

    flashes: int
    frequency_hz: float | None
    on_seconds: float | None
    off_seconds: float | None
    lit_at_end: bool


class LightWatch:
    """Records the pins of one light from now on; "lit" means any of its pins is above zero.

    Several pins (an RGB LED's channels, or an LED and its alert LED) are merged into one
    timeline, because to a packer they are one light.
    """

    def __init__(self, pins: Sequence[MockPin]) -> None:
        if not pins:
            raise GpioRigError("a light watch needs at least one pin")
        self._pins = tuple(pins)
        self._cleared_at: list[float] = []
        for pin in self._pins:
            # Read the clock before clearing: the pin stamps its own start inside clear_states,
            # so a time read after it would put every reconstructed change slightly late.
            self._cleared_at.append(time.monotonic())
            pin.clear_states()
        self.started_at = min(self._cleared_at)

    def changes(self) -> list[tuple[float, bool]]:
        """Every change of "lit" since the watch began, as (monotonic time, lit)."""
        stamped: list[tuple[float, int, float]] = []
        for index, (pin, cleared_at) in enumerate(zip(self._pins, self._cleared_at, strict=True)):
            at = cleared_at
            for interval, state in list(pin.states)[1:]:
                at += interval
                stamped.append((at, index, float(state)))
        stamped.sort()
        levels = [float(pin.states[0].state) for pin in self._pins]
        lit = any(level > 0 for level in levels)
        changes: list[tuple[float, bool]] = []
        for at, index, level in stamped:
            levels[index] = level
            now_lit = any(value > 0 for value in levels)
            if now_lit != lit:
                changes.append((at, now_lit))
                lit = now_lit
        return changes

    def first_change_at(self) -> float | None:
        """Monotonic time of the first change of "lit", or None if there was none."""
        changes = self.changes()
        return changes[0][0] if changes else None

    def observed(self) -> ObservedBlink:
        """Summarise the rhythm seen so far."""
        changes = self.changes()
        rises = [at for at, lit in changes if lit]
        on_times: list[float] = []
        off_times: list[float] = []
        for (at, lit), (next_at, _next_lit) in pairwise(changes):
            (on_times if lit else off_times).append(next_at - at)
        frequency = (len(rises) - 1) / (rises[-1] - rises[0]) if len(rises) >= 2 else None
        return ObservedBlink(
            flashes=len(rises),
            frequency_hz=frequency,
            on_seconds=statistics.median(on_times) if on_times else None,
            off_seconds=statistics.median(off_times) if off_times else None,
            lit_at_end=any(float(pin.state) > 0 for pin in self._pins),
        )


class GpioRig:
    """A mock pin factory with helpers to press buttons and watch lights.

    Pins are PWM-capable by default, because RGB LEDs and tonal buzzers need PWM. Press and
    release block the calling thread while they act (the mock runs gpiozero's callbacks on it),
    so async tests call them through `asyncio.to_thread`, just as a real pin's events arrive on a
    thread that is not the loop's.
    """

    def __init__(self, *, pwm: bool = True, bounce_interval: float = 0.001) -> None:
        self.factory: Any = MockFactory(pin_class=MockPWMPin if pwm else MockPin)
        self.bounce_interval = bounce_interval

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every pin and reservation (device `close()` alone leaves mock pins claimed)."""
        self.factory.reset()

    def pin(self, name: int | str) -> Any:
        """The mock pin behind `name`, in any spelling gpiozero accepts."""
        return self.factory.pin(name)

    def press(self, name: int | str, *, bounce: int = 0) -> None:
        """Close the switch (drive the pin low), after `bounce` brief false contacts."""
        pin = self._button_pin(name)
        self._chatter(pin, bounce)
        pin.drive_low()

    def release(self, name: int | str, *, bounce: int = 0) -> None:
        """Open the switch (let the pin go high), after `bounce` brief re-contacts."""
        pin = self._button_pin(name)
        for _ in range(bounce):
            pin.drive_high()
            time.sleep(self.bounce_interval)
            pin.drive_low()
            time.sleep(self.bounce_interval)
        pin.drive_high()

    def tap(self, name: int | str, *, seconds: float = 0.15, bounce: int = 0) -> None:
        """A short press: press, wait `seconds`, release, bouncing both ways."""
        self.press(name, bounce=bounce)
        time.sleep(seconds)
        self.release(name, bounce=bounce)

    def hold(self, name: int | str, seconds: float, *, bounce: int = 0) -> None:
        """Keep the button down for `seconds`, then let go."""
        self.tap(name, seconds=seconds, bounce=bounce)

    def is_lit(self, *names: int | str) -> bool:
        """Whether the light on these pins is on right now."""
        return any(float(self.pin(name).state) > 0 for name in names)

    def tone_hz(self, name: int | str) -> float | None:
        """The frequency a buzzer pin is sounding, or None when silent."""
        frequency = self.pin(name).frequency
        return None if frequency is None or float(self.pin(name).state) == 0 else float(frequency)

    def watch(self, *names: int | str) -> LightWatch:
        """Start recording the light on these pins (several pins merge into one light)."""
        return LightWatch([self.pin(name) for name in names])

    def _button_pin(self, name: int | str) -> Any:
        pin = self.pin(name)
        if pin.function != "input":
            raise GpioRigError(
                f"pin {pin.info.name} is an {pin.function}; expected a button's input pin"
            )
        return pin

    def _chatter(self, pin: Any, bounce: int) -> None:
        for _ in range(bounce):
            pin.drive_low()
            time.sleep(self.bounce_interval)
            pin.drive_high()
            time.sleep(self.bounce_interval)
