"""The credit and prepayment gate wired to the database: exposure, the error report, the queue.

`cloud_bridge.credit` decides; this module gathers what it decides on and records the outcome.
The invoice debtor's exposure is its open invoices and shipped-but-not-invoiced amounts as held on
the debtor, plus the totals of its OTHER open orders (the order being checked is added by the
gate itself, at its total amount, never a partial one). A failure stops the order, writes each
exact message to the error report once, and schedules the auto queue's retry; a pass clears both.
Nothing here can overrule a failure: there is no parameter for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud_bridge.credit import AutoQueueEntry as QueueEntryValue
from cloud_bridge.credit import (
    CheckFailure,
    CreditSettings,
    DebtorExposure,
    OrderForCheck,
    OutstandingKind,
    Step,
    check_order,
    record_failure,
)
from cloud_bridge.db.models import (
    AutoQueueEntry,
    Debtor,
    ErrorReport,
    OrderLine,
    OrderState,
    OrderType,
    ReleaseStep,
    SalesOrder,
)
from cloud_bridge.services.settings import BridgeSettings

__all__ = ["OPEN_STATES", "GateOutcome", "order_total", "run_gate"]

OPEN_STATES = frozenset(
    {
        OrderState.NEW,
        OrderState.HELD_CREDIT,
        OrderState.HELD_PREPAYMENT,
        OrderState.ALLOCATED,
        OrderState.PARTIALLY_ALLOCATED,
        OrderState.RELEASED,
        OrderState.PICKING,
        OrderState.PARTIALLY_SHIPPED,
    }
)
"""Orders whose unshipped value still counts towards the invoice debtor's exposure."""


@dataclass(frozen=True)
class GateOutcome:
    """How the gate ended for one order at one step."""

    order_no: str
    step: Step
    failures: tuple[CheckFailure, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def order_total(lines: Iterable[OrderLine]) -> Decimal:
    """The order's total amount including tax, over its whole quantities."""
    return sum(
        (line.quantity * line.unit_price * (1 + line.tax_rate) for line in lines), Decimal(0)
    )


def _open_orders_total(session: Session, debtor_no: str, excluding: str) -> Decimal:
    """Unshipped value of the debtor's other open orders (whole quantity minus shipped)."""
    amount = (
        (OrderLine.quantity - OrderLine.shipped_quantity)
        * OrderLine.unit_price
        * (1 + OrderLine.tax_rate)
    )
    total = session.scalar(
        select(func.coalesce(func.sum(amount), 0))
        .join(SalesOrder, SalesOrder.order_no == OrderLine.order_no)
        .where(
            SalesOrder.invoice_debtor_no == debtor_no,
            SalesOrder.order_no != excluding,
            SalesOrder.state.in_(OPEN_STATES),
        )
    )
    return Decimal(str(total or 0))


def _exposure(session: Session, order: SalesOrder) -> DebtorExposure:
    debtor = session.get(Debtor, order.invoice_debtor_no)
    if debtor is None:  # pragma: no cover - the foreign key makes this impossible
        raise LookupError(f"order {order.order_no}: invoice debtor {order.invoice_debtor_no}")
    return DebtorExposure(
        debtor_no=debtor.debtor_no,
        credit_line=debtor.credit_line,
        outstanding={
            OutstandingKind.OPEN_INVOICES: debtor.open_invoices,
            OutstandingKind.SHIPPED_NOT_INVOICED: debtor.shipped_not_invoiced,
            OutstandingKind.OPEN_ORDERS: _open_orders_total(
                session, debtor.debtor_no, order.order_no
            ),
        },
    )


def run_gate(
    session: Session, order: SalesOrder, step: Step, settings: BridgeSettings, now: datetime
) -> GateOutcome:
    """Check one order at one step and record the result (in the caller's transaction)."""
    total = order_total(order.lines)
    check = OrderForCheck(
        order_no=order.order_no,
        order_type="prepayment" if order.order_type is OrderType.PREPAYMENT else "normal",
        total_amount=total,
        amount_paid=order.amount_paid,
        amount_to_pay=total,
    )
    credit = CreditSettings(
        check_credit_line=settings.check_credit_line, risk_control=settings.risk_control
    )
    failures = check_order(check, _exposure(session, order), credit, step)
    if failures:
        _record_failures(session, order, step, failures, settings, now)
    else:
        _clear(session, order, now)
    return GateOutcome(order.order_no, step, failures)


def _record_failures(  # noqa: PLR0917 - one private call site
    session: Session,
    order: SalesOrder,
    step: Step,
    failures: tuple[CheckFailure, ...],
    settings: BridgeSettings,
    now: datetime,
) -> None:
    release_step = ReleaseStep(step.value)
    open_messages = set(
        session.scalars(
            select(ErrorReport.message).where(
                ErrorReport.order_no == order.order_no, ErrorReport.resolved_at.is_(None)
            )
        )
    )
    for failure in failures:
        if failure.message not in open_messages:
            session.add(
                ErrorReport(
                    order_no=order.order_no,
                    step=release_step,
                    message=failure.message,
                    created_at=now,
                )
            )
    order.state = (
        OrderState.HELD_CREDIT
        if any(failure.kind == "credit_line" for failure in failures)
        else OrderState.HELD_PREPAYMENT
    )
    existing = session.get(AutoQueueEntry, order.order_no)
    previous = (
        QueueEntryValue(
            order_no=existing.order_no,
            step=Step(existing.step.value),
            message=existing.message,
            failed_at=existing.failed_at,
            next_retry_at=existing.next_retry_at,
            attempts=existing.attempts,
        )
        if existing is not None
        else None
    )
    entry = record_failure(order.order_no, failures, now, settings.retry_in_minutes, previous)
    if existing is None:
        session.add(
            AutoQueueEntry(
                order_no=entry.order_no,
                step=release_step,
                message=entry.message,
                failed_at=entry.failed_at,
                next_retry_at=entry.next_retry_at,
                attempts=entry.attempts,
            )
        )
    else:
        existing.step = release_step
        existing.message = entry.message
        existing.failed_at = entry.failed_at
        existing.next_retry_at = entry.next_retry_at
        existing.attempts = entry.attempts


def _clear(session: Session, order: SalesOrder, now: datetime) -> None:
    for report in session.scalars(
        select(ErrorReport).where(
            ErrorReport.order_no == order.order_no, ErrorReport.resolved_at.is_(None)
        )
    ):
        report.resolved_at = now
    queued = session.get(AutoQueueEntry, order.order_no)
    if queued is not None:
        session.delete(queued)
    if order.state in {OrderState.HELD_CREDIT, OrderState.HELD_PREPAYMENT}:
        order.state = OrderState.NEW
