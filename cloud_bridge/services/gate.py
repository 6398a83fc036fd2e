"""The credit and prepayment gate wired to the database: exposure, the error report, the queue.

`cloud_bridge.credit` decides; this module gathers what it decides on and records the outcome.
The invoice debtor's exposure is its open invoices and shipped-but-not-invoiced amounts as held on
the debtor, plus the totals of its OTHER open orders (the order being checked is added by the
gate itself, at its total amount, never a partial one). A failure stops the order, writes each
exact message to the error report once, and schedules the auto queue's retry; a pass clears both.
Nothing here can overrule a failure: there is no parameter for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Select, func, select, type_coerce
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
    SalesOrder,
)
from cloud_bridge.db.types import Money
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


class GateLine(Protocol):
    @property
    def quantity(self) -> int: ...
    @property
    def unit_price(self) -> Decimal: ...
    @property
    def tax_rate(self) -> Decimal: ...


class GateOrder(Protocol):
    """What the gate reads of an order: a mapped `SalesOrder` or a lighter read-only view."""

    @property
    def order_no(self) -> str: ...
    @property
    def invoice_debtor_no(self) -> str: ...
    @property
    def order_type(self) -> OrderType: ...
    @property
    def amount_paid(self) -> Decimal: ...
    @property
    def state(self) -> OrderState: ...


@dataclass(frozen=True)
class GateOutcome:
    """How the gate ended for one order at one step, and the state the order must take."""

    order_no: str
    step: Step
    failures: tuple[CheckFailure, ...]
    new_state: OrderState | None = None
    """Held when it failed, new again when a held order passed; None: leave the state alone."""

    @property
    def passed(self) -> bool:
        return not self.failures


def order_total(lines: Iterable[GateLine]) -> Decimal:
    """The order's total amount including tax, over its whole quantities."""
    return sum(
        (line.quantity * line.unit_price * (1 + line.tax_rate) for line in lines), Decimal(0)
    )


def _line_value(units: Any) -> Any:
    """Units x price x (1 + tax) in SQL, typed as money so SQLite's scaled integers read back
    right (without the type the product comes back in ten-thousandths)."""
    return type_coerce(units * OrderLine.unit_price * (1 + OrderLine.tax_rate), Money)


def _unshipped_value() -> Any:
    return _line_value(OrderLine.quantity - OrderLine.shipped_quantity)


def _chunks(values: list[str], size: int = 5000) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class GateBatch:
    """The gate for many orders at once: every lookup is one query for the whole batch.

    A debtor's open-orders exposure is the unshipped value of all its open orders minus the
    order's own (the gate adds the order's TOTAL itself); both sums come from the same SQL
    expression, so they cancel exactly.
    """

    def __init__(
        self,
        session: Session,
        orders: Sequence[GateOrder],
        settings: BridgeSettings,
        now: datetime,
        *,
        batch: Select[Any] | None = None,
    ) -> None:
        """`batch`, when given, selects (a superset of) the orders' numbers for the lookups."""
        self._session = session
        self._settings = settings
        self._now = now
        order_nos = [order.order_no for order in orders]
        debtor_nos = sorted({order.invoice_debtor_no for order in orders})
        self._debtors = {
            debtor.debtor_no: debtor
            for chunk in _chunks(debtor_nos)
            for debtor in session.scalars(select(Debtor).where(Debtor.debtor_no.in_(chunk)))
        }
        self._open_by_debtor: dict[str, Decimal] = {}
        for chunk in _chunks(debtor_nos):
            rows = session.execute(
                select(SalesOrder.invoice_debtor_no, func.sum(_unshipped_value()))
                .join(OrderLine, OrderLine.order_no == SalesOrder.order_no)
                .where(SalesOrder.invoice_debtor_no.in_(chunk), SalesOrder.state.in_(OPEN_STATES))
                .group_by(SalesOrder.invoice_debtor_no)
            )
            self._open_by_debtor.update({debtor: Decimal(str(total)) for debtor, total in rows})
        self._own: dict[str, Decimal] = {}
        self._totals: dict[str, Decimal] = {}
        """Each order's total amount (whole quantities, with tax), summed in SQL."""
        self._open_reports: dict[str, set[str]] = {}
        self._queued: dict[str, AutoQueueEntry] = {}
        selections: list[Any] = [batch] if batch is not None else list(_chunks(order_nos))
        for chunk in selections:
            rows = session.execute(
                select(
                    OrderLine.order_no,
                    func.sum(_unshipped_value()),
                    func.sum(_line_value(OrderLine.quantity)),
                )
                .where(OrderLine.order_no.in_(chunk))
                .group_by(OrderLine.order_no)
            )
            for order_no, unshipped, total in rows:
                self._own[order_no] = Decimal(str(unshipped))
                self._totals[order_no] = Decimal(str(total))
            for order_no, message in session.execute(
                select(ErrorReport.order_no, ErrorReport.message).where(
                    ErrorReport.order_no.in_(chunk), ErrorReport.resolved_at.is_(None)
                )
            ):
                self._open_reports.setdefault(order_no, set()).add(message)
            for entry in session.scalars(
                select(AutoQueueEntry).where(AutoQueueEntry.order_no.in_(chunk))
            ):
                self._queued[entry.order_no] = entry

    def check(self, order: GateOrder, step: Step) -> GateOutcome:
        """Check one order of the batch and record the result (in the caller's transaction)."""
        total = self._totals.get(order.order_no, Decimal(0))
        check = OrderForCheck(
            order_no=order.order_no,
            order_type="prepayment" if order.order_type is OrderType.PREPAYMENT else "normal",
            total_amount=total,
            amount_paid=order.amount_paid,
            amount_to_pay=total,
        )
        credit = CreditSettings(
            check_credit_line=self._settings.check_credit_line,
            risk_control=self._settings.risk_control,
        )
        failures = check_order(check, self._exposure(order), credit, step)
        held = {OrderState.HELD_CREDIT, OrderState.HELD_PREPAYMENT}
        if failures:
            new_state = _record_failures(
                self._session,
                order,
                step,
                failures,
                self._settings,
                self._now,
                self._open_reports.get(order.order_no, set()),
                self._queued.get(order.order_no),
            )
            return GateOutcome(order.order_no, step, failures, new_state)
        if order.order_no in self._open_reports or order.order_no in self._queued:
            _clear(self._session, order.order_no, self._now)
        return GateOutcome(
            order.order_no, step, failures, OrderState.NEW if order.state in held else None
        )

    def _exposure(self, order: GateOrder) -> DebtorExposure:
        debtor = self._debtors.get(order.invoice_debtor_no)
        if debtor is None:  # pragma: no cover - the foreign key makes this impossible
            raise LookupError(f"order {order.order_no}: no debtor {order.invoice_debtor_no}")
        own = self._own.get(order.order_no, Decimal(0)) if order.state in OPEN_STATES else 0
        others = self._open_by_debtor.get(debtor.debtor_no, Decimal(0)) - own
        return DebtorExposure(
            debtor_no=debtor.debtor_no,
            credit_line=debtor.credit_line,
            outstanding={
                OutstandingKind.OPEN_INVOICES: debtor.open_invoices,
                OutstandingKind.SHIPPED_NOT_INVOICED: debtor.shipped_not_invoiced,
                OutstandingKind.OPEN_ORDERS: others,
            },
        )


def run_gate(
    session: Session, order: SalesOrder, step: Step, settings: BridgeSettings, now: datetime
) -> GateOutcome:
    """Check one mapped order at one step, record the result and set its state."""
    outcome = GateBatch(session, [order], settings, now).check(order, step)
    if outcome.new_state is not None:
        order.state = outcome.new_state
    return outcome


def _record_failures(  # noqa: PLR0917 - one private call site
    session: Session,
    order: GateOrder,
    step: Step,
    failures: tuple[CheckFailure, ...],
    settings: BridgeSettings,
    now: datetime,
    open_messages: set[str],
    existing: AutoQueueEntry | None,
) -> OrderState:
    for failure in failures:
        if failure.message not in open_messages:
            session.add(
                ErrorReport(
                    order_no=order.order_no,
                    step=step,
                    message=failure.message,
                    created_at=now,
                )
            )
    previous = (
        QueueEntryValue(
            order_no=existing.order_no,
            step=existing.step,
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
                step=step,
                message=entry.message,
                failed_at=entry.failed_at,
                next_retry_at=entry.next_retry_at,
                attempts=entry.attempts,
            )
        )
    else:
        existing.step = step
        existing.message = entry.message
        existing.failed_at = entry.failed_at
        existing.next_retry_at = entry.next_retry_at
        existing.attempts = entry.attempts
    if any(failure.kind == "credit_line" for failure in failures):
        return OrderState.HELD_CREDIT
    return OrderState.HELD_PREPAYMENT


def _clear(session: Session, order_no: str, now: datetime) -> None:
    for report in session.scalars(
        select(ErrorReport).where(
            ErrorReport.order_no == order_no, ErrorReport.resolved_at.is_(None)
        )
    ):
        report.resolved_at = now
    queued = session.get(AutoQueueEntry, order_no)
    if queued is not None:
        session.delete(queued)
