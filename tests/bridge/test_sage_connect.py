"""`packline sage connect` against the Sage sandbox over real HTTP, with httpx as the browser.

The sandbox's consent screen stands in for the person clicking Allow: it sends the browser back
to the redirect address with a code and the state, where `connect` is listening.
"""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from cloud_bridge.posting.connect import (
    CallbackRejected,
    CallbackTimeout,
    ConsentRefused,
    authorization_url,
    connect,
)
from cloud_bridge.posting.settings import SageEnvironmentSettings, SageSettings
from cloud_bridge.sage import TokenStore
from edge.errors import ConfigError
from firmware_sim.ports import free_port
from firmware_sim.sage import SageSandboxServer
from firmware_sim.sage.app import CONSENT_PATH

Browse = Callable[[httpx.AsyncClient, str], Awaitable[None]]


@pytest.fixture
async def server() -> AsyncIterator[SageSandboxServer]:
    async with SageSandboxServer() as server:
        yield server


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "client-secret"
    path.write_text("sandbox-secret\n")
    path.chmod(0o600)
    return path


def settings_for(
    server: SageSandboxServer, secret_file: Path, tmp_path: Path, **overrides: Any
) -> SageSettings:
    fields: dict[str, Any] = {
        "client_id": "packline",
        "client_secret_file": secret_file,
        "base_url": server.api_url,
        "token_url": f"{server.url}/oauth/token",
        "authorize_url": f"{server.url}{CONSENT_PATH}?filter=apiv3.1",
        "redirect_uri": f"http://127.0.0.1:{free_port()}/callback",
        "requests_per_minute": 0,
        "test": SageEnvironmentSettings(
            business_id=server.sandbox.business_id("test"),
            token_file=tmp_path / "sage" / "test-tokens.json",
        ),
        **overrides,
    }
    return SageSettings(**fields)


@pytest.fixture
def settings(server: SageSandboxServer, secret_file: Path, tmp_path: Path) -> SageSettings:
    return settings_for(server, secret_file, tmp_path)


def token_file(settings: SageSettings) -> Path:
    assert settings.test is not None
    return settings.test.token_file


async def run_connect(
    settings: SageSettings, browse: Browse, said: list[str], *, timeout_s: float = 10
) -> list[tuple[str, str]]:
    """Run `connect`, and once it prints the consent address, play the browser on it."""
    printed: asyncio.Queue[str] = asyncio.Queue()

    def out(line: str) -> None:
        said.append(line)
        if line.startswith("Open this address"):
            printed.put_nowait(line.split("\n  ", 1)[1])

    task = asyncio.create_task(
        connect(settings, environment="test", open_browser=False, out=out, timeout_s=timeout_s)
    )
    getting = asyncio.create_task(printed.get())
    await asyncio.wait({task, getting}, return_when=asyncio.FIRST_COMPLETED)
    if getting.done():
        async with httpx.AsyncClient(timeout=5) as browser:
            await browse(browser, getting.result())
    else:
        getting.cancel()
    return await task


async def allow(browser: httpx.AsyncClient, address: str) -> None:
    """Follow the consent address: Sage redirects, and the browser lands on the callback."""
    landed = await browser.get(address, follow_redirects=True)
    assert landed.status_code == 200, landed.text
    assert "return to the terminal" in landed.text


def query_of(address: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(httpx.URL(address).query.decode()).items()}


async def test_connecting_saves_the_tokens_0600_and_lists_the_businesses(
    settings: SageSettings, server: SageSandboxServer
) -> None:
    said: list[str] = []

    businesses = await run_connect(settings, allow, said)

    sandbox = server.sandbox
    assert businesses == [
        (sandbox.business_id("test"), "test"),
        (sandbox.business_id("live"), "live"),
    ]
    path = token_file(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sandbox.tokens.access_valid(TokenStore(path, environment="test").load().access_token)
    marked = [line for line in said if "<- [sage.test] business_id" in line]
    assert marked == [f"  {sandbox.business_id('test')}  test   <- [sage.test] business_id"]
    assert not any("WARNING" in line for line in said)


async def test_the_consent_address_carries_what_sage_documents(settings: SageSettings) -> None:
    query = query_of(authorization_url(settings, "s-1"))

    assert query == {
        "filter": "apiv3.1",
        "client_id": "packline",
        "response_type": "code",
        "redirect_uri": settings.redirect_uri,
        "scope": "full_access",
        "state": "s-1",
    }


async def test_a_configured_business_the_login_cannot_reach_is_warned_about_loudly(
    server: SageSandboxServer, secret_file: Path, tmp_path: Path
) -> None:
    settings = settings_for(
        server,
        secret_file,
        tmp_path,
        test=SageEnvironmentSettings(
            business_id="not-a-business", token_file=tmp_path / "tokens.json"
        ),
    )
    said: list[str] = []

    businesses = await run_connect(settings, allow, said)

    assert len(businesses) == 2
    warnings = [line for line in said if line.startswith("WARNING")]
    assert len(warnings) == 1
    assert "business_id = 'not-a-business' is not one of these businesses" in warnings[0]


async def test_other_requests_to_the_listener_do_not_end_the_wait(settings: SageSettings) -> None:
    async def browse(browser: httpx.AsyncClient, address: str) -> None:
        callback = httpx.URL(settings.redirect_uri)
        stray = await browser.get(str(callback.copy_with(path="/favicon.ico")))
        assert stray.status_code == 404
        await allow(browser, address)

    await run_connect(settings, browse, [])

    assert token_file(settings).exists()


async def test_a_callback_with_another_state_is_refused_and_its_code_is_not_exchanged(
    settings: SageSettings, server: SageSandboxServer
) -> None:
    codes: list[str] = []

    async def forged(browser: httpx.AsyncClient, address: str) -> None:
        other = httpx.URL(address).copy_set_param("state", "someone-elses-state")
        sent_back = await browser.get(str(other))
        location = httpx.URL(sent_back.headers["location"])
        codes.append(query_of(str(location))["code"])
        landed = await browser.get(str(location))
        assert landed.status_code == 400

    with pytest.raises(CallbackRejected, match="state does not match"):
        await run_connect(settings, forged, [])

    assert not token_file(settings).exists()
    async with httpx.AsyncClient(base_url=server.url) as http:
        unused = await http.post(
            "/oauth/token", data={"grant_type": "authorization_code", "code": codes[0]}
        )
    assert unused.status_code == 200


async def test_a_person_who_denies_access_gets_a_clear_error_and_nothing_is_saved(
    settings: SageSettings,
) -> None:
    async def deny(browser: httpx.AsyncClient, address: str) -> None:
        state = query_of(address)["state"]
        denied = httpx.URL(settings.redirect_uri).copy_merge_params(
            {
                "error": "access_denied",
                "error_description": "The user denied access",
                "state": state,
            }
        )
        landed = await browser.get(str(denied))
        assert landed.status_code == 400
        assert "access_denied" in landed.text

    with pytest.raises(ConsentRefused, match="access_denied: The user denied access"):
        await run_connect(settings, deny, [])

    assert not token_file(settings).exists()


async def test_no_answer_in_time_is_a_timeout(settings: SageSettings) -> None:
    async def walk_away(_browser: httpx.AsyncClient, _address: str) -> None:
        return None

    with pytest.raises(CallbackTimeout, match=r"no answer from Sage within 0\.2 s"):
        await run_connect(settings, walk_away, [], timeout_s=0.2)


async def test_a_redirect_uri_that_cannot_be_listened_on_is_a_config_error(
    server: SageSandboxServer, secret_file: Path, tmp_path: Path
) -> None:
    settings = settings_for(
        server, secret_file, tmp_path, redirect_uri="https://bridge.example/sage/callback"
    )

    with pytest.raises(ConfigError, match=r"sage\.redirect_uri"):
        await connect(settings, environment="test", open_browser=False, out=print)


async def test_connecting_an_environment_that_is_not_configured_is_a_config_error(
    settings: SageSettings,
) -> None:
    with pytest.raises(ConfigError, match=r"\[sage\.live\]"):
        await connect(settings, environment="live", open_browser=False, out=print)
