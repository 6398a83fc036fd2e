"""How long to wait before the next attempt at a Sage request.

Exponential backoff with full jitter (a random wait between zero and the capped exponential) so
that stations and workers that failed together do not all come back together. A 429 carries
`Retry-After`, which is honoured, with a little jitter on top for the same reason.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from edge.station.backoff import full_jitter

__all__ = ["Backoff", "parse_retry_after"]


@dataclass
class Backoff:
    """Delays for retry number `attempt` (1 for the first retry)."""

    initial_s: float = 0.5
    max_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.initial_s < 0 or self.max_s < self.initial_s:
            raise ValueError(
                f"Backoff: expected 0 <= initial_s <= max_s, got {self.initial_s}, {self.max_s}"
            )

    def delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max_s, initial_s * 2 ** (attempt - 1))]."""
        return full_jitter(self.initial_s, self.max_s, attempt - 1, self.rng)

    def after_throttle(self, retry_after_s: float | None, attempt: int) -> float:
        """Sage's `Retry-After` plus jitter up to `initial_s`; plain backoff without one."""
        if retry_after_s is None:
            return self.delay(attempt)
        return retry_after_s + self.rng.uniform(0.0, self.initial_s)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
