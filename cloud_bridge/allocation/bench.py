"""A repeatable workload for timing the planner, independent of any simulated hardware.

The planner runs on every allocation pass over a site's whole open order book, so it has to
stay fast at site scale: 100,000 open lines over 10,000 products should plan well inside a
second. The workload mimics a multi-client warehouse: each product is owned by one to three
accounts of one group of linked accounts (a client's brands), most lines order products their
own account holds, most accounts may borrow from their linked accounts, and a good share of
lines find their own stock short, so that priority and borrowing both matter.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from cloud_bridge.allocation.errors import AllocationInputError
from cloud_bridge.allocation.model import AccountRules, LineDemand, Policy, StockKey
from cloud_bridge.allocation.planner import plan

__all__ = ["Workload", "build_workload", "measure_plan"]

_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
_PACK_SIZES = (6, 12, 24)
_GROUP_SIZE = 4
_SKUS_PER_GROUP = 200


@dataclass(frozen=True, slots=True)
class Workload:
    """One snapshot, as the persistence layer would hand it to `plan`."""

    lines: tuple[LineDemand, ...]
    available: dict[StockKey, int]
    accounts: dict[str, AccountRules]


def build_workload(lines: int, skus: int, seed: int) -> Workload:
    """A random but reproducible snapshot of `lines` open lines over `skus` products."""
    if lines < 0 or skus < 1:
        raise AllocationInputError(
            f"workload of {lines} lines over {skus} skus; expected lines >= 0 and skus >= 1"
        )
    rng = random.Random(seed)
    groups = _account_groups(max(1, skus // _SKUS_PER_GROUP))
    accounts = {
        account_id: _rules(rng, account_id, group) for group in groups for account_id in group
    }
    sku_group = {f"SKU-{n:06d}": rng.choice(groups) for n in range(skus)}
    owners = {sku: rng.sample(group, rng.randint(1, 3)) for sku, group in sku_group.items()}
    available = {
        (owner, sku): rng.randint(0, 300) for sku, held_by in owners.items() for owner in held_by
    }
    sku_ids = list(sku_group)
    demand = tuple(_line(rng, n, sku_ids, owners, sku_group) for n in range(lines))
    return Workload(demand, available, accounts)


def measure_plan(lines: int, skus: int, seed: int) -> float:
    """Seconds `plan` takes on `build_workload(lines, skus, seed)`, building excluded."""
    workload = build_workload(lines, skus, seed)
    started = time.perf_counter()
    plan(workload.lines, workload.available, workload.accounts)
    return time.perf_counter() - started


def _account_groups(count: int) -> list[list[str]]:
    """Accounts in groups, like the brands of one client, which hold and share the same range."""
    return [
        [f"ACC-{group:03d}-{member}" for member in range(_GROUP_SIZE)] for group in range(count)
    ]


def _rules(rng: random.Random, account_id: str, group: list[str]) -> AccountRules:
    others = [other for other in group if other != account_id]
    links = tuple(rng.sample(others, rng.randint(0, len(others))))
    both_on = rng.random() < 0.6
    return AccountRules(
        account_id,
        links,
        order_from_linked=both_on or rng.random() < 0.5,
        pick_from_linked_if_unavailable=both_on,
    )


def _line(
    rng: random.Random,
    n: int,
    sku_ids: list[str],
    owners: dict[str, list[str]],
    sku_group: dict[str, list[str]],
) -> LineDemand:
    sku = rng.choice(sku_ids)
    account_id = rng.choice(owners[sku] if rng.random() < 0.8 else sku_group[sku])
    outstanding = rng.randint(1, 40)
    policy: Policy = rng.choices(("partial", "all_or_nothing", "full_packs"), (8, 1, 1))[0]
    promised: date | None = None
    if rng.random() < 0.7:
        promised = _EPOCH.date() + timedelta(days=rng.randint(0, 14))
    return LineDemand(
        order_id=f"SO-{n // 4:06d}",
        line_id=f"{n % 4 + 1}",
        account_id=account_id,
        sku=sku,
        outstanding=outstanding,
        ordered=outstanding + rng.randint(0, 10),
        pack_size=rng.choice(_PACK_SIZES) if policy == "full_packs" else 1,
        promised_date=promised,
        service_level=rng.randint(0, 3),
        created_at=_EPOCH - timedelta(minutes=rng.randint(0, 60 * 24 * 30)),
        policy=policy,
    )
