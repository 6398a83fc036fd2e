"""The client's own request pace per business, below Sage's undocumented rate limit.

Sage answers 429 when a business is throttled, and the client honours that; pacing first keeps
a burst of postings from spending the allowance in a second and then waiting out the minute.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["Pacer"]


class Pacer:
    """Spaces request starts at least `60 / requests_per_minute` seconds apart; 0 is no limit."""

    def __init__(
        self,
        requests_per_minute: float,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if requests_per_minute < 0:
            raise ValueError(
                f"Pacer: requests_per_minute must be 0 (no limit) or more, got "
                f"{requests_per_minute}"
            )
        self.interval_s = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._sleep = sleep
        self._monotonic = monotonic
        self._next_start = 0.0
        self._lock = asyncio.Lock()

    async def wait_turn(self) -> None:
        """Return when the next request may start."""
        if not self.interval_s:
            return
        async with self._lock:
            now = self._monotonic()
            wait = self._next_start - now
            self._next_start = max(now, self._next_start) + self.interval_s
            if wait > 0:
                await self._sleep(wait)
