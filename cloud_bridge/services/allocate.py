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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Select, and_, func, insert, or_, select, update
from sqlalchemy.orm import Session, selectinload

from cloud_bridge.allocation import AccountRules, LineDemand, plan
from cloud_bridge.credit import Step
from cloud_bridge.db import for_update
from cloud_bridge.db.models import (
    Account,
    Allocation,
    AllocationState,
    AutoQueueEntry,
    OrderLine,
    OrderState,
    OrderType,
    Product,
    SalesOrder,
    StockItem,
)
from cloud_bridge.services.gate import GateBatch, GateOutcome
from cloud_bridge.services.settings import BridgeSettings

__all__ = ["AllocationRun", "active_by_line", "allocate", "refresh_state"]

_CANDIDATE_STATES = (
    OrderState.NEW,
    OrderState.PARTIALLY_ALLOCATED,
    OrderState.PARTIALLY_SHIPPED,
)
_HELD_STATES = (OrderState.HELD_CREDIT, OrderState.HELD_PREPAYMENT)
_EXPLAIN_UP_TO = 5000
"""Runs with more open lines than this leave out the wording of why a line was left open."""


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
    grown: list[str] = field(default_factory=list)
    """Orders at a station that received more stock: send them again with a higher version."""


def active_by_line(
    session: Session, order_nos: Iterable[str] | Select[Any]
) -> dict[tuple[str, str], int]:
    """Active allocated units per (order, line), for a list of orders or a subquery of them.

    A subquery keeps a batch of tens of thousands of orders out of the statement's parameters.
    """
    wanted = order_nos if isinstance(order_nos, Select) else list(order_nos)
    if not isinstance(wanted, Select) and not wanted:
        return {}
    rows = session.execute(
        select(Allocation.order_no, Allocation.line_id, func.sum(Allocation.quantity))
        .where(Allocation.order_no.in_(wanted), Allocation.state == AllocationState.ACTIVE)
        .group_by(Allocation.order_no, Allocation.line_id)
    )
    return {(order_no, line_id): int(total) for order_no, line_id, total in rows}


@dataclass(frozen=True)
class _LineView:
    line_id: str
    sku: str
    quantity: int
    shipped_quantity: int
    policy: str


@dataclass
class _OrderView:
    """An order as allocation reads it: plain values, no ORM identity (100,000 lines load fast)."""

    order_no: str
    account_id: str
    invoice_debtor_no: str
    order_type: OrderType
    amount_paid: Decimal
    promised_date: date | None
    service_level: int
    created_at: datetime
    state: OrderState
    station_id: str | None
    lines: list[_LineView] = field(default_factory=list)


def _eligible(now: datetime) -> ColumnElement[bool]:
    due_held = select(AutoQueueEntry.order_no).where(AutoQueueEntry.next_retry_at <= now)
    waiting = and_(
        or_(
            SalesOrder.state.in_(_CANDIDATE_STATES),
            SalesOrder.state.in_(_HELD_STATES) & SalesOrder.order_no.in_(due_held),
        ),
        SalesOrder.station_id.is_(None),
    )
    # An order already released whose quantity was raised: its balance is allocated too, and the
    # station gets the order again with a higher version (not yet being packed: see autopack).
    released = and_(SalesOrder.state == OrderState.RELEASED, SalesOrder.station_id.is_not(None))
    return or_(waiting, released)


def _candidates(session: Session, now: datetime, order_nos: set[str] | None) -> list[_OrderView]:
    eligible = _eligible(now)
    query = select(
        SalesOrder.order_no,
        SalesOrder.account_id,
        SalesOrder.invoice_debtor_no,
        SalesOrder.order_type,
        SalesOrder.amount_paid,
        SalesOrder.promised_date,
        SalesOrder.service_level,
        SalesOrder.created_at,
        SalesOrder.state,
        SalesOrder.station_id,
    ).where(eligible)
    if order_nos is not None:
        query = query.where(SalesOrder.order_no.in_(order_nos))
    # Core execution on the session's connection: plain rows, no ORM loading machinery.
    connection = session.connection()
    orders = {
        row[0]: _OrderView(*row) for row in connection.execute(query.order_by(SalesOrder.order_no))
    }
    if not orders:
        return []
    lines = (
        select(
            OrderLine.order_no,
            OrderLine.line_id,
            OrderLine.sku,
            OrderLine.quantity,
            OrderLine.shipped_quantity,
            OrderLine.policy,
        )
        .join(SalesOrder, SalesOrder.order_no == OrderLine.order_no)
        .where(eligible)
    )
    if order_nos is not None:
        lines = lines.where(OrderLine.order_no.in_(order_nos))
    for order_no, line_id, sku, quantity, shipped, policy in connection.execute(
        lines.order_by(OrderLine.order_no, OrderLine.line_id)
    ):
        view = orders.get(order_no)
        if view is not None:
            view.lines.append(_LineView(line_id, sku, quantity, shipped, str(policy.value)))
    return list(orders.values())


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


def _gate_all(
    gate: GateBatch, orders: list[_OrderView], step: Step, run: AllocationRun
) -> tuple[list[_OrderView], dict[str, OrderState]]:
    """The orders that pass, and the states the others take (held, or new again)."""
    passing: list[_OrderView] = []
    new_states: dict[str, OrderState] = {}
    for order in orders:
        run.orders_checked += 1
        outcome = gate.check(order, step)
        if order.station_id is not None:
            # At a station: a failing check only stops the extra allocation here; the order
            # itself is stopped at Autopack, before its label.
            if outcome.passed:
                passing.append(order)
            continue
        if outcome.new_state is not None:
            new_states[order.order_no] = outcome.new_state
            order.state = outcome.new_state
        if outcome.passed:
            passing.append(order)
        else:
            run.held.append(outcome)
    return passing, new_states


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
    wanted = set(order_nos) if order_nos is not None else None
    orders = _candidates(session, moment, wanted)
    # The batch as a subquery (a superset of the orders that pass the gate, which is harmless
    # for lookups by order), so no statement carries tens of thousands of parameters.
    batch = select(SalesOrder.order_no).where(
        SalesOrder.state.in_((*_CANDIDATE_STATES, *_HELD_STATES, OrderState.RELEASED))
    )
    if wanted is not None:
        batch = batch.where(SalesOrder.order_no.in_(wanted))
    gate = GateBatch(session, orders, settings, moment, batch=batch)
    passing, new_states = _gate_all(gate, orders, step, run)
    if not passing:
        _write_states(session, new_states)
        return run
    skus = {line.sku for order in passing for line in order.lines}
    rules = _rules(session, {order.account_id for order in passing})
    sources = set(rules) | {link for rule in rules.values() for link in rule.links}
    # Lock first, read after: what another allocator committed while we waited is then seen, so
    # neither stock nor an order's outstanding quantity can be counted twice.
    available = _available(session, sources, skus)
    active = active_by_line(session, batch)
    packs = dict(
        session.execute(select(Product.sku, Product.pack_size).where(Product.sku.in_(skus))).all()
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
                    policy=line.policy,  # type: ignore[arg-type]
                )
            )
    if demands:
        result = plan(demands, available, rules, explain=len(demands) <= _EXPLAIN_UP_TO)
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
            # Core insert: new ledger rows need no ORM identity, and 45,000 of them go in fast.
            session.connection().execute(insert(Allocation.__table__), rows)  # type: ignore[arg-type]
        run.grants = len(rows)
        run.units = sum(grant.quantity for grant in result.grants)
        run.borrowed_units = sum(g.quantity for g in result.grants if g.borrowed)
        run.unfilled = dict(result.unfilled)
        run.reasons = dict(result.reasons)
    after = active_by_line(session, batch)
    granted: set[str] = set()
    if demands:
        granted = {grant.order_id for grant in result.grants}
    for order in passing:
        if order.station_id is not None:
            if order.order_no in granted:
                run.grown.append(order.order_no)
            continue
        state = _allocation_state(order.order_no, order.state, order.lines, after)
        if state is not None and state is not order.state:
            new_states[order.order_no] = state
    _write_states(session, new_states)
    return run


def _write_states(session: Session, states: dict[str, OrderState]) -> None:
    """One UPDATE per target state (chunked), keeping loaded objects in step."""
    by_state: dict[OrderState, list[str]] = {}
    for order_no, state in states.items():
        by_state.setdefault(state, []).append(order_no)
    for state, order_nos in by_state.items():
        for start in range(0, len(order_nos), 5000):
            chunk = order_nos[start : start + 5000]
            session.execute(
                update(SalesOrder).where(SalesOrder.order_no.in_(chunk)).values(state=state),
                execution_options={"synchronize_session": "evaluate"},
            )


class _Line(Protocol):
    @property
    def line_id(self) -> str: ...
    @property
    def quantity(self) -> int: ...
    @property
    def shipped_quantity(self) -> int: ...


def _allocation_state(
    order_no: str,
    state: OrderState,
    lines: Sequence[_Line],
    active: dict[tuple[str, str], int],
) -> OrderState | None:
    """Allocated, partially allocated or new, from the active allocations of its lines."""
    if state in {OrderState.CANCELLED, OrderState.SHIPPED}:
        return None
    per_line = [
        (active.get((order_no, line.line_id), 0), line.quantity - line.shipped_quantity)
        for line in lines
    ]
    if all(allocated >= open_units for allocated, open_units in per_line):
        return OrderState.ALLOCATED
    if any(allocated > 0 for allocated, _ in per_line):
        return OrderState.PARTIALLY_ALLOCATED
    if state is OrderState.PARTIALLY_SHIPPED:
        return None
    return OrderState.NEW


def refresh_state(order: SalesOrder, active: dict[tuple[str, str], int]) -> None:
    """Set a mapped order not yet at a station to allocated, partially allocated or new."""
    if order.station_id is not None:
        return
    state = _allocation_state(order.order_no, order.state, order.lines, active)
    if state is not None:
        order.state = state
