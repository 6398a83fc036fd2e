"""Stock: receipts (which trigger replenishment allocation), adjustments, and stock levels.

An adjustment may never take a location below zero, nor an account's stock of a product below
what is actively allocated from it: those units are promised to orders, and letting on hand fall
under them would make the ledger promise stock that is not there. Such an adjustment is refused
naming the orders holding the stock, so someone can release or re-plan them first.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud_bridge.api.dependencies import TransactionsDep
from cloud_bridge.api.error_handlers import errors_documented
from cloud_bridge.api.errors import ConflictError
from cloud_bridge.api.fields import MAX_ON_HAND
from cloud_bridge.api.lookups import require
from cloud_bridge.api.schemas import (
    AdjustmentIn,
    AdjustmentOut,
    ReceiptIn,
    ReceiptOut,
    StockLevelOut,
    StockPage,
)
from cloud_bridge.api.transaction import Unit
from cloud_bridge.api.views import allocation_run_view, stock_levels
from cloud_bridge.credit import Step
from cloud_bridge.db import for_update
from cloud_bridge.db.models import (
    Account,
    Allocation,
    AllocationState,
    Location,
    OrderLine,
    OrderState,
    Product,
    SalesOrder,
    StockItem,
)
from cloud_bridge.services.allocate import AllocationRun, allocate
from cloud_bridge.services.settings import load_settings

__all__ = ["router"]

log = logging.getLogger("packline.bridge.api")

router = APIRouter(tags=["stock"])

_WAITING = (
    OrderState.NEW,
    OrderState.PARTIALLY_ALLOCATED,
    OrderState.PARTIALLY_SHIPPED,
    OrderState.HELD_CREDIT,
    OrderState.HELD_PREPAYMENT,
)
"""States of an order that may still be waiting for stock."""


def _stock_item(session: Session, account: str, sku: str, location: str) -> StockItem:
    """The locked stock row, created at zero (with its location) if there is none yet."""
    item = session.scalar(
        for_update(
            select(StockItem).where(
                StockItem.account_id == account,
                StockItem.sku == sku,
                StockItem.location_id == location,
            )
        )
    )
    if item is not None:
        return item
    if session.get(Location, location) is None:
        session.add(Location(id=location))
    item = StockItem(account_id=account, sku=sku, location_id=location, on_hand=0)
    session.add(item)
    session.flush()
    return item


def _level(session: Session, account: str, sku: str) -> StockLevelOut:
    return stock_levels(session, account=account, sku=sku)[0]


def _waiting_orders(session: Session, sku: str) -> list[str]:
    return list(
        session.scalars(
            select(OrderLine.order_no)
            .join(SalesOrder, SalesOrder.order_no == OrderLine.order_no)
            .where(
                OrderLine.sku == sku,
                SalesOrder.state.in_(_WAITING),
                SalesOrder.station_id.is_(None),
            )
            .distinct()
        )
    )


@router.post(
    "/stock/receipts",
    summary="Receive stock",
    description="Adds units to an account's stock at a location (created if new), then runs "
    "allocation at step Replenishment for the orders waiting on that SKU; the credit gate "
    "runs again for them first. Refused (409) if the location would hold more than "
    f"{MAX_ON_HAND} units.",
    responses=errors_documented(404, 409),
)
async def post_receipt(body: ReceiptIn, transactions: TransactionsDep) -> ReceiptOut:
    def work(unit: Unit) -> ReceiptOut:
        session = unit.session
        require(session, Account, body.account, field="account")
        require(session, Product, body.sku, field="sku")
        item = _stock_item(session, body.account, body.sku, body.location)
        _refuse_beyond_max_on_hand(item, body.quantity, body.location)
        item.on_hand += body.quantity
        session.flush()
        waiting = _waiting_orders(session, body.sku)
        run = (
            allocate(
                session,
                load_settings(session),
                step=Step.REPLENISHMENT,
                now=unit.now,
                order_nos=waiting,
            )
            if waiting
            else AllocationRun()
        )
        log.info(
            "stock received: account=%s sku=%s location=%s quantity=%d",
            body.account,
            body.sku,
            body.location,
            body.quantity,
        )
        return ReceiptOut(
            stock=_level(session, body.account, body.sku),
            allocation=allocation_run_view(run, Step.REPLENISHMENT),
        )

    return await transactions.run(work)


@router.post(
    "/stock/adjustments",
    summary="Adjust stock",
    description="Adds or removes units at a location with a reason. Refused (409) if the "
    "location would go below zero or above "
    f"{MAX_ON_HAND} units, or the account's stock of the product below what is "
    "actively allocated from it.",
    responses=errors_documented(404, 409),
)
async def post_adjustment(body: AdjustmentIn, transactions: TransactionsDep) -> AdjustmentOut:
    def work(unit: Unit) -> AdjustmentOut:
        session = unit.session
        require(session, Account, body.account, field="account")
        require(session, Product, body.sku, field="sku")
        item = _stock_item(session, body.account, body.sku, body.location)
        if item.on_hand + body.quantity < 0:
            raise ConflictError(
                "quantity",
                f"at least {-item.on_hand} (what is on hand at {body.location})",
                f"adjusting {body.sku} of account {body.account} at {body.location} by "
                f"{body.quantity} would leave {item.on_hand + body.quantity} on hand; "
                f"only {item.on_hand} are there",
            )
        _refuse_below_allocated(session, body)
        _refuse_beyond_max_on_hand(item, body.quantity, body.location)
        item.on_hand += body.quantity
        session.flush()
        log.info(
            "stock adjusted: account=%s sku=%s location=%s quantity=%d reason=%r",
            body.account,
            body.sku,
            body.location,
            body.quantity,
            body.reason,
        )
        return AdjustmentOut(
            location=body.location,
            quantity=body.quantity,
            reason=body.reason,
            stock=_level(session, body.account, body.sku),
        )

    return await transactions.run(work)


def _refuse_beyond_max_on_hand(item: StockItem, quantity: int, location: str) -> None:
    """Refuse units that would take one stock row past what the database column holds."""
    if item.on_hand + quantity > MAX_ON_HAND:
        raise ConflictError(
            "quantity",
            f"at most {MAX_ON_HAND - item.on_hand} (room left at {location})",
            f"{quantity} more would make {item.on_hand + quantity} on hand at {location}, "
            f"above the most one location holds ({MAX_ON_HAND})",
        )


def _refuse_below_allocated(session: Session, body: AdjustmentIn) -> None:
    if body.quantity > 0:
        return
    on_hand = session.scalar(
        select(func.coalesce(func.sum(StockItem.on_hand), 0)).where(
            StockItem.account_id == body.account, StockItem.sku == body.sku
        )
    )
    holders = session.execute(
        select(Allocation.order_no, func.sum(Allocation.quantity))
        .where(
            Allocation.from_account_id == body.account,
            Allocation.sku == body.sku,
            Allocation.state == AllocationState.ACTIVE,
        )
        .group_by(Allocation.order_no)
        .order_by(Allocation.order_no)
    ).all()
    allocated = sum(int(units) for _, units in holders)
    after = int(on_hand or 0) + body.quantity
    if after < allocated:
        orders = ", ".join(f"{order_no} ({int(units)})" for order_no, units in holders)
        raise ConflictError(
            "quantity",
            f"at least {allocated - int(on_hand or 0)} (keeping the {allocated} units "
            f"actively allocated from account {body.account})",
            f"adjusting {body.sku} of account {body.account} by {body.quantity} would leave "
            f"{after} on hand, below the {allocated} units actively allocated from account "
            f"{body.account} to orders {orders}; release or cancel them first",
        )


@router.get(
    "/stock",
    summary="Read stock levels",
    description="Per account and product: on hand (per location), allocated, available (on "
    "hand minus allocated, derived from the ledger) and the units borrowed by other accounts "
    "through links.",
    responses=errors_documented(404),
)
async def get_stock(
    transactions: TransactionsDep,
    account: Annotated[str | None, Query(description="Only this account's stock.")] = None,
    sku: Annotated[str | None, Query(description="Only this product.")] = None,
) -> StockPage:
    def work(unit: Unit) -> StockPage:
        if account is not None:
            require(unit.session, Account, account, field="account")
        if sku is not None:
            require(unit.session, Product, sku, field="sku")
        return StockPage(items=stock_levels(unit.session, account=account, sku=sku))

    return await transactions.run(work)
