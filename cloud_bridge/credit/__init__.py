"""The credit-line and prepayment gate, and the auto queue that retries orders it stops."""

from __future__ import annotations

from cloud_bridge.credit.gate import (
    CheckFailure,
    CreditInputError,
    CreditSettings,
    DebtorExposure,
    FailureKind,
    OrderForCheck,
    OrderType,
    OutstandingKind,
    Step,
    check_order,
    credit_line_exceeded,
    credit_line_exceeded_message,
    exposure,
    prepayment_message,
    prepayment_outstanding,
)
from cloud_bridge.credit.queue import (
    AutoQueueEntry,
    AutoQueueError,
    due,
    next_retry,
    record_failure,
    validate_retry_in_minutes,
)

__all__ = [
    "AutoQueueEntry",
    "AutoQueueError",
    "CheckFailure",
    "CreditInputError",
    "CreditSettings",
    "DebtorExposure",
    "FailureKind",
    "OrderForCheck",
    "OrderType",
    "OutstandingKind",
    "Step",
    "check_order",
    "credit_line_exceeded",
    "credit_line_exceeded_message",
    "due",
    "exposure",
    "next_retry",
    "prepayment_message",
    "prepayment_outstanding",
    "record_failure",
    "validate_retry_in_minutes",
]
