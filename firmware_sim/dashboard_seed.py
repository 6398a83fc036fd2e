"""Fill a database with a warehouse's worth of orders, for the dashboard's benchmarks and tests.

Test and benchmark data, so it lives with the simulated rig and never ships in the bridge.
Rows go in with bulk inserts (no ORM objects), so 100,000 orders with their lines, shipments,
Sage postings, allocations and credit holds take seconds on SQLite. Every shipment has its Sage
invoice posting: most posted, some refused with a Sage message, some still pending, so the Sage
panel is measured at the same scale as the rest. Everything is drawn from one seeded random
generator, so a seed always gives the same database relative to ``now``. Credit holds carry the
gate's own messages (`cloud_bridge.credit`), never a copy of their wording.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.credit import Step, credit_line_exceeded_message, prepayment_message
from cloud_bridge.db.models import (
    Account,
    AccountLink,
    Allocation,
    AllocationState,
    AutoQueueEntry,
    Debtor,
    ErrorReport,
    FleetStation,
    Location,
    OrderLine,
    OrderState,
    Posting,
    PostingKind,
    PostingState,
    Product,
    SalesOrder,
    Shipment,
    ShipmentLine,
    StockItem,
)
from cloud_bridge.db.posting import SAGE_CONNECTION_ID, SageConnection, SageEnvironment
from cloud_bridge.errors import BridgeError

__all__ = ["SeedError", "SeedSummary", "seed_orders"]

SITE = "seed"
LOCATION = "SEED-L1"
_ACCOUNTS = 10
_PRODUCTS = 40
_DEBTORS = 5
_BATCH = 5_000
_BORROWED_SHARE = 0.2
_RECENT_SHARE = 0.2
"""Orders created in the last 24 hours, so the hourly chart has a trend at any size."""
BUSINESS = "seed-business"
"""The Sage business every seeded posting belongs to (in the test environment)."""
_POSTING_WEIGHTS: dict[PostingState, int] = {
    PostingState.POSTED: 90,
    PostingState.FAILED: 3,
    PostingState.PENDING: 7,
}
SAGE_REFUSAL = "Stock is too low to post this invoice"
"""The message Sage gives in a seeded refusal, inside its error array as Sage words it."""

_STATE_WEIGHTS: dict[OrderState, int] = {
    OrderState.NEW: 10,
    OrderState.HELD_CREDIT: 3,
    OrderState.HELD_PREPAYMENT: 2,
    OrderState.ALLOCATED: 10,
    OrderState.PARTIALLY_ALLOCATED: 5,
    OrderState.RELEASED: 8,
    OrderState.PICKING: 4,
    OrderState.SHIPPED: 45,
    OrderState.PARTIALLY_SHIPPED: 10,
    OrderState.CANCELLED: 3,
}
_ALLOCATED_STATES = frozenset(
    {OrderState.ALLOCATED, OrderState.PARTIALLY_ALLOCATED, OrderState.RELEASED, OrderState.PICKING}
)
_AT_STATION_STATES = frozenset(
    {OrderState.RELEASED, OrderState.PICKING, OrderState.SHIPPED, OrderState.PARTIALLY_SHIPPED}
)
_SHIPPED_STATES = frozenset({OrderState.SHIPPED, OrderState.PARTIALLY_SHIPPED})


class SeedError(BridgeError, ValueError):
    """The seeding was asked for something it cannot make, or the database already has it."""


@dataclass
class SeedSummary:
    """What was inserted, for a benchmark's note or a test's expectations."""

    orders: int = 0
    lines: int = 0
    shipments: int = 0
    allocations: int = 0
    borrowed_allocations: int = 0
    credit_holds: int = 0
    stations: list[str] = field(default_factory=list)
    states: dict[str, int] = field(default_factory=dict)
    postings: dict[str, int] = field(default_factory=dict)
    """Sage postings per state (one invoice per shipment)."""


@dataclass
class _Rows:
    orders: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    shipments: list[dict[str, Any]] = field(default_factory=list)
    shipment_lines: list[dict[str, Any]] = field(default_factory=list)
    postings: list[dict[str, Any]] = field(default_factory=list)
    allocations: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    queue: list[dict[str, Any]] = field(default_factory=list)


def seed_orders(
    sessions: sessionmaker[Session],
    count: int,
    *,
    seed: int = 0,
    now: datetime | None = None,
    days: int = 30,
    stations: int = 8,
) -> SeedSummary:
    """Insert ``count`` orders spread over states, ``days`` days, accounts and ``stations``.

    Also inserts what they need (accounts in borrowing pairs, products, stock, debtors, the
    stations with counters, the Sage connection), some shipments each with its Sage invoice
    posting, allocations (a fifth borrowed from the linked account) and credit holds with their
    error report and auto queue rows. The database must
    not hold a seeding already.
    """
    if count < 0:
        raise SeedError(f"count {count} is negative; expected 0 or more orders")
    if days < 1 or stations < 1:
        raise SeedError(f"days {days} and stations {stations} must each be at least 1")
    at = now or datetime.now(UTC)
    rng = random.Random(seed)
    summary = SeedSummary(stations=[f"{SITE}.st{number:02d}" for number in range(1, stations + 1)])
    with sessions() as session, session.begin():
        if session.scalar(select(func.count()).select_from(Account).where(Account.id == "SEED00")):
            raise SeedError("the database already holds a seeding (account SEED00); use a new one")
        _reference_data(session, rng, summary.stations, at)
        for start in range(0, count, _BATCH):
            seeder = _Seeder(rng=rng, now=at, days=days, summary=summary)
            for number in range(start, min(start + _BATCH, count)):
                seeder.order(number)
            _insert(session, seeder.rows)
    return summary


def _reference_data(
    session: Session, rng: random.Random, station_ids: Sequence[str], now: datetime
) -> None:
    accounts = [f"SEED{number:02d}" for number in range(_ACCOUNTS)]
    session.execute(
        insert(Account),
        [
            {
                "id": account,
                "name": f"Seeded account {account}",
                "order_from_linked": True,
                "pick_from_linked_if_unavailable": True,
            }
            for account in accounts
        ],
    )
    session.execute(
        insert(AccountLink),
        [
            {"account_id": account, "linked_account_id": _partner(account), "position": 0}
            for account in accounts
        ],
    )
    session.execute(
        insert(Product),
        [
            {"sku": _sku(number), "description": f"Seeded product {number}", "unit_price": 450}
            for number in range(_PRODUCTS)
        ],
    )
    session.execute(insert(Location), [{"id": LOCATION}])
    session.execute(
        insert(StockItem),
        [
            {
                "account_id": account,
                "sku": _sku(number),
                "location_id": LOCATION,
                "on_hand": rng.randint(50, 500),
            }
            for account in accounts
            for number in range(_PRODUCTS)
        ],
    )
    session.execute(
        insert(Debtor),
        [
            {"debtor_no": f"SD{number}", "name": f"Seeded debtor {number}", "credit_line": None}
            for number in range(_DEBTORS)
        ],
    )
    session.execute(insert(FleetStation), list(_stations(rng, station_ids, now)))
    session.execute(
        insert(SageConnection),
        [
            {
                "id": SAGE_CONNECTION_ID,
                "environment": SageEnvironment.TEST.value,
                "business_id": BUSINESS,
                "selected_at": now - timedelta(days=60),
            }
        ],
    )


def _stations(
    rng: random.Random, station_ids: Sequence[str], now: datetime
) -> Iterator[dict[str, Any]]:
    versions = ("1.4.0", "1.4.0", "1.5.0")
    for index, station_id in enumerate(station_ids):
        picks = rng.randint(500, 5_000)
        counters = {
            "orders_completed": picks // 4,
            "picks": picks,
            "shorts": rng.randint(0, picks // 50),
            "wrong_scans": rng.randint(0, picks // 30),
            "wrong_slots": rng.randint(0, picks // 80),
        }
        offline = index == len(station_ids) - 1 and len(station_ids) > 1
        faulted = index == 1
        yield {
            "station_id": station_id,
            "site": SITE,
            "group": "floor",
            "online": not offline,
            "bd_seq": 1,
            "presence_at": now - timedelta(minutes=5),
            "last_seen": now - timedelta(seconds=rng.randint(1, 60)),
            "software_version": versions[index % len(versions)],
            "hardware": "[]",
            "phase": "idle" if offline else "picking",
            "printer": "fault" if faulted else "ok",
            "printer_detail": "paper out" if faulted else None,
            "status_at": now - timedelta(seconds=30),
            "outbox_depth": 12 if offline else 0,
            "outbox_at": now - timedelta(seconds=30),
            "counters": json.dumps(counters, sort_keys=True),
        }


def _partner(account: str) -> str:
    """The account it borrows from: accounts come in pairs (00 and 01, 02 and 03, ...)."""
    number = int(account[4:])
    return f"SEED{number ^ 1:02d}"


def _sku(number: int) -> str:
    return f"SKU{number:03d}"


@dataclass(frozen=True)
class _Draft:
    """One order being made: what its shipment, allocations and credit hold are drawn from."""

    order_no: str
    account: str
    debtor: str
    state: OrderState
    created: datetime
    station: str | None
    lines: tuple[tuple[str, str, int], ...]
    """(line id, SKU, quantity) of each line."""
    shipped: dict[str, int]
    """Units shipped per line id."""


@dataclass
class _Seeder:
    """Draws orders from one random generator into batches of rows."""

    rng: random.Random
    now: datetime
    days: int
    summary: SeedSummary
    rows: _Rows = field(default_factory=_Rows)

    def order(self, number: int) -> None:
        draft = self._draft(number)
        self.rows.orders.append(_order_row(draft, number))
        for line_id, sku, quantity in draft.lines:
            self.rows.lines.append(
                {
                    "order_no": draft.order_no,
                    "line_id": line_id,
                    "sku": sku,
                    "quantity": quantity,
                    "unit_price": Decimal("4.50"),
                    "tax_rate": Decimal("0.2"),
                    "shipped_quantity": draft.shipped[line_id],
                    "picked_quantity": 0,
                    "policy": "partial",
                }
            )
        self.summary.orders += 1
        self.summary.lines += len(draft.lines)
        self.summary.states[draft.state.value] = self.summary.states.get(draft.state.value, 0) + 1
        if draft.state in _SHIPPED_STATES:
            self._shipment(draft)
        if draft.state in _ALLOCATED_STATES:
            self._allocations(draft)
        if draft.state in {OrderState.HELD_CREDIT, OrderState.HELD_PREPAYMENT}:
            self._credit_hold(draft)

    def _draft(self, number: int) -> _Draft:
        rng = self.rng
        state = rng.choices(list(_STATE_WEIGHTS), weights=list(_STATE_WEIGHTS.values()))[0]
        span = timedelta(hours=24) if rng.random() < _RECENT_SHARE else timedelta(days=self.days)
        drawn = [
            (f"{index + 1}", _sku(rng.randrange(_PRODUCTS)), rng.randint(1, 6))
            for index in range(rng.randint(1, 3))
        ]
        lines = tuple({sku: (line_id, sku, units) for line_id, sku, units in drawn}.values())
        return _Draft(
            order_no=f"S{number:07d}",
            account=f"SEED{rng.randrange(_ACCOUNTS):02d}",
            debtor=f"SD{rng.randrange(_DEBTORS)}",
            state=state,
            created=self.now - span * rng.random(),
            station=rng.choice(self.summary.stations) if state in _AT_STATION_STATES else None,
            lines=lines,
            shipped=self._shipped_quantities(state, lines),
        )

    def _shipped_quantities(
        self, state: OrderState, lines: Sequence[tuple[str, str, int]]
    ) -> dict[str, int]:
        if state is OrderState.SHIPPED:
            return {line_id: quantity for line_id, _, quantity in lines}
        if state is OrderState.PARTIALLY_SHIPPED:
            first, *rest = lines
            short = {first[0]: self.rng.randint(0, first[2] - 1)}
            return short | {line_id: quantity for line_id, _, quantity in rest}
        return {line_id: 0 for line_id, _, _ in lines}

    def _shipment(self, draft: _Draft) -> None:
        self.summary.shipments += 1
        shipment_id = self.summary.shipments
        shipped_at = draft.created + timedelta(minutes=self.rng.randint(5, 240))
        self.rows.shipments.append(
            {
                "id": shipment_id,
                "order_no": draft.order_no,
                "station_id": draft.station,
                "label_id": f"L{shipment_id:08d}",
                "sscc": None,
                "carrier": "DPD",
                "tracking_number": None,
                "shipped_at": min(self.now, shipped_at),
                "posting_due": False,
            }
        )
        self.rows.shipment_lines.extend(
            {
                "shipment_id": shipment_id,
                "line_id": line_id,
                "sku": sku,
                "quantity": draft.shipped[line_id],
            }
            for line_id, sku, _ in draft.lines
            if draft.shipped[line_id] > 0
        )
        self._posting(shipment_id, draft.order_no, min(self.now, shipped_at))

    def _posting(self, shipment_id: int, order_no: str, shipped_at: datetime) -> None:
        """The shipment's invoice posting: posted, refused by Sage, or waiting to be sent."""
        weights = _POSTING_WEIGHTS
        state = self.rng.choices(list(weights), weights=list(weights.values()))[0]
        sent = shipped_at + timedelta(seconds=self.rng.randint(1, 90))
        refused = state is PostingState.FAILED
        self.rows.postings.append(
            {
                "environment": SageEnvironment.TEST.value,
                "business_id": BUSINESS,
                "shipment_id": shipment_id,
                "kind": PostingKind.INVOICE.value,
                "revision": 1,
                "idempotency_id": f"{shipment_id:032x}",
                "reference": f"{order_no}/1",
                "document": "{}",
                "state": state.value,
                "due_at": shipped_at,
                "created_at": shipped_at,
                "first_sent_at": None if state is PostingState.PENDING else sent,
                "attempts": 0 if state is PostingState.PENDING else 1,
                "last_error": "Sage refused the invoice (422)" if refused else None,
                "error_items": _refusal() if refused else None,
                "sage_id": f"sage-{shipment_id}" if state is PostingState.POSTED else None,
                "posted_at": sent if state is PostingState.POSTED else None,
            }
        )
        postings = self.summary.postings
        postings[state.value] = postings.get(state.value, 0) + 1

    def _allocations(self, draft: _Draft) -> None:
        for line_id, sku, quantity in draft.lines:
            borrowed = self.rng.random() < _BORROWED_SHARE
            self.rows.allocations.append(
                {
                    "order_no": draft.order_no,
                    "line_id": line_id,
                    "sku": sku,
                    "from_account_id": _partner(draft.account) if borrowed else draft.account,
                    "quantity": quantity,
                    "borrowed": borrowed,
                    "state": AllocationState.ACTIVE.value,
                    "created_at": draft.created,
                    "released_at": None,
                }
            )
            self.summary.allocations += 1
            self.summary.borrowed_allocations += borrowed

    def _credit_hold(self, draft: _Draft) -> None:
        message = (
            credit_line_exceeded_message(draft.order_no, draft.debtor)
            if draft.state is OrderState.HELD_CREDIT
            else prepayment_message(draft.order_no, draft.debtor)
        )
        failed = draft.created + (self.now - draft.created) * self.rng.random()
        self.rows.errors.append(
            {
                "order_no": draft.order_no,
                "step": Step.ADVICE.value,
                "message": message,
                "created_at": failed,
                "resolved_at": None,
            }
        )
        self.rows.queue.append(
            {
                "order_no": draft.order_no,
                "step": Step.ADVICE.value,
                "message": message,
                "failed_at": failed,
                "next_retry_at": self.now + timedelta(minutes=self.rng.randint(1, 120)),
                "attempts": self.rng.randint(1, 5),
            }
        )
        self.summary.credit_holds += 1


def _refusal() -> str:
    """Sage's error array for a refused invoice, as its API returns one."""
    item = {"$severity": "error", "$dataCode": "RecordInvalid", "$message": SAGE_REFUSAL}
    return json.dumps([item])


def _order_row(draft: _Draft, number: int) -> dict[str, Any]:
    return {
        "order_no": draft.order_no,
        "account_id": draft.account,
        "invoice_debtor_no": draft.debtor,
        "order_type": "prepayment" if draft.state is OrderState.HELD_PREPAYMENT else "normal",
        "amount_paid": Decimal(0),
        "promised_date": (draft.created + timedelta(days=2)).date(),
        "service_level": number % 3,
        "created_at": draft.created,
        "deliver_to_name": f"Customer {number}",
        "deliver_to_line1": f"{number % 200 + 1} High Street",
        "deliver_to_line2": "",
        "deliver_to_city": "Bristol",
        "deliver_to_postal_code": "BS1 4DJ",
        "deliver_to_country": "GB",
        "carrier": "DPD",
        "state": draft.state.value,
        "version": 1,
        "station_id": draft.station,
    }


def _insert(session: Session, rows: _Rows) -> None:
    for table, values in (
        (SalesOrder, rows.orders),
        (OrderLine, rows.lines),
        (Shipment, rows.shipments),
        (ShipmentLine, rows.shipment_lines),
        (Posting, rows.postings),
        (Allocation, rows.allocations),
        (ErrorReport, rows.errors),
        (AutoQueueEntry, rows.queue),
    ):
        if values:
            session.execute(insert(table), values)
