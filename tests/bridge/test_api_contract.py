"""The API's contract as a whole: a token on every endpoint, one error shape, money as
strings, and an OpenAPI document that describes every route and field.

Roles, revocation and the audit trail have their own tests under tests/security.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from test_api_harness import Api, add_world, error_of, running_api

from cloud_bridge.api import ApiConfigurationError, create_app
from cloud_bridge.api.app import check_route_permissions
from cloud_bridge.api.fields import Amount, Money, MoneyOut
from cloud_bridge.db import make_engine, session_factory


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as api:
        await add_world(api)
        yield api


def endpoints(api: Api) -> list[tuple[str, str]]:
    """(method, path with every parameter filled) for every route of the API."""
    return sorted(
        (method.upper(), re.sub(r"\{[^}]+\}", "A", path))
        for path, methods in api.app.openapi()["paths"].items()
        for method in methods
    )


def test_the_api_has_the_endpoints_it_documents(api: Api) -> None:
    assert len(endpoints(api)) == 40
    assert ("DELETE", "/accounts/A/links/A") in endpoints(api)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "the Authorization header is missing; expected a bearer token"),
        ({"Authorization": "Bearer not-the-token"}, "the bearer token is not valid"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "not of the form 'Bearer <token>'"),
        ({"Authorization": "Bearer "}, "not of the form 'Bearer <token>'"),
    ],
)
async def test_every_endpoint_refuses_a_request_without_the_token(
    api: Api, headers: dict[str, str], message: str
) -> None:
    before = api.snapshot()
    transport = httpx.ASGITransport(app=api.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as stranger:
        responses = [
            (method, path, await stranger.request(method, path, json={}, headers=headers))
            for method, path in endpoints(api)
        ]
    for method, path, response in responses:
        assert response.status_code == 401, (method, path)
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert error_of(response.json()) == ("Authorization", "Bearer <the bridge's API token>")
        assert message in response.json()["error"]["message"]
    assert api.snapshot() == before


async def test_malformed_json_is_422_with_the_token_and_401_without(api: Api) -> None:
    before = api.snapshot()
    json_type = {"content-type": "application/json"}

    with_token = await api.client.post("/orders", content=b'{"order_no": ', headers=json_type)
    without = await api.client.post(
        "/orders", content=b'{"order_no": ', headers={**json_type, "Authorization": ""}
    )

    assert with_token.status_code == 422
    assert error_of(with_token.json()) == ("body", "valid JSON")
    assert without.status_code == 401
    assert api.snapshot() == before


async def test_a_body_that_is_not_an_object_is_refused(api: Api) -> None:
    response = await api.client.post("/accounts", json=["A", "Account"])

    assert response.status_code == 422
    assert error_of(response.json())[0] == "body"


async def test_an_unknown_path_or_method_gets_the_same_error_shape(api: Api) -> None:
    missing = await api.client.get("/warehouses")
    wrong_method = await api.client.delete("/orders")

    assert (missing.status_code, error_of(missing.json())[0]) == (404, "path")
    assert (wrong_method.status_code, error_of(wrong_method.json())[0]) == (405, "method")


def test_a_route_without_a_permission_in_the_role_table_is_refused(tmp_path: Path) -> None:
    sessions = session_factory(make_engine(f"sqlite:///{tmp_path / 'bridge.db'}"))
    app = create_app(sessions=sessions, slot_maps={})

    async def unguarded() -> dict[str, str]:
        return {}

    app.add_api_route("/unguarded", unguarded, methods=["GET"])

    with pytest.raises(ApiConfigurationError, match="GET /unguarded have no permission"):
        check_route_permissions(app)


# --- the OpenAPI document ---------------------------------------------------------------------


async def openapi(api: Api) -> Any:
    response = await api.client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


async def test_the_openapi_document_needs_a_token_like_every_endpoint(api: Api) -> None:
    response = await api.client.get("/openapi.json", headers={"Authorization": ""})
    docs_page = await api.client.get("/docs")

    assert response.status_code == 401
    assert docs_page.status_code in {401, 404}


async def test_the_openapi_document_declares_the_bearer_scheme(api: Api) -> None:
    document = await openapi(api)

    assert document["components"]["securitySchemes"]["BridgeToken"]["scheme"] == "bearer"
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert len(operations) == 40
    assert all(op["security"] == [{"BridgeToken": []}] for op in operations)


async def test_every_route_has_a_title_a_description_and_documented_errors(api: Api) -> None:
    document = await openapi(api)

    for path, methods in document["paths"].items():
        for method, op in methods.items():
            where = f"{method.upper()} {path}"
            assert op.get("summary"), where
            assert op.get("description"), where
            for status in ("401", "422"):
                schema = op["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, where
            for parameter in op.get("parameters", []):
                assert parameter.get("description"), (where, parameter["name"])


async def test_every_field_of_every_body_has_a_title_and_a_description(api: Api) -> None:
    schemas = (await openapi(api))["components"]["schemas"]
    for name, schema in schemas.items():
        assert schema.get("description"), name
        for field, prop in schema.get("properties", {}).items():
            assert prop.get("title"), (name, field)
            assert prop.get("description"), (name, field)


async def test_money_is_a_string_in_the_openapi_document(api: Api) -> None:
    schemas = (await openapi(api))["components"]["schemas"]

    assert schemas["LineIn"]["properties"]["unit_price"]["type"] == "string"
    assert schemas["OrderSummaryOut"]["properties"]["total"]["type"] == "string"


# --- money ------------------------------------------------------------------------------------

AMOUNTS = st.decimals(
    min_value=Decimal("-99999999999999.9999"),
    max_value=Decimal("99999999999999.9999"),
    places=4,
    allow_nan=False,
    allow_infinity=False,
)


@given(AMOUNTS)
def test_any_amount_with_four_places_survives_the_trip_in_and_out_exactly(amount: Decimal) -> None:
    parsed = TypeAdapter(Money).validate_python(format(amount, "f"))
    shown = TypeAdapter(MoneyOut).dump_json(parsed).decode()

    assert parsed == amount
    assert Decimal(shown.strip('"')) == amount
    assert re.fullmatch(r'"-?\d+\.\d{4}"', shown)


@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers())
def test_a_json_number_is_never_taken_as_money(number: float) -> None:
    with pytest.raises(ValidationError, match="is not a decimal amount"):
        TypeAdapter(Amount).validate_python(number)


@pytest.mark.parametrize("text", ["1e3", "NaN", "Infinity", "1.23456", " 1", "1,50", "-1", ""])
def test_text_that_is_not_a_plain_amount_is_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Amount).validate_python(text)
