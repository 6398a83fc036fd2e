"""What each station event does to the bridge's books, inside the caller's transaction.

The sequencer calls `apply_event` once per ``(station, seq)``, in sequence order, in the same
transaction that records the event as applied and moves the station's cursor, so an effect is
never applied twice nor lost. Nothing here commits, publishes or raises for bad data: an event
that does not fit the books (an unknown order or line, more picked than is open, stock that is
not there) is logged with the station, sequence and order, clamped to what the books allow, and
still counts as applied. Refusing it would stall the station's whole stream behind one event.

Effects, by event:

- ``order_scanned``: a released (or allocated) order goes to picking at that station.
- ``line_picked`` / ``line_returned`` / ``shortage_recorded``: the line's picked quantity, kept
  between 0 and what is still open (ordered minus shipped).
- ``order_completed``: a shipment of what was picked. Per line, the active allocations are
  consumed oldest first (a row is split when only part of it ships), stock leaves ``on_hand`` of
  the account each allocation took it from, location by location, and allocations beyond the
  line's remaining balance are released. The order is shipped when every line is, else partially
  shipped with its balance open to be allocated again; it leaves the station either way. With
  nothing picked there is no shipment, and the order goes back to allocated (or new). An order
  cancelled while the station packed it still ships what left the building, and stays cancelled
  so its balance is not allocated again.
- ``order_aborted``: unless the bridge itself cancelled the order, picked quantities go back to
  0 and the order leaves the station, keeping its allocations so it can be released again.
- ``label_printed``, ``label_reprinted``, ``label_voided``: no effect on the books. The shipment
  records the label of ``order_completed``, the one that shipped; a voided or reprinted label is
  visible in the applied events.

What a packer decided rather than did is also recorded in the audit trail, with the actor
``station:<id>``, in the transaction that applies the event: reprints and voids (a second label
in circulation is what an auditor asks about), shortages (stock the books expected and the
packer did not find) and aborts (an order stopped after packing began). Each is recorded even
when the books clamp or ignore its effect: the audit says what the station reported.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_bridge.audit import record_audit, station_actor
from cloud_bridge.db import for_update
from cloud_bridge.db.models import (
    Allocation,
    AllocationState,
    OrderLine,
    OrderState,
    SalesOrder,
    Shipment,
    ShipmentLine,
    StockItem,
)
from cloud_bridge.services.allocate import active_by_line, refresh_state
from edge.contract import (
    LabelPrinted,
    LabelReprinted,
    LabelVoided,
    LinePicked,
    LineReturned,
    OrderAborted,
    OrderCompleted,
    OrderScanned,
    ShortageRecorded,
    StationEvent,
)

__all__ = ["apply_event"]

log = logging.getLogger("packline.bridge.ingest")

_SCANNABLE = frozenset({OrderState.RELEASED, OrderState.ALLOCATED, OrderState.PARTIALLY_ALLOCATED})
_AT_STATION = frozenset({OrderState.RELEASED, OrderState.PICKING})
_AUDIT_ONLY = (LabelPrinted, LabelReprinted, LabelVoided)


def apply_event(session: Session, station_id: str, event: StationEvent, now: datetime) -> None:
    """Apply one event's effect; ``now`` stamps the ledger rows it changes."""
    if isinstance(event, LabelReprinted | LabelVoided):
        _audit_label(session, station_id, event)
    elif isinstance(event, ShortageRecorded | OrderAborted):
        _audit_decision(session, station_id, event)
    if isinstance(event, _AUDIT_ONLY):
        return
    order = session.scalar(
        for_update(select(SalesOrder).where(SalesOrder.order_no == event.order_id))
    )
    if order is None:
        _warn(event, station_id, "unknown order; recorded as applied with no effect")
        return
    if isinstance(event, OrderScanned):
        _scanned(order, station_id, event)
    elif isinstance(event, LinePicked | LineReturned | ShortageRecorded):
        _line_changed(order, station_id, event)
    elif isinstance(event, OrderCompleted):
        _completed(session, order, station_id, event, now)
    elif isinstance(event, OrderAborted):
        _aborted(session, order, station_id, event)
    else:
        _warn(event, station_id, f"no effect defined for {type(event).__name__}")


def _audit_label(session: Session, station_id: str, event: LabelReprinted | LabelVoided) -> None:
    """Record a reprint or void in the audit trail, in the transaction that applies the event."""
    record_audit(
        session,
        actor=station_actor(station_id),
        action="label.reprint" if isinstance(event, LabelReprinted) else "label.void",
        subject=f"order:{event.order_id}",
        after={
            "label_id": event.label_id,
            "reason": event.reason,
            "seq": event.seq,
            "event_id": str(event.event_id),
            "station_at": event.at,
        },
    )


def _audit_decision(
    session: Session, station_id: str, event: ShortageRecorded | OrderAborted
) -> None:
    """Record a shortage or an abort in the audit trail, in the transaction that applies it."""
    if isinstance(event, ShortageRecorded):
        action = "order.shortage.record"
        reported: dict[str, object] = {
            "line_id": event.line_id,
            "sku": event.sku,
            "slot": event.slot,
            "expected_quantity": event.expected_quantity,
            "found_quantity": event.found_quantity,
            "reason": event.reason,
        }
    else:
        action = "order.abort"
        reported = {"reason": event.reason, "note": event.note}
    record_audit(
        session,
        actor=station_actor(station_id),
        action=action,
        subject=f"order:{event.order_id}",
        after={
            **reported,
            "seq": event.seq,
            "event_id": str(event.event_id),
            "station_at": event.at,
        },
    )


def _warn(event: StationEvent, station_id: str, what: str) -> None:
    log.warning(
        "ingest station=%s seq=%d order=%s type=%s: %s",
        station_id,
        event.seq,
        event.order_id,
        getattr(event, "type", type(event).__name__),
        what,
        extra={"station": station_id, "seq": event.seq, "order": event.order_id},
    )


def _scanned(order: SalesOrder, station_id: str, event: OrderScanned) -> None:
    if order.state in _SCANNABLE:
        order.state = OrderState.PICKING
        order.station_id = station_id
        return
    if order.state is OrderState.PICKING and order.station_id == station_id:
        return
    _warn(event, station_id, f"order is {order.state.value} at {order.station_id}; no change")


def _open_units(line: OrderLine) -> int:
    return max(line.quantity - line.shipped_quantity, 0)


def _line_changed(
    order: SalesOrder, station_id: str, event: LinePicked | LineReturned | ShortageRecorded
) -> None:
    line = next((line for line in order.lines if line.line_id == event.line_id), None)
    if line is None:
        _warn(event, station_id, f"line {event.line_id!r} is not on the order; no effect")
        return
    if isinstance(event, LinePicked):
        wanted = line.picked_quantity + event.quantity
    elif isinstance(event, LineReturned):
        wanted = line.picked_quantity - event.quantity
    else:
        wanted = event.found_quantity
    picked = min(max(wanted, 0), _open_units(line))
    if picked != wanted:
        _warn(
            event,
            station_id,
            f"line {line.line_id} picked quantity {wanted} clamped to {picked} "
            f"(0 to open {_open_units(line)})",
        )
    line.picked_quantity = picked


def _completed(
    session: Session, order: SalesOrder, station_id: str, event: OrderCompleted, now: datetime
) -> None:
    was_cancelled = order.state is OrderState.CANCELLED
    shipping: list[tuple[OrderLine, int]] = []
    for line in order.lines:
        units = min(line.picked_quantity, _open_units(line))
        if units != line.picked_quantity:
            _warn(event, station_id, f"line {line.line_id} ships {units} of {line.picked_quantity}")
        if units > 0:
            shipping.append((line, units))
        line.picked_quantity = 0
    if shipping:
        _ship(session, order, station_id=station_id, event=event, shipping=shipping, now=now)
    else:
        _warn(event, station_id, "completed with nothing picked; no shipment")
    _release_surplus(session, order, now)
    order.station_id = None
    order.version += 1
    if was_cancelled:
        _warn(event, station_id, "completed after it was cancelled; shipped, stays cancelled")
        return
    fully = all(line.shipped_quantity >= line.quantity for line in order.lines)
    if fully:
        order.state = OrderState.SHIPPED
    elif any(line.shipped_quantity > 0 for line in order.lines):
        order.state = OrderState.PARTIALLY_SHIPPED
    if not fully and not shipping:
        session.flush()
        refresh_state(order, active_by_line(session, [order.order_no]))


def _ship(
    session: Session,
    order: SalesOrder,
    *,
    station_id: str,
    event: OrderCompleted,
    shipping: list[tuple[OrderLine, int]],
    now: datetime,
) -> None:
    session.add(
        Shipment(
            order_no=order.order_no,
            station_id=station_id,
            label_id=event.label_id,
            carrier=event.carrier,
            tracking_number=event.tracking_number,
            sscc=None,
            shipped_at=event.at,
            lines=[
                ShipmentLine(line_id=line.line_id, sku=line.sku, quantity=units)
                for line, units in shipping
            ],
        )
    )
    draws: dict[tuple[str, str], int] = defaultdict(int)
    for line, units in shipping:
        taken = _consume(session, line, units, now)
        for account_id, quantity in taken.items():
            draws[(account_id, line.sku)] += quantity
        uncovered = units - sum(taken.values())
        if uncovered > 0:
            _warn(
                event,
                station_id,
                f"line {line.line_id} shipped {uncovered} unit(s) with no active allocation; "
                f"taken from the order's own account {order.account_id}",
            )
            draws[(order.account_id, line.sku)] += uncovered
        line.shipped_quantity += units
    _take_stock(session, draws, event, station_id)


def _active_allocations(
    session: Session, line: OrderLine, *, newest_first: bool
) -> list[Allocation]:
    oldest_first = (Allocation.created_at, Allocation.id)
    ordering = [column.desc() for column in oldest_first] if newest_first else oldest_first
    return list(
        session.scalars(
            for_update(
                select(Allocation)
                .where(
                    Allocation.order_no == line.order_no,
                    Allocation.line_id == line.line_id,
                    Allocation.state == AllocationState.ACTIVE,
                )
                .order_by(*ordering)
            )
        )
    )


def _split_off(
    session: Session, row: Allocation, units: int, state: AllocationState, now: datetime
) -> None:
    """End ``units`` of an active row: the whole row, or a new row split off for that part."""
    part = row.end_units(units, state, now)
    if part is not None:
        session.add(part)


def _consume(session: Session, line: OrderLine, units: int, now: datetime) -> dict[str, int]:
    """Consume up to ``units`` of the line's active allocations, oldest first, by account."""
    taken: dict[str, int] = defaultdict(int)
    for row in _active_allocations(session, line, newest_first=False):
        if units <= 0:
            break
        part = min(units, row.quantity)
        taken[row.from_account_id] += part
        _split_off(session, row, part, AllocationState.CONSUMED, now)
        units -= part
    return taken


def _release_surplus(session: Session, order: SalesOrder, now: datetime) -> None:
    """Release active allocations beyond each line's open balance, newest first."""
    session.flush()
    for line in order.lines:
        rows = _active_allocations(session, line, newest_first=True)
        surplus = sum(row.quantity for row in rows) - _open_units(line)
        for row in rows:
            if surplus <= 0:
                break
            part = min(surplus, row.quantity)
            _split_off(session, row, part, AllocationState.RELEASED, now)
            surplus -= part


def _take_stock(
    session: Session, draws: dict[tuple[str, str], int], event: OrderCompleted, station_id: str
) -> None:
    """Take shipped units off ``on_hand``, each account's locations in location-id order.

    The rows are locked in the allocator's order (SKU, account, location), so a shipment and an
    allocation run touching the same stock queue up instead of deadlocking.
    """
    if not draws:
        return
    accounts = {account for account, _ in draws}
    skus = {sku for _, sku in draws}
    rows = session.scalars(
        for_update(
            select(StockItem)
            .where(StockItem.account_id.in_(accounts), StockItem.sku.in_(skus))
            .order_by(StockItem.sku, StockItem.account_id, StockItem.location_id)
        )
    )
    remaining = dict(draws)
    for row in rows:
        key = (row.account_id, row.sku)
        wanted = remaining.get(key, 0)
        part = min(wanted, row.on_hand)
        row.on_hand -= part
        if key in remaining:
            remaining[key] = wanted - part
    for (account_id, sku), short in sorted(remaining.items()):
        if short > 0:
            log.error(
                "ingest station=%s seq=%d order=%s: account %s has %d unit(s) of %s less on "
                "hand than shipped; on_hand clamped at 0 (a data error to correct)",
                station_id,
                event.seq,
                event.order_id,
                account_id,
                short,
                sku,
                extra={"station": station_id, "seq": event.seq, "order": event.order_id},
            )


def _aborted(session: Session, order: SalesOrder, station_id: str, event: OrderAborted) -> None:
    if event.reason == "cancelled_by_bridge":
        # The bridge withdrew it (cancelled, or held at Autopack): what was picked went back.
        for line in order.lines:
            line.picked_quantity = 0
        return
    if order.state not in _AT_STATION:
        _warn(event, station_id, f"order is {order.state.value}, not at a station; no change")
        return
    for line in order.lines:
        line.picked_quantity = 0
    order.station_id = None
    session.flush()
    refresh_state(order, active_by_line(session, [order.order_no]))
    order.version += 1
