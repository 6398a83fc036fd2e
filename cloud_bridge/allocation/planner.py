"""Decide which account's stock each open order line gets, and how much.

The planner is a pure function of one snapshot: stock free per (account, sku), the open lines
and the accounts' link rules. The persistence layer takes the snapshot under a lock, calls
`plan`, and writes the grants as allocation ledger rows, so the rules below can be tested
exhaustively without a database.

Rules:
- Lines are served one at a time in `priority_key` order; the input order never matters.
- A line's own account is always drawn on first. Linked accounts are drawn on, in link order,
  only for what the own account cannot cover, and only when the account's two flags are both
  on (see `AccountRules`). A linked account's own links are not followed.
- No (account, sku) is ever granted more than it has free across the whole plan.
- Each line's policy limits what it takes (see `cloud_bridge.allocation.policy`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from cloud_bridge.allocation.errors import AllocationInputError, UnknownAccountError
from cloud_bridge.allocation.model import (
    AccountRules,
    AllocationPlan,
    Grant,
    LineDemand,
    LineKey,
    StockKey,
)
from cloud_bridge.allocation.policy import grant_unit
from cloud_bridge.allocation.priority import priority_key
from cloud_bridge.allocation.reasons import explain_unfilled

__all__ = ["plan"]


def plan(
    lines: Iterable[LineDemand],
    available: Mapping[StockKey, int],
    accounts: Mapping[str, AccountRules],
    *,
    explain: bool = True,
) -> AllocationPlan:
    """Allocate `available` stock to `lines`, highest priority first.

    `available` maps (account_id, sku) to free units; a missing key means none. `accounts`
    maps each account_id to its rules and must hold every account that owns a line.
    Shortages are not errors: they are left open in the plan, with a reason unless `explain`
    is off (a large batch run skips the wording; the balances are the same).
    """
    sources = _sources_by_account(accounts)
    free = _checked_stock(available)
    grants: list[Grant] = []
    unfilled: dict[LineKey, int] = {}
    reasons: dict[LineKey, str] = {}
    seen: set[LineKey] = set()
    for line in sorted(lines, key=priority_key):
        key = (line.order_id, line.line_id)
        if key in seen:
            raise AllocationInputError(
                f"line {key!r} appears twice in the snapshot; expected each line once"
            )
        seen.add(key)
        line_sources = sources.get(line.account_id)
        if line_sources is None:
            raise UnknownAccountError(
                f"line {key!r} belongs to account {line.account_id!r}, which has no rules in "
                "the snapshot; expected rules for every account that owns a line"
            )
        if line.outstanding == 0:
            continue
        draws, granted = _draws(line, line_sources, free)
        if granted < line.outstanding:
            if line.policy == "all_or_nothing":
                draws, granted = (), 0
            unfilled[key] = line.outstanding - granted
            if explain:
                reasons[key] = explain_unfilled(line, accounts[line.account_id], free)
        for account_id, units in draws:
            free[(account_id, line.sku)] -= units
            grants.append(
                Grant(
                    line.order_id,
                    line.line_id,
                    line.sku,
                    account_id,
                    units,
                    account_id != line.account_id,
                )
            )
    return AllocationPlan(tuple(grants), MappingProxyType(unfilled), MappingProxyType(reasons))


def _draws(
    line: LineDemand, sources: tuple[str, ...], free: Mapping[StockKey, int]
) -> tuple[tuple[tuple[str, int], ...], int]:
    """What the line would take from each source in turn, and the total, without taking it."""
    unit = grant_unit(line)
    wanted = line.outstanding - line.outstanding % unit
    own = free.get((sources[0], line.sku), 0)
    if own >= wanted:
        return ((sources[0], wanted),) if wanted else (), wanted
    draws: list[tuple[str, int]] = []
    granted = 0
    for account_id in sources:
        units = min(free.get((account_id, line.sku), 0), wanted - granted)
        units -= units % unit
        if units:
            draws.append((account_id, units))
            granted += units
            if granted == wanted:
                break
    return tuple(draws), granted


def _sources_by_account(accounts: Mapping[str, AccountRules]) -> dict[str, tuple[str, ...]]:
    """Where each account's lines may draw stock from, in order: itself, then allowed links."""
    sources: dict[str, tuple[str, ...]] = {}
    for account_id, rules in accounts.items():
        if rules.account_id != account_id:
            raise AllocationInputError(
                f"rules filed under account {account_id!r} are for account "
                f"{rules.account_id!r}; expected each account's rules under its own id"
            )
        sources[account_id] = (account_id, *rules.links) if rules.may_borrow else (account_id,)
    return sources


def _checked_stock(available: Mapping[StockKey, int]) -> dict[StockKey, int]:
    free = dict(available)
    for stock_key, units in free.items():
        if units < 0:
            raise AllocationInputError(
                f"stock {stock_key!r} has {units} units free; expected 0 or more"
            )
    return free
