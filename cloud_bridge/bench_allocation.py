"""Allocation throughput on the database: order lines over many SKUs, with linked accounts.

The workload is built first (accounts in pairs that borrow from each other, stock for every SKU
split between them, orders of five lines), then one allocation run is timed end to end: reading
the open orders, the credit gate, locking and reading stock, planning, and writing the ledger, in
one committed transaction. The baseline is the pure planner on the same workload, measured in the
same run, so the ratio shows what the database costs.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, insert

from cloud_bridge.allocation import AccountRules, LineDemand, plan
from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.models import (
    Account,
    AccountLink,
    Debtor,
    Location,
    OrderLine,
    Product,
    SalesOrder,
    StockItem,
)
from cloud_bridge.services.allocate import allocate
from cloud_bridge.services.settings import BridgeSettings

__all__ = ["AllocationBench", "measure_allocation"]

_LINES_PER_ORDER = 5
_ACCOUNTS = 20


@dataclass(frozen=True)
class AllocationBench:
    lines: int
    skus: int
    seconds: float
    planner_seconds: float
    units: int
    borrowed_units: int


def _build(engine: Engine, lines: int, skus: int, seed: int) -> list[LineDemand]:
    rng = random.Random(seed)
    now = datetime(2026, 11, 23, tzinfo=UTC)
    accounts = [f"ACC{number:02d}" for number in range(_ACCOUNTS)]
    demands: list[LineDemand] = []
    with session_factory(engine)() as session, session.begin():
        session.add(Location(id="L1"))
        session.add(Debtor(debtor_no="D1", name="Bench debtor", credit_line=None))
        session.flush()
        session.execute(
            insert(Account),
            [
                {
                    "id": account,
                    "name": account,
                    "order_from_linked": True,
                    "pick_from_linked_if_unavailable": True,
                }
                for account in accounts
            ],
        )
        session.execute(
            insert(AccountLink),
            [
                {
                    "account_id": account,
                    "linked_account_id": accounts[(index + 1) % _ACCOUNTS],
                    "position": 0,
                }
                for index, account in enumerate(accounts)
            ],
        )
        session.execute(
            insert(Product),
            [
                {"sku": f"SKU{n:05d}", "gtin": None, "pack_size": 1, "unit_price": Decimal("2")}
                for n in range(skus)
            ],
        )
        session.execute(
            insert(StockItem),
            [
                {
                    "account_id": account,
                    "sku": f"SKU{n:05d}",
                    "location_id": "L1",
                    "on_hand": rng.randint(0, 40),
                }
                for n in range(skus)
                for account in rng.sample(accounts, 2)
            ],
        )
        orders = []
        order_lines = []
        for number in range(lines // _LINES_PER_ORDER):
            order_no = f"SO{number:06d}"
            account = rng.choice(accounts)
            created = now + timedelta(seconds=number)
            promised = now.date() + timedelta(days=rng.randint(0, 10))
            orders.append(
                {
                    "order_no": order_no,
                    "account_id": account,
                    "invoice_debtor_no": "D1",
                    "order_type": "normal",
                    "amount_paid": Decimal(0),
                    "promised_date": promised,
                    "service_level": rng.randint(0, 3),
                    "created_at": created,
                    "deliver_to_name": "Bench",
                    "deliver_to_line1": "1 Road",
                    "deliver_to_line2": "",
                    "deliver_to_city": "Town",
                    "deliver_to_postal_code": "T1",
                    "deliver_to_country": "GB",
                    "carrier": "DPD",
                    "state": "new",
                    "version": 1,
                }
            )
            for line in range(_LINES_PER_ORDER):
                sku = f"SKU{rng.randrange(skus):05d}"
                quantity = rng.randint(1, 4)
                order_lines.append(
                    {
                        "order_no": order_no,
                        "line_id": str(line + 1),
                        "sku": sku,
                        "quantity": quantity,
                        "unit_price": Decimal("2"),
                        "tax_rate": Decimal("0.2"),
                        "shipped_quantity": 0,
                        "policy": "partial",
                    }
                )
                demands.append(
                    LineDemand(
                        order_id=order_no,
                        line_id=str(line + 1),
                        account_id=account,
                        sku=sku,
                        outstanding=quantity,
                        ordered=quantity,
                        promised_date=promised,
                        service_level=0,
                        created_at=created,
                    )
                )
        session.execute(insert(SalesOrder), orders)
        session.execute(insert(OrderLine), order_lines)
    return demands


def measure_allocation(
    url: str, lines: int = 100_000, skus: int = 10_000, seed: int = 7
) -> AllocationBench:
    """Build the workload in the (empty) database at `url` and time one allocation run."""
    engine = make_engine(url)
    upgrade(engine)
    demands = _build(engine, lines, skus, seed)
    accounts = {
        f"ACC{n:02d}": AccountRules(f"ACC{n:02d}", (f"ACC{(n + 1) % _ACCOUNTS:02d}",), True, True)
        for n in range(_ACCOUNTS)
    }
    available = {(d.account_id, d.sku): 10 for d in demands}
    started = time.perf_counter()
    plan(demands, available, accounts)
    planner_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with session_factory(engine)() as session, session.begin():
        run = allocate(session, BridgeSettings())
    seconds = time.perf_counter() - started
    engine.dispose()
    return AllocationBench(
        lines=lines,
        skus=skus,
        seconds=seconds,
        planner_seconds=planner_seconds,
        units=run.units,
        borrowed_units=run.borrowed_units,
    )
