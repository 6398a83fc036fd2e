"""Turns raw, bouncy button edges into one completed press with its hold time.

gpiozero's `bounce_time` is not a stable-state filter on every pin factory, and its mock factory
ignores it entirely, so the filter lives here and behaves the same on a Pi and in CI. It runs on
the asyncio loop: edges arrive through `loop.call_soon_threadsafe` carrying the `time.monotonic()`
at which they happened, and a level only counts once no other edge followed it within
`debounce_seconds`. Gaps between edges are judged from those stamps, not from when the loop got
round to them, so a busy loop does not misjudge how long a contact lasted or a button was held.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["Debouncer"]


class Debouncer:
    """Stable-state filter for one button; calls `on_press(held_seconds)` on each release.

    Only touch it from the loop's thread.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        debounce_seconds: float,
        on_press: Callable[[float], None],
    ) -> None:
        self._loop = loop
        self._debounce = debounce_seconds
        self._on_press = on_press
        self._stable_pressed = False
        self._pressed_at = 0.0
        self._pending: tuple[bool, float] | None = None
        self._quiet_timer: asyncio.TimerHandle | None = None

    def edge(self, pressed: bool, at: float) -> None:
        """Record a raw edge seen at monotonic time `at`."""
        if self._pending is not None:
            previous_pressed, previous_at = self._pending
            if at - previous_at >= self._debounce:
                self._settle(previous_pressed, previous_at)
        self._pending = (pressed, at)
        if self._quiet_timer is not None:
            self._quiet_timer.cancel()
        quiet_in = max(0.0, at + self._debounce - time.monotonic())
        self._quiet_timer = self._loop.call_later(quiet_in, self._on_quiet)

    def cancel(self) -> None:
        """Drop any pending edge; used when the lights shut down."""
        if self._quiet_timer is not None:
            self._quiet_timer.cancel()
            self._quiet_timer = None
        self._pending = None

    def _on_quiet(self) -> None:
        self._quiet_timer = None
        if self._pending is not None:
            pressed, at = self._pending
            self._pending = None
            self._settle(pressed, at)

    def _settle(self, pressed: bool, at: float) -> None:
        if pressed == self._stable_pressed:
            return
        self._stable_pressed = pressed
        if pressed:
            self._pressed_at = at
        else:
            self._on_press(at - self._pressed_at)
