"""When a run reads, and which rows its ``--since`` bound lets through."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["DEFAULT_LATE_WINDOW", "ReadWindow"]

DEFAULT_LATE_WINDOW = timedelta(hours=1)
"""How long a transaction may take to commit after it stamped or numbered its rows."""


@dataclass(frozen=True)
class ReadWindow:
    """The instant of the run's read, its lower bound (if one applies) and the late window."""

    now: datetime
    since: datetime | None
    late_window: timedelta = DEFAULT_LATE_WINDOW

    def includes(self, moment: datetime | None) -> bool:
        """Whether a row stamped ``moment`` is on or after the lower bound (always without one)."""
        return self.since is None or (moment is not None and moment >= self.since)
