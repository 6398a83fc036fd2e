"""Inventory by account and product, with what each account borrows from its linked accounts.

A borrow is an allocation flagged ``borrowed``: its ``from_account_id`` is the lender, and the
order's account is the borrower. Like everywhere else, available stock is derived from the
ledger (on hand minus active allocations) and never stored. An account that holds none of a
product but borrows it is listed too, since that is exactly the row a manager looks for.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from cloud_bridge.dashboard.paging import Page, page_of
from cloud_bridge.dashboard.schemas import BorrowOut, InventoryRowOut
from cloud_bridge.db.ledger import Allocation, AllocationState
from cloud_bridge.db.orders import SalesOrder
from cloud_bridge.db.stock import StockItem

__all__ = ["inventory_page"]

Key = tuple[str, str]


def inventory_page(
    session: Session, *, account: str | None, sku: str | None, limit: int, offset: int
) -> Page[InventoryRowOut]:
    """(account, product) rows by account then product, optionally of one account or product.

    The pairs are few (accounts times products, whatever the order history), so they are put
    together and paged here; the borrowed allocations are read in one grouped pass.
    """
    borrowed = _borrowed(session, account, sku)
    keys = sorted(set(_owned_keys(session, account, sku)) | set(borrowed))
    page = keys[offset : offset + limit]
    accounts = sorted({key[0] for key in page})
    skus = sorted({key[1] for key in page})
    on_hand = _on_hand(session, accounts, skus)
    allocated = _from_own_stock(session, accounts, skus, borrowed_only=False)
    lent = _from_own_stock(session, accounts, skus, borrowed_only=True)
    items = [
        InventoryRowOut(
            account=key[0],
            sku=key[1],
            on_hand=on_hand.get(key, 0),
            allocated=allocated.get(key, 0),
            available=on_hand.get(key, 0) - allocated.get(key, 0),
            lent=lent.get(key, 0),
            borrowed=sum(units for _, units in borrowed.get(key, [])),
            borrowed_from=[
                BorrowOut(from_account=lender, units=units)
                for lender, units in sorted(borrowed.get(key, []))
            ],
        )
        for key in page
    ]
    return page_of(items, total=len(keys), limit=limit, offset=offset)


def _owned_keys(session: Session, account: str | None, sku: str | None) -> list[Key]:
    query = select(StockItem.account_id, StockItem.sku).distinct()
    if account is not None:
        query = query.where(StockItem.account_id == account)
    if sku is not None:
        query = query.where(StockItem.sku == sku)
    return [(owner, item) for owner, item in session.execute(query)]


def _on_hand(session: Session, accounts: list[str], skus: list[str]) -> dict[Key, int]:
    query = (
        select(StockItem.account_id, StockItem.sku, func.sum(StockItem.on_hand))
        .where(StockItem.account_id.in_(accounts), StockItem.sku.in_(skus))
        .group_by(StockItem.account_id, StockItem.sku)
    )
    return {(owner, item): int(units) for owner, item, units in session.execute(query)}


def _from_own_stock(
    session: Session, accounts: list[str], skus: list[str], *, borrowed_only: bool
) -> dict[Key, int]:
    """Active allocations out of each account's own stock (all, or only those lent out)."""
    query = (
        select(Allocation.from_account_id, Allocation.sku, func.sum(Allocation.quantity))
        .where(
            Allocation.state == AllocationState.ACTIVE,
            Allocation.from_account_id.in_(accounts),
            Allocation.sku.in_(skus),
        )
        .group_by(Allocation.from_account_id, Allocation.sku)
    )
    if borrowed_only:
        query = query.where(Allocation.borrowed == true())
    return {(owner, item): int(units) for owner, item, units in session.execute(query)}


def _borrowed(
    session: Session, account: str | None, sku: str | None
) -> dict[Key, list[tuple[str, int]]]:
    """Active borrowed units for each borrowing account's orders, per lending account.

    Reads only ``ACTIVE_BORROWED_INDEX``, the active borrowed allocations, never the history.
    """
    query = (
        select(
            SalesOrder.account_id,
            Allocation.sku,
            Allocation.from_account_id,
            func.sum(Allocation.quantity),
        )
        .join(SalesOrder, SalesOrder.order_no == Allocation.order_no)
        # ``== true()`` (not ``is_(True)``) so SQLite matches the partial index's condition.
        .where(Allocation.state == AllocationState.ACTIVE, Allocation.borrowed == true())
        .group_by(SalesOrder.account_id, Allocation.sku, Allocation.from_account_id)
    )
    if account is not None:
        query = query.where(SalesOrder.account_id == account)
    if sku is not None:
        query = query.where(Allocation.sku == sku)
    borrowed: dict[Key, list[tuple[str, int]]] = defaultdict(list)
    for borrower, item, lender, units in session.execute(query):
        borrowed[(borrower, item)].append((lender, int(units)))
    return borrowed
