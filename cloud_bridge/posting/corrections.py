"""Correct what a shipment really contained, after it left: a miscount found at the dock, a
parcel that came back unopened.

A correction changes the books the way the shipment did, by the difference. Per changed line:
an audit row (before, after, reason), the shipment line's new quantity (the row goes when it
reaches 0), the order line's shipped quantity, and the stock. Sage is not touched here: the
shipment is marked `posting_due`, and the posting planner, which compares shipped with posted
quantities, posts exactly the difference (a credit note for less, an invoice for more).

Choices, and why:

* Units shipped fewer go back on hand to the order's own account, at its first location (by
  id) holding the SKU, else its first location of any SKU, else the warehouse's first location.
  Which account's shelf they first came from is not recorded on the shipment.
* Units shipped more are taken the way a shipment takes them: the line's active allocations
  first, oldest first, from the accounts they reserve; the rest from the order's own account,
  location by location, and only if that leaves on hand at or above what is allocated from it.
* An order at a station is refused: the station holds its own copy of the quantities still to
  pick, and a correction made under it would be undone or doubled when it completes.
* A shipment posted in one Sage environment (test or live) is corrected only while the bridge
  posts to that environment: after the switch to live, a correction to a shipment posted in
  test could never be posted anywhere, so it is refused, naming both environments.
* The order's state follows what shipped. Fully shipped: shipped. Short again: partially shipped
  (or allocated, partially allocated, new, exactly as allocation would set it), which is the
  state allocation picks up, so the balance is allocated and shipped again like any other
  partially shipped order. A held order stays held; a cancelled one stays cancelled.

Nothing here commits; a refusal raises before anything is written, and the caller's transaction
rolls back anything else.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from cloud_bridge.db import for_update
from cloud_bridge.db.models import (
    Allocation,
    AllocationState,
    Location,
    OrderLine,
    OrderState,
    Posting,
    PostingState,
    SalesOrder,
    Shipment,
    ShipmentCorrection,
    ShipmentLine,
    StockItem,
)
from cloud_bridge.errors import BridgeError
from cloud_bridge.posting.environment import selected_environment
from cloud_bridge.services.allocate import active_by_line, refresh_state

__all__ = [
    "MAX_REASON_LENGTH",
    "CorrectionConflict",
    "CorrectionError",
    "CorrectionInvalid",
    "ShipmentNotFound",
    "correct_shipment",
]

log = logging.getLogger("packline.bridge.posting")

MAX_REASON_LENGTH = 400
"""What the audit row keeps of a reason."""

_HELD = frozenset({OrderState.HELD_CREDIT, OrderState.HELD_PREPAYMENT})


class CorrectionError(BridgeError):
    """A refused correction. ``part`` names the input at fault (``reason``, ``lines``,
    ``quantity``, ``line_id``, ``shipment_id``), ``line_id`` the line it concerns if any, and
    ``rule`` what the value must be."""

    def __init__(self, message: str, *, part: str, rule: str, line_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.part = part
        self.rule = rule
        self.line_id = line_id


class ShipmentNotFound(CorrectionError, LookupError):
    """No shipment with that id, or no line with that id on the shipment's order."""


class CorrectionInvalid(CorrectionError, ValueError):
    """The correction itself is malformed: a negative quantity, a blank reason, no lines."""


class CorrectionConflict(CorrectionError, ValueError):
    """The correction breaks a rule given what is stored (more than ordered, stock not there)."""


@dataclass(frozen=True)
class _Change:
    line: OrderLine
    before: int
    after: int

    @property
    def difference(self) -> int:
        return self.after - self.before


def correct_shipment(
    session: Session,
    shipment_id: int,
    quantities: Mapping[str, int],
    *,
    reason: str,
    now: datetime,
) -> list[ShipmentCorrection]:
    """Set what shipped per order line (``line_id -> units``, 0 for none); see the module doc.

    Returns the audit rows written, one per line whose quantity changed (none if nothing did).
    """
    text = _checked_reason(reason)
    _check_quantities(quantities)
    shipment = _locked_shipment(session, shipment_id)
    order = session.scalar(
        for_update(select(SalesOrder).where(SalesOrder.order_no == shipment.order_no))
    )
    assert order is not None  # a foreign key guarantees it
    if order.station_id is not None:
        raise CorrectionConflict(
            f"shipment {shipment_id}: order {order.order_no} is {order.state.value} at station "
            f"{order.station_id}; correct its shipments once the station has completed or "
            "aborted it",
            part="shipment_id",
            rule="a shipment of an order not at a station",
        )
    _check_environment(session, shipment)
    changes = _changes(session, shipment, order, quantities)
    if not changes:
        return []
    plan = _plan_stock(session, order, changes)
    corrections = [
        ShipmentCorrection(
            shipment_id=shipment.id,
            line_id=change.line.line_id,
            sku=change.line.sku,
            quantity_before=change.before,
            quantity_after=change.after,
            reason=text,
            corrected_at=now,
        )
        for change in changes
    ]
    session.add_all(corrections)
    _apply_to_shipment(shipment, changes)
    _move_stock(session, order, plan, now)
    for change in changes:
        change.line.shipped_quantity += change.difference
    shipment.posting_due = True
    order.version += 1
    _settle_state(session, order)
    session.flush()
    log.info(
        "shipment corrected: shipment=%d order=%s lines=%s reason=%r",
        shipment.id,
        order.order_no,
        ",".join(f"{c.line.line_id}:{c.before}->{c.after}" for c in changes),
        text,
        extra={"order": order.order_no, "shipment": shipment.id},
    )
    return corrections


def _checked_reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise CorrectionInvalid(
            "the reason is blank; say why the shipment is corrected (it goes on the credit note)",
            part="reason",
            rule="a reason that is not blank",
        )
    if len(text) > MAX_REASON_LENGTH:
        raise CorrectionInvalid(
            f"the reason has {len(text)} characters; at most {MAX_REASON_LENGTH} are kept",
            part="reason",
            rule=f"at most {MAX_REASON_LENGTH} characters",
        )
    return text


def _check_quantities(quantities: Mapping[str, int]) -> None:
    if not quantities:
        raise CorrectionInvalid(
            "the correction names no line; give each line's corrected quantity",
            part="lines",
            rule="at least one line",
        )
    for line_id, quantity in quantities.items():
        if quantity < 0:
            raise CorrectionInvalid(
                f"line {line_id}: quantity {quantity} is negative; give the units that really "
                "shipped (0 if the line did not ship)",
                part="quantity",
                rule="0 or more",
                line_id=line_id,
            )


def _locked_shipment(session: Session, shipment_id: int) -> Shipment:
    shipment = session.scalar(
        for_update(select(Shipment).where(Shipment.id == shipment_id)).options(
            selectinload(Shipment.lines)
        )
    )
    if shipment is None:
        raise ShipmentNotFound(
            f"shipment {shipment_id} does not exist",
            part="shipment_id",
            rule="an existing shipment",
        )
    return shipment


def _check_environment(session: Session, shipment: Shipment) -> None:
    """Refuse a shipment posted in a Sage environment other than the one in use."""
    connection = selected_environment(session)
    if connection is None:
        return
    posted = session.scalars(
        select(Posting)
        .where(
            Posting.shipment_id == shipment.id,
            Posting.state.in_((PostingState.PENDING, PostingState.POSTED)),
        )
        .order_by(Posting.id)
    ).all()
    if not posted or any(
        posting.environment == connection.environment
        and posting.business_id == connection.business_id
        for posting in posted
    ):
        return
    other = posted[0]
    raise CorrectionConflict(
        f"shipment {shipment.id} was posted in Sage {other.environment.value} (business "
        f"{other.business_id}, {other.reference}), but the bridge now posts to Sage "
        f"{connection.environment.value} (business {connection.business_id}); its correction "
        f"could be posted to neither. Correct it in Sage {other.environment.value} by hand",
        part="shipment_id",
        rule=f"a shipment posted in Sage {connection.environment.value} or not posted yet",
    )


def _shipped_elsewhere(session: Session, shipment: Shipment) -> dict[str, int]:
    """Units per line that the order's other shipments carried."""
    rows = session.execute(
        select(ShipmentLine.line_id, func.sum(ShipmentLine.quantity))
        .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
        .where(Shipment.order_no == shipment.order_no, Shipment.id != shipment.id)
        .group_by(ShipmentLine.line_id)
    )
    return {line_id: int(units) for line_id, units in rows}


def _changes(
    session: Session, shipment: Shipment, order: SalesOrder, quantities: Mapping[str, int]
) -> list[_Change]:
    """The lines whose quantity changes, each checked against what the order still allows."""
    order_lines = {line.line_id: line for line in order.lines}
    current = {line.line_id: line.quantity for line in shipment.lines}
    elsewhere = _shipped_elsewhere(session, shipment)
    changes: list[_Change] = []
    for line_id, after in sorted(quantities.items()):
        line = order_lines.get(line_id)
        if line is None:
            raise ShipmentNotFound(
                f"shipment {shipment.id}: order {order.order_no} has no line {line_id!r}",
                part="line_id",
                rule="a line of the shipment's order",
                line_id=line_id,
            )
        others = elsewhere.get(line_id, 0)
        allowed = line.quantity - others
        if after > allowed:
            raise CorrectionConflict(
                f"shipment {shipment.id} line {line_id}: {after} units is more than the "
                f"{allowed} the order allows (ordered {line.quantity}, {others} in other "
                "shipments)",
                part="quantity",
                rule=f"at most {allowed}",
                line_id=line_id,
            )
        before = current.get(line_id, 0)
        if after != before:
            changes.append(_Change(line, before, after))
    return changes


def _apply_to_shipment(shipment: Shipment, changes: list[_Change]) -> None:
    """New quantities on the shipment; a line at 0 is removed (its rows must stay positive)."""
    rows = {row.line_id: row for row in shipment.lines}
    for change in changes:
        row = rows.get(change.line.line_id)
        if row is None:
            shipment.lines.append(
                ShipmentLine(
                    line_id=change.line.line_id, sku=change.line.sku, quantity=change.after
                )
            )
        elif change.after == 0:
            shipment.lines.remove(row)
        else:
            row.quantity = change.after


# --- stock ------------------------------------------------------------------------------------


@dataclass
class _StockPlan:
    """Every stock movement of a correction, worked out and checked before any is made."""

    consume: list[tuple[Allocation, int]] = field(default_factory=list)
    """Active allocations of raised lines and the units of each that shipped."""
    takes: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    """Units off on hand per (account, SKU)."""
    returns: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """Units back on hand to the order's account, per SKU."""


def _active_rows(session: Session, line: OrderLine) -> list[Allocation]:
    return list(
        session.scalars(
            for_update(
                select(Allocation)
                .where(
                    Allocation.order_no == line.order_no,
                    Allocation.line_id == line.line_id,
                    Allocation.state == AllocationState.ACTIVE,
                )
                .order_by(Allocation.created_at, Allocation.id)
            )
        )
    )


def _plan_stock(session: Session, order: SalesOrder, changes: list[_Change]) -> _StockPlan:
    """What moves where; refused if the stock to take is not there or not free."""
    plan = _StockPlan()
    own: dict[str, int] = defaultdict(int)
    for change in changes:
        sku = change.line.sku
        if change.difference < 0:
            plan.returns[sku] += -change.difference
            continue
        units = change.difference
        for row in _active_rows(session, change.line):
            if units <= 0:
                break
            part = min(units, row.quantity)
            plan.consume.append((row, part))
            plan.takes[(row.from_account_id, sku)] += part
            units -= part
        own[sku] += units
        plan.takes[(order.account_id, sku)] += units
    for sku, units in sorted(own.items()):
        free = _free_units(session, order.account_id, sku)
        if units > free:
            raise CorrectionConflict(
                f"order {order.order_no}: {units} more unit(s) of {sku} shipped than its "
                f"allocations cover, but account {order.account_id} has only {max(free, 0)} on "
                "hand that no order holds; receive or adjust the stock, or release "
                "allocations, first",
                part="quantity",
                rule=f"at most {max(free, 0)} unit(s) of {sku} beyond the line's allocations",
                line_id=_first_line(changes, sku),
            )
    for (account_id, sku), units in sorted(plan.takes.items()):
        on_hand = sum(row.on_hand for row in _stock_rows(session, account_id, sku))
        if units > on_hand:
            raise CorrectionConflict(
                f"order {order.order_no}: account {account_id} has {on_hand} unit(s) of {sku} "
                f"on hand, fewer than the {units} the correction ships; correct the stock first",
                part="quantity",
                rule=f"no more units of {sku} than account {account_id} has on hand",
                line_id=_first_line(changes, sku),
            )
    for sku, units in sorted(plan.returns.items()):
        if not _stock_rows(session, order.account_id, sku) and (
            _return_location(session, order.account_id) is None
        ):
            raise CorrectionConflict(
                f"{units} unit(s) of {sku} come back, but the warehouse has no location to put "
                "them in; receive stock at a location first",
                part="quantity",
                rule="a warehouse with at least one location",
                line_id=_first_line(changes, sku),
            )
    return plan


def _first_line(changes: list[_Change], sku: str) -> str:
    return next(change.line.line_id for change in changes if change.line.sku == sku)


def _free_units(session: Session, account_id: str, sku: str) -> int:
    """On hand minus what is actively allocated from it, to any order."""
    on_hand = session.scalar(
        select(func.coalesce(func.sum(StockItem.on_hand), 0)).where(
            StockItem.account_id == account_id, StockItem.sku == sku
        )
    )
    allocated = session.scalar(
        select(func.coalesce(func.sum(Allocation.quantity), 0)).where(
            Allocation.from_account_id == account_id,
            Allocation.sku == sku,
            Allocation.state == AllocationState.ACTIVE,
        )
    )
    return int(on_hand or 0) - int(allocated or 0)


def _stock_rows(session: Session, account_id: str, sku: str) -> list[StockItem]:
    """The account's rows of the SKU, locked, in location order (as a shipment takes them)."""
    return list(
        session.scalars(
            for_update(
                select(StockItem)
                .where(StockItem.account_id == account_id, StockItem.sku == sku)
                .order_by(StockItem.location_id)
            )
        )
    )


def _move_stock(session: Session, order: SalesOrder, plan: _StockPlan, now: datetime) -> None:
    for row, part in plan.consume:
        _consume(session, row, part, now)
    for (account_id, sku), units in sorted(plan.takes.items()):
        remaining = units
        for item in _stock_rows(session, account_id, sku):
            part = min(remaining, item.on_hand)
            item.on_hand -= part
            remaining -= part
    for sku, units in sorted(plan.returns.items()):
        rows = _stock_rows(session, order.account_id, sku)
        if rows:
            rows[0].on_hand += units
            continue
        location = _return_location(session, order.account_id)
        assert location is not None  # checked by _plan_stock
        session.add(
            StockItem(account_id=order.account_id, sku=sku, location_id=location, on_hand=units)
        )


def _consume(session: Session, row: Allocation, part: int, now: datetime) -> None:
    """Mark ``part`` units of an active allocation shipped, splitting the row if needed."""
    ended = row.end_units(part, AllocationState.CONSUMED, now)
    if ended is not None:
        session.add(ended)


def _return_location(session: Session, account_id: str) -> str | None:
    """The account's first location of any SKU, else the warehouse's first location."""
    own = session.scalar(
        select(func.min(StockItem.location_id)).where(StockItem.account_id == account_id)
    )
    if own is not None:
        return str(own)
    first = session.scalar(select(func.min(Location.id)))
    return None if first is None else str(first)


# --- the order's state ------------------------------------------------------------------------


def _settle_state(session: Session, order: SalesOrder) -> None:
    """The state that matches what shipped, as a shipment or allocation would have set it."""
    if order.state is OrderState.CANCELLED:
        return
    if all(line.shipped_quantity >= line.quantity for line in order.lines):
        order.state = OrderState.SHIPPED
        return
    if order.state in _HELD:
        return
    shipped = any(line.shipped_quantity > 0 for line in order.lines)
    order.state = OrderState.PARTIALLY_SHIPPED if shipped else OrderState.NEW
    session.flush()
    refresh_state(order, active_by_line(session, [order.order_no]))
