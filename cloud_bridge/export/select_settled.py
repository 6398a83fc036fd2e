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
  quantities afterwards (and move a shipped order back to partially shipped or new); that change
  is exported as a shipment correction, not as the order again. A partially shipped order is not
  settled: the bridge keeps allocating its balance, so it waits as pending until the balance
  ships or the order is cancelled.

Each reader is a generator of batches whose return value is the cursor to store.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable

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
from cloud_bridge.export.chunks import CHUNK, chunked
from cloud_bridge.export.id_cursor import read_by_id
from cloud_bridge.export.watermark import IdCursor, OrderCursor
from cloud_bridge.export.window import ReadWindow

__all__ = ["read_allocations", "read_orders", "read_postings", "settled_order"]

_SETTLED_ORDER_STATES = frozenset({OrderState.SHIPPED, OrderState.CANCELLED})


def read_allocations(
    session: Session, cursor: IdCursor, window: ReadWindow
) -> Generator[list[Allocation], None, IdCursor]:
    """Allocations that have ended since the last run."""
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


def read_postings(
    session: Session, cursor: IdCursor, window: ReadWindow
) -> Generator[list[Posting], None, IdCursor]:
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


def settled_order(order: SalesOrder) -> bool:
    """Shipped or cancelled, at no station, nothing picked: nothing but a correction changes it."""
    return (
        order.state in _SETTLED_ORDER_STATES
        and order.station_id is None
        and all(line.picked_quantity == 0 for line in order.lines)
    )


def read_orders(
    session: Session, cursor: OrderCursor, window: ReadWindow
) -> Generator[list[SalesOrder], None, OrderCursor]:
    """Batches of settled orders: new ones (by creation time, with the overlap), then pending
    ones. Returns the cursor to store."""
    every = select(SalesOrder).options(selectinload(SalesOrder.lines))
    query = every.order_by(SalesOrder.created_at, SalesOrder.order_no)
    if cursor.created_through is not None:
        query = query.where(SalesOrder.created_at > cursor.created_through - window.late_window)
    elif window.since is not None:
        query = query.where(SalesOrder.created_at >= window.since)
    recent_from = window.now - window.late_window
    recent: set[str] = set()
    pending: set[str] = set()
    seen = cursor.recent | cursor.pending

    def take(orders: Iterable[SalesOrder]) -> list[SalesOrder]:
        chosen: list[SalesOrder] = []
        for order in orders:
            if not window.includes(order.created_at):
                continue
            if settled_order(order):
                chosen.append(order)
            else:
                pending.add(order.order_no)
        return chosen

    for batch in session.scalars(query.execution_options(yield_per=CHUNK)).partitions():
        recent.update(order.order_no for order in batch if order.created_at > recent_from)
        if chosen := take(order for order in batch if order.order_no not in seen):
            yield chosen
    for keys in chunked(sorted(cursor.pending)):
        pending_query = every.where(SalesOrder.order_no.in_(keys)).order_by(SalesOrder.order_no)
        if chosen := take(session.scalars(pending_query)):
            yield chosen
    return OrderCursor(
        created_through=window.now, pending=frozenset(pending), recent=frozenset(recent)
    )
