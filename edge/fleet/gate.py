"""The health gate a new release must pass, within a deadline after its start, to be committed.

Each check (process up, storage open, broker connected, birth sent, hardware ok) is observed by
the station as it goes; the gate passes at the first moment every check's latest observation is
ok, and fails once the deadline passes first, naming each check that was not ok and why. Pure:
the station feeds it observations and the monotonic time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["DEFAULT_CHECKS", "GateVerdict", "HealthGate"]

DEFAULT_CHECKS = ("process", "storage", "broker", "birth", "hardware")

GateStatus = Literal["passed", "pending", "failed"]


@dataclass(frozen=True)
class GateVerdict:
    """The gate's answer: passed, pending (still within the deadline), or failed with why."""

    status: GateStatus
    reason: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    @property
    def failed(self) -> bool:
        return self.status == "failed"


@dataclass
class _Check:
    observed: bool = False
    ok: bool = False
    ever_ok: bool = False
    detail: str | None = None


class HealthGate:
    """Collects the station's health observations and decides, against a deadline."""

    def __init__(
        self,
        deadline_s: float,
        required: Sequence[str] = DEFAULT_CHECKS,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if deadline_s <= 0:
            raise ValueError(f"deadline_s is {deadline_s}; expected a positive number of seconds")
        if not required:
            raise ValueError("a health gate needs at least one required check")
        self.deadline_s = deadline_s
        self.started_at = clock()
        self._checks = {name: _Check() for name in required}
        self._verdict: GateVerdict | None = None

    def observe(self, name: str, ok: bool, detail: str | None = None) -> None:
        """Record the latest state of one check (its detail says what is wrong, when it is)."""
        check = self._checks.get(name)
        if check is None:
            raise ValueError(
                f"unknown health check {name!r}; expected one of {', '.join(self._checks)}"
            )
        check.observed = True
        check.ok = ok
        check.ever_ok = check.ever_ok or ok
        check.detail = detail

    def verdict(self, now: float) -> GateVerdict:
        """Passed once every check is ok together; failed when the deadline comes first.

        A decided verdict stays decided, so a later blip cannot undo a commit.
        """
        if self._verdict is not None:
            return self._verdict
        if all(check.ok for check in self._checks.values()):
            self._verdict = GateVerdict("passed")
        elif now - self.started_at >= self.deadline_s:
            self._verdict = GateVerdict("failed", self._failure_reason())
        else:
            return GateVerdict("pending")
        return self._verdict

    def _failure_reason(self) -> str:
        problems = []
        for name, check in self._checks.items():
            if check.ok:
                continue
            if not check.observed:
                problems.append(f"{name}: never reported")
                continue
            detail = check.detail or "not ok"
            state = "" if check.ever_ok else "never passed, "
            problems.append(f"{name}: {state}{detail}")
        return f"not healthy within {self.deadline_s:g} s: " + "; ".join(problems)
