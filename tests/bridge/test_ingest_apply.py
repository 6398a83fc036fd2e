"""Each station event changes the books as the rules say, once, on SQLite and PostgreSQL.

The world: order SO1 of account A has line 1 (5 MUG) and line 2 (3 TEA), released to station
w1.st01. Line 1 is allocated 3 from A's own stock and then 2 borrowed from linked account B;
line 2 is allocated 3 from A.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bridge_world import NOW, add_stock, basic_world, order
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cloud_bridge.audit import AuditEntry
from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.models import (
    Allocation,
    AllocationState,
    AppliedEvent,
    Location,
    OrderLine,
    OrderState,
    SalesOrder,
    Shipment,
    StockItem,
)
from cloud_bridge.ingest import Outcome, ingest_event
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

STATION = "w1.st01"
AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bridge.db'}"
    else:
        url = request.getfixturevalue("postgres_schema_url")
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine).begin() as session:
        released_world(session)
    yield engine
    engine.dispose()


def released_world(session: Session) -> None:
    basic_world(session)
    session.add(Location(id="L2"))
    add_stock(session, "A", "MUG", 10)
    add_stock(session, "B", "MUG", 10)
    add_stock(session, "A", "TEA", 10)
    order(session, "SO1", "A", [("MUG", 5), ("TEA", 3)])
    session.add_all(
        [
            allocation("1", "MUG", "A", 3, created=NOW),
            allocation("1", "MUG", "B", 2, created=NOW + timedelta(minutes=1), borrowed=True),
            allocation("2", "TEA", "A", 3, created=NOW),
        ]
    )
    placed = session.get_one(SalesOrder, "SO1")
    placed.state = OrderState.RELEASED
    placed.station_id = STATION
    placed.version = 2


def allocation(
    line_id: str, sku: str, account: str, units: int, *, created: datetime, borrowed: bool = False
) -> Allocation:
    return Allocation(
        order_no="SO1",
        line_id=line_id,
        sku=sku,
        from_account_id=account,
        quantity=units,
        borrowed=borrowed,
        state=AllocationState.ACTIVE,
        created_at=created,
    )


class Station:
    """Builds a station's events with the next sequence number each, and feeds them in."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seq = 0

    def send(self, event_type: type[StationEvent], order_id: str = "SO1", **fields: Any) -> None:
        self.seq += 1
        event = event_type(event_id=uuid.uuid4(), seq=self.seq, at=AT, order_id=order_id, **fields)
        with session_factory(self.engine).begin() as session:
            result = ingest_event(session, STATION, event)
        assert result.outcome is Outcome.APPLIED

    def pick(self, line_id: str, sku: str, quantity: int) -> None:
        gtin = {"MUG": "05012345678900", "TEA": "04006381333931"}[sku]
        self.send(LinePicked, line_id=line_id, sku=sku, gtin=gtin, slot="A1", quantity=quantity)

    def complete(self, label_id: str = "LBL-1") -> None:
        self.send(
            OrderCompleted,
            order_version=2,
            label_id=label_id,
            carrier="DPD",
            tracking_number=f"TRK-{label_id}",
        )


@pytest.fixture
def station(engine: Engine) -> Station:
    return Station(engine)


def read(engine: Engine) -> Session:
    return session_factory(engine)()


def lines(engine: Engine) -> dict[str, tuple[int, int]]:
    """Line id -> (picked, shipped)."""
    with read(engine) as session:
        rows = session.scalars(select(OrderLine).where(OrderLine.order_no == "SO1"))
        return {row.line_id: (row.picked_quantity, row.shipped_quantity) for row in rows}


def the_order(engine: Engine) -> SalesOrder:
    with read(engine) as session:
        return session.get_one(SalesOrder, "SO1")


def allocations(engine: Engine, line_id: str) -> list[tuple[str, int, str]]:
    with read(engine) as session:
        rows = session.scalars(
            select(Allocation)
            .where(Allocation.order_no == "SO1", Allocation.line_id == line_id)
            .order_by(Allocation.state, Allocation.from_account_id, Allocation.quantity)
        )
        return [(row.from_account_id, row.quantity, row.state.value) for row in rows]


def on_hand(engine: Engine) -> dict[tuple[str, str, str], int]:
    with read(engine) as session:
        return {
            (row.account_id, row.sku, row.location_id): row.on_hand
            for row in session.scalars(select(StockItem))
        }


def test_scanning_a_released_order_starts_picking_at_that_station(
    engine: Engine, station: Station
) -> None:
    station.send(OrderScanned, order_version=2)

    scanned = the_order(engine)
    assert scanned.state is OrderState.PICKING
    assert scanned.station_id == STATION
    assert scanned.version == 2


def test_scanning_a_cancelled_order_changes_nothing(engine: Engine, station: Station) -> None:
    with session_factory(engine).begin() as session:
        session.get_one(SalesOrder, "SO1").state = OrderState.CANCELLED

    station.send(OrderScanned, order_version=2)

    assert the_order(engine).state is OrderState.CANCELLED


def test_picks_add_up_on_their_line(engine: Engine, station: Station) -> None:
    station.pick("1", "MUG", 2)
    station.pick("1", "MUG", 1)
    station.pick("2", "TEA", 3)

    assert lines(engine) == {"1": (3, 0), "2": (3, 0)}


def test_picking_more_than_the_line_is_clamped_to_its_quantity_and_logged(
    engine: Engine, station: Station, caplog: pytest.LogCaptureFixture
) -> None:
    station.pick("1", "MUG", 4)

    with caplog.at_level(logging.WARNING, logger="packline.bridge.ingest"):
        station.pick("1", "MUG", 4)

    assert lines(engine)["1"] == (5, 0)
    assert "clamped to 5" in caplog.text


def test_a_return_takes_units_off_the_picked_quantity_but_never_below_zero(
    engine: Engine, station: Station
) -> None:
    station.pick("1", "MUG", 3)
    station.send(LineReturned, line_id="1", sku="MUG", slot="A1", quantity=2)
    assert lines(engine)["1"] == (1, 0)

    station.send(LineReturned, line_id="1", sku="MUG", slot="A1", quantity=4)
    assert lines(engine)["1"] == (0, 0)


def test_a_shortage_sets_the_picked_quantity_to_what_was_found(
    engine: Engine, station: Station
) -> None:
    station.pick("2", "TEA", 2)

    station.send(
        ShortageRecorded,
        line_id="2",
        sku="TEA",
        slot="A2",
        expected_quantity=3,
        found_quantity=1,
    )

    assert lines(engine)["2"] == (1, 0)


def test_completing_a_fully_picked_order_ships_it_and_takes_stock_from_the_lending_accounts(
    engine: Engine, station: Station
) -> None:
    station.send(OrderScanned, order_version=2)
    station.pick("1", "MUG", 5)
    station.pick("2", "TEA", 3)

    station.complete("LBL-9")

    shipped = the_order(engine)
    assert shipped.state is OrderState.SHIPPED
    assert shipped.station_id is None
    assert shipped.version == 3
    assert lines(engine) == {"1": (0, 5), "2": (0, 3)}
    with read(engine) as session:
        shipment = session.scalars(select(Shipment)).one()
        assert (shipment.order_no, shipment.station_id, shipment.label_id) == (
            "SO1",
            STATION,
            "LBL-9",
        )
        assert (shipment.carrier, shipment.tracking_number, shipment.sscc) == (
            "DPD",
            "TRK-LBL-9",
            None,
        )
        assert [(line.line_id, line.sku, line.quantity) for line in shipment.lines] == [
            ("1", "MUG", 5),
            ("2", "TEA", 3),
        ]
    assert allocations(engine, "1") == [("A", 3, "consumed"), ("B", 2, "consumed")]
    assert allocations(engine, "2") == [("A", 3, "consumed")]
    assert on_hand(engine) == {("A", "MUG", "L1"): 7, ("B", "MUG", "L1"): 8, ("A", "TEA", "L1"): 7}


def test_a_partial_completion_consumes_the_oldest_allocation_first_and_leaves_the_balance_open(
    engine: Engine, station: Station
) -> None:
    station.pick("1", "MUG", 4)

    station.complete()

    shipped = the_order(engine)
    assert shipped.state is OrderState.PARTIALLY_SHIPPED
    assert shipped.station_id is None
    assert lines(engine) == {"1": (0, 4), "2": (0, 0)}
    assert allocations(engine, "1") == [
        ("B", 1, "active"),
        ("A", 3, "consumed"),
        ("B", 1, "consumed"),
    ]
    assert allocations(engine, "2") == [("A", 3, "active")]
    assert on_hand(engine)[("A", "MUG", "L1")] == 7
    assert on_hand(engine)[("B", "MUG", "L1")] == 9


def test_shipped_stock_is_taken_location_by_location_in_location_order(
    engine: Engine, station: Station
) -> None:
    with session_factory(engine).begin() as session:
        session.get_one(StockItem, ("A", "TEA", "L1")).on_hand = 1
        add_stock_at(session, "A", "TEA", "L2", 5)
    station.pick("2", "TEA", 3)

    station.complete()

    assert on_hand(engine)[("A", "TEA", "L1")] == 0
    assert on_hand(engine)[("A", "TEA", "L2")] == 3


def add_stock_at(session: Session, account: str, sku: str, location: str, units: int) -> None:
    session.add(StockItem(account_id=account, sku=sku, location_id=location, on_hand=units))


def test_shipping_more_than_is_on_hand_clamps_at_zero_and_logs_a_data_error(
    engine: Engine, station: Station, caplog: pytest.LogCaptureFixture
) -> None:
    with session_factory(engine).begin() as session:
        session.get_one(StockItem, ("A", "TEA", "L1")).on_hand = 2
    station.pick("2", "TEA", 3)

    with caplog.at_level(logging.ERROR, logger="packline.bridge.ingest"):
        station.complete()

    assert on_hand(engine)[("A", "TEA", "L1")] == 0
    assert lines(engine)["2"] == (0, 3)
    assert "account A has 1 unit(s) of TEA less on hand than shipped" in caplog.text


def test_a_second_completion_ships_the_balance_and_then_the_order_is_shipped(
    engine: Engine, station: Station
) -> None:
    station.pick("1", "MUG", 2)
    station.pick("2", "TEA", 3)
    station.complete("LBL-1")
    station.pick("1", "MUG", 3)

    station.complete("LBL-2")

    assert the_order(engine).state is OrderState.SHIPPED
    assert lines(engine) == {"1": (0, 5), "2": (0, 3)}
    with read(engine) as session:
        assert session.scalars(select(Shipment.label_id).order_by(Shipment.id)).all() == [
            "LBL-1",
            "LBL-2",
        ]
    assert [state for _, _, state in allocations(engine, "1")] == ["consumed"] * 3


def test_an_order_completed_after_it_was_cancelled_ships_what_was_picked_and_stays_cancelled(
    engine: Engine, station: Station
) -> None:
    station.pick("2", "TEA", 3)
    with session_factory(engine).begin() as session:
        session.get_one(SalesOrder, "SO1").state = OrderState.CANCELLED

    station.complete()

    assert the_order(engine).state is OrderState.CANCELLED
    assert lines(engine) == {"1": (0, 0), "2": (0, 3)}
    assert on_hand(engine)[("A", "TEA", "L1")] == 7


def test_completing_with_nothing_picked_makes_no_shipment_and_returns_the_order(
    engine: Engine, station: Station
) -> None:
    station.send(OrderScanned, order_version=2)

    station.complete()

    with read(engine) as session:
        assert session.scalars(select(Shipment)).all() == []
    returned = the_order(engine)
    assert (returned.state, returned.station_id) == (OrderState.ALLOCATED, None)


def test_an_abort_by_the_packer_returns_the_order_allocated_with_its_allocations(
    engine: Engine, station: Station
) -> None:
    station.send(OrderScanned, order_version=2)
    station.pick("1", "MUG", 2)

    station.send(OrderAborted, reason="packer_cancelled")

    aborted = the_order(engine)
    assert aborted.state is OrderState.ALLOCATED
    assert aborted.station_id is None
    assert aborted.version == 3
    assert lines(engine) == {"1": (0, 0), "2": (0, 0)}
    assert allocations(engine, "1") == [("A", 3, "active"), ("B", 2, "active")]


def test_an_abort_the_bridge_caused_only_puts_the_picked_units_back(
    engine: Engine, station: Station
) -> None:
    station.send(OrderScanned, order_version=2)
    station.pick("1", "MUG", 2)

    station.send(OrderAborted, reason="cancelled_by_bridge")

    unchanged = the_order(engine)
    assert (unchanged.state, unchanged.station_id, unchanged.version) == (
        OrderState.PICKING,
        STATION,
        2,
    )
    assert lines(engine)["1"] == (0, 0)


def test_label_events_are_recorded_as_applied_and_change_nothing_else(
    engine: Engine, station: Station
) -> None:
    station.send(LabelPrinted, label_id="LBL-1", carrier="DPD", tracking_number="TRK-1")
    station.send(LabelReprinted, label_id="LBL-1", reason="smudged")
    station.send(LabelVoided, label_id="LBL-1", reason="wrong size")

    with read(engine) as session:
        recorded = session.scalars(select(AppliedEvent.type).order_by(AppliedEvent.seq)).all()
        assert recorded == ["label_printed", "label_reprinted", "label_voided"]
        assert session.scalars(select(Shipment)).all() == []
    assert the_order(engine).state is OrderState.RELEASED


def test_an_event_for_an_unknown_order_is_recorded_with_a_warning_naming_it(
    engine: Engine, station: Station, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="packline.bridge.ingest"):
        station.send(OrderScanned, order_id="SO-404", order_version=1)

    with read(engine) as session:
        assert session.scalars(select(AppliedEvent.seq)).all() == [1]
    assert "SO-404" in caplog.text
    assert "unknown order" in caplog.text


def test_a_pick_for_a_line_not_on_the_order_is_recorded_with_a_warning(
    engine: Engine, station: Station, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="packline.bridge.ingest"):
        station.pick("9", "MUG", 1)

    assert lines(engine) == {"1": (0, 0), "2": (0, 0)}
    assert "line '9' is not on the order" in caplog.text


def audit_rows(engine: Engine) -> list[AuditEntry]:
    with read(engine) as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_a_shortage_and_an_abort_are_audited_with_the_station_as_actor(
    engine: Engine, station: Station
) -> None:
    station.send(OrderScanned, order_version=2)
    station.send(
        ShortageRecorded,
        line_id="2",
        sku="TEA",
        slot="A2",
        expected_quantity=3,
        found_quantity=1,
        reason="damaged",
    )
    station.send(OrderAborted, reason="shortage", note="rest of the tea is crushed")

    shortage, abort = audit_rows(engine)
    assert (shortage.actor, shortage.role, shortage.action, shortage.subject) == (
        f"station:{STATION}",
        "station",
        "order.shortage.record",
        "order:SO1",
    )
    assert shortage.after is not None
    assert {key: shortage.after[key] for key in ("line_id", "sku", "slot", "reason")} == {
        "line_id": "2",
        "sku": "TEA",
        "slot": "A2",
        "reason": "damaged",
    }
    assert (shortage.after["expected_quantity"], shortage.after["found_quantity"]) == (3, 1)
    assert shortage.after["seq"] == 2
    assert shortage.after["station_at"] == AT.isoformat()
    assert (abort.actor, abort.action, abort.subject) == (
        f"station:{STATION}",
        "order.abort",
        "order:SO1",
    )
    assert abort.after is not None
    assert (abort.after["reason"], abort.after["note"], abort.after["seq"]) == (
        "shortage",
        "rest of the tea is crushed",
        3,
    )


def test_a_replayed_shortage_is_audited_once(engine: Engine) -> None:
    shortage = ShortageRecorded(
        event_id=uuid.uuid4(),
        seq=1,
        at=AT,
        order_id="SO1",
        line_id="1",
        sku="MUG",
        slot="A1",
        expected_quantity=5,
        found_quantity=0,
    )

    outcomes = []
    for _ in range(2):
        with session_factory(engine).begin() as session:
            outcomes.append(ingest_event(session, STATION, shortage).outcome)

    assert outcomes == [Outcome.APPLIED, Outcome.DUPLICATE]
    assert [row.action for row in audit_rows(engine)] == ["order.shortage.record"]
