"""The credit-line and prepayment gate: the source's rules, messages and steps, exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud_bridge.credit import (
    CheckFailure,
    CreditInputError,
    CreditSettings,
    DebtorExposure,
    OrderForCheck,
    OutstandingKind,
    Step,
    check_order,
    credit_line_exceeded_message,
    exposure,
    prepayment_message,
)
from cloud_bridge.errors import BridgeError

ALL_KINDS = frozenset(OutstandingKind)
CHECKING = CreditSettings()

money = st.decimals(
    min_value=Decimal(0),
    max_value=Decimal("1000000000"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)
signed_money = st.decimals(
    min_value=Decimal("-1000000000"),
    max_value=Decimal("1000000000"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)
steps = st.sampled_from(list(Step))
risk_controls = st.frozensets(st.sampled_from(list(OutstandingKind)))
outstandings = st.dictionaries(st.sampled_from(list(OutstandingKind)), signed_money)


def normal_order(total: Decimal, order_no: str = "12345") -> OrderForCheck:
    return OrderForCheck(
        order_no=order_no,
        order_type="normal",
        total_amount=total,
        amount_paid=Decimal(0),
        amount_to_pay=Decimal(0),
    )


def prepayment_order(total: Decimal, paid: Decimal, order_no: str = "12345") -> OrderForCheck:
    return OrderForCheck(
        order_no=order_no,
        order_type="prepayment",
        total_amount=total,
        amount_paid=paid,
        amount_to_pay=total,
    )


def debtor(
    limit: Decimal | None, open_invoices: str = "0", debtor_no: str = "12345"
) -> DebtorExposure:
    return DebtorExposure(
        debtor_no=debtor_no,
        credit_line=limit,
        outstanding={OutstandingKind.OPEN_INVOICES: Decimal(open_invoices)},
    )


# -- the exact messages --------------------------------------------------------------------------


def test_credit_line_message_is_the_source_text_for_the_source_example() -> None:
    assert (
        credit_line_exceeded_message("12345", "12345")
        == "Order (12345): Invoice debtor (12345): Credit line exceeded."
    )


def test_prepayment_message_is_the_source_text_without_a_trailing_full_stop() -> None:
    assert (
        prepayment_message("12345", "12345")
        == "Order (12345): Invoice debtor (12345): Not allowed: Fulfilment. Reason: Prepayment"
    )


@pytest.mark.parametrize(
    ("order_no", "debtor_no", "expected"),
    [
        ("1", "2", "Order (1): Invoice debtor (2): Credit line exceeded."),
        ("SO-000981", "D 77", "Order (SO-000981): Invoice debtor (D 77): Credit line exceeded."),
        ("40012", "100200", "Order (40012): Invoice debtor (100200): Credit line exceeded."),
    ],
)
def test_credit_line_message_places_order_and_debtor_numbers(
    order_no: str, debtor_no: str, expected: str
) -> None:
    assert credit_line_exceeded_message(order_no, debtor_no) == expected


@pytest.mark.parametrize(
    ("order_no", "debtor_no", "expected"),
    [
        ("1", "2", "Order (1): Invoice debtor (2): Not allowed: Fulfilment. Reason: Prepayment"),
        (
            "SO-000981",
            "D 77",
            "Order (SO-000981): Invoice debtor (D 77): Not allowed: Fulfilment. Reason: Prepayment",
        ),
        (
            "40012",
            "100200",
            "Order (40012): Invoice debtor (100200): Not allowed: Fulfilment. Reason: Prepayment",
        ),
    ],
)
def test_prepayment_message_places_order_and_debtor_numbers(
    order_no: str, debtor_no: str, expected: str
) -> None:
    assert prepayment_message(order_no, debtor_no) == expected


def test_the_failure_carries_the_order_and_invoice_debtor_numbers_in_its_message() -> None:
    failures = check_order(
        normal_order(Decimal("10.00"), order_no="778"),
        debtor(Decimal("5.00"), debtor_no="3001"),
        CHECKING,
        Step.ADVICE,
    )
    assert failures == (
        CheckFailure(
            step=Step.ADVICE,
            kind="credit_line",
            message="Order (778): Invoice debtor (3001): Credit line exceeded.",
        ),
    )


# -- the credit line -----------------------------------------------------------------------------


def test_exposure_plus_total_equal_to_the_limit_passes() -> None:
    assert (
        check_order(
            normal_order(Decimal("40.00")), debtor(Decimal(100), "60.00"), CHECKING, Step.ADVICE
        )
        == ()
    )


def test_one_cent_over_the_limit_fails() -> None:
    failures = check_order(
        normal_order(Decimal("40.01")), debtor(Decimal(100), "60.00"), CHECKING, Step.ADVICE
    )
    assert [failure.kind for failure in failures] == ["credit_line"]


@given(total=money, outstanding=outstandings, risk=risk_controls, limit=money, step=steps)
def test_no_order_passes_when_exposure_plus_total_exceeds_the_limit(
    total: Decimal,
    outstanding: dict[OutstandingKind, Decimal],
    risk: frozenset[OutstandingKind],
    limit: Decimal,
    step: Step,
) -> None:
    counted = sum((outstanding.get(kind, Decimal(0)) for kind in risk), Decimal(0))
    account = DebtorExposure(debtor_no="9", credit_line=limit, outstanding=outstanding)
    failures = check_order(normal_order(total), account, CreditSettings(risk_control=risk), step)
    exceeded = counted + total > limit
    assert bool(failures) == exceeded
    assert all(failure.step == step for failure in failures)


@given(total=money, outstanding=outstandings, step=steps)
def test_a_debtor_without_a_credit_line_never_fails_the_credit_check(
    total: Decimal, outstanding: dict[OutstandingKind, Decimal], step: Step
) -> None:
    account = DebtorExposure(debtor_no="9", credit_line=None, outstanding=outstanding)
    assert check_order(normal_order(total), account, CHECKING, step) == ()


@given(total=money.filter(lambda amount: amount > 0), step=steps)
def test_a_credit_line_of_zero_is_a_real_limit_that_any_positive_total_exceeds(
    total: Decimal, step: Step
) -> None:
    failures = check_order(normal_order(total), debtor(Decimal(0)), CHECKING, step)
    assert [failure.kind for failure in failures] == ["credit_line"]


def test_a_credit_line_of_zero_passes_an_order_of_nothing_for_a_debtor_owing_nothing() -> None:
    assert check_order(normal_order(Decimal(0)), debtor(Decimal(0)), CHECKING, Step.ADVICE) == ()


@given(part=money, rest=money.filter(lambda amount: amount > 0), step=steps)
def test_the_total_order_amount_is_checked_even_when_only_part_could_be_fulfilled_now(
    part: Decimal, rest: Decimal, step: Step
) -> None:
    # The debtor can afford the part that could ship now, but not the whole order.
    account = debtor(limit=part)
    assert check_order(normal_order(part), account, CHECKING, step) == ()
    failures = check_order(normal_order(part + rest), account, CHECKING, step)
    assert [failure.kind for failure in failures] == ["credit_line"]


def test_an_order_has_no_field_for_a_partial_amount() -> None:
    with pytest.raises(TypeError):
        OrderForCheck(  # type: ignore[call-arg]
            order_no="1",
            order_type="normal",
            total_amount=Decimal(10),
            amount_paid=Decimal(0),
            amount_to_pay=Decimal(0),
            fulfillable_amount=Decimal(5),
        )


def test_a_credit_balance_on_open_invoices_makes_room_under_the_limit() -> None:
    account = debtor(Decimal(100), open_invoices="-50.00")
    assert check_order(normal_order(Decimal("150.00")), account, CHECKING, Step.ADVICE) == ()


# -- risk control --------------------------------------------------------------------------------


def exposed_debtor() -> DebtorExposure:
    return DebtorExposure(
        debtor_no="500",
        credit_line=Decimal("1000.00"),
        outstanding={
            OutstandingKind.OPEN_INVOICES: Decimal("400.00"),
            OutstandingKind.SHIPPED_NOT_INVOICED: Decimal("300.00"),
            OutstandingKind.OPEN_ORDERS: Decimal("200.00"),
        },
    )


def test_with_every_kind_counted_the_order_goes_over() -> None:
    failures = check_order(normal_order(Decimal("200.00")), exposed_debtor(), CHECKING, Step.ADVICE)
    assert [failure.kind for failure in failures] == ["credit_line"]


@pytest.mark.parametrize("excluded", list(OutstandingKind))
def test_excluding_a_kind_from_risk_control_lets_the_same_order_through(
    excluded: OutstandingKind,
) -> None:
    settings = CreditSettings(risk_control=ALL_KINDS - {excluded})
    failures = check_order(normal_order(Decimal("200.00")), exposed_debtor(), settings, Step.ADVICE)
    assert failures == ()


def test_with_no_kind_counted_only_the_order_itself_is_held_against_the_limit() -> None:
    settings = CreditSettings(risk_control=frozenset())
    assert exposure(exposed_debtor(), frozenset()) == 0
    assert (
        check_order(normal_order(Decimal("1000.00")), exposed_debtor(), settings, Step.ADVICE) == ()
    )
    assert check_order(normal_order(Decimal("1000.01")), exposed_debtor(), settings, Step.ADVICE)


@given(outstanding=outstandings, risk=risk_controls, extra=st.sampled_from(list(OutstandingKind)))
def test_counting_one_more_kind_changes_exposure_by_exactly_that_kind(
    outstanding: dict[OutstandingKind, Decimal],
    risk: frozenset[OutstandingKind],
    extra: OutstandingKind,
) -> None:
    account = DebtorExposure(debtor_no="9", credit_line=None, outstanding=outstanding)
    wider = risk | {extra}
    added = Decimal(0) if extra in risk else outstanding.get(extra, Decimal(0))
    assert exposure(account, wider) == exposure(account, risk) + added


# -- prepayment ----------------------------------------------------------------------------------


def test_an_unpaid_prepayment_order_fails_with_the_prepayment_message() -> None:
    failures = check_order(
        prepayment_order(Decimal("99.95"), paid=Decimal("99.94"), order_no="42"),
        debtor(None, debtor_no="7"),
        CHECKING,
        Step.SEND_TO_SCANNER,
    )
    assert failures == (
        CheckFailure(
            step=Step.SEND_TO_SCANNER,
            kind="prepayment",
            message="Order (42): Invoice debtor (7): Not allowed: Fulfilment. Reason: Prepayment",
        ),
    )


@given(total=money, overpaid=money, step=steps)
def test_a_prepayment_order_paid_in_full_or_more_passes(
    total: Decimal, overpaid: Decimal, step: Step
) -> None:
    order = prepayment_order(total, paid=total + overpaid)
    assert check_order(order, debtor(None), CHECKING, step) == ()


@given(total=money, paid=money, step=steps)
def test_a_normal_order_is_never_stopped_for_payment(
    total: Decimal, paid: Decimal, step: Step
) -> None:
    order = OrderForCheck(
        order_no="1",
        order_type="normal",
        total_amount=total,
        amount_paid=paid,
        amount_to_pay=total + Decimal(1),
    )
    assert check_order(order, debtor(None), CHECKING, step) == ()


def test_when_both_checks_fail_both_are_reported_credit_line_first() -> None:
    failures = check_order(
        prepayment_order(Decimal(50), paid=Decimal(0), order_no="9"),
        debtor(Decimal(10), debtor_no="8"),
        CHECKING,
        Step.AUTOPACK,
    )
    assert [(failure.kind, failure.message) for failure in failures] == [
        ("credit_line", "Order (9): Invoice debtor (8): Credit line exceeded."),
        (
            "prepayment",
            "Order (9): Invoice debtor (8): Not allowed: Fulfilment. Reason: Prepayment",
        ),
    ]
    assert {failure.step for failure in failures} == {Step.AUTOPACK}


# -- the setting and the steps -------------------------------------------------------------------


@given(total=money, paid=money, limit=money, step=steps)
def test_with_check_credit_line_off_neither_check_runs(
    total: Decimal, paid: Decimal, limit: Decimal, step: Step
) -> None:
    off = CreditSettings(check_credit_line=False)
    order = prepayment_order(total + Decimal(1), paid=paid.min(total))
    account = debtor(limit, open_invoices="1000000000")
    assert len(check_order(order, account, CHECKING, step)) == 2
    assert check_order(order, account, off, step) == ()


@given(
    total=money,
    outstanding=outstandings,
    risk=risk_controls,
    limit=st.none() | money,
    paid=money,
    order_type=st.sampled_from(["normal", "prepayment"]),
)
def test_an_order_passes_exactly_when_both_rules_hold_and_the_same_at_every_step(
    *,
    total: Decimal,
    outstanding: dict[OutstandingKind, Decimal],
    risk: frozenset[OutstandingKind],
    limit: Decimal | None,
    paid: Decimal,
    order_type: str,
) -> None:
    order = OrderForCheck(
        order_no="1",
        order_type=order_type,  # type: ignore[arg-type]
        total_amount=total,
        amount_paid=paid,
        amount_to_pay=total,
    )
    account = DebtorExposure(debtor_no="2", credit_line=limit, outstanding=outstanding)
    counted = sum((outstanding.get(kind, Decimal(0)) for kind in risk), Decimal(0))
    within_limit = limit is None or counted + total <= limit
    paid_up = order_type == "normal" or paid >= total
    settings = CreditSettings(risk_control=risk)

    results = {step: check_order(order, account, settings, step) for step in Step}

    for step, failures in results.items():
        assert (failures == ()) == (within_limit and paid_up)
        assert all(failure.step == step for failure in failures)
    kinds_per_step = {tuple(f.kind for f in failures) for failures in results.values()}
    assert len(kinds_per_step) == 1


def test_the_gate_runs_at_the_four_steps_of_the_source() -> None:
    assert [str(step) for step in Step] == [
        "advice",
        "send_to_scanner",
        "replenishment",
        "autopack",
    ]


# -- inputs the gate refuses ---------------------------------------------------------------------


def test_a_float_amount_is_refused_naming_the_field() -> None:
    with pytest.raises(CreditInputError, match="total_amount of order 1 must be a Decimal"):
        OrderForCheck(
            order_no="1",
            order_type="normal",
            total_amount=10.5,  # type: ignore[arg-type]
            amount_paid=Decimal(0),
            amount_to_pay=Decimal(0),
        )


def test_a_nan_outstanding_amount_is_refused() -> None:
    with pytest.raises(CreditInputError, match="must be a finite amount"):
        DebtorExposure(
            debtor_no="1",
            credit_line=Decimal(10),
            outstanding={OutstandingKind.OPEN_ORDERS: Decimal("NaN")},
        )


def test_a_negative_credit_line_is_refused() -> None:
    with pytest.raises(CreditInputError, match="credit_line of debtor 1 must be zero or more"):
        DebtorExposure(debtor_no="1", credit_line=Decimal(-1))


def test_an_unknown_order_type_is_refused() -> None:
    with pytest.raises(CreditInputError, match="order_type of order 1 must be one of"):
        OrderForCheck(
            order_no="1",
            order_type="cash",  # type: ignore[arg-type]
            total_amount=Decimal(1),
            amount_paid=Decimal(0),
            amount_to_pay=Decimal(0),
        )


def test_an_outstanding_kind_the_gate_does_not_know_is_refused() -> None:
    with pytest.raises(CreditInputError, match="may be keyed only by"):
        DebtorExposure(
            debtor_no="1",
            credit_line=None,
            outstanding={"overdue": Decimal(1)},  # type: ignore[dict-item]
        )


def test_a_step_outside_the_four_is_refused() -> None:
    with pytest.raises(CreditInputError, match="step must be one of"):
        check_order(normal_order(Decimal(1)), debtor(None), CHECKING, "picking")  # type: ignore[arg-type]


def test_gate_errors_are_bridge_errors_and_value_errors() -> None:
    assert issubclass(CreditInputError, BridgeError)
    assert issubclass(CreditInputError, ValueError)


def test_changing_the_callers_dict_afterwards_does_not_change_the_exposure() -> None:
    amounts = {OutstandingKind.OPEN_INVOICES: Decimal(10)}
    account = DebtorExposure(debtor_no="1", credit_line=Decimal(10), outstanding=amounts)
    amounts[OutstandingKind.OPEN_INVOICES] = Decimal(1000)
    assert exposure(account, ALL_KINDS) == Decimal(10)
