"""Reconnect delays: exponential growth, capped, with full jitter.

A site's stations all lose the broker at the same moment when it restarts. Without jitter they
would all come back at the same moment too, over and over; with "full jitter" (a delay drawn
uniformly between zero and the exponential ceiling) their attempts spread out while the average
delay still grows. The ceiling is capped so a station never waits longer than a packer would
tolerate once the broker is back.
"""

from __future__ import annotations

import random

from edge.errors import ConfigError

__all__ = ["Backoff", "full_jitter"]


def full_jitter(initial: float, maximum: float, failures: int, rng: random.Random) -> float:
    """A delay uniform in ``[0, min(maximum, initial * 2**failures)]``."""
    # Past ~64 doublings the float would overflow long after the cap has taken over.
    return rng.uniform(0.0, min(maximum, initial * 2.0 ** min(max(failures, 0), 64)))


class Backoff:
    """Delays between failed attempts: `next_delay()` after each failure, `reset()` on success.

    The n-th delay (counting from 0) is uniform in ``[0, min(maximum, initial * 2**n)]``. Pass a
    seeded `random.Random` to make the sequence reproducible.
    """

    def __init__(self, initial: float, maximum: float, *, rng: random.Random | None = None) -> None:
        if initial <= 0:
            raise ConfigError(f"backoff initial delay is {initial} s; expected more than 0")
        if maximum < initial:
            raise ConfigError(
                f"backoff maximum delay is {maximum} s; expected at least the initial {initial} s"
            )
        self._initial = initial
        self._maximum = maximum
        self._rng = rng if rng is not None else random.Random()
        self._failures = 0

    @property
    def failures(self) -> int:
        """Failed attempts since the last `reset()`."""
        return self._failures

    @property
    def ceiling(self) -> float:
        """The largest delay the next `next_delay()` can return."""
        # Past ~64 doublings the float would overflow long after the cap has taken over.
        exponent = min(self._failures, 64)
        return min(self._maximum, self._initial * 2.0**exponent)

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one more failure."""
        delay = full_jitter(self._initial, self._maximum, self._failures, self._rng)
        self._failures += 1
        return delay

    def reset(self) -> None:
        """Start again from the initial ceiling, after a connection that stayed up."""
        self._failures = 0
