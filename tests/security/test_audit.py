"""The audit trail: a row for each audited change, in the change's own transaction, readable
through `GET /audit`, and never editable, refused by the database itself on SQLite and
PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from api_world import SecuredApi, add_world, call, secured_api, token_name
from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError

from cloud_bridge.api.roles import ROUTE_PERMISSIONS, Role
from cloud_bridge.audit import record_audit
from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.audit import AuditEntry
from cloud_bridge.ingest.apply import apply_event
from edge.contract import LabelReprinted, LabelVoided

ADMIN = token_name(Role.ADMIN)
CONTROLLER = token_name(Role.CREDIT_CONTROLLER)
OPERATOR = token_name(Role.OPERATOR)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[SecuredApi]:
    async with secured_api(f"sqlite:///{tmp_path / 'bridge.db'}") as api:
        async with api.client(Role.ADMIN) as admin:
            await add_world(admin)
        yield api


def entries(api: SecuredApi, action: str) -> list[AuditEntry]:
    with api.sessions() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        )


def only(api: SecuredApi, action: str) -> AuditEntry:
    (entry,) = entries(api, action)
    return entry


# --- what is recorded ----------------------------------------------------------------------------


async def test_changing_the_credit_settings_records_before_and_after_with_the_actor(
    api: SecuredApi,
) -> None:
    settings = {
        "check_credit_line": False,
        "risk_control": ["open_invoices"],
        "retry_in_minutes": 5,
    }
    async with api.client(Role.CREDIT_CONTROLLER) as controller:
        await call(controller, "PUT", "/settings/credit", settings, expect=200)

    entry = only(api, "settings.credit.set")
    assert (entry.actor, entry.role, entry.subject) == (
        CONTROLLER,
        "credit_controller",
        "settings:credit",
    )
    assert entry.before is not None
    assert entry.before["check_credit_line"] is True
    assert entry.after == settings


async def test_a_debtors_credit_line_outstanding_and_payments_are_recorded(
    api: SecuredApi,
) -> None:
    async with api.client(Role.CREDIT_CONTROLLER) as controller:
        await call(controller, "PUT", "/debtors/D1/credit-line", {"credit_line": "250"}, expect=200)
        outstanding = {"open_invoices": "10", "shipped_not_invoiced": "2.5"}
        await call(controller, "PUT", "/debtors/D1/outstanding", outstanding, expect=200)
        payment = {"amount": "20", "order_no": "SO-1"}
        await call(controller, "POST", "/debtors/D1/payments", payment, expect=201)

    created = only(api, "debtor.create")
    line = only(api, "debtor.credit_line.set")
    owed = only(api, "debtor.outstanding.set")
    paid = only(api, "debtor.payment.record")
    assert (created.actor, created.subject) == (ADMIN, "debtor:D1")
    assert created.after == {
        "name": "Debtor One",
        "credit_line": None,
        "open_invoices": "0.0000",
        "shipped_not_invoiced": "0.0000",
    }
    assert (line.actor, line.before, line.after) == (
        CONTROLLER,
        {"credit_line": None},
        {"credit_line": "250.0000"},
    )
    assert owed.after is not None
    assert owed.after["open_invoices"] == "10.0000"
    assert owed.after["shipped_not_invoiced"] == "2.5000"
    assert paid.before == {"order_amount_paid": "0.0000"}
    assert paid.after is not None
    assert paid.after["order_amount_paid"] == "20.0000"
    assert paid.after["order_no"] == "SO-1"


async def test_account_flags_and_links_are_recorded(api: SecuredApi) -> None:
    flags = {"order_from_linked": True, "pick_from_linked_if_unavailable": True}
    async with api.client(Role.ADMIN) as admin:
        await call(admin, "PUT", "/accounts/A/flags", flags, expect=200)
        await call(admin, "POST", "/accounts/A/links", {"linked_account_ids": ["B"]}, expect=200)
        await call(admin, "DELETE", "/accounts/A/links/B?confirm=true", expect=200)

    flagged = only(api, "account.flags.set")
    linked = only(api, "account.links.add")
    unlinked = only(api, "account.links.remove")
    assert [entry.subject for entry in entries(api, "account.create")] == [
        "account:A",
        "account:B",
    ]
    assert flagged.before == {"order_from_linked": False, "pick_from_linked_if_unavailable": False}
    assert flagged.after == flags
    assert (linked.before, linked.after) == ({"links": []}, {"links": ["B"]})
    assert (unlinked.before, unlinked.after) == ({"links": ["B"]}, {"links": []})
    assert {flagged.actor, linked.actor, unlinked.actor} == {ADMIN}


async def test_an_order_quantity_change_and_a_cancellation_are_recorded(api: SecuredApi) -> None:
    async with api.client(Role.OPERATOR) as operator:
        await call(operator, "PATCH", "/orders/SO-1/lines/1", {"quantity": 5}, expect=200)
        await call(operator, "POST", "/orders/SO-1/cancel", {"reason": "duplicate"}, expect=200)

    quantity = only(api, "order.line.quantity.set")
    cancelled = only(api, "order.cancel")
    assert (quantity.actor, quantity.role, quantity.subject) == (OPERATOR, "operator", "order:SO-1")
    assert (quantity.before, quantity.after) == (
        {"line_id": "1", "quantity": 2},
        {"line_id": "1", "quantity": 5},
    )
    assert cancelled.before == {"state": "new"}
    assert cancelled.after == {"state": "cancelled", "reason": "duplicate"}


async def test_a_refused_change_leaves_no_audit_row(api: SecuredApi) -> None:
    async with api.client(Role.ADMIN) as admin:
        await call(admin, "POST", "/accounts/A/links", {"linked_account_ids": ["A"]}, expect=409)
        await call(admin, "DELETE", "/accounts/A/links/B", expect=404)
    async with api.client(Role.OPERATOR) as operator:
        await call(operator, "PATCH", "/orders/SO-1/lines/1", {"quantity": 5}, expect=200)
        await call(operator, "POST", "/orders/SO-1/cancel", {"reason": "x"}, expect=200)
        await call(operator, "POST", "/orders/SO-1/cancel", {"reason": "again"}, expect=409)

    assert entries(api, "account.links.add") == []
    assert len(entries(api, "order.cancel")) == 1


def label_event(kind: type[LabelReprinted | LabelVoided], seq: int) -> LabelReprinted | LabelVoided:
    return kind(
        event_id=uuid.uuid4(),
        seq=seq,
        at=datetime(2026, 11, 23, 9, 30, tzinfo=UTC),
        order_id="SO-1",
        label_id="LBL-1",
        reason="smudged",
    )


async def test_reprints_and_voids_from_a_station_are_recorded_with_the_station_as_actor(
    api: SecuredApi,
) -> None:
    now = datetime(2026, 11, 23, 9, 31, tzinfo=UTC)
    with api.sessions.begin() as session:
        apply_event(session, "w1.st01", label_event(LabelReprinted, 7), now)
        apply_event(session, "w1.st01", label_event(LabelVoided, 8), now)

    reprint = only(api, "label.reprint")
    void = only(api, "label.void")
    assert (reprint.actor, reprint.role, reprint.subject) == (
        "station:w1.st01",
        "station",
        "order:SO-1",
    )
    assert reprint.after is not None
    assert reprint.after["label_id"] == "LBL-1"
    assert reprint.after["reason"] == "smudged"
    assert reprint.after["seq"] == 7
    assert reprint.after["station_at"] == "2026-11-23T09:30:00+00:00"
    assert (void.actor, void.after["seq"] if void.after else None) == ("station:w1.st01", 8)


async def test_an_audit_row_rolls_back_with_the_change_it_records(api: SecuredApi) -> None:
    def failing_change() -> None:
        with api.sessions.begin() as session:
            record_audit(session, actor="someone", action="test.change", subject="thing:1")
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError, match="the change failed"):
        failing_change()

    assert entries(api, "test.change") == []


# --- reading it through the API --------------------------------------------------------------


async def audit(client: httpx.AsyncClient, query: str = "") -> Any:
    return await call(client, "GET", f"/audit{query}", expect=200)


async def test_a_viewer_and_an_operator_may_not_read_the_audit_trail(api: SecuredApi) -> None:
    for role in (Role.VIEWER, Role.OPERATOR):
        async with api.client(role) as client:
            response = await client.get("/audit")

        assert response.status_code == 403
        assert "needs the role credit_controller or admin" in response.json()["error"]["message"]


async def test_the_audit_trail_filters_and_pages_on_the_server_newest_first(
    api: SecuredApi,
) -> None:
    async with api.client(Role.CREDIT_CONTROLLER) as controller:
        for limit in ("1", "2", "3"):
            await call(
                controller, "PUT", "/debtors/D1/credit-line", {"credit_line": limit}, expect=200
            )
        everything = await audit(controller)
        by_controller = await audit(controller, f"?actor={CONTROLLER}")
        first_page = await audit(controller, "?subject=debtor:D1&limit=2")
        second_page = await audit(controller, "?subject=debtor:D1&limit=2&offset=2")
        after_cursor = await audit(
            controller, f"?subject=debtor:D1&before_id={first_page['items'][-1]['id']}"
        )
        debtor_actions = await audit(controller, "?action=debtor")
        future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        none_yet = await audit(controller, "?" + httpx.QueryParams({"since": future}).__str__())
        naive = await controller.get("/audit", params={"since": "2026-11-23T09:00:00"})

    ids = [item["id"] for item in everything["items"]]
    assert ids == sorted(ids, reverse=True)
    assert by_controller["total"] == 3
    assert {item["actor"] for item in by_controller["items"]} == {CONTROLLER}
    assert first_page["total"] == 4  # the debtor's creation and three credit lines
    assert [item["after"]["credit_line"] for item in first_page["items"]] == [
        "3.0000",
        "2.0000",
    ]
    assert [item["action"] for item in second_page["items"]] == [
        "debtor.credit_line.set",
        "debtor.create",
    ]
    assert after_cursor["items"] == second_page["items"]
    assert {item["action"] for item in debtor_actions["items"]} == {
        "debtor.create",
        "debtor.credit_line.set",
    }
    assert none_yet == {"items": [], "total": 0, "limit": 50, "offset": 0}
    assert naive.status_code == 422


def test_no_route_can_change_the_audit_trail() -> None:
    audit_routes = [key for key in ROUTE_PERMISSIONS if key[1].startswith("/audit")]

    assert audit_routes == [("GET", "/audit")]


# --- never editable, by the database itself ------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database with one audit row: a SQLite file or a private PostgreSQL schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bridge.db'}"
    else:
        url = request.getfixturevalue("postgres_schema_url")
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine).begin() as session:
        record_audit(
            session,
            actor="admin-token",
            role="admin",
            action="debtor.credit_line.set",
            subject="debtor:D1",
            before={"credit_line": None},
            after={"credit_line": "100.0000"},
        )
    yield engine
    engine.dispose()


def rows(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(sa.text("SELECT actor, subject FROM audit_log"))
        ]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'someone-else'",
        "UPDATE audit_log SET after = NULL WHERE subject = 'debtor:D1'",
        "DELETE FROM audit_log",
        "DELETE FROM audit_log WHERE subject = 'debtor:D1'",
    ],
)
def test_the_database_refuses_to_update_or_delete_an_audit_row(
    engine: Engine, statement: str
) -> None:
    before = rows(engine)

    with pytest.raises(DBAPIError, match="audit_log is append-only"), engine.begin() as connection:
        connection.execute(sa.text(statement))

    assert rows(engine) == before == [("admin-token", "debtor:D1")]


def test_the_orm_cannot_change_or_delete_an_audit_row_either(engine: Engine) -> None:
    sessions = session_factory(engine)

    with pytest.raises(DBAPIError, match="append-only"), sessions.begin() as session:
        session.scalars(select(AuditEntry)).one().actor = "someone-else"
    with pytest.raises(DBAPIError, match="append-only"), sessions.begin() as session:
        session.delete(session.scalars(select(AuditEntry)).one())

    assert rows(engine) == [("admin-token", "debtor:D1")]


def test_postgresql_refuses_to_truncate_the_audit_log(postgres_schema_url: str) -> None:
    engine = make_engine(postgres_schema_url)
    upgrade(engine)
    try:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(sa.text("TRUNCATE audit_log"))
    finally:
        engine.dispose()


def test_rows_can_still_be_added(engine: Engine) -> None:
    with session_factory(engine).begin() as session:
        record_audit(session, actor="station:w1.st01", action="label.void", subject="order:SO-1")

    assert len(rows(engine)) == 2
    with session_factory(engine)() as session:
        added = session.scalars(select(AuditEntry).where(AuditEntry.action == "label.void")).one()
    assert added.role == "station"
