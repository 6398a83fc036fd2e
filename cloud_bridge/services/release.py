"""Send to scanner: gate the order again, choose its station, and build what the station gets.

Time passes between allocation and release, so the credit gate runs again here (step *Send to
scanner*). A station is eligible when it is online and its slot map holds every SKU the order
sends; among those the router picks. The station receives the allocated quantities (a partial
allocation ships what there is; the balance stays open), each with the slot that holds it, and the
delivery details its label needs. The message is returned, and published after the commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cloud_bridge.credit import Step
from cloud_bridge.db.models import OrderState, Product, SalesOrder
from cloud_bridge.routing import StationRouter
from cloud_bridge.services.allocate import active_by_line
from cloud_bridge.services.gate import GateBatch, GateOutcome
from cloud_bridge.services.settings import BridgeSettings
from edge.contract import (
    Delivery,
    OrderAllocated,
    OrderCancelled,
    OrderLine,
    ShipTo,
)

__all__ = ["Dispatch", "ReleaseRun", "SlotMaps", "allocation_message", "release"]

SlotMaps = Mapping[str, Mapping[str, str]]
"""Station id -> (SKU -> slot at that station)."""


@dataclass(frozen=True)
class Dispatch:
    """One message for one station, to publish once the transaction has committed."""

    station_id: str
    message: OrderAllocated | OrderCancelled


@dataclass
class ReleaseRun:
    dispatches: list[Dispatch]
    held: list[GateOutcome]
    waiting: list[str]
    """Orders with no eligible station online; they are tried again next time."""


def allocation_message(
    session: Session,
    order: SalesOrder,
    station_id: str,
    now: datetime,
    slots: Mapping[str, str],
) -> Dispatch | None:
    """The `order_allocated` for the order at its current version; None if nothing is allocated."""
    active = active_by_line(session, [order.order_no])
    gtins = dict(
        session.execute(
            select(Product.sku, Product.gtin).where(
                Product.sku.in_({line.sku for line in order.lines})
            )
        ).all()
    )
    lines = []
    for line in order.lines:
        quantity = active.get((order.order_no, line.line_id), 0)
        gtin = gtins.get(line.sku)
        slot = slots.get(line.sku)
        if quantity <= 0 or gtin is None or slot is None:
            continue
        lines.append(
            OrderLine(line_id=line.line_id, sku=line.sku, gtin=gtin, quantity=quantity, slot=slot)
        )
    if not lines:
        return None
    message = OrderAllocated(
        order_id=order.order_no,
        version=order.version,
        at=now,
        lines=tuple(lines),
        delivery=Delivery(
            ship_to=ShipTo(
                name=order.deliver_to_name,
                lines=tuple(x for x in (order.deliver_to_line1, order.deliver_to_line2) if x),
                city=order.deliver_to_city,
                postal_code=order.deliver_to_postal_code,
                country=order.deliver_to_country,
            ),
            carrier=order.carrier,
            shipment_reference=f"{order.order_no}-v{order.version}",
        ),
    )
    return Dispatch(station_id=station_id, message=message)


def release(
    session: Session,
    settings: BridgeSettings,
    router: StationRouter,
    slot_maps: SlotMaps,
    online: Iterable[str],
    *,
    now: datetime | None = None,
) -> ReleaseRun:
    """Release every allocated order not yet at a station (in the caller's transaction)."""
    moment = now or datetime.now(UTC)
    up = set(online)
    run = ReleaseRun(dispatches=[], held=[], waiting=[])
    orders = session.scalars(
        select(SalesOrder)
        .options(selectinload(SalesOrder.lines))
        .where(
            SalesOrder.state.in_((OrderState.ALLOCATED, OrderState.PARTIALLY_ALLOCATED)),
            SalesOrder.station_id.is_(None),
        )
        .order_by(SalesOrder.promised_date, SalesOrder.service_level, SalesOrder.created_at)
        # Another instance releasing at the same time skips the orders this one holds, so an
        # order goes to one station only (PostgreSQL; SQLite's write lock serialises anyway).
        .with_for_update(of=SalesOrder, skip_locked=True)
    )
    claimed = list(orders)
    gate = GateBatch(session, claimed, settings, moment)
    active = active_by_line(session, [order.order_no for order in claimed])
    for order in claimed:
        outcome = gate.check(order, Step.SEND_TO_SCANNER)
        if outcome.new_state is not None:
            order.state = outcome.new_state
        if not outcome.passed:
            run.held.append(outcome)
            continue
        skus = {line.sku for line in order.lines if active.get((order.order_no, line.line_id))}
        eligible = [station for station in up if skus <= set(slot_maps.get(station, {}))]
        zone = router.settings.zone_of(skus)
        station = router.choose(account_id=order.account_id, zone=zone, online=eligible)
        if station is None:
            run.waiting.append(order.order_no)
            continue
        # Each release is a new desired state for a station: a higher version, so a station that
        # holds an older copy (or the tombstone of a withdrawal) takes it.
        order.version += 1
        dispatch = allocation_message(session, order, station, moment, slot_maps[station])
        if dispatch is None:
            continue
        order.station_id = station
        order.state = OrderState.RELEASED
        run.dispatches.append(dispatch)
    return run
