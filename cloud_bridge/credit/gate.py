"""The credit-line and prepayment gate an order must pass before it may be picked.

Credit is already checked when an order is authorised, but time passes between authorising an
order and sending it to picking: invoices fall due, other orders ship. The gate therefore runs
again at each of the four steps that move an order towards the floor (`Step`), so an order is
never picked only to be refused at the delivery note.

Rules, in the source document's words where it has them:

- Everything here is done only "when the setting 'Check credit line' is enabled". The document
  lists both checks under that sentence, and says that to send an order that fails you "will
  have to disable the setting 'Check credit line', or temporarily increase the credit limit".
  With the setting off, neither the credit line nor the prepayment is checked.
- The invoice debtor's credit line is checked against its outstanding amounts (only the kinds
  the risk control setting selects) plus the TOTAL amount of the order, never the part that can
  be fulfilled now. A line that is "exceeded" is strictly passed: exposure equal to the limit
  passes. A missing credit line means no limit; a credit line of 0 is a real limit.
- A prepayment order must be fully paid: the amount paid must reach the amount to pay.
- Both checks always run, and every failing check is reported, so the error report names every
  reason at once instead of revealing them one retry at a time.
- Nothing can overrule a failure: there is deliberately no override parameter.

The functions are pure. Reading the debtor's exposure (excluding the order being checked) and
writing the error report belong to the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import MAX_PREC, Decimal, localcontext
from enum import StrEnum
from types import MappingProxyType
from typing import Literal, get_args

from cloud_bridge.errors import BridgeError

__all__ = [
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
    "exposure",
    "prepayment_message",
    "prepayment_outstanding",
]

OrderType = Literal["normal", "prepayment"]
FailureKind = Literal["credit_line", "prepayment"]


class CreditInputError(BridgeError, ValueError):
    """An order, debtor or setting handed to the gate is not something the gate can judge."""


class Step(StrEnum):
    """The four steps at which the gate runs; each is a moment an order moves nearer picking."""

    ADVICE = "advice"
    SEND_TO_SCANNER = "send_to_scanner"
    REPLENISHMENT = "replenishment"
    AUTOPACK = "autopack"


class OutstandingKind(StrEnum):
    """The kinds of outstanding amount that the risk control setting may count against a limit."""

    OPEN_INVOICES = "open_invoices"
    SHIPPED_NOT_INVOICED = "shipped_not_invoiced"
    OPEN_ORDERS = "open_orders"


def _require_money(name: str, value: object) -> Decimal:
    """Refuse anything but a finite Decimal, so a float or NaN can never decide a credit check."""
    if not isinstance(value, Decimal):
        raise CreditInputError(f"{name} must be a Decimal, got {type(value).__name__}: {value!r}")
    if not value.is_finite():
        raise CreditInputError(f"{name} must be a finite amount, got {value}")
    return value


def _require_not_negative(name: str, value: object) -> None:
    if _require_money(name, value) < 0:
        raise CreditInputError(f"{name} must be zero or more, got {value}")


def _require_text(name: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise CreditInputError(f"{name} must be a non-empty string, got {value!r}")


@dataclass(frozen=True, slots=True)
class CreditSettings:
    """The gate's settings: whether it runs at all, and which outstanding kinds count."""

    check_credit_line: bool = True
    risk_control: frozenset[OutstandingKind] = frozenset(OutstandingKind)

    def __post_init__(self) -> None:
        if not isinstance(self.check_credit_line, bool):
            raise CreditInputError(
                f"check_credit_line must be true or false, got {self.check_credit_line!r}"
            )
        if not isinstance(self.risk_control, frozenset):
            raise CreditInputError(
                f"risk_control must be a frozenset of OutstandingKind, got {self.risk_control!r}"
            )
        for kind in self.risk_control:
            if not isinstance(kind, OutstandingKind):
                raise CreditInputError(
                    f"risk_control may hold only {sorted(OutstandingKind)}, got {kind!r}"
                )


@dataclass(frozen=True, slots=True)
class DebtorExposure:
    """What the invoice debtor already owes or has on order, excluding the order being checked.

    `credit_line` None means the debtor has no limit; `Decimal(0)` is a real limit of nothing.
    A kind missing from `outstanding` counts as zero. Outstanding amounts may be negative (a
    credit balance), but a credit line may not.
    """

    debtor_no: str
    credit_line: Decimal | None
    outstanding: Mapping[OutstandingKind, Decimal] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def __post_init__(self) -> None:
        _require_text("debtor_no", self.debtor_no)
        if self.credit_line is not None:
            _require_not_negative(f"credit_line of debtor {self.debtor_no}", self.credit_line)
        if not isinstance(self.outstanding, Mapping):
            raise CreditInputError(
                f"outstanding of debtor {self.debtor_no} must map OutstandingKind to Decimal, "
                f"got {self.outstanding!r}"
            )
        for kind, amount in self.outstanding.items():
            if not isinstance(kind, OutstandingKind):
                raise CreditInputError(
                    f"outstanding of debtor {self.debtor_no} may be keyed only by "
                    f"{sorted(OutstandingKind)}, got {kind!r}"
                )
            _require_money(f"outstanding {kind} of debtor {self.debtor_no}", amount)
        # A frozen copy, so a caller mutating its dict cannot change a decision after the fact.
        object.__setattr__(self, "outstanding", MappingProxyType(dict(self.outstanding)))


@dataclass(frozen=True, slots=True)
class OrderForCheck:
    """The order as the gate sees it: its whole value and, for prepayment, what has been paid.

    `total_amount` is the total of the whole order; there is deliberately no field for the part
    that can be fulfilled now, because the check must never use it.
    """

    order_no: str
    order_type: OrderType
    total_amount: Decimal
    amount_paid: Decimal
    amount_to_pay: Decimal

    def __post_init__(self) -> None:
        _require_text("order_no", self.order_no)
        if self.order_type not in get_args(OrderType):
            raise CreditInputError(
                f"order_type of order {self.order_no} must be one of {get_args(OrderType)}, "
                f"got {self.order_type!r}"
            )
        _require_not_negative(f"total_amount of order {self.order_no}", self.total_amount)
        _require_not_negative(f"amount_paid of order {self.order_no}", self.amount_paid)
        _require_not_negative(f"amount_to_pay of order {self.order_no}", self.amount_to_pay)


@dataclass(frozen=True, slots=True)
class CheckFailure:
    """One failed check: the step it failed at, which check, and the error report's message."""

    step: Step
    kind: FailureKind
    message: str


def credit_line_exceeded_message(order_no: str, debtor_no: str) -> str:
    """The error report's message for a credit line failure, exactly as the source gives it."""
    return f"Order ({order_no}): Invoice debtor ({debtor_no}): Credit line exceeded."


def prepayment_message(order_no: str, debtor_no: str) -> str:
    """The error report's message for an unpaid prepayment order, exactly as the source gives it.

    The source has no full stop at the end of this one, unlike the credit line message.
    """
    return (
        f"Order ({order_no}): Invoice debtor ({debtor_no}): "
        "Not allowed: Fulfilment. Reason: Prepayment"
    )


def exposure(debtor: DebtorExposure, risk_control: frozenset[OutstandingKind]) -> Decimal:
    """The debtor's outstanding amount, counting only the kinds risk control selects."""
    with localcontext(prec=MAX_PREC):  # exact: rounding must never tip a credit decision
        return sum(
            (debtor.outstanding.get(kind, Decimal(0)) for kind in sorted(risk_control)),
            Decimal(0),
        )


def credit_line_exceeded(
    order: OrderForCheck, debtor: DebtorExposure, risk_control: frozenset[OutstandingKind]
) -> bool:
    """Whether exposure plus the order's total goes over the debtor's credit line.

    This ignores the 'Check credit line' setting on purpose: the source keeps the credit line
    validation at fulfilment of an order "regardless of this setting", and that caller needs the
    bare rule. Equal to the limit is not over it.
    """
    if debtor.credit_line is None:
        return False
    with localcontext(prec=MAX_PREC):
        return exposure(debtor, risk_control) + order.total_amount > debtor.credit_line


def prepayment_outstanding(order: OrderForCheck) -> bool:
    """Whether a prepayment order has not yet been paid in full; never true for other orders."""
    return order.order_type == "prepayment" and order.amount_paid < order.amount_to_pay


def check_order(
    order: OrderForCheck, debtor: DebtorExposure, settings: CreditSettings, step: Step
) -> tuple[CheckFailure, ...]:
    """Every reason the order may not move on at this step; empty when it may.

    `debtor` must be the order's invoice debtor. Failures come in a fixed order, credit line
    first, as the source lists them. An empty tuple is falsy, so `if check_order(...):` reads as
    "if the order is stopped".
    """
    if not isinstance(step, Step):
        raise CreditInputError(f"step must be one of {[str(s) for s in Step]}, got {step!r}")
    if not settings.check_credit_line:
        return ()
    failures: list[CheckFailure] = []
    if credit_line_exceeded(order, debtor, settings.risk_control):
        message = credit_line_exceeded_message(order.order_no, debtor.debtor_no)
        failures.append(CheckFailure(step=step, kind="credit_line", message=message))
    if prepayment_outstanding(order):
        message = prepayment_message(order.order_no, debtor.debtor_no)
        failures.append(CheckFailure(step=step, kind="prepayment", message=message))
    return tuple(failures)
