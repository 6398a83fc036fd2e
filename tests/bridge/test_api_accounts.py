"""Accounts, their links and flags, and products over HTTP.

Linking takes several accounts at once and keeps them in the order given; unlinking asks for
confirmation first, as the source does ("A message will prompt you to confirm").
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from test_api_harness import Api, error_of, fields_of, running_api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as api:
        for account in ("A", "B", "C", "D"):
            body = {"id": account, "name": f"Account {account}"}
            await api.call("POST", "/accounts", body, expect=201)
        yield api


async def refused(api: Api, method: str, url: str, body: Any, status: int) -> tuple[str, str]:
    before = api.snapshot()
    answer = await api.call(method, url, body, expect=status)
    assert api.snapshot() == before
    return error_of(answer)


async def test_a_new_account_has_both_flags_off_and_no_links(api: Api) -> None:
    created = await api.call("POST", "/accounts", {"id": "E", "name": "East"}, expect=201)

    assert created == {
        "id": "E",
        "name": "East",
        "order_from_linked": False,
        "pick_from_linked_if_unavailable": False,
        "linked_account_ids": [],
    }
    assert await api.call("GET", "/accounts/E", expect=200) == created


async def test_both_flags_are_set_together(api: Api) -> None:
    flags = {"order_from_linked": True, "pick_from_linked_if_unavailable": False}

    account = await api.call("PUT", "/accounts/A/flags", flags, expect=200)

    assert (account["order_from_linked"], account["pick_from_linked_if_unavailable"]) == (
        True,
        False,
    )


async def test_several_accounts_are_linked_at_once_and_appended_in_the_order_given(
    api: Api,
) -> None:
    await api.call("POST", "/accounts/A/links", {"linked_account_ids": ["C", "B"]}, expect=200)

    account = await api.call("POST", "/accounts/A/links", {"linked_account_ids": ["D"]}, expect=200)

    assert account["linked_account_ids"] == ["C", "B", "D"]


async def test_unlinking_without_confirmation_asks_for_it_and_changes_nothing(api: Api) -> None:
    await api.call("POST", "/accounts/A/links", {"linked_account_ids": ["B"]}, expect=200)

    before = api.snapshot()
    answer = await api.call("DELETE", "/accounts/A/links/B", expect=409)

    assert api.snapshot() == before
    assert error_of(answer) == ("confirm", "true")
    assert "confirm=true" in answer["error"]["message"]
    assert (await api.call("GET", "/accounts/A"))["linked_account_ids"] == ["B"]


async def test_unlinking_with_confirmation_removes_only_that_link(api: Api) -> None:
    await api.call("POST", "/accounts/A/links", {"linked_account_ids": ["B", "C", "D"]}, expect=200)

    account = await api.call("DELETE", "/accounts/A/links/C?confirm=true", expect=200)

    assert account["linked_account_ids"] == ["B", "D"]
    again = await api.call("POST", "/accounts/A/links", {"linked_account_ids": ["C"]}, expect=200)
    assert again["linked_account_ids"] == ["B", "D", "C"]


async def test_unlinking_an_account_that_is_not_linked_is_404(api: Api) -> None:
    assert (await refused(api, "DELETE", "/accounts/A/links/B?confirm=true", None, 404))[0] == (
        "linked_id"
    )


async def test_linking_is_all_or_nothing_when_one_account_is_unknown(api: Api) -> None:
    body = {"linked_account_ids": ["B", "NOPE", "C"]}

    assert await refused(api, "POST", "/accounts/A/links", body, 404) == (
        "linked_account_ids.1",
        "an existing account",
    )


@pytest.mark.parametrize(
    ("ids", "status", "field"),
    [
        (["B", "A"], 409, "linked_account_ids.1"),
        (["B", "B"], 422, "linked_account_ids"),
        ([], 422, "linked_account_ids"),
        ("B", 422, "linked_account_ids"),
    ],
)
async def test_a_link_to_itself_a_repeat_or_an_empty_list_is_refused(
    api: Api, ids: Any, status: int, field: str
) -> None:
    body = {"linked_account_ids": ids}

    assert (await refused(api, "POST", "/accounts/A/links", body, status))[0] == field


async def test_linking_an_already_linked_account_is_a_conflict(api: Api) -> None:
    await api.call("POST", "/accounts/A/links", {"linked_account_ids": ["B"]}, expect=200)

    body = {"linked_account_ids": ["C", "B"]}
    assert await refused(api, "POST", "/accounts/A/links", body, 409) == (
        "linked_account_ids.1",
        "an account not linked yet",
    )


async def test_a_duplicate_account_is_a_conflict(api: Api) -> None:
    body = {"id": "A", "name": "Again"}

    assert await refused(api, "POST", "/accounts", body, 409) == ("id", "a new account code")


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", "/accounts/NOPE", None),
        (
            "PUT",
            "/accounts/NOPE/flags",
            {"order_from_linked": True, "pick_from_linked_if_unavailable": True},
        ),
        ("POST", "/accounts/NOPE/links", {"linked_account_ids": ["B"]}),
        ("DELETE", "/accounts/NOPE/links/B?confirm=true", None),
    ],
)
async def test_an_unknown_account_is_404(api: Api, method: str, url: str, body: Any) -> None:
    assert (await refused(api, method, url, body, 404))[0] == "account_id"


async def test_flags_must_both_be_given_as_booleans(api: Api) -> None:
    body = {"order_from_linked": "yes"}

    before = api.snapshot()
    answer = await api.call("PUT", "/accounts/A/flags", body, expect=422)

    assert api.snapshot() == before
    assert fields_of(answer) == {"order_from_linked", "pick_from_linked_if_unavailable"}


# --- products ---------------------------------------------------------------------------------


async def test_a_product_is_created_with_its_gtin_pack_size_and_price(api: Api) -> None:
    body = {
        "sku": "MUG",
        "gtin": "05012345678900",
        "pack_size": 6,
        "sage_item_id": "ITEM-7",
        "description": "Stoneware mug",
        "unit_price": "4.5",
    }

    created = await api.call("POST", "/products", body, expect=201)

    assert created == {**body, "unit_price": "4.5000"}


async def test_a_product_defaults_to_single_units_at_no_price(api: Api) -> None:
    created = await api.call("POST", "/products", {"sku": "PEN"}, expect=201)

    assert (created["pack_size"], created["unit_price"], created["gtin"]) == (1, "0.0000", None)


async def test_a_duplicate_sku_or_gtin_is_a_conflict(api: Api) -> None:
    await api.call("POST", "/products", {"sku": "MUG", "gtin": "05012345678900"}, expect=201)

    assert (await refused(api, "POST", "/products", {"sku": "MUG"}, 409))[0] == "sku"
    body = {"sku": "CUP", "gtin": "05012345678900"}
    assert (await refused(api, "POST", "/products", body, 409))[0] == "gtin"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"gtin": "05012345678901"}, "gtin"),
        ({"gtin": "12345"}, "gtin"),
        ({"pack_size": 0}, "pack_size"),
        ({"unit_price": "-1"}, "unit_price"),
        ({"sku": ""}, "sku"),
    ],
)
async def test_a_bad_product_is_refused_naming_the_field(
    api: Api, change: dict[str, Any], field: str
) -> None:
    assert (await refused(api, "POST", "/products", {"sku": "MUG", **change}, 422))[0] == field
