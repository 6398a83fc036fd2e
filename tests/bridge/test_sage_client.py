"""The Sage client against the sandbox: tokens, business isolation, retries, errors, paging."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from cloud_bridge.sage import (
    OAuthTokens,
    SageClient,
    SageConflict,
    SageNotFound,
    SageReconnectRequired,
    SageUnavailable,
    SageValidationError,
    SageWriteOutcomeUnknown,
    TokenStore,
)
from firmware_sim.sage import FaultKind, ManualClock, SageSandbox, SageSandboxServer, create_sandbox

API = "http://sage.test/v3.1"
TOKEN_URL = "http://sage.test/oauth/token"
CUSTOMER = ["CUSTOMER"]


@dataclass
class Seen:
    """One request as it reached the sandbox, with the token file as it stood at that moment."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    file_access_token: str | None


@dataclass
class RecordingApp:
    """Wraps the sandbox app to see every request exactly as Sage would."""

    app: Any
    token_file: Path
    seen: list[Seen] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            file_token = None
            if self.token_file.exists():
                file_token = json.loads(self.token_file.read_text())["access_token"]
            self.seen.append(
                Seen(
                    scope["method"],
                    scope["path"],
                    scope["query_string"].decode(),
                    {k.decode().lower(): v.decode() for k, v in scope["headers"]},
                    file_token,
                )
            )
        await self.app(scope, receive, send)

    def api_requests(self) -> list[Seen]:
        return [s for s in self.seen if s.path.startswith("/v3.1")]

    def token_requests(self) -> list[Seen]:
        return [s for s in self.seen if s.path == "/oauth/token"]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sandbox(clock: ManualClock) -> SageSandbox:
    return SageSandbox(clock=clock)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    return tmp_path / "sage-tokens.json"


@pytest.fixture
def store(token_file: Path, sandbox: SageSandbox, clock: ManualClock) -> TokenStore:
    store = TokenStore(token_file, environment="test")
    store.save(tokens_from(sandbox, clock))
    return store


@pytest.fixture
def recorder(sandbox: SageSandbox, token_file: Path) -> RecordingApp:
    return RecordingApp(create_sandbox(sandbox), token_file)


@pytest.fixture
def waits() -> list[float]:
    return []


ClientFactory = Callable[..., SageClient]


@pytest.fixture
def make_client(
    sandbox: SageSandbox,
    store: TokenStore,
    recorder: RecordingApp,
    clock: ManualClock,
    waits: list[float],
) -> ClientFactory:
    async def record_wait(seconds: float) -> None:
        waits.append(seconds)

    def factory(business: str = "test", **overrides: Any) -> SageClient:
        options: dict[str, Any] = {
            "base_url": API,
            "business_id": sandbox.business_id(business),
            "client_id": "packline",
            "client_secret": "secret",
            "tokens": store,
            "transport": httpx.ASGITransport(app=recorder),
            "backoff_initial_s": 0.01,
            "rng": random.Random(7),
            "token_url": TOKEN_URL,
            "clock": clock,
            "sleep": record_wait,
        }
        return SageClient(**{**options, **overrides})

    return factory


@pytest.fixture
async def sage(make_client: ClientFactory) -> AsyncIterator[SageClient]:
    async with make_client() as client:
        yield client


def tokens_from(
    sandbox: SageSandbox, clock: ManualClock, *, believed_ttl: timedelta | None = None
) -> OAuthTokens:
    pair = sandbox.login()
    now = clock()
    return OAuthTokens(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        access_expires_at=now + (believed_ttl or timedelta(seconds=pair.expires_in)),
        refresh_expires_at=now + timedelta(seconds=pair.refresh_token_expires_in),
    )


def idempotency_id() -> str:
    return uuid4().hex


async def collect(records: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [record async for record in records]


# Tokens


async def test_an_access_token_about_to_expire_is_refreshed_before_use(
    sage: SageClient, clock: ManualClock, store: TokenStore, recorder: RecordingApp
) -> None:
    before = store.load()
    clock.advance(timedelta(minutes=4, seconds=45))
    await collect(sage.tax_rates())
    after = store.load()
    assert len(recorder.token_requests()) == 1
    assert after.refresh_token != before.refresh_token
    assert recorder.api_requests()[-1].headers["authorization"] == f"Bearer {after.access_token}"


async def test_a_401_refreshes_the_token_and_repeats_the_request(
    make_client: ClientFactory,
    sandbox: SageSandbox,
    clock: ManualClock,
    store: TokenStore,
    recorder: RecordingApp,
) -> None:
    store.save(tokens_from(sandbox, clock, believed_ttl=timedelta(hours=1)))
    clock.advance(timedelta(minutes=6))
    async with make_client() as sage:
        rates = await collect(sage.tax_rates())
    assert rates
    assert len(recorder.token_requests()) == 1
    assert [s.method for s in recorder.api_requests()] == ["GET", "GET"]


async def test_the_rotated_tokens_are_on_disk_before_the_new_access_token_is_sent(
    sage: SageClient, clock: ManualClock, recorder: RecordingApp
) -> None:
    for _ in range(3):
        clock.advance(timedelta(minutes=10))
        await collect(sage.tax_rates())
    assert len(recorder.token_requests()) == 3
    for request in recorder.api_requests():
        assert request.headers["authorization"] == f"Bearer {request.file_access_token}"


async def test_concurrent_requests_during_expiry_share_one_refresh(
    sage: SageClient, clock: ManualClock, recorder: RecordingApp
) -> None:
    clock.advance(timedelta(minutes=10))
    results = await asyncio.gather(*(collect(sage.ledger_accounts()) for _ in range(10)))
    assert all(len(accounts) == 3 for accounts in results)
    assert len(recorder.token_requests()) == 1


async def test_an_expired_refresh_token_asks_a_person_to_reconnect_and_is_not_retried(
    sage: SageClient, clock: ManualClock, recorder: RecordingApp
) -> None:
    clock.advance(timedelta(days=32))
    with pytest.raises(SageReconnectRequired, match="packline sage connect"):
        await collect(sage.contacts())
    assert len(recorder.token_requests()) == 1
    assert recorder.api_requests() == []


@pytest.fixture
def not_connected(store: TokenStore, token_file: Path) -> None:
    token_file.unlink()


@pytest.mark.usefixtures("not_connected")
async def test_an_authorisation_code_is_exchanged_and_saved(
    make_client: ClientFactory, sandbox: SageSandbox, token_file: Path
) -> None:
    code = sandbox.issue_code()
    async with make_client() as sage:
        tokens = await sage.exchange_code(code, "https://bridge.example/sage/callback")
        assert await collect(sage.tax_rates())
        with pytest.raises(SageReconnectRequired, match="packline sage connect"):
            await sage.exchange_code(code, "https://bridge.example/sage/callback")
    assert TokenStore(token_file, environment="test").load() == tokens


@pytest.mark.usefixtures("not_connected")
async def test_no_saved_tokens_asks_a_person_to_connect(make_client: ClientFactory) -> None:
    async with make_client() as sage:
        with pytest.raises(SageReconnectRequired, match="packline sage connect"):
            await sage.get("contacts", "0" * 32)


# The business


async def test_every_request_names_the_clients_business(
    sage: SageClient, sandbox: SageSandbox, recorder: RecordingApp, clock: ManualClock
) -> None:
    sandbox.add_contact("test", "Acme", "ACME")
    await collect(sage.contacts())
    clock.advance(timedelta(minutes=10))
    await sage.create("contacts", "contact", {"name": "Bolt", "contact_type_ids": CUSTOMER})
    await sage.find_by_reference("contacts", "ACME")
    requests = recorder.api_requests()
    assert len(requests) == 3
    assert {r.headers["x-business"] for r in requests} == {sandbox.business_id("test")}


async def test_listing_businesses_works_without_naming_one_so_a_wrong_id_can_be_found(
    make_client: ClientFactory, sandbox: SageSandbox, recorder: RecordingApp
) -> None:
    async with make_client(business_id="not-a-business-of-this-login") as sage:
        listed = await sage.businesses()

    assert {b["id"] for b in listed} == {sandbox.business_id("test"), sandbox.business_id("live")}
    [request] = recorder.api_requests()
    assert "x-business" not in request.headers


async def test_a_client_for_the_test_business_never_writes_to_live(
    sage: SageClient, sandbox: SageSandbox
) -> None:
    for n in range(3):
        await sage.create("contacts", "contact", {"name": f"C{n}", "contact_type_ids": CUSTOMER})
    assert sandbox.writes_to("live") == []
    assert len(sandbox.writes_to("test")) == 3


async def test_a_client_only_sees_its_own_business(
    make_client: ClientFactory, sandbox: SageSandbox
) -> None:
    sandbox.add_contact("live", "Live Customer", "LIVE-1")
    async with make_client("test") as test, make_client("live") as live:
        assert await test.find_by_reference("contacts", "LIVE-1") is None
        assert await live.find_by_reference("contacts", "LIVE-1") is not None


# Retries


async def test_a_429_storm_is_waited_out_honouring_retry_after(
    sage: SageClient, sandbox: SageSandbox, waits: list[float]
) -> None:
    sandbox.faults.queue(status=429, retry_after=2, times=3)
    assert await collect(sage.tax_rates())
    assert len(waits) == 3
    assert all(2 <= wait <= 2.01 for wait in waits)


async def test_a_throttled_post_without_idempotency_id_is_retried_because_nothing_was_done(
    sage: SageClient, sandbox: SageSandbox
) -> None:
    sandbox.faults.queue(status=429, retry_after=1, times=2, method="POST")
    created = await sage.create("contacts", "contact", {"name": "A", "contact_type_ids": CUSTOMER})
    assert [w.record_id for w in sandbox.writes_to("test")] == [created["id"]]


async def test_server_errors_on_reads_are_retried_with_growing_backoff(
    sage: SageClient, sandbox: SageSandbox, waits: list[float]
) -> None:
    contact = sandbox.add_contact("test", "Acme", "ACME")
    sandbox.faults.queue(status=503, times=2)
    sandbox.faults.queue(status=500)
    assert (await sage.get("contacts", contact["id"]))["reference"] == "ACME"
    assert len(waits) == 3
    assert all(0 <= wait <= 0.01 * 2**n for n, wait in enumerate(waits))


async def test_retries_exhausted_raise_sage_unavailable(
    make_client: ClientFactory, sandbox: SageSandbox, recorder: RecordingApp
) -> None:
    sandbox.faults.queue(status=503, times=10)
    async with make_client(max_attempts=3) as sage:
        with pytest.raises(SageUnavailable, match="3 attempts"):
            await collect(sage.contacts())
    assert len(recorder.api_requests()) == 3


async def test_a_post_without_idempotency_id_is_not_repeated_after_commit_then_fail(
    sage: SageClient, sandbox: SageSandbox, recorder: RecordingApp
) -> None:
    sandbox.faults.queue(kind=FaultKind.COMMIT_THEN_FAIL, method="POST")
    with pytest.raises(SageWriteOutcomeUnknown, match="not repeated"):
        await sage.create("contacts", "contact", {"name": "A", "contact_type_ids": CUSTOMER})
    assert len(sandbox.writes_to("test")) == 1
    assert len([r for r in recorder.api_requests() if r.method == "POST"]) == 1


async def test_a_post_with_idempotency_id_is_retried_and_returns_the_original(
    sage: SageClient, sandbox: SageSandbox
) -> None:
    sandbox.faults.queue(kind=FaultKind.COMMIT_THEN_FAIL, method="POST")
    body = {"name": "A", "contact_type_ids": CUSTOMER, "idempotency_id": idempotency_id()}
    created = await sage.create("contacts", "contact", body)
    writes = sandbox.writes_to("test")
    assert [(w.record_id, w.replayed) for w in writes] == [
        (created["id"], False),
        (created["id"], True),
    ]
    assert [c["name"] for c in await collect(sage.contacts())] == ["A"]


async def test_money_is_sent_as_decimal_strings(sage: SageClient) -> None:
    created = await sage.create(
        "contacts",
        "contact",
        {"name": "A", "contact_type_ids": CUSTOMER, "credit_limit": Decimal("1500.10")},
    )
    assert Decimal(created["credit_limit"]) == Decimal("1500.10")


# Errors


async def test_a_422_carries_every_message_and_source_from_sage(sage: SageClient) -> None:
    with pytest.raises(SageValidationError) as caught:
        await sage.create("contacts", "contact", {"notes": "no name"})
    error = caught.value
    assert error.status == 422
    assert set(error.sources) == {"name", "contact_type_ids"}
    assert len(error.messages) == 2
    for message in error.messages:
        assert repr(message) in str(error)


async def test_an_unknown_id_is_sage_not_found_quoting_sage(sage: SageClient) -> None:
    missing = "f" * 32
    with pytest.raises(SageNotFound, match=f"No contacts record with id {missing}"):
        await sage.get("contacts", missing)


# Reading


async def test_paging_over_450_contacts_returns_each_exactly_once(
    sage: SageClient, sandbox: SageSandbox, recorder: RecordingApp
) -> None:
    seeded = {sandbox.add_contact("test", f"C{n}", f"R{n}")["id"] for n in range(450)}
    listed = [contact["id"] for contact in await collect(sage.contacts())]
    assert len(listed) == 450
    assert set(listed) == seeded
    queries = [r.query for r in recorder.api_requests()]
    assert len(queries) == 3
    assert all("items_per_page=200" in q and "attributes=all" in q for q in queries)


async def test_listing_since_a_time_returns_only_later_changes(
    sage: SageClient, sandbox: SageSandbox, clock: ManualClock
) -> None:
    sandbox.add_contact("test", "Old", "OLD")
    clock.advance(timedelta(minutes=1))
    since = clock()
    sandbox.add_contact("test", "New", "NEW")
    changed = await collect(sage.list_all("contacts", updated_or_created_since=since))
    assert [c["reference"] for c in changed] == ["NEW"]


async def test_find_by_reference_matches_the_whole_reference_only(
    sage: SageClient, sandbox: SageSandbox
) -> None:
    sandbox.add_contact("test", "Acme", "SHIP-1")
    sandbox.add_contact("test", "Acme Ten", "SHIP-10")
    found = await sage.find_by_reference("contacts", "SHIP-1")
    assert found is not None
    assert found["name"] == "Acme"
    assert await sage.find_by_reference("contacts", "SHIP-2") is None


async def test_find_by_reference_reports_duplicates(sage: SageClient, sandbox: SageSandbox) -> None:
    sandbox.add_contact("test", "Acme", "SHIP-1")
    sandbox.add_contact("test", "Acme again", "SHIP-1")
    with pytest.raises(SageConflict, match="expected at most one"):
        await sage.find_by_reference("contacts", "SHIP-1")


async def test_thin_readers_list_each_resource(sage: SageClient, sandbox: SageSandbox) -> None:
    sandbox.add_product("test", "W1", "Widget", quantity_in_stock=Decimal("5"))
    sandbox.add_product("test", "S1", "Service")
    assert len(await collect(sage.products())) == 2
    assert [s["item_code"] for s in await collect(sage.stock_items())] == ["W1"]
    assert len(await collect(sage.tax_rates())) == 4


# Over real HTTP


async def test_over_http_a_timed_out_read_and_a_dropped_idempotent_write_are_retried(
    tmp_path: Path, sandbox: SageSandbox, clock: ManualClock
) -> None:
    store = TokenStore(tmp_path / "tokens.json", environment="test")
    store.save(tokens_from(sandbox, clock))
    async with SageSandboxServer(sandbox) as server:
        options: dict[str, Any] = {
            "base_url": server.api_url,
            "business_id": sandbox.business_id("test"),
            "client_id": "packline",
            "client_secret": "secret",
            "tokens": store,
            "timeout_s": 0.1,
            "backoff_initial_s": 0.01,
            "token_url": f"{server.url}/oauth/token",
            "clock": clock,
        }
        async with SageClient(**options) as sage:
            sandbox.faults.queue(kind=FaultKind.SLOW, delay=0.3, method="GET")
            assert len(await collect(sage.tax_rates())) == 4
            sandbox.faults.queue(kind=FaultKind.COMMIT_THEN_DROP, method="POST")
            body = {"name": "A", "contact_type_ids": CUSTOMER, "idempotency_id": idempotency_id()}
            created = await sage.create("contacts", "contact", body)
    assert [w.record_id for w in sandbox.writes_to("test")] == [created["id"]] * 2
