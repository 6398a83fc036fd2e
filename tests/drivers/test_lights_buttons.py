"""Buttons through the simulated rig: debounced, timed, and delivered on the asyncio loop.

The rig presses from a worker thread (`asyncio.to_thread`), which is where gpiozero's callbacks
run, just as a real pin's edges arrive on gpiozero's own thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import pytest

from edge.drivers.lights import ButtonEvent, ButtonRole, LightsConfig, PressKind, StationLights
from firmware_sim.gpio import GpioRig

SLOT_BUTTON = "GPIO27"
CONFIRM = "GPIO23"
SHORTAGE = "GPIO24"
DEBOUNCE_MS = 40
LONG_PRESS_MS = 800
TAP_SECONDS = 0.15
HOLD_SECONDS = 1.3
QUIET_SECONDS = 0.5
BETWEEN_PRESSES = 0.2  # a finger cannot press again within the debounce time
EVENT_TIMEOUT = 10.0

CONFIG = LightsConfig.model_validate(
    {
        "slots": {"A1": {"led": "GPIO17", "button": SLOT_BUTTON}},
        "confirm_button": CONFIRM,
        "shortage_button": SHORTAGE,
        "debounce_ms": DEBOUNCE_MS,
        "long_press_ms": LONG_PRESS_MS,
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


async def next_event(events: AsyncIterator[ButtonEvent]) -> ButtonEvent:
    return await asyncio.wait_for(anext(events), EVENT_TIMEOUT)


async def assert_no_more_events(events: AsyncIterator[ButtonEvent]) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(events), QUIET_SECONDS)


async def test_a_bouncy_press_and_release_give_exactly_one_event(
    rig: GpioRig, lights: StationLights
) -> None:
    events = lights.events()
    pin = rig.pin(SLOT_BUTTON)
    pin.clear_states()

    await asyncio.to_thread(rig.tap, SLOT_BUTTON, seconds=TAP_SECONDS, bounce=5)

    # The pin really chattered: 5 false contacts each way around the real press and release.
    assert len(pin.states) - 1 == 2 * (2 * 5 + 1)
    event = await next_event(events)
    assert (event.role, event.slot, event.press) == (ButtonRole.SLOT, "A1", PressKind.SHORT)
    await assert_no_more_events(events)


async def test_a_tap_is_a_short_press(rig: GpioRig, lights: StationLights) -> None:
    events = lights.events()

    await asyncio.to_thread(rig.tap, SLOT_BUTTON, seconds=TAP_SECONDS)

    event = await next_event(events)
    assert event.press is PressKind.SHORT
    assert event.held_seconds < LONG_PRESS_MS / 1000


async def test_a_hold_past_the_long_press_time_is_a_long_press(
    rig: GpioRig, lights: StationLights
) -> None:
    events = lights.events()

    await asyncio.to_thread(rig.hold, SLOT_BUTTON, HOLD_SECONDS, bounce=3)

    event = await next_event(events)
    assert (event.role, event.slot, event.press) == (ButtonRole.SLOT, "A1", PressKind.LONG)
    assert event.held_seconds >= LONG_PRESS_MS / 1000
    await assert_no_more_events(events)


async def test_a_press_shorter_than_the_debounce_is_ignored(
    rig: GpioRig, lights: StationLights
) -> None:
    events = lights.events()

    await asyncio.to_thread(rig.tap, SLOT_BUTTON, seconds=0.0)

    await assert_no_more_events(events)


async def test_confirm_reports_short_and_long_presses(rig: GpioRig, lights: StationLights) -> None:
    events = lights.events()

    await asyncio.to_thread(rig.tap, CONFIRM, seconds=TAP_SECONDS)
    await asyncio.sleep(BETWEEN_PRESSES)
    await asyncio.to_thread(rig.hold, CONFIRM, HOLD_SECONDS)

    first, second = await next_event(events), await next_event(events)
    assert (first.role, first.press, first.slot) == (ButtonRole.CONFIRM, PressKind.SHORT, None)
    assert (second.role, second.press) == (ButtonRole.CONFIRM, PressKind.LONG)


async def test_shortage_counts_only_a_long_press(rig: GpioRig, lights: StationLights) -> None:
    events = lights.events()

    await asyncio.to_thread(rig.tap, SHORTAGE, seconds=TAP_SECONDS)
    await asyncio.sleep(BETWEEN_PRESSES)
    await asyncio.to_thread(rig.hold, SHORTAGE, HOLD_SECONDS)

    event = await next_event(events)
    assert (event.role, event.press) == (ButtonRole.SHORTAGE, PressKind.LONG)
    await assert_no_more_events(events)


async def test_presses_arrive_in_release_order(rig: GpioRig, lights: StationLights) -> None:
    events = lights.events()

    await asyncio.to_thread(rig.tap, SLOT_BUTTON, seconds=TAP_SECONDS)
    await asyncio.to_thread(rig.tap, CONFIRM, seconds=TAP_SECONDS)

    roles = [(await next_event(events)).role, (await next_event(events)).role]
    assert roles == [ButtonRole.SLOT, ButtonRole.CONFIRM]


async def test_events_reach_the_loop_without_touching_it_from_gpiozeros_thread(
    rig: GpioRig, lights: StationLights
) -> None:
    # In debug mode asyncio raises if a callback is scheduled from a thread other than the
    # loop's, so a driver that put events on the queue from gpiozero's thread fails here.
    asyncio.get_running_loop().set_debug(True)
    loop_thread = threading.get_ident()
    events = lights.events()
    waiting = asyncio.create_task(next_event(events))
    await asyncio.sleep(0)
    pressing_threads: list[int] = []

    def press_from_another_thread() -> None:
        pressing_threads.append(threading.get_ident())
        rig.tap(SLOT_BUTTON, seconds=TAP_SECONDS)

    await asyncio.to_thread(press_from_another_thread)

    event = await waiting
    assert event.role is ButtonRole.SLOT
    assert pressing_threads != [loop_thread]
    assert threading.get_ident() == loop_thread


async def test_the_event_stream_ends_when_the_lights_close(rig: GpioRig) -> None:
    received: list[ButtonEvent] = []
    async with StationLights(CONFIG, pin_factory=rig.factory) as lights:
        events = lights.events()
        await asyncio.to_thread(rig.tap, CONFIRM, seconds=TAP_SECONDS)
        received.append(await next_event(events))

    async for event in events:
        received.append(event)

    assert [event.role for event in received] == [ButtonRole.CONFIRM]


async def test_pressing_a_button_after_close_does_not_reach_the_closed_loop(rig: GpioRig) -> None:
    async with StationLights(CONFIG, pin_factory=rig.factory):
        pass

    # A driver that left its callbacks attached would raise here once the loop has gone.
    await asyncio.to_thread(rig.tap, SLOT_BUTTON, seconds=0.05)
