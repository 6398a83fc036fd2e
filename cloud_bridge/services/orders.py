"""Orders: create, change a line's quantity before despatch, cancel; and what the station is told.

Every change a station must see bumps the order's version, so the station (which keeps the
highest version per order) replaces its copy; a change that would go below what already shipped is
refused, and a cancellation releases every active allocation in the same transaction. The
functions return the message to publish, if any; the caller publishes it after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cloud_bridge.db.models import (
    Allocation,
    AllocationState,
    LinePolicy,
    OrderLine,
    OrderState,
    OrderType,
    SalesOrder,
)
from cloud_bridge.errors import BridgeError
from cloud_bridge.services.allocate import active_by_line, refresh_state
from cloud_bridge.services.release import Dispatch, SlotMaps, allocation_message
from edge.contract import OrderCancelled

__all__ = [
    "NewLine",
    "NewOrder",
    "OrderChangeError",
    "cancel_order",
    "change_line_quantity",
    "create_order",
    "load_order",
]

_FINAL = {OrderState.SHIPPED, OrderState.CANCELLED}


class OrderChangeError(BridgeError, ValueError):
    """A change to an order breaks a rule; the message names the order, line and rule."""


class OrderNotFound(BridgeError, LookupError):
    """No order with that number."""


@dataclass(frozen=True)
class NewLine:
    line_id: str
    sku: str
    quantity: int
    unit_price: Decimal
    tax_rate: Decimal = Decimal(0)
    policy: LinePolicy = LinePolicy.PARTIAL


@dataclass(frozen=True)
class NewOrder:
    order_no: str
    account_id: str
    invoice_debtor_no: str
    lines: tuple[NewLine, ...]
    deliver_to_name: str
    deliver_to_line1: str
    deliver_to_city: str
    deliver_to_postal_code: str
    deliver_to_country: str
    carrier: str
    deliver_to_line2: str = ""
    order_type: OrderType = OrderType.NORMAL
    amount_paid: Decimal = Decimal(0)
    promised_date: date | None = None
    service_level: int = 0


def create_order(session: Session, new: NewOrder, now: datetime | None = None) -> SalesOrder:
    """Add an order in state new (the caller's transaction; constraints refuse bad data)."""
    if not new.lines:
        raise OrderChangeError(f"order {new.order_no}: lines: at least one line is required")
    if session.get(SalesOrder, new.order_no) is not None:
        raise OrderChangeError(f"order {new.order_no}: order_no: already exists")
    order = SalesOrder(
        order_no=new.order_no,
        account_id=new.account_id,
        invoice_debtor_no=new.invoice_debtor_no,
        order_type=new.order_type,
        amount_paid=new.amount_paid,
        promised_date=new.promised_date,
        service_level=new.service_level,
        created_at=now or datetime.now(UTC),
        deliver_to_name=new.deliver_to_name,
        deliver_to_line1=new.deliver_to_line1,
        deliver_to_line2=new.deliver_to_line2,
        deliver_to_city=new.deliver_to_city,
        deliver_to_postal_code=new.deliver_to_postal_code,
        deliver_to_country=new.deliver_to_country,
        carrier=new.carrier,
        state=OrderState.NEW,
        version=1,
        lines=[
            OrderLine(
                line_id=line.line_id,
                sku=line.sku,
                quantity=line.quantity,
                unit_price=line.unit_price,
                tax_rate=line.tax_rate,
                policy=line.policy,
            )
            for line in new.lines
        ],
    )
    session.add(order)
    return order


def load_order(session: Session, order_no: str) -> SalesOrder:
    order = session.scalar(
        select(SalesOrder)
        .options(selectinload(SalesOrder.lines))
        .where(SalesOrder.order_no == order_no)
    )
    if order is None:
        raise OrderNotFound(f"order {order_no!r} does not exist")
    return order


def _release_units(
    session: Session, order_no: str, line_id: str, units: int, now: datetime
) -> None:
    """Release `units` of the line's active allocations, newest first, splitting a row."""
    rows = session.scalars(
        select(Allocation)
        .where(
            Allocation.order_no == order_no,
            Allocation.line_id == line_id,
            Allocation.state == AllocationState.ACTIVE,
        )
        .order_by(Allocation.created_at.desc(), Allocation.id.desc())
    )
    for row in rows:
        if units <= 0:
            break
        part = min(units, row.quantity)
        ended = row.end_units(part, AllocationState.RELEASED, now)
        if ended is not None:
            session.add(ended)
        units -= part


def change_line_quantity(
    session: Session,
    order_no: str,
    line_id: str,
    quantity: int,
    *,
    slot_maps: SlotMaps,
    now: datetime | None = None,
) -> Dispatch | None:
    """Change a line before despatch; never below what shipped. Returns the station's update."""
    moment = now or datetime.now(UTC)
    order = load_order(session, order_no)
    if order.state in _FINAL:
        raise OrderChangeError(f"order {order_no}: is {order.state.value}; it cannot change")
    line = next((line for line in order.lines if line.line_id == line_id), None)
    if line is None:
        raise OrderChangeError(f"order {order_no}: line {line_id!r} does not exist")
    if quantity < max(1, line.shipped_quantity):
        raise OrderChangeError(
            f"order {order_no} line {line_id}: quantity {quantity} is below "
            f"{max(1, line.shipped_quantity)} (shipped {line.shipped_quantity}; a line keeps "
            "at least one unit: cancel the order instead)"
        )
    active = active_by_line(session, [order_no]).get((order_no, line_id), 0)
    line.quantity = quantity
    excess = active - (quantity - line.shipped_quantity)
    if excess > 0:
        _release_units(session, order_no, line_id, excess, moment)
    order.version += 1
    session.flush()
    if order.station_id is None:
        refresh_state(order, active_by_line(session, [order_no]))
        return None
    slots = slot_maps.get(order.station_id, {})
    return allocation_message(session, order, order.station_id, moment, slots)


def cancel_order(
    session: Session, order_no: str, reason: str, now: datetime | None = None
) -> Dispatch | None:
    """Cancel an order: release its allocations and tell its station, if it has one."""
    moment = now or datetime.now(UTC)
    order = load_order(session, order_no)
    if order.state in _FINAL:
        raise OrderChangeError(f"order {order_no}: is {order.state.value}; it cannot be cancelled")
    for line in order.lines:
        _release_units(session, order_no, line.line_id, 10**12, moment)
    order.state = OrderState.CANCELLED
    order.version += 1
    station = order.station_id
    if station is None:
        return None
    message = OrderCancelled(
        order_id=order_no, version=order.version, at=moment, reason=reason or "cancelled"
    )
    return Dispatch(station_id=station, message=message)
