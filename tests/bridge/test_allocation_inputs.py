"""An inconsistent snapshot is refused with an error that names what is wrong."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cloud_bridge.allocation import (
    AccountRules,
    AllocationError,
    AllocationInputError,
    LineDemand,
    UnknownAccountError,
    plan,
)
from cloud_bridge.errors import BridgeError

NOON = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)


def line(**changes: Any) -> LineDemand:
    fields: dict[str, Any] = {
        "order_id": "SO-1",
        "line_id": "1",
        "account_id": "ACC-1",
        "sku": "SKU-A",
        "outstanding": 5,
        "ordered": 5,
        "created_at": NOON,
    }
    fields.update(changes)
    return LineDemand(**fields)


ACCOUNTS = {"ACC-1": AccountRules("ACC-1")}


def test_allocation_errors_are_bridge_errors_and_standard_errors() -> None:
    assert issubclass(AllocationError, BridgeError)
    assert issubclass(AllocationInputError, ValueError)
    assert issubclass(UnknownAccountError, LookupError)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"outstanding": -1, "ordered": 5}, "outstanding -1; expected 0 or more"),
        ({"outstanding": 6, "ordered": 5}, "outstanding 6 above ordered 5"),
        ({"pack_size": 0}, "pack size 0; expected 1 or more"),
        ({"policy": "greedy"}, "policy 'greedy'; expected one of"),
    ],
)
def test_a_line_with_impossible_quantities_or_policy_is_refused(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(AllocationInputError, match=message):
        line(**changes)


def test_an_account_linked_to_itself_is_refused() -> None:
    with pytest.raises(AllocationInputError, match="'ACC-1' is linked to itself"):
        AccountRules("ACC-1", ("ACC-2", "ACC-1"))


def test_an_account_linking_the_same_account_twice_is_refused() -> None:
    with pytest.raises(AllocationInputError, match="lists a linked account twice"):
        AccountRules("ACC-1", ("ACC-2", "ACC-2"))


def test_a_line_of_an_account_without_rules_is_refused() -> None:
    with pytest.raises(UnknownAccountError, match="account 'ACC-9', which has no rules"):
        plan([line(account_id="ACC-9")], {}, ACCOUNTS)


def test_the_same_line_twice_is_refused() -> None:
    with pytest.raises(AllocationInputError, match=r"\('SO-1', '1'\) appears twice"):
        plan([line(), line(outstanding=2)], {}, ACCOUNTS)


def test_negative_free_stock_is_refused() -> None:
    with pytest.raises(AllocationInputError, match=r"\('ACC-1', 'SKU-A'\) has -2 units free"):
        plan([line()], {("ACC-1", "SKU-A"): -2}, ACCOUNTS)


def test_rules_filed_under_another_accounts_id_are_refused() -> None:
    with pytest.raises(
        AllocationInputError, match="filed under account 'ACC-2' are for account 'ACC-1'"
    ):
        plan([line()], {}, {"ACC-2": AccountRules("ACC-1")})
