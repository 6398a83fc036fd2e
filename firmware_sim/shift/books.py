"""The end of the shift: what happened, counted from each system's own records, and the checks.

Every figure comes from where the system itself keeps it: the bridge's database (orders,
shipments, applied events), each station's TinyDB outbox (events handed out), and the Sage
sandbox (documents). Nothing is counted from the demo's own bookkeeping, so a lost event or a
doubled document shows up as a difference between two systems, which is what the invariants
compare.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from tinydb import TinyDB

from cloud_bridge.db.models import AppliedEvent, FleetStation, OrderState, SalesOrder, Shipment
from edge.station.outbox import Outbox
from edge.station.storage import JournalStorage
from firmware_sim.sage import SageSandbox

__all__ = ["FINAL_STATES", "ShiftBooks", "count_orders", "read_books", "station_outbox_seq"]

FINAL_STATES = {
    OrderState.SHIPPED: "shipped",
    OrderState.PARTIALLY_SHIPPED: "partially_shipped",
    OrderState.CANCELLED: "cancelled",
    OrderState.HELD_CREDIT: "credit_held",
    OrderState.HELD_PREPAYMENT: "prepayment_held",
}


@dataclass
class ShiftBooks:
    """The figures of one shift; `as_json` gives the keys the demo promises."""

    orders: int = 0
    shipped: int = 0
    partially_shipped: int = 0
    cancelled: int = 0
    credit_held: int = 0
    prepayment_held: int = 0
    unfinished: int = 0
    shipments: int = 0
    labels_printed: int = 0
    labels_reprinted: int = 0
    events_sent: int = 0
    events_applied: int = 0
    duplicate_effects: int = 0
    lost_events: int = 0
    sage_invoices: int = 0
    sage_credit_notes: int = 0
    sage_duplicates: int = 0
    reconcile_differences: int = 0
    seconds: float = 0.0
    fleet_stations: int = 0
    """Stations in the bridge's fleet inventory with the software version they reported."""
    faults: dict[str, int] = field(default_factory=dict)
    reconcile_lines: list[str] = field(default_factory=list)
    not_as_expected: list[str] = field(default_factory=list)
    """Orders whose end state is not the one the demo data gives them."""
    secrets_checked: int = 0
    """Secrets of the site (API token, Sage tokens and secret, private keys) looked for in logs."""
    secret_leaks: list[str] = field(default_factory=list)
    """Each secret found in a log file, named with the file (never the value)."""
    screens_answered: int = 0
    """Stations whose packer's screen answered with their own id at the end of the shift."""
    page_problems: list[str] = field(default_factory=list)
    """Each way a screen, the dashboard or a /metrics endpoint disagreed with the books."""
    export_rows: dict[str, int] = field(default_factory=dict)
    """Rows the first `packline export` run wrote, by dataset."""
    export_repeat_rows: int = 0
    """Rows a second export run wrote with nothing new since the first: must be 0."""

    def broken_invariants(self) -> list[str]:
        """Each invariant that does not hold, in words; empty when the books are straight."""
        broken = []
        ended = (
            self.shipped
            + self.partially_shipped
            + self.cancelled
            + self.credit_held
            + self.prepayment_held
        )
        if self.unfinished or ended != self.orders:
            broken.append(
                f"orders: {self.orders} but {ended} ended shipped, partially shipped, cancelled or "
                f"held ({self.unfinished} in another state)"
            )
        if self.sage_invoices != self.shipments:
            broken.append(f"sage_invoices {self.sage_invoices} != shipments {self.shipments}")
        if self.labels_printed != self.shipments:
            broken.append(f"labels_printed {self.labels_printed} != shipments {self.shipments}")
        for name in ("duplicate_effects", "lost_events", "sage_duplicates"):
            if getattr(self, name):
                broken.append(f"{name} is {getattr(self, name)}, expected 0")
        if self.not_as_expected:
            broken.append(
                f"{len(self.not_as_expected)} order(s) did not end as the data says: "
                + "; ".join(self.not_as_expected[:5])
            )
        if self.secret_leaks:
            broken.append(
                f"{len(self.secret_leaks)} secret(s) found in logs: "
                + "; ".join(self.secret_leaks[:5])
            )
        if self.page_problems:
            broken.append(
                f"{len(self.page_problems)} page check(s) failed: "
                + "; ".join(self.page_problems[:5])
            )
        if self.export_rows.get("shipments", 0) != self.shipments:
            broken.append(
                f"export wrote {self.export_rows.get('shipments', 0)} shipments, the bridge "
                f"recorded {self.shipments}"
            )
        if self.export_repeat_rows:
            broken.append(
                f"a second export with nothing new wrote {self.export_repeat_rows} rows, expected 0"
            )
        if self.reconcile_differences:
            broken.append(
                f"reconcile_differences is {self.reconcile_differences}, expected 0: "
                + "; ".join(self.reconcile_lines[:5])
            )
        return broken

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("reconcile_lines")
        data["not_as_expected"] = len(self.not_as_expected)
        data["secret_leaks"] = len(self.secret_leaks)
        data["invariants_hold"] = not self.broken_invariants()
        return data


def count_orders(engine: Engine) -> Counter[str]:
    """Orders by state name (final states under their summary names)."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(SalesOrder.state, func.count()).group_by(SalesOrder.state)
        ).all()
    counts: Counter[str] = Counter()
    for state, number in rows:
        counts[FINAL_STATES.get(OrderState(state), str(OrderState(state).value))] += number
    return counts


def station_outbox_seq(state_dir: Path) -> tuple[int, int]:
    """(highest seq handed out, events still pending) from a stopped station's outbox."""
    db = TinyDB(state_dir / "station.json", storage=JournalStorage)
    try:
        stats = Outbox(db).stats()
        return stats.highest_seq, stats.depth
    finally:
        db.close()


def _duplicates(values: list[str]) -> int:
    return sum(count - 1 for count in Counter(values).values() if count > 1)


def read_books(
    engine: Engine,
    station_dirs: dict[str, Path],
    sandbox: SageSandbox,
    business: str = "test",
) -> ShiftBooks:
    """Count everything once the shift is over and every process has stopped."""
    books = ShiftBooks()
    counts = count_orders(engine)
    books.orders = sum(counts.values())
    for name in FINAL_STATES.values():
        setattr(books, name, counts.get(name, 0))
    books.unfinished = books.orders - sum(counts.get(name, 0) for name in FINAL_STATES.values())
    with engine.connect() as connection:
        labels = [
            f"{order}/{label}"
            for order, label in connection.execute(select(Shipment.order_no, Shipment.label_id))
        ]
        applied = dict(
            connection.execute(
                select(AppliedEvent.station_id, func.count()).group_by(AppliedEvent.station_id)
            ).all()
        )
        by_type = dict(
            connection.execute(
                select(AppliedEvent.type, func.count()).group_by(AppliedEvent.type)
            ).all()
        )
        books.fleet_stations = connection.execute(
            select(func.count())
            .select_from(FleetStation)
            .where(FleetStation.software_version.is_not(None))
        ).scalar_one()
    books.shipments = len(labels)
    books.duplicate_effects = _duplicates(labels)
    books.labels_printed = by_type.get("label_printed", 0)
    books.labels_reprinted = by_type.get("label_reprinted", 0)
    books.events_applied = sum(applied.values())
    for station, state_dir in station_dirs.items():
        highest, pending = station_outbox_seq(state_dir)
        books.events_sent += highest
        books.lost_events += max(highest - applied.get(station, 0), 0)
        _ = pending
    business_id = sandbox.business_id(business)
    records = sandbox.businesses[business_id]
    invoices = list(records.collection("sales_invoices").values())
    credits = list(records.collection("sales_credit_notes").values())
    books.sage_invoices = len(invoices)
    books.sage_credit_notes = len(credits)
    books.sage_duplicates = _duplicates([str(d["reference"]) for d in invoices]) + _duplicates(
        [str(d["reference"]) for d in credits]
    )
    return books
