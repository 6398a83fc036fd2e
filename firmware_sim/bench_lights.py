"""Slot-on latency: from the driver call to the mock pin changing, beside a bare gpiozero LED.

Both are read from the pin's own change record rather than from when the call returned, so what
is measured is how soon the light is really on. The baseline is gpiozero's `LED.on()` on a pin of
the same mock factory, so the ratio shows what the driver adds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from gpiozero import LED

from edge.drivers.lights import LightsConfig, StationLights
from firmware_sim.errors import SimError
from firmware_sim.gpio import GpioRig

__all__ = ["measure_light_latency"]

_SLOT_LED = "GPIO17"
_BASELINE_LED = "GPIO4"
_CONFIG = LightsConfig.model_validate(
    {
        "slots": {"bench": {"led": _SLOT_LED, "button": "GPIO27"}},
        "confirm_button": "GPIO23",
        "shortage_button": "GPIO24",
    }
)


def _latency(rig: GpioRig, pin: str, switch_on: Callable[[], None]) -> float:
    watch = rig.watch(pin)
    called_at = time.monotonic()
    switch_on()
    changed_at = watch.first_change_at()
    if changed_at is None:
        raise SimError(f"pin {pin} did not change after it was switched on")
    return max(0.0, changed_at - called_at)


async def _measure(rounds: int) -> tuple[list[float], list[float]]:
    driver: list[float] = []
    baseline: list[float] = []
    with GpioRig() as rig:
        bare = LED(_BASELINE_LED, pin_factory=rig.factory)
        try:
            async with StationLights(_CONFIG, pin_factory=rig.factory) as lights:
                for _ in range(rounds):
                    lights.off("bench")
                    driver.append(_latency(rig, _SLOT_LED, lambda: lights.on("bench")))
                    bare.off()
                    baseline.append(_latency(rig, _BASELINE_LED, bare.on))
        finally:
            bare.close()
    return driver, baseline


def measure_light_latency(rounds: int) -> tuple[list[float], list[float]]:
    """Return (driver, baseline) latencies in seconds, one of each per round, interleaved."""
    return asyncio.run(_measure(rounds))
