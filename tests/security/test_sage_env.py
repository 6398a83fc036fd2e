"""Test and live Sage are kept apart: tokens, postings, retries, corrections, reconciliation.

Against the Sage sandbox over real HTTP and a real database (SQLite, and PostgreSQL where the
rule is a query), with both businesses reachable by one login, as Sage allows, so only the
bridge's own rules keep a test thing out of live.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sage_env_world import EnvWorld, new_env_world

from cloud_bridge.db.models import PostingState, Shipment
from cloud_bridge.db.posting import SageConnection, SageEnvironment
from cloud_bridge.posting.connect import connect, disconnect
from cloud_bridge.posting.connection import open_client
from cloud_bridge.posting.corrections import CorrectionConflict, correct_shipment
from cloud_bridge.posting.environment import EnvironmentSwitchRefused, select_environment
from cloud_bridge.posting.reconcile import reconcile
from cloud_bridge.posting.report import error_report, retry_postings
from cloud_bridge.posting.settings import SageSettings
from cloud_bridge.sage.errors import SageEnvironmentMismatch, TokenFileInvalid
from cloud_bridge.sage.tokens import TokenStore
from edge.errors import ConfigError
from firmware_sim.ports import free_port
from firmware_sim.sage import ManualClock, SageSandbox, SageSandboxServer
from firmware_sim.sage.app import CONSENT_PATH
from firmware_sim.sage.login import save_sandbox_login

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bridge.db'}"
    url: str = request.getfixturevalue("postgres_schema_url")
    return url


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[EnvWorld]:
    sandbox = SageSandbox(clock=ManualClock(START))
    async with SageSandboxServer(sandbox) as server:
        built = new_env_world(tmp_path, database_url, sandbox, server)
        yield built
        built.engine.dispose()


@pytest.fixture
async def sqlite_world(tmp_path: Path) -> AsyncIterator[EnvWorld]:
    sandbox = SageSandbox(clock=ManualClock(START))
    async with SageSandboxServer(sandbox) as server:
        built = new_env_world(tmp_path, f"sqlite:///{tmp_path / 'bridge.db'}", sandbox, server)
        yield built
        built.engine.dispose()


def switch_to_live(world: EnvWorld, *, dismiss: bool = False) -> bool:
    with world.sessions.begin() as session:
        return select_environment(
            session,
            environment="live",
            business_id=world.sandbox.business_id("live"),
            actor="console:ops",
            now=START,
            dismiss_in_flight=dismiss,
        )


# Tokens


def test_tokens_obtained_for_test_are_refused_by_the_live_store_naming_both(
    tmp_path: Path,
) -> None:
    sandbox = SageSandbox(clock=ManualClock(START))
    path = tmp_path / "tokens.json"
    save_sandbox_login(sandbox, path, "test")

    with pytest.raises(SageEnvironmentMismatch) as caught:
        TokenStore(path, environment="live").load()

    message = str(caught.value)
    assert "obtained for Sage test" in message
    assert "token file of Sage live" in message
    assert "packline sage connect --environment live" in message


def test_a_token_file_that_names_no_environment_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(
        '{"access_token": "a", "refresh_token": "r", '
        '"access_expires_at": "2026-11-23T09:00:00+00:00", '
        '"refresh_expires_at": "2026-12-23T09:00:00+00:00"}'
    )
    path.chmod(0o600)

    with pytest.raises(TokenFileInvalid, match='"environment": "test"'):
        TokenStore(path, environment="test").load()


def test_saved_tokens_carry_their_environment(tmp_path: Path) -> None:
    sandbox = SageSandbox(clock=ManualClock(START))
    path = tmp_path / "tokens.json"
    save_sandbox_login(sandbox, path, "live")

    assert '"environment": "live"' in path.read_text()
    assert TokenStore(path, environment="live").load().access_token


async def test_a_live_client_on_a_file_of_test_tokens_sends_nothing(
    sqlite_world: EnvWorld,
) -> None:
    world = sqlite_world
    (world.folder / "tokens-live.json").write_bytes(
        (world.folder / "tokens-test.json").read_bytes()
    )
    (world.folder / "tokens-live.json").chmod(0o600)

    with pytest.raises(SageEnvironmentMismatch, match="obtained for Sage test"):
        async with open_client(world.settings("live")) as client:
            await client.get("contacts", "any")
    assert world.sandbox.writes_to("live") == []


def test_test_and_live_may_not_share_a_token_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    with pytest.raises(ValueError, match="same token_file"):
        SageSettings.model_validate(
            {
                "client_id": "packline",
                "client_secret_file": secret,
                "test": {"business_id": "b-test", "token_file": tmp_path / "tokens.json"},
                "live": {"business_id": "b-live", "token_file": tmp_path / "tokens.json"},
            }
        )


# Choosing the environment and switching


async def test_the_first_pass_records_its_environment_and_audits_it(world: EnvWorld) -> None:
    world.ship()

    await world.post("test")

    with world.sessions() as session:
        connection = session.get_one(SageConnection, 1)
        assert connection.environment is SageEnvironment.TEST
    assert [entry["action"] for entry in world.audit()] == ["sage.environment.select"]
    assert world.audit()[0]["after"] == {
        "environment": "test",
        "business_id": world.sandbox.business_id("test"),
    }
    assert [p.environment for p in world.postings()] == [SageEnvironment.TEST]


async def test_a_switch_is_refused_while_test_postings_are_pending_naming_both(
    world: EnvWorld,
) -> None:
    await world.post("test")
    pending = world.posting_row(world.ship(), "test")

    with pytest.raises(EnvironmentSwitchRefused) as caught:
        await world.post("live")

    message = str(caught.value)
    assert "Sage live" in message
    assert "Sage test" in message
    assert f"1 pending posting(s) ({pending})" in message
    assert "--dismiss-in-flight" in message
    assert world.sandbox.writes_to("live") == []
    assert [entry["action"] for entry in world.audit()] == ["sage.environment.select"]
    [row] = world.postings()
    assert (row.environment, row.state) == (SageEnvironment.TEST, PostingState.PENDING)


async def test_a_switch_is_refused_while_a_correction_of_a_test_shipment_awaits_planning(
    world: EnvWorld,
) -> None:
    shipment = world.ship()
    await world.post("test")
    with world.sessions.begin() as session:
        session.get_one(Shipment, shipment).posting_due = True

    with pytest.raises(EnvironmentSwitchRefused, match=r"1 corrected shipment\(s\)"):
        await world.post("live")


async def test_going_live_after_test_drained_posts_only_new_shipments_to_live(
    world: EnvWorld,
) -> None:
    tested = world.ship()
    await world.post("test")
    live = world.ship(2)

    result = await world.post("live")

    assert len(result.sent.posted) == 1
    [document] = world.documents("sales_invoices", "live")
    assert document["reference"].endswith(f"/{live}")
    assert len(world.documents("sales_invoices", "test")) == 1
    by_shipment = {p.shipment_id: p.environment for p in world.postings()}
    assert by_shipment == {tested: SageEnvironment.TEST, live: SageEnvironment.LIVE}
    switch = world.audit()[-1]
    assert switch["action"] == "sage.environment.switch"
    assert switch["actor"] == "bridge"
    assert switch["before"]["environment"] == "test"
    assert switch["after"]["environment"] == "live"


async def test_dismissing_in_flight_postings_switches_and_keeps_them_as_test_history(
    world: EnvWorld,
) -> None:
    await world.post("test")
    pending = world.posting_row(world.ship(), "test")

    assert switch_to_live(world, dismiss=True)

    [row] = [p for p in world.postings() if p.id == pending]
    assert (row.environment, row.state) == (SageEnvironment.TEST, PostingState.DISMISSED)
    assert "dismissed by console:ops" in (row.last_error or "")
    switch = world.audit()[-1]
    assert switch["actor"] == "console:ops"
    assert switch["after"]["dismissed_postings"] == [pending]
    result = await world.post("live")
    assert result.sent.posted == []
    assert world.sandbox.writes_to("live") == []


async def test_a_business_that_took_test_postings_cannot_be_configured_as_live(
    world: EnvWorld,
) -> None:
    await world.post("test")
    world.posting_row(
        world.ship(), "test", state=PostingState.POSTED, business_id="shared-business"
    )

    with world.sessions.begin() as session, pytest.raises(EnvironmentSwitchRefused) as caught:
        select_environment(
            session,
            environment="live",
            business_id="shared-business",
            actor="console:ops",
            now=START,
        )
    assert "as Sage test" in str(caught.value)
    assert "configured as Sage live" in str(caught.value)


# Retries, corrections, reports and reconciliation stay in their environment


async def test_a_failed_test_posting_cannot_be_retried_in_live(world: EnvWorld) -> None:
    await world.post("test")
    failed = world.posting_row(world.ship(), "test", state=PostingState.FAILED)
    switch_to_live(world)

    with world.sessions.begin() as session, pytest.raises(SageEnvironmentMismatch) as caught:
        retry_postings(session, [failed], environment="live")

    assert "made in Sage test" in str(caught.value)
    assert "retried in Sage live" in str(caught.value)
    [row] = [p for p in world.postings() if p.id == failed]
    assert row.state is PostingState.FAILED


async def test_the_error_report_of_live_lists_no_test_posting(world: EnvWorld) -> None:
    world.posting_row(world.ship(), "test", state=PostingState.FAILED)
    live_failure = world.posting_row(world.ship(), "live", state=PostingState.FAILED)

    with world.sessions() as session:
        problems = error_report(session, environment="live")

    assert [(p.posting_id, p.environment) for p in problems] == [(live_failure, "live")]


async def test_a_shipment_posted_in_test_cannot_be_corrected_after_going_live(
    world: EnvWorld,
) -> None:
    shipment = world.ship(2)
    await world.post("test")
    switch_to_live(world)

    with world.sessions.begin() as session, pytest.raises(CorrectionConflict) as caught:
        correct_shipment(session, shipment, {"1": 1}, reason="one came back", now=START)

    message = str(caught.value)
    assert "posted in Sage test" in message
    assert "now posts to Sage live" in message


async def test_reconciling_live_refuses_test_postings_that_name_the_live_business(
    world: EnvWorld,
) -> None:
    world.posting_row(
        world.ship(),
        "test",
        state=PostingState.POSTED,
        business_id=world.sandbox.business_id("live"),
    )

    async with open_client(world.settings("live")) as client:
        with pytest.raises(SageEnvironmentMismatch) as caught:
            await reconcile(world.sessions, client)

    assert "reconciled as Sage live" in str(caught.value)
    assert "as Sage test" in str(caught.value)


async def test_a_pending_live_posting_is_never_sent_by_the_test_poster(world: EnvWorld) -> None:
    world.posting_row(world.ship(), "live")

    result = await world.post("test")

    assert result.sent.posted == []
    assert world.sandbox.writes_to("live") == []
    assert world.sandbox.writes_to("test") == []


# Connect and disconnect are audited


async def test_connecting_and_disconnecting_are_audited_without_any_token(
    sqlite_world: EnvWorld,
) -> None:
    world = sqlite_world
    settings = world.settings("live").model_copy(
        update={
            "authorize_url": f"{world.server.url}{CONSENT_PATH}?filter=apiv3.1",
            "redirect_uri": f"http://127.0.0.1:{free_port()}/callback",
        }
    )
    printed: asyncio.Queue[str] = asyncio.Queue()

    def out(line: str) -> None:
        if line.startswith("Open this address"):
            printed.put_nowait(line.split("\n  ", 1)[1])

    task = asyncio.create_task(
        connect(
            settings,
            environment="live",
            open_browser=False,
            out=out,
            timeout_s=10,
            sessions=world.sessions,
            actor="console:ops",
        )
    )
    address = await asyncio.wait_for(printed.get(), 10)
    async with httpx.AsyncClient(timeout=5) as browser:
        landed = await browser.get(address, follow_redirects=True)
        assert landed.status_code == 200
    await task
    token_file = world.folder / "tokens-live.json"
    tokens = token_file.read_text()

    pending = disconnect(settings, world.sessions, environment="live", actor="console:ops")

    assert pending == 0
    assert not token_file.exists()
    entries = world.audit()
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("sage.connect", "console:ops"),
        ("sage.disconnect", "console:ops"),
    ]
    assert entries[0]["after"]["environment"] == "live"
    assert entries[1]["before"]["connected"] is True
    assert entries[1]["after"]["connected"] is False
    secrets = json.loads(tokens)
    audit_text = repr(entries)
    assert secrets["access_token"] not in audit_text
    assert secrets["refresh_token"] not in audit_text


def test_disconnecting_an_environment_that_is_not_configured_is_refused(tmp_path: Path) -> None:
    settings = SageSettings.model_validate(
        {
            "client_id": "packline",
            "client_secret_file": tmp_path / "secret",
            "test": {"business_id": "b-test", "token_file": tmp_path / "tokens.json"},
        }
    )
    with pytest.raises(ConfigError, match=r"sage\.live"):
        disconnect(settings, None, environment="live", actor="console:ops")  # type: ignore[arg-type]
