"""The Autopack step: the gate runs again while an order is being packed, before its label.

The station prints the label when the last line is confirmed, so the bridge checks every order
in picking at each cycle (a station reports `order_scanned` the moment packing starts). An order
that now fails is held exactly like at the other steps: its exact message goes to the error
report, the auto queue schedules the retry, and the station is told to withdraw it, with the
message as the reason, so it does not progress to the label. Its allocations stay, so once the
retry passes it is released again with a higher version. A station that is offline cannot be
stopped this way; it labels what it holds and the bridge records the shipment it reports.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cloud_bridge.credit import Step
from cloud_bridge.db.models import OrderState, SalesOrder
from cloud_bridge.services.gate import GateBatch
from cloud_bridge.services.release import Dispatch
from cloud_bridge.services.settings import BridgeSettings
from edge.contract import OrderCancelled

__all__ = ["autopack_check"]


def autopack_check(
    session: Session, settings: BridgeSettings, *, now: datetime | None = None
) -> list[Dispatch]:
    """Gate every order being packed; withdraw the failing ones from their stations."""
    moment = now or datetime.now(UTC)
    orders = list(
        session.scalars(
            select(SalesOrder)
            .options(selectinload(SalesOrder.lines))
            .where(SalesOrder.state == OrderState.PICKING)
            .with_for_update(of=SalesOrder, skip_locked=True)
        )
    )
    gate = GateBatch(session, orders, settings, moment)
    dispatches: list[Dispatch] = []
    for order in orders:
        outcome = gate.check(order, Step.AUTOPACK)
        if outcome.passed or outcome.new_state is None:
            continue
        station = order.station_id
        order.state = outcome.new_state
        order.station_id = None
        order.version += 1
        if station is not None:
            reason = "\n".join(failure.message for failure in outcome.failures)
            dispatches.append(
                Dispatch(
                    station_id=station,
                    message=OrderCancelled(
                        order_id=order.order_no, version=order.version, at=moment, reason=reason
                    ),
                )
            )
    return dispatches
