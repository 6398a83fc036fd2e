"""The bridge's API against its own OpenAPI document: every operation, valid and invalid input.

schemathesis generates requests for each operation of the API's OpenAPI document and sends them
in-process with an admin token, to a database seeded with accounts, a debtor, products, stock,
an open order and a shipped one (generated ids are steered towards those rows). Every answer
must be no 5xx, a documented status with the documented content type and body schema, and a
refused request must leave the database exactly as it was. The examples are bounded for CI;
``packline fuzz`` runs the same checks for as long as it is given.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from hypothesis import HealthCheck, settings
from sqlalchemy import text

from cloud_bridge.api.roles import ROUTE_PERMISSIONS
from firmware_sim.fuzz.api import (
    AnyCase,
    HalfAppliedError,
    api_schema,
    check_case,
    run_api_fuzz,
)
from firmware_sim.fuzz.api_world import ApiWorld, api_world

schema = api_schema()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiWorld]:
    with api_world(tmp_path_factory.mktemp("api-fuzz")) as seeded:
        yield seeded


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_answers_as_documented_and_a_refused_request_changes_nothing(
    case: AnyCase, world: ApiWorld
) -> None:
    check_case(world, case)


def test_a_refused_request_that_changed_the_database_fails_the_check(tmp_path: Path) -> None:
    with api_world(tmp_path) as seeded:
        broken = replace(seeded, app=half_applying_app(seeded))
        case = schema["/accounts"]["POST"].Case(
            body={"id": "Z", "name": "Account Z"}, media_type="application/json"
        )

        with pytest.raises(HalfAppliedError, match="answered 409 but changed the database"):
            check_case(broken, case)


def half_applying_app(world: ApiWorld) -> FastAPI:
    """A stand-in for a handler that writes, then refuses without rolling back."""
    app = FastAPI()

    @app.post("/accounts")
    def create_account() -> JSONResponse:
        with world.engine.begin() as connection:
            connection.execute(text("CREATE TABLE left_behind (id INTEGER)"))
        detail = {"field": "id", "rule": "unique", "message": "taken"}
        return JSONResponse({"error": detail, "errors": [detail]}, status_code=409)

    return app


def test_the_timed_run_tries_every_route_and_counts_what_it_sent() -> None:
    report = run_api_fuzz(0.001, seed=7)

    tried = {entry["operation"]: entry["requests"] for entry in report["per_operation"]}
    # Every route but the document itself, which is not one of the operations it describes.
    operations = {f"{method} {path}" for method, path in ROUTE_PERMISSIONS} - {"GET /openapi.json"}
    assert set(tried) == operations
    assert all(requests > 0 for requests in tried.values()), tried
    assert (report["seed"], report["operations"]) == (7, len(operations))
    assert report["requests"] == sum(tried.values())
    assert 0 < report["refused"] < report["requests"]
    assert report["failures"] == [], report["failures"]
