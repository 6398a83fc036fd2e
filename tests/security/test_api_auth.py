"""The API's tokens and roles: every route walked from the app, with no token, a revoked one,
and each role; tokens stored only as hashes; and `packline bridge token` on a real database."""

from __future__ import annotations

import argparse
import contextlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from api_world import SecuredApi, add_world, call, filled, secured_api, token_name
from sqlalchemy import select, text

from cloud_bridge.api.roles import (
    ROLE_PERMISSIONS,
    ROUTE_PERMISSIONS,
    Permission,
    Role,
    roles_with,
)
from cloud_bridge.api.tokens import (
    TokenError,
    create_token,
    has_active_tokens,
    list_tokens,
    revoke_token,
)
from cloud_bridge.db import make_engine, upgrade
from cloud_bridge.db.tokens import ApiToken
from cloud_bridge.token_cli import ROLE_NAMES, add_token_commands

AUTH_ERROR = ("Authorization", "Bearer <the bridge's API token>")


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[SecuredApi]:
    async with secured_api(f"sqlite:///{tmp_path / 'bridge.db'}") as api:
        yield api


def error_of(body: dict[str, dict[str, str]]) -> tuple[str, str]:
    return body["error"]["field"], body["error"]["rule"]


# --- the role table ------------------------------------------------------------------------------


def test_every_route_of_the_app_has_exactly_one_entry_in_the_role_table(api: SecuredApi) -> None:
    assert set(api.routes()) == set(ROUTE_PERMISSIONS)


def test_every_read_endpoint_is_open_to_a_viewer_except_the_audit_trail(api: SecuredApi) -> None:
    for method, path in api.routes():
        if method == "GET" and path != "/audit":
            assert ROUTE_PERMISSIONS[method, path] is Permission.READ, path
    assert Permission.READ in ROLE_PERMISSIONS[Role.VIEWER]
    assert roles_with(ROUTE_PERMISSIONS["GET", "/audit"]) == (Role.CREDIT_CONTROLLER, Role.ADMIN)


def test_credit_lines_the_credit_settings_and_account_links_need_their_roles() -> None:
    assert roles_with(ROUTE_PERMISSIONS["PUT", "/debtors/{debtor_no}/credit-line"]) == (
        Role.CREDIT_CONTROLLER,
        Role.ADMIN,
    )
    assert roles_with(ROUTE_PERMISSIONS["PUT", "/settings/credit"]) == (
        Role.CREDIT_CONTROLLER,
        Role.ADMIN,
    )
    for key in [
        ("POST", "/accounts/{account_id}/links"),
        ("DELETE", "/accounts/{account_id}/links/{linked_id}"),
        ("PUT", "/accounts/{account_id}/flags"),
    ]:
        assert roles_with(ROUTE_PERMISSIONS[key]) == (Role.ADMIN,), key
    assert roles_with(ROUTE_PERMISSIONS["PATCH", "/orders/{order_no}/lines/{line_id}"]) == (
        Role.OPERATOR,
        Role.ADMIN,
    )


def test_an_admin_may_do_everything() -> None:
    assert ROLE_PERMISSIONS[Role.ADMIN] == frozenset(Permission)


# --- every route, every way of being refused -------------------------------------------------


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "the Authorization header is missing; expected a bearer token"),
        ("Bearer plk_not-a-token-at-all", "the bearer token is not valid"),
        ("Basic dXNlcjpwYXNz", "not of the form 'Bearer <token>'"),
    ],
)
async def test_every_route_without_a_valid_token_is_401_and_changes_nothing(
    api: SecuredApi, header: str | None, message: str
) -> None:
    headers = {} if header is None else {"Authorization": header}
    async with api.client() as stranger:
        for method, path in api.routes():
            response = await stranger.request(method, filled(path), json={}, headers=headers)

            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert error_of(response.json()) == AUTH_ERROR
            assert message in response.json()["error"]["message"]


async def test_every_route_refuses_a_revoked_token_with_401(api: SecuredApi) -> None:
    revoke_token(api.sessions, token_name(Role.ADMIN))

    async with api.client(Role.ADMIN) as revoked:
        for method, path in api.routes():
            response = await revoked.request(method, filled(path), json={})

            assert response.status_code == 401, (method, path, response.text)
            assert "revoked" in response.json()["error"]["message"]


@pytest.mark.parametrize("role", list(Role))
async def test_every_route_refuses_a_role_without_its_permission_with_403_naming_the_roles(
    api: SecuredApi, role: Role
) -> None:
    async with api.client(role) as client:
        for method, path in api.routes():
            needed = ROUTE_PERMISSIONS[method, path]
            response = await client.request(method, filled(path), json={})

            if needed in ROLE_PERMISSIONS[role]:
                assert response.status_code not in {401, 403}, (method, path, response.text)
                continue
            assert response.status_code == 403, (method, path, response.text)
            names = " or ".join(allowed.value for allowed in roles_with(needed))
            assert error_of(response.json()) == ("Authorization", f"a token with the role {names}")
            message = response.json()["error"]["message"]
            assert f"{method} {path} needs the role {names}" in message
            assert f"has the role {role.value}" in message


async def test_a_refused_role_changes_nothing(api: SecuredApi) -> None:
    async with api.client(Role.ADMIN) as admin:
        await add_world(admin)
    async with api.client(Role.OPERATOR) as operator:
        refused = await operator.put("/debtors/D1/credit-line", json={"credit_line": "5"})
    async with api.client(Role.VIEWER) as viewer:
        debtor = await call(viewer, "GET", "/debtors/D1", expect=200)

    assert refused.status_code == 403
    assert debtor["credit_line"] is None


async def test_a_malformed_body_is_401_without_a_token_403_with_a_wrong_role_and_422_otherwise(
    api: SecuredApi,
) -> None:
    json_type = {"content-type": "application/json"}
    broken = b'{"check_credit_line": '

    async with api.client() as stranger:
        anonymous = await stranger.put("/settings/credit", content=broken, headers=json_type)
    async with api.client(Role.OPERATOR) as operator:
        wrong_role = await operator.put("/settings/credit", content=broken, headers=json_type)
        wrong_role_bad_fields = await operator.put("/settings/credit", json={"nope": 1})
    async with api.client(Role.CREDIT_CONTROLLER) as controller:
        allowed = await controller.put("/settings/credit", content=broken, headers=json_type)

    assert anonymous.status_code == 401
    assert wrong_role.status_code == 403
    assert wrong_role_bad_fields.status_code == 403
    assert allowed.status_code == 422
    assert error_of(allowed.json()) == ("body", "valid JSON")


async def test_a_revoked_token_is_refused_from_its_next_request(api: SecuredApi) -> None:
    async with api.client(Role.VIEWER) as viewer:
        before = await viewer.get("/orders")
        revoke_token(api.sessions, token_name(Role.VIEWER))
        after = await viewer.get("/orders")

    assert before.status_code == 200
    assert after.status_code == 401


async def test_each_role_can_do_its_own_work(api: SecuredApi) -> None:
    async with api.client(Role.ADMIN) as admin:
        await add_world(admin)
    async with api.client(Role.OPERATOR) as operator:
        await call(operator, "PATCH", "/orders/SO-1/lines/1", {"quantity": 3}, expect=200)
        await call(operator, "POST", "/orders/SO-1/cancel", {"reason": "customer"}, expect=200)
    async with api.client(Role.CREDIT_CONTROLLER) as controller:
        await call(controller, "PUT", "/debtors/D1/credit-line", {"credit_line": "9"}, expect=200)
        await call(controller, "GET", "/audit", expect=200)
    async with api.client(Role.VIEWER) as viewer:
        order = await call(viewer, "GET", "/orders/SO-1", expect=200)

    assert order["state"] == "cancelled"


async def test_the_openapi_document_names_the_roles_of_each_route_and_documents_403(
    api: SecuredApi,
) -> None:
    async with api.client(Role.VIEWER) as viewer:
        document = (await viewer.get("/openapi.json")).json()

    operation = document["paths"]["/settings/credit"]["put"]
    assert operation["description"].endswith("**Roles:** `credit_controller`, `admin`.")
    assert operation["description"].count("**Roles:**") == 1
    assert "403" in operation["responses"]


# --- storage -----------------------------------------------------------------------------------


def test_a_token_is_stored_only_as_its_hash_with_a_short_prefix(api: SecuredApi) -> None:
    token = api.tokens[Role.OPERATOR]
    with api.engine.connect() as connection:
        dump = "\n".join(str(row) for row in connection.execute(text("SELECT * FROM api_tokens")))
    with api.sessions() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.name == "operator-token")).one()

    assert token not in dump
    assert token[12:] not in dump
    assert token.startswith(row.prefix)
    assert len(row.prefix) == 12
    assert len(row.token_sha256) == 64


def test_tokens_are_long_random_and_different(api: SecuredApi) -> None:
    tokens = list(api.tokens.values())

    assert len(set(tokens)) == len(tokens)
    assert all(token.startswith("plk_") and len(token) >= 40 for token in tokens)


def test_a_token_name_is_never_reused_even_after_revocation(api: SecuredApi) -> None:
    revoke_token(api.sessions, token_name(Role.VIEWER))

    with pytest.raises(TokenError, match="exists already"):
        create_token(api.sessions, token_name(Role.VIEWER), Role.VIEWER)


def test_an_unknown_role_or_a_bad_name_is_refused_naming_what_is_allowed(api: SecuredApi) -> None:
    with pytest.raises(TokenError, match="expected one of viewer, operator"):
        create_token(api.sessions, "someone", "superuser")
    with pytest.raises(TokenError, match="is not valid; expected 1-64 letters"):
        create_token(api.sessions, "two words", Role.VIEWER)


def test_revoking_twice_or_an_unknown_name_is_an_error(api: SecuredApi) -> None:
    revoke_token(api.sessions, token_name(Role.VIEWER))

    with pytest.raises(TokenError, match="revoked already"):
        revoke_token(api.sessions, token_name(Role.VIEWER))
    with pytest.raises(TokenError, match="no token is named 'nobody'"):
        revoke_token(api.sessions, "nobody")


# --- the command ---------------------------------------------------------------------------------


def bridge_toml(folder: Path) -> Path:
    config = folder / "bridge.toml"
    config.write_text(
        "[bridge]\n"
        'database_url = "sqlite:///bridge.db"\n'
        "[broker]\n"
        'url = "mqtt://127.0.0.1:1883"\n'
        "[http]\n"
        "[routing]\n"
        'stations = ["w1.st01"]\n'
        '[stations."w1.st01"]\n'
        'slots = { MUG = "A1" }\n',
        encoding="utf-8",
    )
    return config


def packline_bridge_token(*argv: str) -> tuple[int, str, str]:
    """Run `packline bridge token ...` in this process: (status, stdout, stderr)."""
    parser = argparse.ArgumentParser(prog="packline bridge")
    add_token_commands(parser.add_subparsers(dest="action", required=True))
    args = parser.parse_args(["token", *argv])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = args.handler(args)
    return status, out.getvalue(), err.getvalue()


async def test_token_create_prints_only_the_token_which_then_works(tmp_path: Path) -> None:
    config = bridge_toml(tmp_path)

    status, out, err = packline_bridge_token(
        "create", "--config", str(config), "--name", "ops-1", "--role", "operator"
    )

    assert status == 0
    token = out.strip()
    assert out == f"{token}\n"
    assert token not in err
    async with (
        secured_api(f"sqlite:///{tmp_path / 'bridge.db'}") as api,
        api.client(token=token) as client,
    ):
        assert (await client.get("/orders")).status_code == 200
        assert (await client.put("/settings/credit", json={})).status_code == 403


async def test_token_revoke_refuses_the_token_and_list_shows_it_revoked_without_secrets(
    tmp_path: Path,
) -> None:
    config = bridge_toml(tmp_path)
    _, out, _ = packline_bridge_token(
        "create", "--config", str(config), "--name", "dash", "--role", "viewer"
    )
    token = out.strip()

    revoked = packline_bridge_token("revoke", "--config", str(config), "--name", "dash")
    listed = packline_bridge_token("list", "--config", str(config))

    assert revoked[0] == 0
    assert listed[0] == 0
    (row,) = [line for line in listed[1].splitlines() if line.startswith("dash ")]
    assert "viewer" in row
    assert token[:12] in row
    assert row.rstrip().split()[-1] != "-"
    assert token not in listed[1]
    async with (
        secured_api(f"sqlite:///{tmp_path / 'bridge.db'}") as api,
        api.client(token=token) as client,
    ):
        assert (await client.get("/orders")).status_code == 401


def test_token_commands_fail_with_status_2_and_a_message_on_stderr(tmp_path: Path) -> None:
    config = bridge_toml(tmp_path)

    status, out, err = packline_bridge_token(
        "create", "--config", str(config), "--name", "x", "--role", "root"
    )

    assert status == 2
    assert out == ""
    assert "role 'root' is not a role" in err


def test_the_command_help_lists_exactly_the_roles_there_are() -> None:
    assert tuple(role.value for role in Role) == ROLE_NAMES


def test_tokens_can_be_made_on_an_engine_as_on_sessions(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.db'}")
    upgrade(engine)
    create_token(engine, "engine-made", Role.VIEWER)

    assert [token.name for token in list_tokens(engine)] == ["engine-made"]
    engine.dispose()


def test_a_database_with_only_revoked_tokens_has_no_active_token(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.db'}")
    upgrade(engine)
    assert not has_active_tokens(engine)
    create_token(engine, "only", Role.ADMIN)
    assert has_active_tokens(engine)
    revoke_token(engine, "only")
    assert not has_active_tokens(engine)
    engine.dispose()
