"""Reading Sage into the bridge: first and incremental syncs, paging, and automatic mapping.

The sandbox's clock is a `ManualClock`, so which records carry which `updated_at` is exact. The
bridge is a migrated SQLite database with debtors and products built from the models.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from bridge_world import add_account, add_debtor, add_products, add_stock, order
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.db import make_engine, session_factory, upgrade
from cloud_bridge.db.models import Debtor, Product, SageItemKind, SageRecord, SageSyncMark
from cloud_bridge.posting.sync import (
    SYNCED_RESOURCES,
    ledger_account_id,
    sync_from_sage,
    tax_rate_exists,
)
from cloud_bridge.sage import OAuthTokens, SageClient, TokenStore
from firmware_sim.sage import ManualClock, SageSandbox, create_sandbox

API = "http://sage.test/v3.1"
TOKEN_URL = "http://sage.test/oauth/token"


@dataclass
class ListRequests:
    """Wraps the sandbox app and keeps the query of every list request, by resource."""

    app: Any
    queries: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and scope["method"] == "GET" and path.startswith("/v3.1/"):
            query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
            self.queries.setdefault(path.removeprefix("/v3.1/"), []).append(query)
        await self.app(scope, receive, send)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sandbox(clock: ManualClock) -> SageSandbox:
    return SageSandbox(clock=clock)


@pytest.fixture
def requests(sandbox: SageSandbox) -> ListRequests:
    return ListRequests(create_sandbox(sandbox))


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.db'}")
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
async def sage(
    tmp_path: Path, sandbox: SageSandbox, clock: ManualClock, requests: ListRequests
) -> AsyncIterator[SageClient]:
    pair = sandbox.login()
    store = TokenStore(tmp_path / "sage-tokens.json", environment="test")
    store.save(
        OAuthTokens(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            access_expires_at=clock() + timedelta(seconds=pair.expires_in),
            refresh_expires_at=clock() + timedelta(seconds=pair.refresh_token_expires_in),
        )
    )
    client = SageClient(
        base_url=API,
        business_id=sandbox.business_id("test"),
        client_id="packline",
        client_secret="secret",
        tokens=store,
        transport=httpx.ASGITransport(app=requests),
        rng=random.Random(7),
        token_url=TOKEN_URL,
        clock=clock,
    )
    async with client:
        yield client


def add_service(sandbox: SageSandbox, item_code: str, description: str) -> dict[str, Any]:
    """A Sage service; the sandbox serves /services but has no seeding helper for one."""
    return sandbox.add_record(
        sandbox.business_id("test"),
        "services",
        {"displayed_as": description, "item_code": item_code, "description": description},
    )


def stored(sessions: sessionmaker[Session], resource: str) -> dict[str | None, str]:
    with sessions() as session:
        rows = session.scalars(select(SageRecord).where(SageRecord.resource == resource))
        return {row.code: row.sage_id for row in rows}


def bridge_world(sessions: sessionmaker[Session]) -> None:
    """Products MUG, TEA, PEN; account A; debtor D1 with an order; D2 with none; MUG in stock."""
    with sessions.begin() as session:
        add_products(session)
        add_account(session, "A")
        add_debtor(session, "D1")
        add_debtor(session, "D2")
        session.flush()
        add_stock(session, "A", "MUG", 10)
        order(session, "SO1", "A", [("MUG", 1)], debtor="D1")


def debtor(sessions: sessionmaker[Session], debtor_no: str) -> Debtor:
    with sessions() as session:
        found = session.get(Debtor, debtor_no)
        assert found is not None
        return found


def product(sessions: sessionmaker[Session], sku: str) -> Product:
    with sessions() as session:
        found = session.get(Product, sku)
        assert found is not None
        return found


# Reading


async def test_the_first_sync_reads_every_resource_and_keeps_each_record_by_its_code(
    sessions: sessionmaker[Session], sage: SageClient, sandbox: SageSandbox
) -> None:
    contact = sandbox.add_contact("test", "Harbour Cafe Ltd", reference="D1")
    mug = sandbox.add_product("test", "MUG", "Mug", quantity_in_stock=Decimal(40))
    pen = sandbox.add_product("test", "PEN", "Pen")
    wrap = add_service(sandbox, "WRAP", "Gift wrapping")

    report = await sync_from_sage(sessions, sage)

    assert [entry.resource for entry in report.resources] == list(SYNCED_RESOURCES)
    assert {entry.resource: entry.read for entry in report.resources} == {
        "contacts": 1,
        "ledger_accounts": 3,
        "tax_rates": 4,
        "products": 2,
        "services": 1,
        "stock_items": 1,
    }
    assert stored(sessions, "contacts") == {"D1": contact["id"]}
    assert stored(sessions, "products") == {"MUG": mug["id"], "PEN": pen["id"]}
    assert stored(sessions, "services") == {"WRAP": wrap["id"]}
    assert stored(sessions, "stock_items") == {"MUG": mug["id"]}
    assert set(stored(sessions, "ledger_accounts")) == {"4000", "4010", "1100"}
    assert set(stored(sessions, "tax_rates")) == {
        "GB_STANDARD",
        "GB_ZERO",
        "GB_EXEMPT",
        "GB_NO_TAX",
    }


async def test_the_stored_record_keeps_what_sage_sent_and_its_parsed_updated_at(
    sessions: sessionmaker[Session], sage: SageClient, sandbox: SageSandbox, clock: ManualClock
) -> None:
    clock.advance(timedelta(minutes=3))
    mug = sandbox.add_product("test", "MUG", "Mug", quantity_in_stock=Decimal(40))

    await sync_from_sage(sessions, sage)

    with sessions() as session:
        row = session.get(SageRecord, (sage.business_id, "stock_items", mug["id"]))
        assert row is not None
        assert row.updated_at == clock()
        assert row.displayed_as == "Mug"
        assert Decimal(json.loads(row.data)["quantity_in_stock"]) == 40


async def test_the_next_sync_asks_only_for_records_changed_since_the_newest_it_saw(
    sessions: sessionmaker[Session],
    sage: SageClient,
    sandbox: SageSandbox,
    clock: ManualClock,
    requests: ListRequests,
) -> None:
    for number in range(1, 6):
        clock.advance(timedelta(seconds=1))
        sandbox.add_contact("test", f"Customer {number}", reference=f"D{number}")
    newest_seen = clock()
    await sync_from_sage(sessions, sage)
    clock.advance(timedelta(minutes=5))
    edited = sandbox.add_contact("test", "Customer 6", reference="D6")

    report = await sync_from_sage(sessions, sage)

    contacts = report.resource("contacts")
    assert requests.queries["contacts"][-1]["updated_or_created_since"] == newest_seen.isoformat()
    # The record stamped at the mark itself is read again (the mark is inclusive), unchanged.
    assert (contacts.read, contacts.changed) == (2, 1)
    assert contacts.synced_since == edited["updated_at"]
    assert len(stored(sessions, "contacts")) == 6


async def test_a_record_edited_in_sage_is_updated_by_the_next_sync(
    sessions: sessionmaker[Session], sage: SageClient, sandbox: SageSandbox, clock: ManualClock
) -> None:
    contact = sandbox.add_contact("test", "Harbour Cafe Ltd", reference="OLD")
    await sync_from_sage(sessions, sage)
    clock.advance(timedelta(minutes=1))
    contact["reference"] = "D1"
    contact["updated_at"] = clock()

    report = await sync_from_sage(sessions, sage)

    assert report.resource("contacts").changed == 1
    assert stored(sessions, "contacts") == {"D1": contact["id"]}


async def test_a_sync_with_nothing_new_in_sage_changes_nothing(
    sessions: sessionmaker[Session], sage: SageClient, sandbox: SageSandbox
) -> None:
    sandbox.add_contact("test", "Harbour Cafe Ltd", reference="D1")
    await sync_from_sage(sessions, sage)

    report = await sync_from_sage(sessions, sage)

    assert all(entry.changed == 0 for entry in report.resources)


async def test_the_mark_is_sages_newest_updated_at_not_the_bridges_clock(
    sessions: sessionmaker[Session], sage: SageClient, sandbox: SageSandbox, clock: ManualClock
) -> None:
    sandbox.add_contact("test", "First", reference="D1")
    bridge_clock_ahead = clock() + timedelta(hours=2)
    await sync_from_sage(sessions, sage, now=bridge_clock_ahead)
    clock.advance(timedelta(minutes=10))
    late = sandbox.add_contact("test", "Added in Sage before the bridge's idea of now", "D2")

    await sync_from_sage(sessions, sage, now=bridge_clock_ahead + timedelta(minutes=1))

    assert stored(sessions, "contacts")["D2"] == late["id"]
    with sessions() as session:
        mark = session.get(SageSyncMark, (sage.business_id, "contacts"))
        assert mark is not None
        assert mark.synced_since == late["updated_at"]
        assert mark.synced_at == bridge_clock_ahead + timedelta(minutes=1)


async def test_a_sync_follows_sages_pages_past_200_contacts(
    sessions: sessionmaker[Session],
    sage: SageClient,
    sandbox: SageSandbox,
    requests: ListRequests,
) -> None:
    for number in range(450):
        sandbox.add_contact("test", f"Customer {number}", reference=f"C{number:03}")

    report = await sync_from_sage(sessions, sage)

    assert report.resource("contacts").read == 450
    assert len(requests.queries["contacts"]) == 3
    with sessions() as session:
        count = session.scalar(
            select(func.count()).select_from(SageRecord).where(SageRecord.resource == "contacts")
        )
    assert count == 450


# Mapping


async def test_a_debtor_is_mapped_to_the_one_contact_whose_reference_is_its_number(
    sessions: sessionmaker[Session], sage: SageClient, sandbox: SageSandbox
) -> None:
    bridge_world(sessions)
    contact = sandbox.add_contact("test", "Harbour Cafe Ltd", reference="D1")

    report = await sync_from_sage(sessions, sage)

    assert debtor(sessions, "D1").sage_contact_id == contact["id"]
    assert [(m.subject, m.key, m.sage_id) for m in report.mapped] == [
        ("debtor", "D1", contact["id"])
    ]
    assert f"  debtor D1 -> contact {contact['id']}" in report.lines()


async def test_products_map_to_a_stock_item_a_non_stock_product_or_a_service_by_item_code(
    sessions: sessionmaker[Session], sage: SageClient, sandbox: SageSandbox
) -> None:
    bridge_world(sessions)
    mug = sandbox.add_product("test", "MUG", "Mug", quantity_in_stock=Decimal(10))
    pen = sandbox.add_product("test", "PEN", "Pen")
    tea = add_service(sandbox, "TEA", "Tea tasting")

    await sync_from_sage(sessions, sage)

    chosen = {
        sku: (product(sessions, sku).sage_item_id, product(sessions, sku).sage_item_kind)
        for sku in ("MUG", "PEN", "TEA")
    }
    assert chosen == {
        "MUG": (mug["id"], SageItemKind.STOCK),
        "PEN": (pen["id"], SageItemKind.NON_STOCK),
        "TEA": (tea["id"], SageItemKind.SERVICE),
    }


async def test_a_product_with_the_sku_as_item_code_wins_over_a_service_with_it(
    sessions: sessionmaker[Session], sage: SageClient, sandbox: SageSandbox
) -> None:
    bridge_world(sessions)
    pen = sandbox.add_product("test", "PEN", "Pen")
    add_service(sandbox, "PEN", "Pen engraving")

    await sync_from_sage(sessions, sage)

    assert product(sessions, "PEN").sage_item_id == pen["id"]


async def test_two_contacts_with_the_debtors_reference_are_not_guessed_between(
    sessions: sessionmaker[Session], sage: SageClient, sandbox: SageSandbox
) -> None:
    bridge_world(sessions)
    first = sandbox.add_contact("test", "Harbour Cafe Ltd", reference="D1")
    second = sandbox.add_contact("test", "Harbour Cafe (old)", reference="D1")

    report = await sync_from_sage(sessions, sage)

    assert debtor(sessions, "D1").sage_contact_id is None
    unmapped = {(u.subject, u.key): u.reason for u in report.unmapped}
    assert unmapped[("debtor", "D1")] == (
        f"2 Sage contacts have reference D1 ({', '.join(sorted([first['id'], second['id']]))}); "
        "choose one"
    )


async def test_two_products_with_the_sku_as_item_code_are_not_guessed_between(
    sessions: sessionmaker[Session], sage: SageClient, sandbox: SageSandbox
) -> None:
    bridge_world(sessions)
    sandbox.add_product("test", "MUG", "Mug", quantity_in_stock=Decimal(10))
    sandbox.add_product("test", "MUG", "Mug (discontinued)")
    add_service(sandbox, "MUG", "Mug printing")

    report = await sync_from_sage(sessions, sage)

    assert product(sessions, "MUG").sage_item_id is None
    reasons = {(u.subject, u.key): u.reason for u in report.unmapped}
    assert reasons[("product", "MUG")].startswith("2 Sage products have item code MUG")


async def test_a_mapping_set_by_hand_is_never_overwritten(
    sessions: sessionmaker[Session], sage: SageClient, sandbox: SageSandbox
) -> None:
    bridge_world(sessions)
    chosen_contact = sandbox.add_contact("test", "Harbour Cafe Group", reference="HCG")
    sandbox.add_contact("test", "Harbour Cafe Ltd", reference="D1")
    chosen_item = add_service(sandbox, "MUG-PRINT", "Printed mug")
    sandbox.add_product("test", "MUG", "Mug", quantity_in_stock=Decimal(10))
    with sessions.begin() as session:
        manual_debtor = session.get(Debtor, "D1")
        manual_product = session.get(Product, "MUG")
        assert manual_debtor is not None
        assert manual_product is not None
        manual_debtor.sage_contact_id = chosen_contact["id"]
        manual_product.sage_item_id = chosen_item["id"]
        manual_product.sage_item_kind = SageItemKind.SERVICE

    report = await sync_from_sage(sessions, sage)

    assert debtor(sessions, "D1").sage_contact_id == chosen_contact["id"]
    assert product(sessions, "MUG").sage_item_id == chosen_item["id"]
    assert product(sessions, "MUG").sage_item_kind is SageItemKind.SERVICE
    assert not report.mapped
    assert not report.unmapped


async def test_only_debtors_with_orders_and_products_with_shipments_or_stock_are_listed_unmapped(
    sessions: sessionmaker[Session], sage: SageClient
) -> None:
    bridge_world(sessions)

    report = await sync_from_sage(sessions, sage)

    assert [(u.subject, u.key, u.reason) for u in report.unmapped] == [
        ("debtor", "D1", "no Sage contact has reference D1"),
        ("product", "MUG", "no Sage product or service has item code MUG"),
    ]
    lines = report.lines()
    assert "Still to map by hand:" in lines
    assert "  debtor D1: no Sage contact has reference D1" in lines


async def test_a_mapping_to_a_record_this_business_does_not_have_is_reported(
    sessions: sessionmaker[Session], sage: SageClient, sandbox: SageSandbox
) -> None:
    bridge_world(sessions)
    elsewhere = sandbox.add_contact("live", "Harbour Cafe Ltd", reference="D1")
    with sessions.begin() as session:
        found = session.get(Debtor, "D1")
        assert found is not None
        found.sage_contact_id = elsewhere["id"]

    report = await sync_from_sage(sessions, sage)

    reasons = {(u.subject, u.key): u.reason for u in report.unmapped}
    assert reasons[("debtor", "D1")] == (
        f"mapped to contact {elsewhere['id']}, which is not among this business's synced contacts"
    )


# Look-ups for the poster


async def test_a_ledger_account_is_found_by_nominal_code_or_by_its_sage_id(
    sessions: sessionmaker[Session], sage: SageClient, sandbox: SageSandbox
) -> None:
    await sync_from_sage(sessions, sage)
    sales = sandbox.ledger_account_id("test", 4000)
    other_business = sandbox.ledger_account_id("live", 4000)

    with sessions() as session:
        business = sage.business_id
        assert ledger_account_id(session, business, "4000") == sales
        assert ledger_account_id(session, business, sales) == sales
        assert ledger_account_id(session, business, "9999") is None
        assert ledger_account_id(session, business, other_business) is None


async def test_a_tax_rate_exists_only_if_it_was_synced_for_the_business(
    sessions: sessionmaker[Session], sage: SageClient
) -> None:
    await sync_from_sage(sessions, sage)

    with sessions() as session:
        assert tax_rate_exists(session, sage.business_id, "GB_STANDARD")
        assert not tax_rate_exists(session, sage.business_id, "GB_LUXURY")
        assert not tax_rate_exists(session, "another-business", "GB_STANDARD")
