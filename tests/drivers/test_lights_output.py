"""Slot lights as a packer sees them, read back from the simulated rig's pins.

Blink timing comes from gpiozero's background thread on a possibly loaded machine, so rhythms
are checked within a generous tolerance and waits poll for behaviour with long timeouts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from edge.drivers.lights import (
    MAX_BLINK_HZ,
    PATTERNS,
    BlinkPattern,
    Colour,
    LightsConfig,
    LightsNotStartedError,
    PatternName,
    PatternTooFastError,
    SignalName,
    StationLights,
    UnknownSlotError,
)
from firmware_sim.gpio import GpioRig, LightWatch

MONO = ("GPIO17",)
RGB = ("GPIO5", "GPIO6", "GPIO13")
TWO_COLOUR = ("GPIO16", "GPIO20")
BUZZER = "GPIO18"
FREQUENCY_TOLERANCE = 0.25
WAIT_LIMIT_SECONDS = 15.0

CONFIG = LightsConfig.model_validate(
    {
        "slots": {
            "mono": {"led": MONO[0], "button": 27},
            "rgb": {"rgb": dict(zip(("red", "green", "blue"), RGB, strict=True)), "button": 22},
            "two": {"led": TWO_COLOUR[0], "alert_led": TWO_COLOUR[1], "button": 21},
        },
        "confirm_button": 23,
        "shortage_button": 24,
        "buzzer": {"pin": BUZZER},
    }
)


@pytest.fixture
def rig() -> Iterator[GpioRig]:
    with GpioRig() as rig:
        yield rig


@pytest.fixture
async def lights(rig: GpioRig) -> AsyncIterator[StationLights]:
    async with StationLights(CONFIG, pin_factory=rig.factory) as lights:
        yield lights


async def eventually(condition: Callable[[], bool]) -> None:
    """Poll the pins (they have no event to wait on) until `condition` holds."""
    async with asyncio.timeout(WAIT_LIMIT_SECONDS):
        while True:
            if condition():
                return
            await asyncio.sleep(0.02)


async def watch_flashes(watch: LightWatch, flashes: int) -> None:
    await eventually(lambda: watch.observed().flashes >= flashes)


@pytest.mark.parametrize("name", list(PatternName))
@pytest.mark.parametrize("pins", [MONO, RGB], ids=["single-led", "rgb-led"])
async def test_each_named_pattern_blinks_at_its_frequency(
    rig: GpioRig, lights: StationLights, name: PatternName, pins: tuple[str, ...]
) -> None:
    pattern = PATTERNS[name]
    slot = "mono" if pins == MONO else "rgb"
    watch = rig.watch(*pins)

    lights.show(slot, name)
    await watch_flashes(watch, pattern.repeat or 3)

    seen = watch.observed()
    assert seen.frequency_hz == pytest.approx(pattern.frequency_hz, rel=FREQUENCY_TOLERANCE)
    assert seen.on_seconds == pytest.approx(pattern.on_seconds, rel=0.5)


def test_no_named_pattern_exceeds_three_hertz() -> None:
    assert all(p.frequency_hz <= MAX_BLINK_HZ + 1e-9 for p in PATTERNS.values())


def test_a_pattern_faster_than_three_hertz_is_refused_at_construction() -> None:
    with pytest.raises(
        PatternTooFastError, match=r"'strobe' blinks at 4\.00 Hz; expected at most 3 Hz"
    ):
        BlinkPattern("strobe", Colour.RED, 0.125, 0.125)


def test_exactly_three_hertz_is_allowed() -> None:
    assert BlinkPattern("limit", Colour.RED, 1 / 6, 1 / 6).frequency_hz == pytest.approx(3.0)


async def test_done_flashes_three_times_then_goes_dark(rig: GpioRig, lights: StationLights) -> None:
    watch = rig.watch(*MONO)

    lights.show("mono", PatternName.DONE)
    await eventually(lambda: watch.observed().flashes == 3 and not rig.is_lit(*MONO))
    await asyncio.sleep(PATTERNS[PatternName.DONE].on_seconds * 3)

    assert watch.observed().flashes == 3
    assert not rig.is_lit(*MONO)


async def test_wrong_slot_on_rgb_blinks_only_the_red_channel(
    rig: GpioRig, lights: StationLights
) -> None:
    red, green, blue = (rig.watch(pin) for pin in RGB)

    lights.show("rgb", PatternName.WRONG_SLOT)
    await watch_flashes(red, 3)

    assert red.observed().frequency_hz == pytest.approx(2.0, rel=FREQUENCY_TOLERANCE)
    assert green.observed().flashes == 0
    assert blue.observed().flashes == 0


async def test_two_colour_slot_shows_alerts_on_its_alert_led(
    rig: GpioRig, lights: StationLights
) -> None:
    normal, alert = rig.watch(TWO_COLOUR[0]), rig.watch(TWO_COLOUR[1])

    lights.show("two", PatternName.ERROR)
    await watch_flashes(alert, 3)
    lights.on("two", colour=Colour.GREEN)

    assert normal.observed().flashes == 1
    assert rig.is_lit(TWO_COLOUR[0])
    assert not rig.is_lit(TWO_COLOUR[1])


async def test_slot_on_has_lit_the_pin_by_the_time_the_call_returns(
    rig: GpioRig, lights: StationLights
) -> None:
    watch = rig.watch(*MONO)

    lights.on("mono", quantity=3)
    returned_at = time.monotonic()

    lit_at = watch.first_change_at()
    assert lit_at is not None
    assert lit_at <= returned_at
    assert rig.is_lit(*MONO)


async def test_slot_off_has_darkened_the_pin_by_the_time_the_call_returns(
    rig: GpioRig, lights: StationLights
) -> None:
    lights.show("mono", PatternName.PICK)
    await eventually(lambda: rig.is_lit(*MONO))
    watch = rig.watch(*MONO)

    lights.off("mono")
    returned_at = time.monotonic()

    dark_at = watch.first_change_at()
    assert dark_at is not None
    assert dark_at <= returned_at
    assert not rig.is_lit(*MONO)


async def test_a_steady_light_replaces_a_blink_and_stays_on(
    rig: GpioRig, lights: StationLights
) -> None:
    lights.show("mono", PatternName.ERROR)
    await eventually(lambda: rig.is_lit(*MONO))
    lights.on("mono")
    watch = rig.watch(*MONO)

    await asyncio.sleep(PATTERNS[PatternName.ERROR].on_seconds * 4)

    assert watch.observed().flashes == 0
    assert rig.is_lit(*MONO)


async def test_the_quantity_to_pick_is_carried_with_the_slot(lights: StationLights) -> None:
    lights.show("mono", PatternName.PICK, quantity=4)

    shown = lights.shown("mono")
    assert (shown.lit, shown.pattern, shown.quantity) == (True, "pick", 4)
    lights.off("mono")
    assert lights.shown("mono").lit is False


async def test_a_quantity_below_one_is_refused_naming_the_slot(lights: StationLights) -> None:
    with pytest.raises(ValueError, match=r"slot 'mono': quantity must be at least 1, got 0"):
        lights.on("mono", quantity=0)


async def test_an_unknown_slot_is_refused_naming_it_and_the_known_slots(
    lights: StationLights,
) -> None:
    with pytest.raises(UnknownSlotError, match=r"no slot named 'Z9'; expected one of: mono, rgb"):
        lights.on("Z9")


async def test_all_off_darkens_every_slot(rig: GpioRig, lights: StationLights) -> None:
    lights.on("mono")
    lights.on("rgb", colour=Colour.AMBER)
    lights.show("two", PatternName.SHORTAGE)

    lights.all_off()

    assert not rig.is_lit(*MONO, *RGB, *TWO_COLOUR)


async def test_lights_cannot_be_driven_outside_async_with(rig: GpioRig) -> None:
    lights = StationLights(CONFIG, pin_factory=rig.factory)

    with pytest.raises(LightsNotStartedError):
        lights.on("mono")


async def test_lights_can_be_opened_again_after_closing(rig: GpioRig) -> None:
    lights = StationLights(CONFIG, pin_factory=rig.factory)
    async with lights:
        lights.on("mono")
    assert not rig.is_lit(*MONO)

    async with lights:
        lights.on("mono")
        assert rig.is_lit(*MONO)


@pytest.mark.parametrize("tonal", [True, False], ids=["tonal", "plain"])
async def test_the_error_signal_buzzes_three_times_then_falls_silent(
    rig: GpioRig, tonal: bool
) -> None:
    config = LightsConfig.model_validate(
        CONFIG.model_dump() | {"buzzer": {"pin": BUZZER, "tonal": tonal}}
    )
    async with StationLights(config, pin_factory=rig.factory) as lights:
        watch = rig.watch(BUZZER)

        lights.sound(SignalName.ERROR)
        await eventually(lambda: watch.observed().flashes == 3 and not rig.is_lit(BUZZER))

        assert rig.tone_hz(BUZZER) is None
