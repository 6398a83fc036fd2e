"""Invoice debtors: create, read, set the credit line and what is outstanding, record payments.

The outstanding amounts are what the accounting system holds; they are set here as it reports
them, and a payment does not change them, so a payment is never counted twice once the
accounting system reports it too. A payment against an order raises that order's amount paid,
which is what the prepayment check reads.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, status

from cloud_bridge.api.audit_trail import record_change
from cloud_bridge.api.auth import PrincipalDep
from cloud_bridge.api.dependencies import TransactionsDep
from cloud_bridge.api.error_handlers import errors_documented
from cloud_bridge.api.errors import ConflictError
from cloud_bridge.api.fields import MAX_AMOUNT
from cloud_bridge.api.lookups import require, require_order
from cloud_bridge.api.schemas_credit import (
    CreditLineIn,
    DebtorIn,
    DebtorOut,
    OutstandingIn,
    PaymentIn,
    PaymentOut,
)
from cloud_bridge.api.transaction import Unit
from cloud_bridge.api.views import debtor_view
from cloud_bridge.db.models import Debtor, OrderState, Payment

__all__ = ["router"]

router = APIRouter(tags=["debtors"])

DebtorNo = Annotated[str, Path(description="The debtor's number.")]


def _credit(debtor: Debtor) -> dict[str, Any]:
    """What the credit check reads from a debtor, for the audit trail."""
    return {
        "credit_line": debtor.credit_line,
        "open_invoices": debtor.open_invoices,
        "shipped_not_invoiced": debtor.shipped_not_invoiced,
    }


@router.post(
    "/debtors",
    status_code=status.HTTP_201_CREATED,
    summary="Create a debtor",
    description="Adds an invoice debtor. A null credit line is no limit; 0 is a real limit "
    "that refuses any order with a positive total.",
    responses=errors_documented(409),
)
async def post_debtor(
    body: DebtorIn, transactions: TransactionsDep, who: PrincipalDep
) -> DebtorOut:
    def work(unit: Unit) -> DebtorOut:
        if unit.session.get(Debtor, body.debtor_no) is not None:
            raise ConflictError(
                "debtor_no", "a new debtor number", f"debtor {body.debtor_no!r} already exists"
            )
        debtor = Debtor(**body.model_dump())
        unit.session.add(debtor)
        unit.session.flush()
        unit.session.refresh(debtor)  # the stored values, at money's four places
        record_change(
            unit,
            who,
            action="debtor.create",
            subject=f"debtor:{body.debtor_no}",
            after={"name": debtor.name, **_credit(debtor)},
        )
        return debtor_view(debtor)

    return await transactions.run(work)


@router.get(
    "/debtors/{debtor_no}",
    summary="Read a debtor",
    description="The debtor's credit line and outstanding amounts.",
    responses=errors_documented(404),
)
async def get_debtor(debtor_no: DebtorNo, transactions: TransactionsDep) -> DebtorOut:
    def work(unit: Unit) -> DebtorOut:
        return debtor_view(require(unit.session, Debtor, debtor_no, field="debtor_no"))

    return await transactions.run(work)


@router.put(
    "/debtors/{debtor_no}/credit-line",
    summary="Set a debtor's credit line",
    description='`null` removes the limit; `"0"` is a real limit of nothing. Held orders are '
    "checked against it on their next retry.",
    responses=errors_documented(404),
)
async def put_credit_line(
    debtor_no: DebtorNo, body: CreditLineIn, transactions: TransactionsDep, who: PrincipalDep
) -> DebtorOut:
    def work(unit: Unit) -> DebtorOut:
        debtor = require(unit.session, Debtor, debtor_no, field="debtor_no")
        before = {"credit_line": debtor.credit_line}
        debtor.credit_line = body.credit_line
        unit.session.flush()
        unit.session.refresh(debtor)  # the stored values, at money's four places
        record_change(
            unit,
            who,
            action="debtor.credit_line.set",
            subject=f"debtor:{debtor_no}",
            before=before,
            after={"credit_line": debtor.credit_line},
        )
        return debtor_view(debtor)

    return await transactions.run(work)


@router.put(
    "/debtors/{debtor_no}/outstanding",
    summary="Set what a debtor owes",
    description="Open invoices and shipped-but-not-invoiced amounts, as the accounting system "
    "reports them; the credit check counts them per the risk control setting.",
    responses=errors_documented(404),
)
async def put_outstanding(
    debtor_no: DebtorNo, body: OutstandingIn, transactions: TransactionsDep, who: PrincipalDep
) -> DebtorOut:
    def work(unit: Unit) -> DebtorOut:
        debtor = require(unit.session, Debtor, debtor_no, field="debtor_no")
        before = _credit(debtor)
        debtor.open_invoices = body.open_invoices
        debtor.shipped_not_invoiced = body.shipped_not_invoiced
        unit.session.flush()
        unit.session.refresh(debtor)  # the stored values, at money's four places
        record_change(
            unit,
            who,
            action="debtor.outstanding.set",
            subject=f"debtor:{debtor_no}",
            before=before,
            after=_credit(debtor),
        )
        return debtor_view(debtor)

    return await transactions.run(work)


@router.post(
    "/debtors/{debtor_no}/payments",
    status_code=status.HTTP_201_CREATED,
    summary="Record a payment",
    description="Records money received. With `order_no`, the order (invoiced to this debtor "
    "and not cancelled) has its amount paid raised by the amount, which a prepayment order "
    "needs before it may be picked. Refused (409) if the order is invoiced to another debtor, "
    f"is cancelled, or would have more than {MAX_AMOUNT} paid.",
    responses=errors_documented(404, 409),
)
async def post_payment(
    debtor_no: DebtorNo, body: PaymentIn, transactions: TransactionsDep, who: PrincipalDep
) -> PaymentOut:
    def work(unit: Unit) -> PaymentOut:
        session = unit.session
        require(session, Debtor, debtor_no, field="debtor_no")
        paid_now = paid_before = None
        if body.order_no is not None:
            order = require_order(session, body.order_no)
            if order.invoice_debtor_no != debtor_no:
                raise ConflictError(
                    "order_no",
                    f"an order invoiced to debtor {debtor_no}",
                    f"order {order.order_no} is invoiced to debtor {order.invoice_debtor_no}, "
                    f"not {debtor_no}",
                )
            if order.state is OrderState.CANCELLED:
                raise ConflictError(
                    "order_no",
                    "an order that is not cancelled",
                    f"order {order.order_no} is cancelled; record the payment without it",
                )
            paid_before = order.amount_paid
            _refuse_beyond_max_amount(order.order_no, paid_before, body.amount)
            order.amount_paid += body.amount
            paid_now = order.amount_paid
        payment = Payment(
            debtor_no=debtor_no, order_no=body.order_no, amount=body.amount, received_at=unit.now
        )
        session.add(payment)
        session.flush()
        session.refresh(payment)
        record_change(
            unit,
            who,
            action="debtor.payment.record",
            subject=f"debtor:{debtor_no}",
            before=None if body.order_no is None else {"order_amount_paid": paid_before},
            after={
                "payment_id": payment.id,
                "amount": payment.amount,
                "order_no": body.order_no,
                "order_amount_paid": paid_now,
            },
        )
        return PaymentOut(
            id=payment.id,
            debtor_no=debtor_no,
            order_no=body.order_no,
            amount=payment.amount,
            received_at=payment.received_at,
            order_amount_paid=paid_now,
        )

    return await transactions.run(work)


def _refuse_beyond_max_amount(order_no: str, paid: Decimal, amount: Decimal) -> None:
    """Refuse a payment that would raise an order's amount paid past what the bridge keeps."""
    if paid + amount > MAX_AMOUNT:
        raise ConflictError(
            "amount",
            f"at most {MAX_AMOUNT - paid} (what order {order_no} can still be paid)",
            f"order {order_no} has {paid} paid; {amount} more would make {paid + amount}, "
            f"above the largest amount the bridge keeps ({MAX_AMOUNT})",
        )
