"""Correcting a shipment after it left: stock, shipped quantities, the order's state and the
posting flag follow the corrected quantity, and a correction that breaks a rule changes nothing.

Shipments are made the way stations make them, through the ingest path (scan, pick, complete),
after a real allocation run. The world: account A (borrows from B) owns 10 MUG and 10 TEA at
L1; order SO1 of A has line 1 (5 MUG) and line 2 (3 TEA).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from bridge_world import NOW, add_stock, basic_world, order
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from test_api_harness import ADMIN, Api, add_world, error_of, order_body, receive, running_api

from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.models import (
    Allocation,
    AllocationState,
    Base,
    Location,
    OrderLine,
    OrderState,
    Posting,
    PostingKind,
    PostingLine,
    PostingState,
    SalesOrder,
    Shipment,
    ShipmentCorrection,
    ShipmentLine,
    StockItem,
)
from cloud_bridge.db.posting import SageEnvironment
from cloud_bridge.ingest import Outcome, ingest_event
from cloud_bridge.posting.corrections import (
    CorrectionConflict,
    CorrectionInvalid,
    ShipmentNotFound,
    correct_shipment,
)
from cloud_bridge.services.allocate import allocate
from cloud_bridge.services.orders import cancel_order
from cloud_bridge.services.settings import load_settings
from edge.contract import LinePicked, OrderCompleted, OrderScanned, StationEvent

STATION = "w1.st01"
AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
LATER = AT + timedelta(hours=3)
GTINS = {"MUG": "05012345678900", "TEA": "04006381333931", "PEN": "09501101530003"}


class Dock:
    """Ships orders as a station would: released, scanned, picked and completed via ingest."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.seq = 0

    def _send(self, event_type: type[StationEvent], order_no: str, **fields: Any) -> None:
        self.seq += 1
        event = event_type(event_id=uuid.uuid4(), seq=self.seq, at=AT, order_id=order_no, **fields)
        with self.sessions.begin() as session:
            assert ingest_event(session, STATION, event, now=AT).outcome is Outcome.APPLIED

    def ship(self, order_no: str, picks: dict[str, int], label: str = "LBL-1") -> int:
        """Ship ``line_id -> units`` of an allocated order; the new shipment's id."""
        with self.sessions.begin() as session:
            placed = session.get_one(SalesOrder, order_no)
            placed.state = OrderState.RELEASED
            placed.station_id = STATION
            version = placed.version
            skus = {line.line_id: line.sku for line in placed.lines}
        self._send(OrderScanned, order_no, order_version=version)
        for line_id, units in picks.items():
            sku = skus[line_id]
            self._send(
                LinePicked,
                order_no,
                line_id=line_id,
                sku=sku,
                gtin=GTINS[sku],
                slot="A1",
                quantity=units,
            )
        self._send(
            OrderCompleted,
            order_no,
            order_version=version,
            label_id=label,
            carrier="DPD",
            tracking_number=f"TRK-{label}",
        )
        with self.sessions.begin() as session:
            shipment_id = session.scalar(select(func.max(Shipment.id)))
            assert shipment_id is not None
            # As if the posting planner had already written the shipment's invoice.
            session.get_one(Shipment, shipment_id).posting_due = False
        return int(shipment_id)


def allocate_all(session: Session) -> None:
    allocate(session, load_settings(session), now=NOW)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bridge.db'}"
    else:
        url = request.getfixturevalue("postgres_schema_url")
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine).begin() as session:
        basic_world(session)
        add_stock(session, "A", "MUG", 10)
        add_stock(session, "A", "TEA", 10)
        order(session, "SO1", "A", [("MUG", 5), ("TEA", 3)])
        allocate_all(session)
    yield engine
    engine.dispose()


@pytest.fixture
def dock(engine: Engine) -> Dock:
    return Dock(session_factory(engine))


def correct(engine: Engine, shipment_id: int, reason: str = "miscount", **lines: int) -> int:
    """Correct in a transaction of its own; the number of audit rows written."""
    quantities = {line_id.removeprefix("line"): units for line_id, units in lines.items()}
    with session_factory(engine).begin() as session:
        return len(correct_shipment(session, shipment_id, quantities, reason=reason, now=LATER))


def on_hand(engine: Engine) -> dict[tuple[str, str, str], int]:
    with session_factory(engine)() as session:
        return {
            (row.account_id, row.sku, row.location_id): row.on_hand
            for row in session.scalars(select(StockItem))
        }


def shipment_lines(engine: Engine, shipment_id: int) -> dict[str, int]:
    with session_factory(engine)() as session:
        rows = session.scalars(select(ShipmentLine).where(ShipmentLine.shipment_id == shipment_id))
        return {row.line_id: row.quantity for row in rows}


def shipped(engine: Engine, order_no: str = "SO1") -> dict[str, int]:
    with session_factory(engine)() as session:
        rows = session.scalars(select(OrderLine).where(OrderLine.order_no == order_no))
        return {row.line_id: row.shipped_quantity for row in rows}


def the_order(engine: Engine, order_no: str = "SO1") -> SalesOrder:
    with session_factory(engine)() as session:
        return session.get_one(SalesOrder, order_no)


def posting_due(engine: Engine, shipment_id: int) -> bool:
    with session_factory(engine)() as session:
        return session.get_one(Shipment, shipment_id).posting_due


def everything(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to show that a refused correction changed nothing."""
    with engine.connect() as connection:
        return {
            table.name: sorted((tuple(row) for row in connection.execute(select(table))), key=repr)
            for table in Base.metadata.sorted_tables
        }


# --- fewer units than recorded ----------------------------------------------------------------


def test_a_line_shipped_short_puts_units_back_writes_the_audit_and_marks_the_posting_due(
    engine: Engine, dock: Dock
) -> None:
    shipment = dock.ship("SO1", {"1": 5, "2": 3})
    assert the_order(engine).state is OrderState.SHIPPED
    version = the_order(engine).version

    assert correct(engine, shipment, "one mug left on the dock", line1=4) == 1

    assert shipment_lines(engine, shipment) == {"1": 4, "2": 3}
    assert shipped(engine) == {"1": 4, "2": 3}
    assert on_hand(engine)[("A", "MUG", "L1")] == 6
    assert posting_due(engine, shipment)
    with session_factory(engine)() as session:
        audit = session.scalars(select(ShipmentCorrection)).one()
    assert (audit.shipment_id, audit.line_id, audit.sku) == (shipment, "1", "MUG")
    assert (audit.quantity_before, audit.quantity_after) == (5, 4)
    assert (audit.reason, audit.corrected_at) == ("one mug left on the dock", LATER)
    assert the_order(engine).version == version + 1


def test_a_shipped_order_with_a_line_short_again_is_partially_shipped_and_allocated_again(
    engine: Engine, dock: Dock
) -> None:
    shipment = dock.ship("SO1", {"1": 5, "2": 3})

    correct(engine, shipment, line1=4)

    assert the_order(engine).state is OrderState.PARTIALLY_SHIPPED
    with session_factory(engine).begin() as session:
        allocate_all(session)
    assert the_order(engine).state is OrderState.ALLOCATED


def test_a_line_corrected_to_zero_leaves_the_shipment(engine: Engine, dock: Dock) -> None:
    shipment = dock.ship("SO1", {"1": 5, "2": 3})

    correct(engine, shipment, "parcel came back unopened", line1=0, line2=0)

    assert shipment_lines(engine, shipment) == {}
    assert shipped(engine) == {"1": 0, "2": 0}
    assert on_hand(engine)[("A", "MUG", "L1")] == 10
    assert on_hand(engine)[("A", "TEA", "L1")] == 10
    assert the_order(engine).state is OrderState.NEW


def test_units_come_back_to_the_first_location_of_the_orders_account(
    engine: Engine, dock: Dock
) -> None:
    with session_factory(engine).begin() as session:
        session.add(Location(id="K9"))
        session.add(StockItem(account_id="A", sku="MUG", location_id="K9", on_hand=0))
    shipment = dock.ship("SO1", {"1": 5, "2": 3})

    correct(engine, shipment, line1=2)

    assert on_hand(engine)[("A", "MUG", "K9")] == 3
    assert on_hand(engine)[("A", "MUG", "L1")] == 5


def test_borrowed_units_that_come_back_go_to_the_orders_own_account(
    engine: Engine, dock: Dock
) -> None:
    with session_factory(engine).begin() as session:
        add_stock(session, "B", "PEN", 4)
        order(session, "SO2", "A", [("PEN", 2)])
        allocate_all(session)
    shipment = dock.ship("SO2", {"1": 2})
    assert on_hand(engine)[("B", "PEN", "L1")] == 2

    correct(engine, shipment, line1=0)

    assert on_hand(engine)[("A", "PEN", "L1")] == 2
    assert on_hand(engine)[("B", "PEN", "L1")] == 2


# --- more units than recorded -----------------------------------------------------------------


def test_a_line_shipped_more_consumes_its_allocation_and_completes_the_order(
    engine: Engine, dock: Dock
) -> None:
    shipment = dock.ship("SO1", {"1": 4, "2": 3})
    assert the_order(engine).state is OrderState.PARTIALLY_SHIPPED

    correct(engine, shipment, "the fifth mug was in the box", line1=5)

    assert shipment_lines(engine, shipment) == {"1": 5, "2": 3}
    assert shipped(engine) == {"1": 5, "2": 3}
    assert on_hand(engine)[("A", "MUG", "L1")] == 5
    assert the_order(engine).state is OrderState.SHIPPED
    assert posting_due(engine, shipment)
    with session_factory(engine)() as session:
        active = session.scalar(
            select(func.count()).where(Allocation.state == AllocationState.ACTIVE)
        )
    assert active == 0


def test_a_line_not_on_the_shipment_can_be_added_to_it(engine: Engine, dock: Dock) -> None:
    shipment = dock.ship("SO1", {"1": 5})

    correct(engine, shipment, "the tea went in the same parcel", line2=3)

    assert shipment_lines(engine, shipment) == {"1": 5, "2": 3}
    assert on_hand(engine)[("A", "TEA", "L1")] == 7
    assert the_order(engine).state is OrderState.SHIPPED


def test_units_beyond_the_allocations_come_off_the_orders_free_stock_and_a_cancelled_order_stays_cancelled(  # noqa: E501
    engine: Engine, dock: Dock
) -> None:
    shipment = dock.ship("SO1", {"1": 3, "2": 3})
    with session_factory(engine).begin() as session:
        cancel_order(session, "SO1", "customer cancelled", now=AT)

    correct(engine, shipment, line1=5)

    assert on_hand(engine)[("A", "MUG", "L1")] == 5
    assert the_order(engine).state is OrderState.CANCELLED


def test_unchanged_lines_write_nothing(engine: Engine, dock: Dock) -> None:
    shipment = dock.ship("SO1", {"1": 5, "2": 3})
    before = everything(engine)

    assert correct(engine, shipment, line1=5, line2=3) == 0

    assert everything(engine) == before


# --- refusals ---------------------------------------------------------------------------------


def test_more_than_the_order_line_allows_after_its_other_shipments_is_refused(
    engine: Engine, dock: Dock
) -> None:
    first = dock.ship("SO1", {"1": 2, "2": 3}, label="LBL-1")
    dock.ship("SO1", {"1": 3}, label="LBL-2")
    before = everything(engine)

    with pytest.raises(CorrectionConflict, match="more than the 2 the order allows") as refused:
        correct(engine, first, line1=3)

    assert (refused.value.part, refused.value.line_id, refused.value.rule) == (
        "quantity",
        "1",
        "at most 2",
    )
    assert everything(engine) == before


def test_more_than_the_accounts_free_stock_is_refused(engine: Engine, dock: Dock) -> None:
    shipment = dock.ship("SO1", {"1": 5, "2": 3})
    with session_factory(engine).begin() as session:
        order(session, "SO3", "A", [("TEA", 7)])
        allocate_all(session)
        session.get_one(OrderLine, ("SO1", "2")).quantity = 4
    before = everything(engine)

    with pytest.raises(CorrectionConflict, match="only 0 on hand that no order holds"):
        correct(engine, shipment, line2=4)

    assert everything(engine) == before


@pytest.mark.parametrize(
    ("reason", "lines", "part", "error"),
    [
        ("miscount", {"1": -1}, "quantity", CorrectionInvalid),
        ("   ", {"1": 4}, "reason", CorrectionInvalid),
        ("miscount", {}, "lines", CorrectionInvalid),
        ("miscount", {"9": 1}, "line_id", ShipmentNotFound),
    ],
)
def test_a_malformed_correction_is_refused_naming_the_input_and_changes_nothing(
    engine: Engine,
    dock: Dock,
    *,
    reason: str,
    lines: dict[str, int],
    part: str,
    error: type[Exception],
) -> None:
    shipment = dock.ship("SO1", {"1": 5, "2": 3})
    before = everything(engine)

    with pytest.raises(error) as refused, session_factory(engine).begin() as session:
        correct_shipment(session, shipment, lines, reason=reason, now=LATER)

    assert getattr(refused.value, "part", None) == part
    assert everything(engine) == before


def test_an_unknown_shipment_is_refused(engine: Engine) -> None:
    with pytest.raises(ShipmentNotFound, match="shipment 404 does not exist"):
        correct(engine, 404, line1=1)


def test_a_shipment_of_an_order_at_a_station_is_refused(engine: Engine, dock: Dock) -> None:
    shipment = dock.ship("SO1", {"1": 4, "2": 3})
    with session_factory(engine).begin() as session:
        placed = session.get_one(SalesOrder, "SO1")
        placed.state = OrderState.RELEASED
        placed.station_id = STATION

    with pytest.raises(CorrectionConflict, match=r"at station w1\.st01"):
        correct(engine, shipment, line1=3)


# --- over HTTP --------------------------------------------------------------------------------


class Wakes:
    """Counts how often the API woke the poster."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as api:
        await add_world(api)
        await receive(api, "A", "MUG", 10)
        await receive(api, "A", "TEA", 10)
        await api.call("POST", "/orders", order_body("SO-1", "A", [("MUG", 5), ("TEA", 3)]))
        await api.call("POST", "/allocation/run", expect=200)
        yield api


@pytest.fixture
def wakes(api: Api) -> Wakes:
    wakes = Wakes()
    api.app.state.wake_poster = wakes
    return wakes


@pytest.fixture
def shipment(api: Api) -> int:
    return Dock(api.sessions).ship("SO-1", {"1": 5, "2": 3})


async def test_a_shipment_reads_with_its_lines_and_its_sage_postings(
    api: Api, shipment: int
) -> None:
    with api.sessions.begin() as session:
        session.add(
            Posting(
                business_id="biz-test",
                environment=SageEnvironment.TEST,
                shipment_id=shipment,
                kind=PostingKind.INVOICE,
                revision=1,
                idempotency_id="a" * 32,
                reference=f"SO-1/{shipment}",
                document="{}",
                state=PostingState.POSTED,
                due_at=AT,
                sage_id="sage-1",
                sage_number="SI-1",
                lines=[
                    PostingLine(
                        line_id="1",
                        sku="MUG",
                        quantity=5,
                        unit_price=Decimal("10"),
                        tax_rate=Decimal(0),
                    )
                ],
            )
        )

    view = await api.call("GET", f"/shipments/{shipment}", expect=200)

    assert (view["id"], view["order_no"], view["station"]) == (shipment, "SO-1", STATION)
    assert (view["label_id"], view["carrier"], view["tracking_number"]) == (
        "LBL-1",
        "DPD",
        "TRK-LBL-1",
    )
    assert view["lines"] == [
        {"line_id": "1", "sku": "MUG", "quantity": 5},
        {"line_id": "2", "sku": "TEA", "quantity": 3},
    ]
    assert view["corrections"] == []
    posting = view["postings"][0]
    assert {key: posting[key] for key in ("kind", "revision", "state", "reference")} == {
        "kind": "invoice",
        "revision": 1,
        "state": "posted",
        "reference": f"SO-1/{shipment}",
    }
    assert (posting["sage_id"], posting["sage_number"], posting["last_error"]) == (
        "sage-1",
        "SI-1",
        None,
    )


async def test_a_correction_over_http_answers_the_updated_shipment_and_wakes_the_poster(
    api: Api, shipment: int, wakes: Wakes
) -> None:
    body = {"reason": "one mug left on the dock", "lines": [{"line_id": "1", "quantity": 4}]}

    view = await api.call("POST", f"/shipments/{shipment}/corrections", body, expect=200)

    assert view["lines"][0] == {"line_id": "1", "sku": "MUG", "quantity": 4}
    assert view["posting_due"] is True
    (audit,) = view["corrections"]
    assert (audit["line_id"], audit["quantity_before"], audit["quantity_after"]) == ("1", 5, 4)
    assert audit["reason"] == "one mug left on the dock"
    assert wakes.count == 1
    assert (await api.call("GET", "/orders/SO-1"))["state"] == "partially_shipped"
    stock = await api.call("GET", "/stock?account=A&sku=MUG")
    assert stock["items"][0]["on_hand"] == 6


async def test_a_correction_is_audited_with_who_made_it_the_quantities_and_the_reason(
    api: Api, shipment: int
) -> None:
    body = {"reason": "one mug left on the dock", "lines": [{"line_id": "1", "quantity": 4}]}

    await api.call("POST", f"/shipments/{shipment}/corrections", body, expect=200)

    trail = await api.call("GET", "/audit?action=shipment.correct")
    (entry,) = trail["items"]
    assert (entry["actor"], entry["role"]) == (ADMIN, "admin")
    assert entry["subject"] == f"shipment:{shipment}"
    assert entry["before"] == {"1": 5}
    assert entry["after"] == {"1": 4, "reason": "one mug left on the dock"}


async def test_an_unchanged_correction_answers_the_shipment_and_does_not_wake_the_poster(
    api: Api, shipment: int, wakes: Wakes
) -> None:
    body = {"reason": "recount", "lines": [{"line_id": "1", "quantity": 5}]}

    view = await api.call("POST", f"/shipments/{shipment}/corrections", body, expect=200)

    assert view["corrections"] == []
    assert wakes.count == 0


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/shipments/999/corrections", None, 404, "shipment_id"),
        (None, {"lines": [{"line_id": "9", "quantity": 1}]}, 404, "lines.0.line_id"),
        (
            None,
            {"lines": [{"line_id": "2", "quantity": 3}, {"line_id": "1", "quantity": 6}]},
            409,
            "lines.1.quantity",
        ),
        (None, {"lines": [{"line_id": "1", "quantity": -1}]}, 422, "lines.0.quantity"),
        (None, {"reason": "  "}, 422, "reason"),
        (None, {"lines": []}, 422, "lines"),
        (
            None,
            {"lines": [{"line_id": "1", "quantity": 4}, {"line_id": "1", "quantity": 3}]},
            422,
            "lines",
        ),
    ],
)
async def test_a_refused_correction_names_the_field_changes_nothing_and_wakes_nobody(
    api: Api,
    shipment: int,
    wakes: Wakes,
    *,
    path: str | None,
    body: dict[str, Any] | None,
    status: int,
    field: str,
) -> None:
    request = {"reason": "miscount", "lines": [{"line_id": "1", "quantity": 4}], **(body or {})}
    before = api.snapshot()

    answer = await api.call(
        "POST", path or f"/shipments/{shipment}/corrections", request, expect=status
    )

    assert error_of(answer)[0] == field
    assert api.snapshot() == before
    assert wakes.count == 0


async def test_an_unknown_shipment_reads_as_404(api: Api) -> None:
    answer = await api.call("GET", "/shipments/999", expect=404)

    assert error_of(answer)[0] == "shipment_id"


async def test_the_shipment_routes_need_the_token(api: Api, shipment: int) -> None:
    api.client.headers.pop("Authorization")
    read = await api.client.get(f"/shipments/{shipment}")
    corrected = await api.client.post(f"/shipments/{shipment}/corrections", json={})

    assert (read.status_code, corrected.status_code) == (401, 401)


async def test_the_shipment_routes_are_documented_like_every_other_route(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]

    for path in ("/shipments/{shipment_id}", "/shipments/{shipment_id}/corrections"):
        for method, operation in document["paths"][path].items():
            assert operation.get("summary"), (method, path)
            assert operation.get("description"), (method, path)
            assert {"401", "404", "422"} <= set(operation["responses"]), (method, path)
            for parameter in operation.get("parameters", []):
                assert parameter.get("description"), (method, path, parameter["name"])
    for name in ("CorrectionIn", "CorrectionLineIn", "ShipmentOut", "PostingOut", "CorrectionOut"):
        assert schemas[name].get("description"), name
        for field, prop in schemas[name]["properties"].items():
            assert prop.get("title"), (name, field)
            assert prop.get("description"), (name, field)
