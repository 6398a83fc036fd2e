"""Orders: create, read, list, change a line's quantity, cancel; and run allocation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from cloud_bridge.api.audit_trail import record_change
from cloud_bridge.api.auth import PrincipalDep
from cloud_bridge.api.dependencies import SlotMapsDep, TransactionsDep
from cloud_bridge.api.error_handlers import errors_documented
from cloud_bridge.api.errors import ConflictError, NotFoundError
from cloud_bridge.api.fields import MAX_DATABASE_INT
from cloud_bridge.api.lookups import require, require_order
from cloud_bridge.api.schemas import (
    AllocationRunOut,
    CancelIn,
    OrderIn,
    OrderOut,
    OrderPage,
    QuantityIn,
)
from cloud_bridge.api.transaction import Unit
from cloud_bridge.api.views import allocation_run_view, order_summary, order_view
from cloud_bridge.credit import Step
from cloud_bridge.db.models import Account, Debtor, OrderState, Product, SalesOrder
from cloud_bridge.services.allocate import allocate
from cloud_bridge.services.orders import (
    NewLine,
    NewOrder,
    cancel_order,
    change_line_quantity,
    create_order,
)
from cloud_bridge.services.settings import load_settings

__all__ = ["router"]

router = APIRouter(tags=["orders"])

_FINAL = frozenset({OrderState.SHIPPED, OrderState.CANCELLED})
_OPEN_RULE = "an open order (not shipped or cancelled)"

OrderNo = Annotated[str, Path(description="The order's number.")]


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    summary="Create an order",
    description="Adds an order in state `new`. Its account, invoice debtor and every SKU must "
    "exist, and its number must be new. Allocation happens on the next run.",
    responses=errors_documented(404, 409),
)
async def post_order(body: OrderIn, transactions: TransactionsDep) -> OrderOut:
    def work(unit: Unit) -> OrderOut:
        session = unit.session
        if session.get(SalesOrder, body.order_no) is not None:
            raise ConflictError(
                "order_no", "a new order number", f"order {body.order_no!r} already exists"
            )
        require(session, Account, body.account, field="account")
        require(session, Debtor, body.invoice_debtor, field="invoice_debtor")
        for position, line in enumerate(body.lines):
            require(session, Product, line.sku, field=f"lines.{position}.sku")
        order = create_order(session, _new_order(body), now=unit.now)
        session.flush()
        return order_view(session, order)

    return await transactions.run(work)


def _new_order(body: OrderIn) -> NewOrder:
    address = body.deliver_to
    return NewOrder(
        order_no=body.order_no,
        account_id=body.account,
        invoice_debtor_no=body.invoice_debtor,
        lines=tuple(
            NewLine(
                line_id=line.line_id or str(position),
                sku=line.sku,
                quantity=line.quantity,
                unit_price=line.unit_price,
                tax_rate=line.tax_rate,
                policy=line.policy,
            )
            for position, line in enumerate(body.lines, 1)
        ),
        deliver_to_name=address.name,
        deliver_to_line1=address.line1,
        deliver_to_line2=address.line2,
        deliver_to_city=address.city,
        deliver_to_postal_code=address.postal_code,
        deliver_to_country=address.country,
        carrier=body.carrier,
        order_type=body.order_type,
        amount_paid=body.amount_paid,
        promised_date=body.promised_date,
        service_level=body.service_level,
    )


@router.get(
    "/orders/{order_no}",
    summary="Read an order",
    description="The order with its lines, state, version, station and active allocations, "
    "each naming the account whose stock it uses and whether it was borrowed.",
    responses=errors_documented(404),
)
async def get_order(order_no: OrderNo, transactions: TransactionsDep) -> OrderOut:
    def work(unit: Unit) -> OrderOut:
        return order_view(unit.session, require_order(unit.session, order_no))

    return await transactions.run(work)


@router.get(
    "/orders",
    summary="List orders",
    description="Orders matching every filter given, oldest first, a page at a time.",
)
async def list_orders(  # noqa: PLR0917 - one query parameter each
    transactions: TransactionsDep,
    state: Annotated[OrderState | None, Query(description="Only orders in this state.")] = None,
    account: Annotated[str | None, Query(description="Only this account's orders.")] = None,
    debtor: Annotated[str | None, Query(description="Only orders invoiced to this debtor.")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size.")] = 50,
    offset: Annotated[
        int, Query(ge=0, le=MAX_DATABASE_INT, description="Matching orders to skip.")
    ] = 0,
) -> OrderPage:
    def work(unit: Unit) -> OrderPage:
        query = select(SalesOrder)
        if state is not None:
            query = query.where(SalesOrder.state == state)
        if account is not None:
            query = query.where(SalesOrder.account_id == account)
        if debtor is not None:
            query = query.where(SalesOrder.invoice_debtor_no == debtor)
        total = unit.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        page = unit.session.scalars(
            query.options(selectinload(SalesOrder.lines))
            .order_by(SalesOrder.created_at, SalesOrder.order_no)
            .limit(limit)
            .offset(offset)
        )
        items = [order_summary(order) for order in page]
        return OrderPage(items=items, total=total, limit=limit, offset=offset)

    return await transactions.run(work)


@router.patch(
    "/orders/{order_no}/lines/{line_id}",
    summary="Change a line's quantity",
    description="Before despatch only, and never below what already shipped. Allocation above "
    "the new quantity is released, and a station holding the order is sent the new version.",
    responses=errors_documented(404, 409),
)
async def patch_line(
    order_no: OrderNo,
    line_id: Annotated[str, Path(description="The line's id within the order.")],
    body: QuantityIn,
    *,
    transactions: TransactionsDep,
    slot_maps: SlotMapsDep,
    who: PrincipalDep,
) -> OrderOut:
    def work(unit: Unit) -> OrderOut:
        session = unit.session
        order = require_order(session, order_no)
        line = next((line for line in order.lines if line.line_id == line_id), None)
        if line is None:
            raise NotFoundError(
                "line_id", "a line of the order", f"order {order_no} has no line {line_id!r}"
            )
        if order.state in _FINAL:
            raise ConflictError(
                "state", _OPEN_RULE, f"order {order_no} is {order.state.value}; it cannot change"
            )
        floor = max(1, line.shipped_quantity)
        if body.quantity < floor:
            raise ConflictError(
                "quantity",
                f"at least {floor} (shipped {line.shipped_quantity})",
                f"order {order_no} line {line_id}: quantity {body.quantity} is below the "
                f"{line.shipped_quantity} already shipped",
            )
        before = {"line_id": line_id, "quantity": line.quantity}
        unit.send(
            change_line_quantity(
                session, order_no, line_id, body.quantity, slot_maps=slot_maps, now=unit.now
            )
        )
        record_change(
            unit,
            who,
            action="order.line.quantity.set",
            subject=f"order:{order_no}",
            before=before,
            after={"line_id": line_id, "quantity": body.quantity},
        )
        return order_view(session, order)

    return await transactions.run(work)


@router.post(
    "/orders/{order_no}/cancel",
    summary="Cancel an order",
    description="Releases every active allocation and tells the order's station, if it has "
    "one. A shipped or already cancelled order cannot be cancelled.",
    responses=errors_documented(404, 409),
)
async def post_cancel(
    order_no: OrderNo, body: CancelIn, transactions: TransactionsDep, who: PrincipalDep
) -> OrderOut:
    def work(unit: Unit) -> OrderOut:
        order = require_order(unit.session, order_no)
        if order.state in _FINAL:
            raise ConflictError(
                "state",
                _OPEN_RULE,
                f"order {order_no} is {order.state.value}; it cannot be cancelled",
            )
        before = {"state": order.state}
        unit.send(cancel_order(unit.session, order_no, body.reason, now=unit.now))
        record_change(
            unit,
            who,
            action="order.cancel",
            subject=f"order:{order_no}",
            before=before,
            after={"state": order.state, "reason": body.reason},
        )
        return order_view(unit.session, order)

    return await transactions.run(work)


@router.post(
    "/allocation/run",
    summary="Run allocation",
    description="Gates every open order at step Advice, then allocates stock by quantity, "
    "primary account first, linked accounts only when both flags allow. Held orders are "
    "returned with the error report's exact messages.",
)
async def post_allocation_run(transactions: TransactionsDep) -> AllocationRunOut:
    def work(unit: Unit) -> AllocationRunOut:
        run = allocate(unit.session, load_settings(unit.session), step=Step.ADVICE, now=unit.now)
        return allocation_run_view(run, Step.ADVICE)

    return await transactions.run(work)
