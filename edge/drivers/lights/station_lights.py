"""The pick-to-light driver: slot lights, slot buttons, confirm, shortage and the buzzer.

Everything goes through gpiozero with the `pin_factory` given (None is gpiozero's default, which
drives real pins on a Pi). gpiozero calls button callbacks on its own thread; those callbacks only
stamp the time and hand the edge to the asyncio loop with `loop.call_soon_threadsafe`, so all
debouncing, timing and queueing happens on the loop and no asyncio object is touched from
another thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from types import TracebackType
from typing import Any, Self

from gpiozero import Button

from edge.drivers.lights.buzzer import StationBuzzer
from edge.drivers.lights.config import LightsConfig
from edge.drivers.lights.debounce import Debouncer
from edge.drivers.lights.errors import (
    LightsAlreadyStartedError,
    LightsNotStartedError,
    UnknownSlotError,
)
from edge.drivers.lights.events import ButtonEvent, ButtonRole, PressKind
from edge.drivers.lights.patterns import (
    PATTERNS,
    SIGNALS,
    BlinkPattern,
    BuzzerSignal,
    Colour,
    PatternName,
    SignalName,
)
from edge.drivers.lights.slot_light import SlotLight, build_slot_light

__all__ = ["SlotState", "StationLights"]


@dataclass(frozen=True)
class SlotState:
    """What a slot was last told to show.

    `quantity` is carried for a later numeric display; a plain LED just lights. A pattern with a
    fixed number of flashes (such as `done`) goes dark by itself but is still reported here.
    """

    lit: bool
    colour: Colour | None = None
    pattern: str | None = None
    quantity: int | None = None


_DARK = SlotState(lit=False)


@dataclass
class _Claimed:
    """The devices and loop-side state that exist only inside `async with`."""

    loop: asyncio.AbstractEventLoop
    lights: dict[str, SlotLight] = field(default_factory=dict)
    buttons: list[Any] = field(default_factory=list)
    debouncers: list[Debouncer] = field(default_factory=list)
    buzzer: StationBuzzer | None = None
    events: asyncio.Queue[ButtonEvent | None] = field(default_factory=asyncio.Queue)


class StationLights:
    """A station's pick-to-light hardware, used as `async with StationLights(config) as lights`.

    Reusable but not re-entrant: each entry claims the pins and each exit releases them.
    Light calls are synchronous and quick (gpiozero sets the pin before returning, and blinking
    runs on its own thread), so they are safe to call from a coroutine.
    """

    def __init__(self, config: LightsConfig, *, pin_factory: Any = None) -> None:
        self._config = config
        self._pin_factory = pin_factory
        self._claimed: _Claimed | None = None
        self._shown: dict[str, SlotState] = dict.fromkeys(config.slots, _DARK)

    @property
    def slots(self) -> tuple[str, ...]:
        """The slot names, in config order."""
        return tuple(self._config.slots)

    async def __aenter__(self) -> Self:
        if self._claimed is not None:
            raise LightsAlreadyStartedError(
                "these lights are already open; exit before entering again"
            )
        claimed = _Claimed(loop=asyncio.get_running_loop())
        self._claimed = claimed
        try:
            self._claim_devices(claimed)
        except BaseException:
            self._release(claimed)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._claimed is not None:
            self._release(self._claimed)

    def events(self) -> AsyncIterator[ButtonEvent]:
        """Completed presses, in the order they were released; ends when the lights close.

        Slot and confirm presses come as short or long; the shortage button reports only long
        presses, so a brush against it cannot short-pick an order.
        """
        return self._iterate_events(self._require_open())

    def on(self, slot: str, *, quantity: int | None = None, colour: Colour = Colour.BLUE) -> None:
        """Light `slot` steadily; `quantity` is what to take, for displays that can show it."""
        self._check_quantity(slot, quantity)
        self._light(slot).steady(colour)
        self._shown[slot] = SlotState(lit=True, colour=colour, quantity=quantity)

    def show(
        self, slot: str, pattern: PatternName | BlinkPattern, *, quantity: int | None = None
    ) -> None:
        """Blink `slot` in a named pattern (or a custom one, checked for the 3 Hz limit)."""
        chosen = pattern if isinstance(pattern, BlinkPattern) else PATTERNS[PatternName(pattern)]
        self._check_quantity(slot, quantity)
        self._light(slot).blink(chosen)
        self._shown[slot] = SlotState(
            lit=True, colour=chosen.colour, pattern=chosen.name, quantity=quantity
        )

    def off(self, slot: str) -> None:
        """Turn `slot` dark."""
        self._light(slot).off()
        self._shown[slot] = _DARK

    def all_off(self) -> None:
        """Turn every slot dark."""
        for slot in self._config.slots:
            self.off(slot)

    def shown(self, slot: str) -> SlotState:
        """What `slot` was last told to show."""
        self._check_slot(slot)
        return self._shown[slot]

    def sound(self, signal: SignalName | BuzzerSignal) -> None:
        """Play a buzzer signal in the background; a station without a buzzer stays silent."""
        chosen = signal if isinstance(signal, BuzzerSignal) else SIGNALS[SignalName(signal)]
        buzzer = self._require_open().buzzer
        if buzzer is not None:
            buzzer.play(chosen)

    def _claim_devices(self, claimed: _Claimed) -> None:
        config = self._config
        for name, slot in config.slots.items():
            claimed.lights[name] = build_slot_light(slot, self._pin_factory)
            self._watch_button(claimed, slot.button, ButtonRole.SLOT, name)
        self._watch_button(claimed, config.confirm_button, ButtonRole.CONFIRM, None)
        self._watch_button(claimed, config.shortage_button, ButtonRole.SHORTAGE, None)
        if config.buzzer is not None:
            claimed.buzzer = StationBuzzer(config.buzzer, self._pin_factory)

    def _watch_button(
        self, claimed: _Claimed, pin: str, role: ButtonRole, slot: str | None
    ) -> None:
        debouncer = Debouncer(
            claimed.loop,
            self._config.debounce_ms / 1000,
            partial(self._completed, claimed, role, slot),
        )
        claimed.debouncers.append(debouncer)
        # bounce_time stays None: the Debouncer filters, identically on every pin factory.
        button = Button(pin, pull_up=True, pin_factory=self._pin_factory)
        claimed.buttons.append(button)

        def hand_to_loop(pressed: bool) -> None:
            # Runs on gpiozero's thread: stamp the edge now, touch nothing of asyncio but this.
            claimed.loop.call_soon_threadsafe(debouncer.edge, pressed, time.monotonic())

        button.when_pressed = partial(hand_to_loop, True)
        button.when_released = partial(hand_to_loop, False)

    def _completed(
        self, claimed: _Claimed, role: ButtonRole, slot: str | None, held_seconds: float
    ) -> None:
        long = held_seconds * 1000 >= self._config.long_press_ms
        if role is ButtonRole.SHORTAGE and not long:
            return
        press = PressKind.LONG if long else PressKind.SHORT
        claimed.events.put_nowait(ButtonEvent(role, press, held_seconds, slot))

    def _release(self, claimed: _Claimed) -> None:
        for button in claimed.buttons:
            button.when_pressed = None
            button.when_released = None
            button.close()
        for debouncer in claimed.debouncers:
            debouncer.cancel()
        for light in claimed.lights.values():
            light.close()
        if claimed.buzzer is not None:
            claimed.buzzer.close()
        claimed.events.put_nowait(None)
        self._shown = dict.fromkeys(self._config.slots, _DARK)
        self._claimed = None

    @staticmethod
    async def _iterate_events(claimed: _Claimed) -> AsyncIterator[ButtonEvent]:
        while (event := await claimed.events.get()) is not None:
            yield event

    def _require_open(self) -> _Claimed:
        if self._claimed is None:
            raise LightsNotStartedError("the lights are not open; use them inside `async with`")
        return self._claimed

    def _check_slot(self, slot: str) -> None:
        if slot not in self._config.slots:
            known = ", ".join(self._config.slots)
            raise UnknownSlotError(f"no slot named {slot!r}; expected one of: {known}")

    def _light(self, slot: str) -> SlotLight:
        claimed = self._require_open()
        self._check_slot(slot)
        return claimed.lights[slot]

    @staticmethod
    def _check_quantity(slot: str, quantity: int | None) -> None:
        if quantity is not None and quantity < 1:
            raise ValueError(f"slot {slot!r}: quantity must be at least 1, got {quantity}")
