"""Read models: rows of the database turned into the API's response bodies.

Each is built inside the request's transaction, so the numbers in one response agree with
each other (on hand, allocated and available come from one snapshot).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud_bridge.api.schemas import (
    AccountOut,
    AllocationOut,
    AllocationRunOut,
    DeliverToOut,
    HeldOrderOut,
    LineOut,
    LocationStockOut,
    OrderOut,
    OrderSummaryOut,
    ProductOut,
    StockLevelOut,
    UnfilledLineOut,
)
from cloud_bridge.api.schemas_credit import DebtorOut
from cloud_bridge.credit import Step
from cloud_bridge.db.models import (
    Account,
    Allocation,
    AllocationState,
    Debtor,
    Product,
    SalesOrder,
    StockItem,
)
from cloud_bridge.services.allocate import AllocationRun
from cloud_bridge.services.gate import order_total

__all__ = [
    "account_view",
    "allocation_run_view",
    "debtor_view",
    "order_summary",
    "order_view",
    "product_view",
    "stock_levels",
]


def order_summary(order: SalesOrder) -> OrderSummaryOut:
    """The order without its lines."""
    return OrderSummaryOut(
        order_no=order.order_no,
        account=order.account_id,
        invoice_debtor=order.invoice_debtor_no,
        order_type=order.order_type,
        state=order.state,
        version=order.version,
        station=order.station_id,
        promised_date=order.promised_date,
        service_level=order.service_level,
        total=order_total(order.lines),
        amount_paid=order.amount_paid,
        created_at=order.created_at,
    )


def order_view(session: Session, order: SalesOrder) -> OrderOut:
    """The order with its lines, delivery details and active allocations."""
    active = list(
        session.scalars(
            select(Allocation)
            .where(
                Allocation.order_no == order.order_no,
                Allocation.state == AllocationState.ACTIVE,
            )
            .order_by(Allocation.line_id, Allocation.id)
        )
    )
    per_line: dict[str, int] = defaultdict(int)
    for allocation in active:
        per_line[allocation.line_id] += allocation.quantity
    return OrderOut(
        **order_summary(order).model_dump(),
        deliver_to=DeliverToOut(
            name=order.deliver_to_name,
            line1=order.deliver_to_line1,
            line2=order.deliver_to_line2,
            city=order.deliver_to_city,
            postal_code=order.deliver_to_postal_code,
            country=order.deliver_to_country,
        ),
        carrier=order.carrier,
        lines=[
            LineOut(
                line_id=line.line_id,
                sku=line.sku,
                quantity=line.quantity,
                shipped_quantity=line.shipped_quantity,
                allocated_quantity=per_line[line.line_id],
                unit_price=line.unit_price,
                tax_rate=line.tax_rate,
                policy=line.policy,
            )
            for line in order.lines
        ],
        allocations=[
            AllocationOut(
                line_id=row.line_id,
                sku=row.sku,
                from_account=row.from_account_id,
                quantity=row.quantity,
                borrowed=row.borrowed,
                created_at=row.created_at,
            )
            for row in active
        ],
    )


def allocation_run_view(run: AllocationRun, step: Step) -> AllocationRunOut:
    """What an allocation run did, with each held order's exact error report messages."""
    return AllocationRunOut(
        step=step,
        orders_checked=run.orders_checked,
        grants=run.grants,
        units=run.units,
        borrowed_units=run.borrowed_units,
        held=[
            HeldOrderOut(
                order_no=outcome.order_no,
                step=outcome.step,
                messages=[failure.message for failure in outcome.failures],
            )
            for outcome in run.held
        ],
        unfilled=[
            UnfilledLineOut(
                order_no=order_no,
                line_id=line_id,
                units=units,
                reason=run.reasons.get((order_no, line_id)),
            )
            for (order_no, line_id), units in sorted(run.unfilled.items())
        ],
    )


def account_view(account: Account) -> AccountOut:
    """The account, its flags and its links in fallback order."""
    return AccountOut(
        id=account.id,
        name=account.name,
        order_from_linked=account.order_from_linked,
        pick_from_linked_if_unavailable=account.pick_from_linked_if_unavailable,
        linked_account_ids=[
            link.linked_account_id for link in sorted(account.links, key=lambda x: x.position)
        ],
    )


def product_view(product: Product) -> ProductOut:
    return ProductOut(
        sku=product.sku,
        gtin=product.gtin,
        pack_size=product.pack_size,
        sage_item_id=product.sage_item_id,
        description=product.description,
        unit_price=product.unit_price,
    )


def debtor_view(debtor: Debtor) -> DebtorOut:
    return DebtorOut(
        debtor_no=debtor.debtor_no,
        name=debtor.name,
        credit_line=debtor.credit_line,
        open_invoices=debtor.open_invoices,
        shipped_not_invoiced=debtor.shipped_not_invoiced,
    )


def _allocated(
    session: Session, account: str | None, sku: str | None, *, borrowed_only: bool
) -> dict[tuple[str, str], int]:
    query = (
        select(Allocation.from_account_id, Allocation.sku, func.sum(Allocation.quantity))
        .where(Allocation.state == AllocationState.ACTIVE)
        .group_by(Allocation.from_account_id, Allocation.sku)
    )
    if account is not None:
        query = query.where(Allocation.from_account_id == account)
    if sku is not None:
        query = query.where(Allocation.sku == sku)
    if borrowed_only:
        query = query.where(Allocation.borrowed.is_(True))
    return {(owner, item): int(total) for owner, item, total in session.execute(query)}


def stock_levels(
    session: Session, *, account: str | None = None, sku: str | None = None
) -> list[StockLevelOut]:
    """Stock per account and product: on hand, allocated, available and lent to linked accounts.

    Available is derived from the allocation ledger here, as everywhere; nothing stores it.
    """
    items = select(StockItem).order_by(StockItem.location_id)
    if account is not None:
        items = items.where(StockItem.account_id == account)
    if sku is not None:
        items = items.where(StockItem.sku == sku)
    locations: dict[tuple[str, str], list[LocationStockOut]] = defaultdict(list)
    for item in session.scalars(items):
        locations[(item.account_id, item.sku)].append(
            LocationStockOut(location=item.location_id, on_hand=item.on_hand)
        )
    allocated = _allocated(session, account, sku, borrowed_only=False)
    lent = _allocated(session, account, sku, borrowed_only=True)
    return [
        _level(key, locations.get(key, []), allocated.get(key, 0), lent.get(key, 0))
        for key in sorted(set(locations) | set(allocated))
    ]


def _level(
    key: tuple[str, str], locations: Iterable[LocationStockOut], allocated: int, lent: int
) -> StockLevelOut:
    where = list(locations)
    on_hand = sum(location.on_hand for location in where)
    return StockLevelOut(
        account=key[0],
        sku=key[1],
        on_hand=on_hand,
        allocated=allocated,
        available=on_hand - allocated,
        borrowed_by_others=lent,
        locations=where,
    )
