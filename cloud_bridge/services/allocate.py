"""Allocation by quantity on the database: gate, lock, snapshot, plan, ledger.

One run, in one transaction:

1. the candidate orders (new, partially allocated, partially shipped with a balance, and held
   orders whose auto-queue retry is due) pass the credit gate at this step (Advice, or
   Replenishment when stock arrived); a failing order is held and goes no further;
2. the stock rows of every SKU involved are locked (`FOR UPDATE` on PostgreSQL, in a fixed order
   so two allocators cannot deadlock; SQLite's `BEGIN IMMEDIATE` already serialises writers), and
   only then is available stock derived: on hand minus active allocations, never a stored counter;
3. the pure planner decides, and its grants are written as allocation ledger rows that name the
   account whose stock each one uses and whether it was borrowed from a linked account.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, insert, or_, select
from sqlalchemy.orm import Session, selectinload

from cloud_bridge.allocation import AccountRules, LineDemand, plan
from cloud_bridge.credit import Step
from cloud_bridge.db import for_update
from cloud_bridge.db.models import (
    Account,
    Allocation,
    AllocationState,
    AutoQueueEntry,
    OrderState,
    Product,
    SalesOrder,
    StockItem,
)
from cloud_bridge.services.gate import GateOutcome, run_gate
from cloud_bridge.services.settings import BridgeSettings

__all__ = ["AllocationRun", "active_by_line", "allocate", "refresh_state"]

_CANDIDATE_STATES = (
    OrderState.NEW,
    OrderState.PARTIALLY_ALLOCATED,
    OrderState.PARTIALLY_SHIPPED,
)
_HELD_STATES = (OrderState.HELD_CREDIT, OrderState.HELD_PREPAYMENT)


@dataclass
class AllocationRun:
    """What one run did."""

    orders_checked: int = 0
    held: list[GateOutcome] = field(default_factory=list)
    grants: int = 0
    units: int = 0
    borrowed_units: int = 0
    unfilled: dict[tuple[str, str], int] = field(default_factory=dict)
    reasons: dict[tuple[str, str], str] = field(default_factory=dict)


def active_by_line(session: Session, order_nos: Iterable[str]) -> dict[tuple[str, str], int]:
    """Active allocated units per (order, line)."""
    wanted = list(order_nos)
    if not wanted:
        return {}
    rows = session.execute(
        select(Allocation.order_no, Allocation.line_id, func.sum(Allocation.quantity))
        .where(Allocation.order_no.in_(wanted), Allocation.state == AllocationState.ACTIVE)
        .group_by(Allocation.order_no, Allocation.line_id)
    )
    return {(order_no, line_id): int(total) for order_no, line_id, total in rows}


def _candidates(session: Session, now: datetime, order_nos: set[str] | None) -> list[SalesOrder]:
    due_held = select(AutoQueueEntry.order_no).where(AutoQueueEntry.next_retry_at <= now)
    query = (
        select(SalesOrder)
        .options(selectinload(SalesOrder.lines))
        .where(
            or_(
                SalesOrder.state.in_(_CANDIDATE_STATES),
                SalesOrder.state.in_(_HELD_STATES) & SalesOrder.order_no.in_(due_held),
            ),
            SalesOrder.station_id.is_(None),
        )
        .order_by(SalesOrder.order_no)
    )
    if order_nos is not None:
        query = query.where(SalesOrder.order_no.in_(order_nos))
    return list(session.scalars(query))


def _rules(session: Session, account_ids: set[str]) -> dict[str, AccountRules]:
    accounts = session.scalars(
        select(Account).options(selectinload(Account.links)).where(Account.id.in_(account_ids))
    )
    rules: dict[str, AccountRules] = {}
    for account in accounts:
        links = tuple(
            link.linked_account_id for link in sorted(account.links, key=lambda x: x.position)
        )
        rules[account.id] = AccountRules(
            account_id=account.id,
            links=links,
            order_from_linked=account.order_from_linked,
            pick_from_linked_if_unavailable=account.pick_from_linked_if_unavailable,
        )
    return rules


def _available(session: Session, accounts: set[str], skus: set[str]) -> dict[tuple[str, str], int]:
    """Lock the stock rows, then derive available = on hand - active allocations."""
    locked = for_update(
        select(StockItem.account_id, StockItem.sku, StockItem.location_id)
        .where(StockItem.sku.in_(skus), StockItem.account_id.in_(accounts))
        .order_by(StockItem.sku, StockItem.account_id, StockItem.location_id)
    )
    session.execute(locked).all()
    on_hand = session.execute(
        select(StockItem.account_id, StockItem.sku, func.sum(StockItem.on_hand))
        .where(StockItem.sku.in_(skus), StockItem.account_id.in_(accounts))
        .group_by(StockItem.account_id, StockItem.sku)
    )
    available = {(account, sku): int(total) for account, sku, total in on_hand}
    allocated = session.execute(
        select(Allocation.from_account_id, Allocation.sku, func.sum(Allocation.quantity))
        .where(
            Allocation.sku.in_(skus),
            Allocation.from_account_id.in_(accounts),
            Allocation.state == AllocationState.ACTIVE,
        )
        .group_by(Allocation.from_account_id, Allocation.sku)
    )
    for account, sku, total in allocated:
        available[(account, sku)] = available.get((account, sku), 0) - int(total)
    return {key: max(0, value) for key, value in available.items()}


def allocate(
    session: Session,
    settings: BridgeSettings,
    *,
    step: Step = Step.ADVICE,
    now: datetime | None = None,
    order_nos: Iterable[str] | None = None,
) -> AllocationRun:
    """Allocate stock to every eligible open order (in the caller's transaction)."""
    moment = now or datetime.now(UTC)
    run = AllocationRun()
    orders = _candidates(session, moment, set(order_nos) if order_nos is not None else None)
    passing: list[SalesOrder] = []
    for order in orders:
        run.orders_checked += 1
        outcome = run_gate(session, order, step, settings, moment)
        if outcome.passed:
            passing.append(order)
        else:
            run.held.append(outcome)
    if not passing:
        return run
    skus = {line.sku for order in passing for line in order.lines}
    rules = _rules(session, {order.account_id for order in passing})
    sources = set(rules) | {link for rule in rules.values() for link in rule.links}
    # Lock first, read after: what another allocator committed while we waited is then seen, so
    # neither stock nor an order's outstanding quantity can be counted twice.
    available = _available(session, sources, skus)
    active = active_by_line(session, (order.order_no for order in passing))
    packs = dict(
        session.execute(
            select(Product.sku, Product.pack_size).where(
                Product.sku.in_(skus)
            )
        ).all()
    )
    demands: list[LineDemand] = []
    for order in passing:
        for line in order.lines:
            outstanding = (
                line.quantity
                - line.shipped_quantity
                - active.get((order.order_no, line.line_id), 0)
            )
            if outstanding <= 0:
                continue
            demands.append(
                LineDemand(
                    order_id=order.order_no,
                    line_id=line.line_id,
                    account_id=order.account_id,
                    sku=line.sku,
                    outstanding=outstanding,
                    ordered=line.quantity - line.shipped_quantity,
                    pack_size=packs.get(line.sku, 1),
                    promised_date=order.promised_date,
                    service_level=order.service_level,
                    created_at=order.created_at,
                    policy=line.policy.value,
                )
            )
    if demands:
        result = plan(demands, available, rules)
        rows = [
            {
                "order_no": grant.order_id,
                "line_id": grant.line_id,
                "sku": grant.sku,
                "from_account_id": grant.from_account,
                "quantity": grant.quantity,
                "borrowed": grant.borrowed,
                "state": AllocationState.ACTIVE,
                "created_at": moment,
            }
            for grant in result.grants
        ]
        if rows:
            session.execute(insert(Allocation), rows)
        run.grants = len(rows)
        run.units = sum(grant.quantity for grant in result.grants)
        run.borrowed_units = sum(g.quantity for g in result.grants if g.borrowed)
        run.unfilled = dict(result.unfilled)
        run.reasons = dict(result.reasons)
    after = active_by_line(session, (order.order_no for order in passing))
    for order in passing:
        refresh_state(order, after)
    return run


def refresh_state(order: SalesOrder, active: dict[tuple[str, str], int]) -> None:
    """Set an order not yet at a station to allocated, partially allocated or new."""
    if order.station_id is not None or order.state in {
        OrderState.CANCELLED,
        OrderState.SHIPPED,
    }:
        return
    per_line = [
        (active.get((order.order_no, line.line_id), 0), line.quantity - line.shipped_quantity)
        for line in order.lines
    ]
    if all(allocated >= open_units for allocated, open_units in per_line):
        order.state = OrderState.ALLOCATED
    elif any(allocated > 0 for allocated, _ in per_line):
        order.state = OrderState.PARTIALLY_ALLOCATED
    elif order.state not in {OrderState.PARTIALLY_SHIPPED}:
        order.state = OrderState.NEW
