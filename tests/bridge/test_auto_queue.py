"""The auto queue: a stopped order is tried again RetryInMinutes after it failed."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud_bridge.credit import (
    AutoQueueEntry,
    AutoQueueError,
    CheckFailure,
    CreditSettings,
    DebtorExposure,
    OrderForCheck,
    Step,
    check_order,
    due,
    next_retry,
    record_failure,
    validate_retry_in_minutes,
)
from cloud_bridge.errors import BridgeError

NINE = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)

aware_times = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.just(UTC),
)


def credit_failure(order_no: str = "12345", step: Step = Step.ADVICE) -> CheckFailure:
    return CheckFailure(
        step=step,
        kind="credit_line",
        message=f"Order ({order_no}): Invoice debtor (1): Credit line exceeded.",
    )


def entry(order_no: str, next_retry_at: datetime, step: Step = Step.ADVICE) -> AutoQueueEntry:
    return AutoQueueEntry(
        order_no=order_no,
        step=step,
        message=credit_failure(order_no, step).message,
        failed_at=next_retry_at - timedelta(minutes=5),
        next_retry_at=next_retry_at,
        attempts=1,
    )


# -- the retry time ------------------------------------------------------------------------------


def test_the_next_retry_is_retry_in_minutes_after_the_failure() -> None:
    assert next_retry(NINE, 15) == datetime(2024, 3, 4, 9, 15, tzinfo=UTC)


def test_the_next_retry_crosses_midnight() -> None:
    late = datetime(2024, 12, 31, 23, 50, tzinfo=UTC)
    assert next_retry(late, 30) == datetime(2025, 1, 1, 0, 20, tzinfo=UTC)


def test_the_next_retry_keeps_the_failure_time_zone() -> None:
    amsterdam_winter = timezone(timedelta(hours=1))
    failed_at = datetime(2024, 1, 10, 14, 0, tzinfo=amsterdam_winter)
    retry = next_retry(failed_at, 60)
    assert retry == datetime(2024, 1, 10, 14, 0, tzinfo=UTC)
    assert retry.utcoffset() == timedelta(hours=1)


@given(failed_at=aware_times, minutes=st.integers(min_value=1, max_value=100_000))
def test_the_next_retry_is_always_exactly_the_interval_later(
    failed_at: datetime, minutes: int
) -> None:
    assert next_retry(failed_at, minutes) - failed_at == timedelta(minutes=minutes)


@pytest.mark.parametrize("bad", [0, -1, -60])
def test_retry_in_minutes_below_one_is_refused_by_name(bad: int) -> None:
    with pytest.raises(AutoQueueError, match=r"RetryInMinutes must be at least 1 minute"):
        next_retry(NINE, bad)


@pytest.mark.parametrize("bad", [1.5, "5", None, True, Decimal(5)])
def test_retry_in_minutes_that_is_not_a_whole_number_is_refused_by_name(bad: object) -> None:
    with pytest.raises(AutoQueueError, match=r"RetryInMinutes must be a whole number of minutes"):
        validate_retry_in_minutes(bad)


def test_a_valid_retry_in_minutes_is_returned_unchanged() -> None:
    assert validate_retry_in_minutes(1) == 1
    assert validate_retry_in_minutes(240) == 240


def test_a_naive_failure_time_is_refused() -> None:
    with pytest.raises(AutoQueueError, match="failed_at must carry a time zone"):
        next_retry(datetime(2024, 3, 4, 9, 0), 5)


def test_auto_queue_errors_are_bridge_errors_and_value_errors() -> None:
    assert issubclass(AutoQueueError, BridgeError)
    assert issubclass(AutoQueueError, ValueError)


# -- recording a failure -------------------------------------------------------------------------


def test_a_gate_failure_becomes_an_entry_due_after_the_interval() -> None:
    order = OrderForCheck(
        order_no="555",
        order_type="prepayment",
        total_amount=Decimal("80.00"),
        amount_paid=Decimal(0),
        amount_to_pay=Decimal("80.00"),
    )
    account = DebtorExposure(debtor_no="66", credit_line=Decimal("50.00"))
    failures = check_order(order, account, CreditSettings(), Step.AUTOPACK)

    queued = record_failure("555", failures, failed_at=NINE, retry_in_minutes=10)

    assert queued == AutoQueueEntry(
        order_no="555",
        step=Step.AUTOPACK,
        message=(
            "Order (555): Invoice debtor (66): Credit line exceeded.\n"
            "Order (555): Invoice debtor (66): Not allowed: Fulfilment. Reason: Prepayment"
        ),
        failed_at=NINE,
        next_retry_at=NINE + timedelta(minutes=10),
        attempts=1,
    )


def test_failing_again_counts_the_attempt_and_waits_afresh() -> None:
    first = record_failure("7", [credit_failure("7")], failed_at=NINE, retry_in_minutes=10)
    retried_at = first.next_retry_at + timedelta(seconds=30)

    second = record_failure(
        "7", [credit_failure("7")], failed_at=retried_at, retry_in_minutes=10, previous=first
    )

    assert second.attempts == 2
    assert second.next_retry_at == retried_at + timedelta(minutes=10)


def test_a_passing_order_cannot_be_queued() -> None:
    with pytest.raises(AutoQueueError, match="order 7 has no failures to queue"):
        record_failure("7", (), failed_at=NINE, retry_in_minutes=10)


def test_failures_from_two_steps_cannot_make_one_entry() -> None:
    failures = [credit_failure("7", Step.ADVICE), credit_failure("7", Step.AUTOPACK)]
    with pytest.raises(AutoQueueError, match="must come from one step"):
        record_failure("7", failures, failed_at=NINE, retry_in_minutes=10)


def test_another_orders_entry_cannot_be_carried_on() -> None:
    other = record_failure("8", [credit_failure("8")], failed_at=NINE, retry_in_minutes=10)
    with pytest.raises(AutoQueueError, match="previous entry belongs to order 8"):
        record_failure("7", [credit_failure("7")], NINE, 10, previous=other)


def test_an_entry_whose_retry_is_not_after_its_failure_is_refused() -> None:
    with pytest.raises(AutoQueueError, match="next_retry_at of order 1 must be after failed_at"):
        AutoQueueEntry(
            order_no="1",
            step=Step.ADVICE,
            message="x",
            failed_at=NINE,
            next_retry_at=NINE,
            attempts=1,
        )


def test_an_entry_with_no_attempts_is_refused() -> None:
    with pytest.raises(AutoQueueError, match="attempts of order 1 must be at least 1"):
        AutoQueueEntry(
            order_no="1",
            step=Step.ADVICE,
            message="x",
            failed_at=NINE,
            next_retry_at=NINE + timedelta(minutes=1),
            attempts=0,
        )


# -- what is due ---------------------------------------------------------------------------------


def test_an_entry_is_due_at_its_retry_time_and_not_a_moment_before() -> None:
    waiting = entry("1", NINE)
    assert due([waiting], NINE - timedelta(microseconds=1)) == []
    assert due([waiting], NINE) == [waiting]


def test_due_entries_come_longest_waiting_first_then_by_order_number() -> None:
    b_early = entry("B", NINE - timedelta(minutes=3))
    a_late = entry("A", NINE - timedelta(minutes=1))
    c_same = entry("C", NINE - timedelta(minutes=1))
    a_same = entry("A2", NINE - timedelta(minutes=1))
    not_yet = entry("Z", NINE + timedelta(minutes=1))

    assert due([not_yet, c_same, a_late, b_early, a_same], NINE) == [
        b_early,
        a_late,
        a_same,
        c_same,
    ]


def test_due_compares_instants_across_time_zones() -> None:
    plus_two = timezone(timedelta(hours=2))
    earlier_elsewhere = entry("Z", datetime(2024, 3, 4, 10, 30, tzinfo=plus_two))  # 08:30 UTC
    later_here = entry("A", datetime(2024, 3, 4, 8, 45, tzinfo=UTC))
    assert due([later_here, earlier_elsewhere], NINE) == [earlier_elsewhere, later_here]


@given(
    offsets=st.lists(st.integers(min_value=-120, max_value=120), min_size=0, max_size=12),
    seed=st.integers(),
)
def test_due_gives_the_same_order_whatever_order_entries_arrive_in(
    offsets: list[int], seed: int
) -> None:
    entries = [
        entry(f"{index % 3}", NINE + timedelta(minutes=offset), list(Step)[index % 4])
        for index, offset in enumerate(offsets)
    ]
    shuffled = list(entries)
    random.Random(seed).shuffle(shuffled)

    chosen = due(shuffled, NINE)

    assert chosen == due(entries, NINE)
    assert all(item.next_retry_at <= NINE for item in chosen)
    assert len(chosen) == sum(1 for item in entries if item.next_retry_at <= NINE)
    assert [item.next_retry_at for item in chosen] == sorted(item.next_retry_at for item in chosen)


def test_due_refuses_a_naive_now() -> None:
    with pytest.raises(AutoQueueError, match="now must carry a time zone"):
        due([], datetime(2024, 3, 4, 9, 0))
