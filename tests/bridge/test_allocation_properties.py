"""Properties of the allocation planner over random accounts, links, flags, stock and lines."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_bridge.allocation import (
    AccountRules,
    AllocationPlan,
    LineDemand,
    Policy,
    StockKey,
    plan,
    priority_key,
)

ACCOUNTS = ("A", "B", "C", "D")
SKUS = ("S1", "S2")
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
POLICY_CHOICES: tuple[Policy, ...] = ("partial", "all_or_nothing", "full_packs")

Snapshot = tuple[list[LineDemand], dict[StockKey, int], dict[str, AccountRules]]


@st.composite
def account_rules(draw: st.DrawFn, account_id: str) -> AccountRules:
    others = [other for other in ACCOUNTS if other != account_id]
    links = draw(st.permutations(others).flatmap(lambda p: st.integers(0, 3).map(lambda n: p[:n])))
    return AccountRules(account_id, tuple(links), draw(st.booleans()), draw(st.booleans()))


@st.composite
def demand_line(draw: st.DrawFn, line_no: int) -> LineDemand:
    outstanding = draw(st.integers(0, 12))
    policy = draw(st.sampled_from(POLICY_CHOICES))
    return LineDemand(
        order_id=draw(st.sampled_from(("O1", "O2", "O3"))),
        line_id=f"L{line_no}",
        account_id=draw(st.sampled_from(ACCOUNTS)),
        sku=draw(st.sampled_from(SKUS)),
        outstanding=outstanding,
        ordered=outstanding + draw(st.integers(0, 3)),
        pack_size=draw(st.integers(1, 4)),
        promised_date=draw(st.none() | st.dates(date(2025, 1, 1), date(2025, 1, 3))),
        service_level=draw(st.integers(0, 2)),
        created_at=EPOCH + timedelta(minutes=draw(st.integers(0, 3))),
        policy=policy,
    )


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    accounts = {account_id: draw(account_rules(account_id)) for account_id in ACCOUNTS}
    stock_keys = [(account_id, sku) for account_id in ACCOUNTS for sku in SKUS]
    available = draw(
        st.fixed_dictionaries({}, optional=dict.fromkeys(stock_keys, st.integers(0, 15)))
    )
    count = draw(st.integers(0, 10))
    lines = [draw(demand_line(n)) for n in range(count)]
    return lines, available, accounts


def served_in_order(lines: list[LineDemand]) -> list[LineDemand]:
    return sorted(lines, key=priority_key)


def grants_by_line(result: AllocationPlan) -> dict[tuple[str, str], list[tuple[str, int]]]:
    by_line: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for grant in result.grants:
        by_line[(grant.order_id, grant.line_id)].append((grant.from_account, grant.quantity))
    return by_line


@given(snapshots())
def test_no_account_is_granted_more_of_a_sku_than_it_has_free(snapshot: Snapshot) -> None:
    lines, available, accounts = snapshot

    result = plan(lines, available, accounts)

    granted: Counter[StockKey] = Counter()
    for grant in result.grants:
        granted[(grant.from_account, grant.sku)] += grant.quantity
    for stock_key, units in granted.items():
        assert units <= available.get(stock_key, 0)


@given(snapshots())
def test_grants_plus_open_balance_equal_the_outstanding_quantity(snapshot: Snapshot) -> None:
    lines, available, accounts = snapshot

    result = plan(lines, available, accounts)

    by_line = grants_by_line(result)
    for line in lines:
        granted = sum(units for _, units in by_line.get(line.key, []))
        assert granted + result.unfilled.get(line.key, 0) == line.outstanding
    assert all(balance > 0 for balance in result.unfilled.values())
    assert set(result.reasons) == set(result.unfilled)
    assert all(result.reasons.values())


@given(snapshots())
def test_every_grant_is_positive_for_the_lines_sku_and_marked_borrowed_off_its_account(
    snapshot: Snapshot,
) -> None:
    lines, available, accounts = snapshot
    line_of = {line.key: line for line in lines}

    result = plan(lines, available, accounts)

    for grant in result.grants:
        line = line_of[(grant.order_id, grant.line_id)]
        assert grant.quantity > 0
        assert grant.sku == line.sku
        assert grant.borrowed == (grant.from_account != line.account_id)


@given(snapshots())
def test_stock_is_borrowed_only_from_own_links_and_only_with_both_flags_on(
    snapshot: Snapshot,
) -> None:
    lines, available, accounts = snapshot
    line_of = {line.key: line for line in lines}

    result = plan(lines, available, accounts)

    for grant in result.grants:
        if grant.borrowed:
            rules = accounts[line_of[(grant.order_id, grant.line_id)].account_id]
            assert rules.order_from_linked
            assert rules.pick_from_linked_if_unavailable
            assert grant.from_account in rules.links


@given(snapshots())
def test_a_line_borrows_only_after_taking_all_its_primary_can_give(snapshot: Snapshot) -> None:
    lines, available, accounts = snapshot
    result = plan(lines, available, accounts)
    by_line = grants_by_line(result)
    free = Counter(available)

    for line in served_in_order(lines):
        draws = by_line.get(line.key, [])
        borrowed = [units for account_id, units in draws if account_id != line.account_id]
        if borrowed:
            own_free = free[(line.account_id, line.sku)]
            own_granted = sum(units for account_id, units in draws if account_id == line.account_id)
            unit = line.pack_size if line.policy == "full_packs" else 1
            assert own_free < line.outstanding
            assert own_free - own_granted < unit
        for account_id, units in draws:
            free[(account_id, line.sku)] -= units


@given(snapshots())
def test_links_are_drawn_on_in_link_order_each_emptied_before_the_next(
    snapshot: Snapshot,
) -> None:
    lines, available, accounts = snapshot
    result = plan(lines, available, accounts)
    by_line = grants_by_line(result)
    free = Counter(available)

    for line in served_in_order(lines):
        draws = by_line.get(line.key, [])
        links = accounts[line.account_id].links
        used = [links.index(account_id) for account_id, _ in draws if account_id in links]
        assert used == sorted(used)
        assert len(set(used)) == len(used)
        unit = line.pack_size if line.policy == "full_packs" else 1
        taken = dict(draws)
        for earlier_link in links[: max(used)] if used else ():
            assert free[(earlier_link, line.sku)] - taken.get(earlier_link, 0) < unit
        for account_id, units in draws:
            free[(account_id, line.sku)] -= units


@given(snapshots())
def test_nothing_is_borrowed_when_no_account_has_both_flags_on(snapshot: Snapshot) -> None:
    lines, available, accounts = snapshot
    flags_off = {
        account_id: replace(rules, pick_from_linked_if_unavailable=False)
        for account_id, rules in accounts.items()
    }

    result = plan(lines, available, flags_off)

    assert not any(grant.borrowed for grant in result.grants)


@given(snapshots(), st.randoms(use_true_random=False))
def test_the_plan_does_not_depend_on_the_order_lines_arrive_in(
    snapshot: Snapshot, rng: random.Random
) -> None:
    lines, available, accounts = snapshot
    shuffled = list(lines)
    rng.shuffle(shuffled)

    assert plan(shuffled, available, accounts) == plan(lines, available, accounts)


@given(snapshots(), st.integers(-400, 400), st.integers(-10_000, 10_000), st.integers(0, 5))
def test_the_plan_depends_on_priority_keys_only_through_their_order(
    snapshot: Snapshot, day_shift: int, minute_shift: int, level_shift: int
) -> None:
    lines, available, accounts = snapshot
    shifted = [
        replace(
            line,
            promised_date=None
            if line.promised_date is None
            else line.promised_date + timedelta(days=day_shift),
            created_at=line.created_at + timedelta(minutes=minute_shift),
            service_level=line.service_level + level_shift,
        )
        for line in lines
    ]

    assert plan(shifted, available, accounts) == plan(lines, available, accounts)


@given(snapshots())
def test_a_lower_priority_line_gets_stock_only_once_an_earlier_partial_line_is_full(
    snapshot: Snapshot,
) -> None:
    lines, available, accounts = snapshot

    result = plan(lines, available, accounts)

    ordered = served_in_order(lines)
    got_stock = {(grant.order_id, grant.line_id) for grant in result.grants}
    for position, earlier in enumerate(ordered):
        if earlier.policy != "partial" or earlier.key not in result.unfilled:
            continue
        for later in ordered[position + 1 :]:
            if later.account_id == earlier.account_id and later.sku == earlier.sku:
                assert later.key not in got_stock


@given(snapshots())
def test_all_or_nothing_lines_get_all_or_nothing(snapshot: Snapshot) -> None:
    lines, available, accounts = snapshot

    result = plan(lines, available, accounts)

    for line in lines:
        if line.policy == "all_or_nothing":
            assert result.unfilled.get(line.key, 0) in (0, line.outstanding)


@given(snapshots())
def test_full_pack_grants_are_whole_packs_from_each_account(snapshot: Snapshot) -> None:
    lines, available, accounts = snapshot
    line_of = {line.key: line for line in lines}

    result = plan(lines, available, accounts)

    for grant in result.grants:
        line = line_of[(grant.order_id, grant.line_id)]
        if line.policy == "full_packs":
            assert grant.quantity % line.pack_size == 0


@settings(max_examples=50)
@given(snapshots())
def test_planning_the_same_snapshot_twice_gives_the_same_plan(snapshot: Snapshot) -> None:
    lines, available, accounts = snapshot

    assert plan(lines, available, accounts) == plan(lines, available, accounts)
