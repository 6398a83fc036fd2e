"""The allocation planner's rules, written out as examples from the linked-accounts seed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from cloud_bridge.allocation import AccountRules, Grant, LineDemand, Policy, plan

NOON = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)


def line(
    line_id: str = "1",
    *,
    account: str = "ACC-1",
    sku: str = "SKU-A",
    outstanding: int = 5,
    order: str = "SO-1",
    promised: date | None = None,
    service_level: int = 0,
    created_at: datetime = NOON,
    policy: Policy = "partial",
    pack_size: int = 1,
) -> LineDemand:
    return LineDemand(
        order_id=order,
        line_id=line_id,
        account_id=account,
        sku=sku,
        outstanding=outstanding,
        ordered=outstanding,
        pack_size=pack_size,
        promised_date=promised,
        service_level=service_level,
        created_at=created_at,
        policy=policy,
    )


def rules(
    account: str = "ACC-1",
    links: tuple[str, ...] = ("ACC-2",),
    *,
    order_from_linked: bool = True,
    pick_if_unavailable: bool = True,
) -> AccountRules:
    return AccountRules(account, links, order_from_linked, pick_if_unavailable)


def accounts(*account_rules: AccountRules) -> dict[str, AccountRules]:
    return {r.account_id: r for r in account_rules}


def test_primary_short_borrows_only_the_balance_from_the_linked_account() -> None:
    result = plan(
        [line(outstanding=5)], {("ACC-1", "SKU-A"): 3, ("ACC-2", "SKU-A"): 10}, accounts(rules())
    )

    assert result.grants == (
        Grant("SO-1", "1", "SKU-A", "ACC-1", 3, borrowed=False),
        Grant("SO-1", "1", "SKU-A", "ACC-2", 2, borrowed=True),
    )
    assert result.unfilled == {}
    assert result.reasons == {}


def test_flags_off_takes_the_primary_stock_and_leaves_the_balance_open() -> None:
    account = rules(order_from_linked=False, pick_if_unavailable=False)

    result = plan(
        [line(outstanding=5)], {("ACC-1", "SKU-A"): 3, ("ACC-2", "SKU-A"): 10}, accounts(account)
    )

    assert result.grants == (Grant("SO-1", "1", "SKU-A", "ACC-1", 3, borrowed=False),)
    assert result.unfilled == {("SO-1", "1"): 2}
    assert result.reasons[("SO-1", "1")].startswith(
        "only 3 of SKU-A free at ACC-1; linked accounts not allowed"
    )


@pytest.mark.parametrize(
    ("order_from_linked", "pick_if_unavailable", "flag_named_as_off"),
    [
        (True, False, "Pick from Linked Accounts if Stock is Unavailable"),
        (False, True, "Order from Linked Accounts"),
    ],
)
def test_one_flag_alone_does_not_allow_borrowing(
    order_from_linked: bool, pick_if_unavailable: bool, flag_named_as_off: str
) -> None:
    account = rules(order_from_linked=order_from_linked, pick_if_unavailable=pick_if_unavailable)

    result = plan([line(outstanding=5)], {("ACC-2", "SKU-A"): 10}, accounts(account))

    assert result.grants == ()
    assert result.unfilled == {("SO-1", "1"): 5}
    assert result.reasons[("SO-1", "1")] == (
        f"no stock of SKU-A at ACC-1; linked accounts not allowed ({flag_named_as_off} off)"
    )


def test_primary_that_covers_the_line_is_used_even_when_linked_stock_is_plentiful() -> None:
    result = plan(
        [line(outstanding=5)], {("ACC-1", "SKU-A"): 5, ("ACC-2", "SKU-A"): 100}, accounts(rules())
    )

    assert result.grants == (Grant("SO-1", "1", "SKU-A", "ACC-1", 5, borrowed=False),)


def test_linked_accounts_are_drawn_on_in_link_order() -> None:
    account = rules(links=("ACC-3", "ACC-2"))
    stock = {("ACC-1", "SKU-A"): 1, ("ACC-2", "SKU-A"): 10, ("ACC-3", "SKU-A"): 2}

    result = plan([line(outstanding=5)], stock, accounts(account))

    assert [(g.from_account, g.quantity) for g in result.grants] == [
        ("ACC-1", 1),
        ("ACC-3", 2),
        ("ACC-2", 2),
    ]


def test_a_linked_accounts_own_links_are_not_followed() -> None:
    first = rules("ACC-1", ("ACC-2",))
    second = rules("ACC-2", ("ACC-3",))

    result = plan(
        [line(outstanding=5)], {("ACC-3", "SKU-A"): 10}, accounts(first, second, rules("ACC-3", ()))
    )

    assert result.grants == ()
    assert result.reasons[("SO-1", "1")] == (
        "no stock of SKU-A at ACC-1; linked accounts short (ACC-2 has 0)"
    )


def test_stock_borrowed_by_one_line_is_not_granted_again_to_the_next() -> None:
    lines = [
        line("1", outstanding=4, created_at=NOON),
        line("2", outstanding=4, created_at=NOON + timedelta(minutes=1)),
    ]

    result = plan(lines, {("ACC-1", "SKU-A"): 2, ("ACC-2", "SKU-A"): 4}, accounts(rules()))

    assert [(g.line_id, g.from_account, g.quantity) for g in result.grants] == [
        ("1", "ACC-1", 2),
        ("1", "ACC-2", 2),
        ("2", "ACC-2", 2),
    ]
    assert result.unfilled == {("SO-1", "2"): 2}


def test_borrowing_follows_line_priority_even_ahead_of_the_lenders_later_lines() -> None:
    lender_line = line("9", account="ACC-2", outstanding=8, created_at=NOON + timedelta(hours=1))
    borrower_line = line("1", account="ACC-1", outstanding=5, created_at=NOON)
    stock = {("ACC-2", "SKU-A"): 10}

    result = plan([lender_line, borrower_line], stock, accounts(rules("ACC-1"), rules("ACC-2", ())))

    assert [(g.line_id, g.from_account, g.quantity) for g in result.grants] == [
        ("1", "ACC-2", 5),
        ("9", "ACC-2", 5),
    ]
    assert result.unfilled == {("SO-1", "9"): 3}


def test_earlier_promised_date_wins_scarce_stock_and_undated_lines_come_last() -> None:
    undated = line("1", outstanding=3, promised=None, created_at=NOON - timedelta(days=9))
    later = line("2", outstanding=3, promised=date(2025, 3, 10))
    sooner = line("3", outstanding=3, promised=date(2025, 3, 5))

    result = plan([undated, later, sooner], {("ACC-1", "SKU-A"): 5}, accounts(rules()))

    assert [(g.line_id, g.quantity) for g in result.grants] == [("3", 3), ("2", 2)]
    assert result.unfilled == {("SO-1", "1"): 3, ("SO-1", "2"): 1}


def test_service_level_then_age_break_ties_on_the_same_promised_date() -> None:
    day = date(2025, 3, 5)
    standard_old = line(
        "1", outstanding=2, promised=day, service_level=2, created_at=NOON - timedelta(days=1)
    )
    express_new = line("2", outstanding=2, promised=day, service_level=1, created_at=NOON)
    express_old = line(
        "3", outstanding=2, promised=day, service_level=1, created_at=NOON - timedelta(hours=1)
    )

    result = plan(
        [standard_old, express_new, express_old], {("ACC-1", "SKU-A"): 4}, accounts(rules())
    )

    assert [g.line_id for g in result.grants] == ["3", "2"]


def test_all_or_nothing_line_takes_nothing_when_primary_and_links_cannot_cover_it() -> None:
    stock = {("ACC-1", "SKU-A"): 3, ("ACC-2", "SKU-A"): 1}

    result = plan([line(outstanding=5, policy="all_or_nothing")], stock, accounts(rules()))

    assert result.grants == ()
    assert result.unfilled == {("SO-1", "1"): 5}
    assert result.reasons[("SO-1", "1")] == (
        "only 3 of SKU-A free at ACC-1; linked accounts short (ACC-2 has 1); "
        "all-or-nothing line needs 5 at once, so nothing was reserved"
    )


def test_all_or_nothing_line_is_covered_from_primary_and_links_together() -> None:
    stock = {("ACC-1", "SKU-A"): 3, ("ACC-2", "SKU-A"): 2}

    result = plan([line(outstanding=5, policy="all_or_nothing")], stock, accounts(rules()))

    assert [(g.from_account, g.quantity) for g in result.grants] == [("ACC-1", 3), ("ACC-2", 2)]


def test_all_or_nothing_line_that_takes_nothing_leaves_stock_for_lower_priority_lines() -> None:
    big = line("1", outstanding=5, policy="all_or_nothing", created_at=NOON)
    small = line("2", outstanding=3, created_at=NOON + timedelta(minutes=5))

    result = plan([big, small], {("ACC-1", "SKU-A"): 4}, accounts(rules(links=())))

    assert [(g.line_id, g.quantity) for g in result.grants] == [("2", 3)]


def test_full_packs_reserves_only_whole_packs() -> None:
    pallets = line(outstanding=2000, policy="full_packs", pack_size=1000)

    result = plan([pallets], {("ACC-1", "SKU-A"): 1600}, accounts(rules(links=())))

    assert [g.quantity for g in result.grants] == [1000]
    assert result.unfilled == {("SO-1", "1"): 1000}
    assert result.reasons[("SO-1", "1")] == (
        "only 1600 of SKU-A free at ACC-1; no linked accounts; whole packs of 1000 only"
    )


def test_full_packs_never_builds_a_pack_from_two_accounts_stock() -> None:
    pallets = line(outstanding=2000, policy="full_packs", pack_size=1000)
    stock = {("ACC-1", "SKU-A"): 1500, ("ACC-2", "SKU-A"): 700}

    result = plan([pallets], stock, accounts(rules()))

    assert [(g.from_account, g.quantity) for g in result.grants] == [("ACC-1", 1000)]


def test_full_packs_leaves_the_part_of_a_pack_open_even_when_stock_is_plentiful() -> None:
    cases = line(outstanding=30, policy="full_packs", pack_size=12)

    result = plan([cases], {("ACC-1", "SKU-A"): 100}, accounts(rules()))

    assert [g.quantity for g in result.grants] == [24]
    assert result.unfilled == {("SO-1", "1"): 6}
    assert result.reasons[("SO-1", "1")] == "whole packs of 12 only"


def test_a_line_with_nothing_outstanding_gets_no_grant_and_is_not_unfilled() -> None:
    result = plan([line(outstanding=0)], {("ACC-1", "SKU-A"): 5}, accounts(rules()))

    assert result.grants == ()
    assert result.unfilled == {}


def test_lines_of_different_skus_do_not_share_stock() -> None:
    result = plan([line(sku="SKU-B", outstanding=2)], {("ACC-1", "SKU-A"): 5}, accounts(rules()))

    assert result.grants == ()
    assert result.unfilled == {("SO-1", "1"): 2}


def test_the_callers_stock_mapping_is_left_untouched() -> None:
    stock = {("ACC-1", "SKU-A"): 3}

    plan([line(outstanding=5)], stock, accounts(rules()))

    assert stock == {("ACC-1", "SKU-A"): 3}
