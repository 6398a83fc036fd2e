"""Faults the sandbox can inject, so a client's retry and duplicate handling can be proven.

Faults queue up and are consumed in order, one per matching API request, because a real outage
is a sequence ("three 429s, then fine"), not a switch. The token endpoint is never faulted
unless a fault names it by path, so a test of API retries is not tangled up with re-login.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from enum import Enum

__all__ = ["Fault", "FaultKind", "FaultQueue"]


class FaultKind(Enum):
    """What goes wrong with the request a fault hits."""

    STATUS = "status"
    """Answer with an error status (429, 500, 503...) without touching any data."""
    SLOW = "slow"
    """Wait `delay` seconds before handling the request normally, so a client times out."""
    COMMIT_THEN_FAIL = "commit_then_fail"
    """Handle the request (the write is stored) but answer 500, as after a crash mid-reply."""
    COMMIT_THEN_DROP = "commit_then_drop"
    """Handle the request (the write is stored) but hang up before the body is sent."""
    COMMIT_THEN_HANG = "commit_then_hang"
    """Handle the request (the write is stored), then send nothing for `delay` seconds or
    until the client goes away: the window in which a client process can die holding a
    document Sage has made but whose id it never learnt."""


@dataclass(frozen=True)
class Fault:
    """One queued fault; `method` and `path_prefix` narrow which requests it hits."""

    kind: FaultKind
    status: int = 500
    retry_after: int | None = None
    delay: float = 0.0
    method: str | None = None
    path_prefix: str | None = None

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request; the token endpoint only when named."""
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path_prefix is not None:
            return path.startswith(self.path_prefix)
        return not path.startswith("/oauth")


class FaultQueue:
    """Faults waiting for requests; thread-safe because the HTTP server may run on a thread."""

    def __init__(self) -> None:
        self._pending: deque[Fault] = deque()
        self._lock = threading.Lock()

    def queue(
        self,
        *,
        status: int | None = None,
        retry_after: int | None = None,
        times: int = 1,
        kind: FaultKind | None = None,
        delay: float = 0.0,
        method: str | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """Queue `times` copies of a fault.

        `status=429, retry_after=1` alone means a plain error answer; pass `kind` for a slow
        answer or a commit-then-fail write (`status` is then the failure status, default 500).
        """
        if times < 1:
            raise ValueError(f"FaultQueue.queue: times must be at least 1, got {times}")
        chosen = kind if kind is not None else FaultKind.STATUS
        if chosen is FaultKind.STATUS and status is None:
            raise ValueError("FaultQueue.queue: a status fault needs a status, e.g. 429 or 503")
        fault = Fault(
            kind=chosen,
            status=status if status is not None else 500,
            retry_after=retry_after,
            delay=delay,
            method=method,
            path_prefix=path_prefix,
        )
        with self._lock:
            self._pending.extend([fault] * times)

    def take(self, method: str, path: str) -> Fault | None:
        """Remove and return the first queued fault that applies to this request."""
        with self._lock:
            for fault in self._pending:
                if fault.matches(method, path):
                    self._pending.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._pending.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)
