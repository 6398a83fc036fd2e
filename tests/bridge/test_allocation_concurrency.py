"""Two bridge processes on PostgreSQL allocating the same SKU at once never over-allocate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bridge_world import add_stock, basic_world, order
from sqlalchemy import func, select

from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.models import Allocation, AllocationState

HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize("split", [True, False], ids=["disjoint-orders", "same-orders"])
def test_two_processes_allocating_one_sku_never_exceed_stock_or_any_order(
    postgres_schema_url: str, tmp_path: Path, split: bool
) -> None:
    engine = make_engine(postgres_schema_url)
    upgrade(engine)
    orders = [f"SO-{number:03d}" for number in range(400)]
    with session_factory(engine)() as session, session.begin():
        basic_world(session)
        add_stock(session, "A", "MUG", 500)
        add_stock(session, "B", "MUG", 70)
        for order_no in orders:
            order(session, order_no, "A", [("MUG", 3)])
    go = tmp_path / "go"
    halves = [",".join(orders[0::2]), ",".join(orders[1::2])] if split else ["", ""]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                str(HERE / "allocator_process.py"),
                postgres_schema_url,
                part,
                str(go),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for part in halves
    ]
    go.touch()
    results = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))

    with session_factory(engine)() as session:
        active = select(Allocation).where(Allocation.state == AllocationState.ACTIVE)
        by_account = dict(
            session.execute(
                select(Allocation.from_account_id, func.sum(Allocation.quantity))
                .where(Allocation.state == AllocationState.ACTIVE)
                .group_by(Allocation.from_account_id)
            ).all()
        )
        per_order = dict(
            session.execute(
                select(Allocation.order_no, func.sum(Allocation.quantity))
                .where(Allocation.state == AllocationState.ACTIVE)
                .group_by(Allocation.order_no)
            ).all()
        )
        assert session.scalars(active).first() is not None
    engine.dispose()
    assert by_account == {"A": 500, "B": 70}
    assert max(per_order.values()) <= 3
    assert sum(result["units"] for result in results) == 570
