"""Datasets whose rows change until they settle, each exported once, settled.

- Allocations: once consumed (shipped) or released. An active allocation still changes (a
  part of it can be split off, its state ends), so it waits as pending. Borrowed ones carry
  ``borrowed`` and the account lent from; ``order_account_id`` is whose order it served.
- Sage postings, with their lines: once posted, refused (failed) or dismissed. A pending
  posting is retried and changes state; its lines are fixed when it is written.
- Orders, with their lines: once shipped or cancelled and off every station with nothing picked.
  Orders have no id that grows and no "updated at", so new orders are found by ``created_at``,
  re-reading the late-commit window before the previous run and skipping those already seen;
  unsettled ones wait as pending. A shipment correction can change a settled order's shipped
  quantities afterwards; that change is exported as a shipment correction, not as the order again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cloud_bridge.db.models import (
    Allocation,
    AllocationState,
    OrderState,
    Posting,
    PostingState,
    SalesOrder,
)
from cloud_bridge.export.id_cursor import IdRead, read_by_id
from cloud_bridge.export.watermark import IdCursor, OrderCursor
from cloud_bridge.export.window import ReadWindow

__all__ = ["OrderRead", "read_allocations", "read_orders", "read_postings", "settled_order"]

_CHUNK = 500
_SETTLED_ORDER_STATES = frozenset({OrderState.SHIPPED, OrderState.CANCELLED})


def read_allocations(session: Session, cursor: IdCursor, window: ReadWindow) -> IdRead[Allocation]:
    """Allocations that have ended since the last run, in id order."""
    return read_by_id(
        session,
        Allocation,
        Allocation.id,
        cursor,
        now=window.now,
        late_window=window.late_window,
        settled=lambda row: row.state is not AllocationState.ACTIVE,
        wanted=lambda row: window.includes(row.released_at),
    )


def read_postings(session: Session, cursor: IdCursor, window: ReadWindow) -> IdRead[Posting]:
    """Sage postings that have left the pending state since the last run, with their lines."""
    return read_by_id(
        session,
        Posting,
        Posting.id,
        cursor,
        now=window.now,
        late_window=window.late_window,
        settled=lambda row: row.state is not PostingState.PENDING,
        wanted=lambda row: window.includes(row.created_at),
        options=[selectinload(Posting.lines)],
    )


@dataclass(frozen=True)
class OrderRead:
    """The settled orders to export, in order number order, and the cursor to store."""

    orders: list[SalesOrder]
    cursor: OrderCursor


def settled_order(order: SalesOrder) -> bool:
    """Shipped or cancelled, at no station, nothing picked: nothing but a correction changes it."""
    return (
        order.state in _SETTLED_ORDER_STATES
        and order.station_id is None
        and all(line.picked_quantity == 0 for line in order.lines)
    )


def read_orders(session: Session, cursor: OrderCursor, window: ReadWindow) -> OrderRead:
    """New orders (by creation time, with the overlap) and pending ones; settled ones export."""
    every = select(SalesOrder).options(selectinload(SalesOrder.lines))
    query = every
    if cursor.created_through is not None:
        query = query.where(SalesOrder.created_at > cursor.created_through - window.late_window)
    elif window.since is not None:
        query = query.where(SalesOrder.created_at >= window.since)
    fetched = list(session.scalars(query))
    recent_from = window.now - window.late_window
    recent = frozenset(order.order_no for order in fetched if order.created_at > recent_from)
    seen = cursor.recent | cursor.pending
    candidates = [order for order in fetched if order.order_no not in seen]
    for chunk in _chunks(sorted(cursor.pending)):
        candidates.extend(session.scalars(every.where(SalesOrder.order_no.in_(chunk))))
    candidates = [order for order in candidates if window.includes(order.created_at)]
    candidates.sort(key=lambda order: order.order_no)
    pending = frozenset(order.order_no for order in candidates if not settled_order(order))
    return OrderRead(
        orders=[order for order in candidates if settled_order(order)],
        cursor=OrderCursor(created_through=window.now, pending=pending, recent=recent),
    )


def _chunks(keys: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(keys), _CHUNK):
        yield keys[start : start + _CHUNK]
