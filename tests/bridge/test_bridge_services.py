"""Allocation, the credit gate, release, changes and cancellation on the bridge's database.

Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from bridge_world import (
    NOW,
    add_debtor,
    add_stock,
    basic_world,
    order,
)
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cloud_bridge.credit import Step
from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.models import (
    Allocation,
    AllocationState,
    AutoQueueEntry,
    Debtor,
    ErrorReport,
    OrderState,
    OrderType,
    SalesOrder,
)
from cloud_bridge.routing import RoutingSettings, StationRouter
from cloud_bridge.services.allocate import allocate
from cloud_bridge.services.autopack import autopack_check
from cloud_bridge.services.orders import OrderChangeError, cancel_order, change_line_quantity
from cloud_bridge.services.release import release
from cloud_bridge.services.settings import BridgeSettings
from edge.contract import OrderAllocated, OrderCancelled

SETTINGS = BridgeSettings(retry_in_minutes=10)
SLOTS = {"w1.st01": {"MUG": "A1", "TEA": "A2"}, "w1.st02": {"PEN": "B1"}}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bridge.db'}"
    else:
        url = request.getfixturevalue("postgres_schema_url")
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as session, session.begin():
        basic_world(session)
        yield session


def allocations(session: Session, order_no: str) -> list[tuple[str, int, bool]]:
    rows = session.scalars(
        select(Allocation)
        .where(Allocation.order_no == order_no, Allocation.state == AllocationState.ACTIVE)
        .order_by(Allocation.id)
    )
    return [(row.from_account_id, row.quantity, row.borrowed) for row in rows]


def test_the_primary_accounts_stock_is_used_first_then_linked_stock_is_borrowed(
    session: Session,
) -> None:
    add_stock(session, "A", "MUG", 3)
    add_stock(session, "B", "MUG", 10)
    order(session, "SO-1", "A", [("MUG", 5)])

    run = allocate(session, SETTINGS, now=NOW)

    assert allocations(session, "SO-1") == [("A", 3, False), ("B", 2, True)]
    assert run.borrowed_units == 2
    assert session.get(SalesOrder, "SO-1").state is OrderState.ALLOCATED  # type: ignore[union-attr]


def test_without_the_flags_linked_stock_is_never_used_and_the_balance_stays_open(
    session: Session,
) -> None:
    add_stock(session, "C", "MUG", 3)
    add_stock(session, "B", "MUG", 10)
    order(session, "SO-1", "C", [("MUG", 5)])

    run = allocate(session, SETTINGS, now=NOW)

    assert allocations(session, "SO-1") == [("C", 3, False)]
    assert run.unfilled == {("SO-1", "1"): 2}
    assert session.get(SalesOrder, "SO-1").state is OrderState.PARTIALLY_ALLOCATED  # type: ignore[union-attr]


def test_stock_is_never_allocated_twice_across_runs(session: Session) -> None:
    add_stock(session, "A", "MUG", 4)
    order(session, "SO-1", "A", [("MUG", 3)])
    allocate(session, SETTINGS, now=NOW)
    order(session, "SO-2", "A", [("MUG", 3)])

    allocate(session, SETTINGS, now=NOW)

    assert allocations(session, "SO-2") == [("A", 1, False)]


def test_the_earlier_promised_date_wins_scarce_stock(session: Session) -> None:
    add_stock(session, "A", "MUG", 2)
    order(session, "SO-LATE", "A", [("MUG", 2)], promised=NOW.date() + timedelta(days=5))
    order(session, "SO-SOON", "A", [("MUG", 2)], promised=NOW.date() + timedelta(days=1))

    allocate(session, SETTINGS, now=NOW)

    assert allocations(session, "SO-SOON") == [("A", 2, False)]
    assert allocations(session, "SO-LATE") == []


def test_an_order_over_the_credit_line_is_held_with_the_exact_message_and_queued(
    session: Session,
) -> None:
    add_debtor(session, "12345", credit_line=Decimal("100"))
    add_stock(session, "A", "MUG", 50)
    order(session, "SO-9", "A", [("MUG", 11)], debtor="12345")

    run = allocate(session, SETTINGS, now=NOW)

    assert [failure.message for outcome in run.held for failure in outcome.failures] == [
        "Order (SO-9): Invoice debtor (12345): Credit line exceeded."
    ]
    assert session.get(SalesOrder, "SO-9").state is OrderState.HELD_CREDIT  # type: ignore[union-attr]
    assert allocations(session, "SO-9") == []
    report = session.scalars(select(ErrorReport)).one()
    assert report.message == "Order (SO-9): Invoice debtor (12345): Credit line exceeded."
    assert report.step.value == "advice"
    queued = session.get(AutoQueueEntry, "SO-9")
    assert queued is not None
    assert queued.next_retry_at == NOW + timedelta(minutes=10)


def test_a_held_order_is_retried_by_the_auto_queue_once_due_and_then_allocated(
    session: Session,
) -> None:
    add_debtor(session, "12345", credit_line=Decimal("100"))
    add_stock(session, "A", "MUG", 50)
    order(session, "SO-9", "A", [("MUG", 11)], debtor="12345")
    allocate(session, SETTINGS, now=NOW)
    session.get(Debtor, "12345").credit_line = Decimal("1000")  # type: ignore[union-attr]

    early = allocate(session, SETTINGS, now=NOW + timedelta(minutes=5))
    assert early.orders_checked == 0
    allocate(session, SETTINGS, now=NOW + timedelta(minutes=10))

    assert session.get(SalesOrder, "SO-9").state is OrderState.ALLOCATED  # type: ignore[union-attr]
    assert session.get(AutoQueueEntry, "SO-9") is None
    assert session.scalars(select(ErrorReport)).one().resolved_at is not None


def test_the_credit_check_uses_the_total_order_amount_not_the_part_in_stock(
    session: Session,
) -> None:
    add_debtor(session, "77", credit_line=Decimal("100"))
    add_stock(session, "A", "MUG", 1)  # only 10.00 could ship now; the order is 200.00
    order(session, "SO-7", "A", [("MUG", 20)], debtor="77")

    run = allocate(session, SETTINGS, now=NOW)

    assert run.held
    assert allocations(session, "SO-7") == []


def test_an_unpaid_prepayment_order_is_held_with_the_exact_message(session: Session) -> None:
    add_stock(session, "A", "MUG", 5)
    order(session, "SO-P", "A", [("MUG", 1)], order_type=OrderType.PREPAYMENT)

    run = allocate(session, SETTINGS, now=NOW)

    assert [f.message for outcome in run.held for f in outcome.failures] == [
        "Order (SO-P): Invoice debtor (D1): Not allowed: Fulfilment. Reason: Prepayment"
    ]
    assert session.get(SalesOrder, "SO-P").state is OrderState.HELD_PREPAYMENT  # type: ignore[union-attr]


def test_release_sends_the_allocated_lines_with_their_slots_to_an_online_station(
    session: Session,
) -> None:
    add_stock(session, "A", "MUG", 2)
    order(session, "SO-1", "A", [("MUG", 2)])
    allocate(session, SETTINGS, now=NOW)
    router = StationRouter(RoutingSettings(stations=list(SLOTS)))

    run = release(session, SETTINGS, router, SLOTS, {"w1.st01", "w1.st02"}, now=NOW)

    assert [d.station_id for d in run.dispatches] == ["w1.st01"]
    message = run.dispatches[0].message
    assert isinstance(message, OrderAllocated)
    assert [(line.sku, line.quantity, line.slot) for line in message.lines] == [("MUG", 2, "A1")]
    assert message.delivery is not None
    assert session.get(SalesOrder, "SO-1").state is OrderState.RELEASED  # type: ignore[union-attr]


def test_release_gates_again_and_holds_an_order_whose_credit_changed_since_advice(
    session: Session,
) -> None:
    add_debtor(session, "55", credit_line=Decimal("1000"))
    add_stock(session, "A", "MUG", 2)
    order(session, "SO-1", "A", [("MUG", 2)], debtor="55")
    allocate(session, SETTINGS, now=NOW)
    session.get(Debtor, "55").open_invoices = Decimal("990")  # type: ignore[union-attr]
    router = StationRouter(RoutingSettings(stations=list(SLOTS)))

    run = release(session, SETTINGS, router, SLOTS, {"w1.st01"}, now=NOW)

    assert run.dispatches == []
    assert run.held[0].step is Step.SEND_TO_SCANNER
    assert session.get(SalesOrder, "SO-1").state is OrderState.HELD_CREDIT  # type: ignore[union-attr]


def test_with_no_station_holding_the_skus_online_the_order_waits(session: Session) -> None:
    add_stock(session, "A", "MUG", 2)
    order(session, "SO-1", "A", [("MUG", 2)])
    allocate(session, SETTINGS, now=NOW)
    router = StationRouter(RoutingSettings(stations=list(SLOTS)))

    run = release(session, SETTINGS, router, SLOTS, {"w1.st02"}, now=NOW)

    assert run.waiting == ["SO-1"]


def test_lowering_a_quantity_releases_allocation_and_tells_the_station_a_new_version(
    session: Session,
) -> None:
    add_stock(session, "A", "MUG", 5)
    order(session, "SO-1", "A", [("MUG", 5)])
    allocate(session, SETTINGS, now=NOW)
    router = StationRouter(RoutingSettings(stations=list(SLOTS)))
    release(session, SETTINGS, router, SLOTS, {"w1.st01"}, now=NOW)

    dispatch = change_line_quantity(session, "SO-1", "1", 3, slot_maps=SLOTS, now=NOW)

    assert allocations(session, "SO-1") == [("A", 3, False)]
    assert dispatch is not None
    assert isinstance(dispatch.message, OrderAllocated)
    assert dispatch.message.version == 3  # created 1, released 2, changed 3
    assert dispatch.message.lines[0].quantity == 3


def test_a_quantity_below_what_shipped_is_refused_naming_the_line(session: Session) -> None:
    add_stock(session, "A", "MUG", 5)
    order(session, "SO-1", "A", [("MUG", 5)])
    session.get(SalesOrder, "SO-1").lines[0].shipped_quantity = 4  # type: ignore[union-attr]

    with pytest.raises(OrderChangeError, match=r"SO-1 line 1: quantity 3 is below 4"):
        change_line_quantity(session, "SO-1", "1", 3, slot_maps=SLOTS, now=NOW)


def test_cancelling_a_released_order_releases_its_stock_and_tells_the_station(
    session: Session,
) -> None:
    add_stock(session, "A", "MUG", 5)
    order(session, "SO-1", "A", [("MUG", 5)])
    allocate(session, SETTINGS, now=NOW)
    router = StationRouter(RoutingSettings(stations=list(SLOTS)))
    release(session, SETTINGS, router, SLOTS, {"w1.st01"}, now=NOW)

    dispatch = cancel_order(session, "SO-1", "customer cancelled", now=NOW)

    assert allocations(session, "SO-1") == []
    assert dispatch is not None
    assert isinstance(dispatch.message, OrderCancelled)
    assert dispatch.station_id == "w1.st01"
    order(session, "SO-2", "A", [("MUG", 5)])
    allocate(session, SETTINGS, now=NOW)
    assert allocations(session, "SO-2") == [("A", 5, False)]


def test_autopack_withdraws_an_order_being_packed_that_now_fails_and_rereleases_it_later(
    session: Session,
) -> None:
    add_debtor(session, "88", credit_line=Decimal("1000"))
    add_stock(session, "A", "MUG", 2)
    order(session, "SO-1", "A", [("MUG", 2)], debtor="88")
    allocate(session, SETTINGS, now=NOW)
    router = StationRouter(RoutingSettings(stations=list(SLOTS)))
    first = release(session, SETTINGS, router, SLOTS, {"w1.st01"}, now=NOW).dispatches[0]
    placed = session.get(SalesOrder, "SO-1")
    assert placed is not None
    placed.state = OrderState.PICKING  # the station reported order_scanned
    session.get(Debtor, "88").open_invoices = Decimal("995")  # type: ignore[union-attr]

    [withdrawal] = autopack_check(session, SETTINGS, now=NOW)

    assert isinstance(withdrawal.message, OrderCancelled)
    assert withdrawal.station_id == "w1.st01"
    assert withdrawal.message.reason == "Order (SO-1): Invoice debtor (88): Credit line exceeded."
    assert withdrawal.message.version > first.message.version
    assert placed.state is OrderState.HELD_CREDIT
    assert allocations(session, "SO-1") == [("A", 2, False)]
    assert session.scalars(select(ErrorReport)).one().step.value == "autopack"

    session.get(Debtor, "88").open_invoices = Decimal(0)  # type: ignore[union-attr]
    allocate(session, SETTINGS, now=NOW + timedelta(minutes=10))
    again = release(session, SETTINGS, router, SLOTS, {"w1.st01"}, now=NOW).dispatches
    assert [d.message.version > withdrawal.message.version for d in again] == [True]


def test_raising_a_quantity_at_a_station_allocates_the_balance_for_a_new_version(
    session: Session,
) -> None:
    add_stock(session, "A", "MUG", 10)
    order(session, "SO-1", "A", [("MUG", 2)])
    allocate(session, SETTINGS, now=NOW)
    router = StationRouter(RoutingSettings(stations=list(SLOTS)))
    release(session, SETTINGS, router, SLOTS, {"w1.st01"}, now=NOW)
    change_line_quantity(session, "SO-1", "1", 5, slot_maps=SLOTS, now=NOW)

    run = allocate(session, SETTINGS, now=NOW)

    assert run.grown == ["SO-1"]
    assert sum(quantity for _, quantity, _ in allocations(session, "SO-1")) == 5
    assert session.get(SalesOrder, "SO-1").state is OrderState.RELEASED  # type: ignore[union-attr]


def test_the_debtors_other_open_orders_count_at_their_real_value(session: Session) -> None:
    add_debtor(session, "42", credit_line=Decimal("100"))
    add_stock(session, "A", "MUG", 50)
    order(session, "SO-A", "A", [("MUG", 6)], debtor="42")  # 60.00 open
    allocate(session, SETTINGS, now=NOW)
    order(session, "SO-B", "A", [("MUG", 4)], debtor="42")  # 60 + 40 = 100: at the limit

    at_limit = allocate(session, SETTINGS, now=NOW)
    order(session, "SO-C", "A", [("MUG", 1)], debtor="42", price=Decimal("0.01"))
    over = allocate(session, SETTINGS, now=NOW)

    assert at_limit.held == []
    assert allocations(session, "SO-B") == [("A", 4, False)]
    assert [outcome.order_no for outcome in over.held] == ["SO-C"]  # 100.01 is over 100
