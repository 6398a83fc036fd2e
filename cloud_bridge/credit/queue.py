"""When the auto queue tries a stopped order again.

An order the gate stops at an automatic step is not dropped: it waits in the auto queue, its
failure visible in the monitor, and is tried again once the configured number of minutes
(`RetryInMinutes`) has passed since it failed. Each failure starts the wait afresh, so a debtor
whose credit stays exceeded is tried once per interval rather than in a tight loop.

Times must carry a time zone: comparing a naive time with an aware one fails at run time, and a
naive time read from a server in another zone would retry at the wrong hour.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cloud_bridge.credit.gate import CheckFailure, Step
from cloud_bridge.errors import BridgeError

__all__ = [
    "AutoQueueEntry",
    "AutoQueueError",
    "due",
    "next_retry",
    "record_failure",
    "validate_retry_in_minutes",
]


class AutoQueueError(BridgeError, ValueError):
    """A retry setting, time or queue entry is not valid."""


def validate_retry_in_minutes(value: object) -> int:
    """The RetryInMinutes setting as a whole number of minutes, at least 1.

    Zero would retry a failing order in a tight loop, so it is refused with the rest.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise AutoQueueError(
            f"RetryInMinutes must be a whole number of minutes, got {type(value).__name__}: "
            f"{value!r}"
        )
    if value < 1:
        raise AutoQueueError(f"RetryInMinutes must be at least 1 minute, got {value}")
    return value


def _require_aware(name: str, value: object) -> datetime:
    if not isinstance(value, datetime):
        raise AutoQueueError(f"{name} must be a datetime, got {type(value).__name__}: {value!r}")
    if value.utcoffset() is None:
        raise AutoQueueError(f"{name} must carry a time zone, got the naive time {value}")
    return value


def next_retry(failed_at: datetime, retry_in_minutes: int) -> datetime:
    """When an order that failed at `failed_at` is next tried: RetryInMinutes later."""
    _require_aware("failed_at", failed_at)
    return failed_at + timedelta(minutes=validate_retry_in_minutes(retry_in_minutes))


@dataclass(frozen=True, slots=True)
class AutoQueueEntry:
    """An order waiting in the auto queue after the gate stopped it.

    `message` is what the monitor shows: each failing check's message, one per line, in the
    order the gate reported them. `attempts` counts the failed tries so far.
    """

    order_no: str
    step: Step
    message: str
    failed_at: datetime
    next_retry_at: datetime
    attempts: int

    def __post_init__(self) -> None:
        if not isinstance(self.order_no, str) or not self.order_no.strip():
            raise AutoQueueError(f"order_no must be a non-empty string, got {self.order_no!r}")
        if not isinstance(self.step, Step):
            raise AutoQueueError(f"step must be one of {[str(s) for s in Step]}, got {self.step!r}")
        if not isinstance(self.message, str) or not self.message:
            raise AutoQueueError(f"message of order {self.order_no} must be a non-empty string")
        _require_aware("failed_at", self.failed_at)
        _require_aware("next_retry_at", self.next_retry_at)
        if self.next_retry_at <= self.failed_at:
            raise AutoQueueError(
                f"next_retry_at of order {self.order_no} must be after failed_at "
                f"{self.failed_at.isoformat()}, got {self.next_retry_at.isoformat()}"
            )
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise AutoQueueError(f"attempts of order {self.order_no} must be an int")
        if self.attempts < 1:
            raise AutoQueueError(
                f"attempts of order {self.order_no} must be at least 1, got {self.attempts}"
            )


def record_failure(
    order_no: str,
    failures: Sequence[CheckFailure],
    failed_at: datetime,
    retry_in_minutes: int,
    previous: AutoQueueEntry | None = None,
) -> AutoQueueEntry:
    """The queue entry for an order the gate has just stopped, first time or once again.

    `failures` is what the gate returned at one step. `previous` is the order's entry from its
    last failure, if any; its attempts carry on from there.
    """
    if not failures:
        raise AutoQueueError(f"order {order_no} has no failures to queue; a passing order is done")
    steps = {failure.step for failure in failures}
    if len(steps) != 1:
        raise AutoQueueError(
            f"failures of order {order_no} must come from one step, got {sorted(steps)}"
        )
    if previous is not None and previous.order_no != order_no:
        raise AutoQueueError(
            f"previous entry belongs to order {previous.order_no}, expected order {order_no}"
        )
    return AutoQueueEntry(
        order_no=order_no,
        step=failures[0].step,
        message="\n".join(failure.message for failure in failures),
        failed_at=failed_at,
        next_retry_at=next_retry(failed_at, retry_in_minutes),
        attempts=1 if previous is None else previous.attempts + 1,
    )


def _queue_order(entry: AutoQueueEntry) -> tuple[datetime, datetime, str, int]:
    """Longest-waiting first; ties broken by order number, then by the step's place in the flow."""
    return (entry.next_retry_at, entry.failed_at, entry.order_no, list(Step).index(entry.step))


def due(entries: Iterable[AutoQueueEntry], now: datetime) -> list[AutoQueueEntry]:
    """The entries whose retry time has come by `now`, in the order they should be retried.

    The order is the same whatever order the entries arrive in, so two bridges, or two runs,
    retry the same orders in the same sequence.
    """
    _require_aware("now", now)
    return sorted((entry for entry in entries if entry.next_retry_at <= now), key=_queue_order)
