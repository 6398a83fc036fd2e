"""`packline sage connect`: a person grants the bridge access to Sage, once per environment.

Sage Accounting only offers OAuth's authorisation-code flow, so a person has to sign in and
click Allow in a browser. This builds Sage's consent address, waits on the app's registered
`redirect_uri` for the one callback, and trades the code for tokens straight away (a code works
once, for 60 seconds). The token file is written 0600 by the token store. The `state` sent out
must come back unchanged, otherwise the callback answers someone else's request and is refused
before any exchange. Finally the businesses the login reaches are listed, so the person can see
that `business_id` in the config names one of them: a wrong id is the usual cause of every
later request being refused.

Connecting and disconnecting are changes to the Sage connection, so each is written to the audit
trail (who, which environment, which business, which token file; never a token).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import logging
import secrets
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.audit import record_audit
from cloud_bridge.posting.connection import open_client
from cloud_bridge.posting.environment import AUDIT_SUBJECT, in_flight
from cloud_bridge.posting.settings import SageEnvironmentSettings, SageSettings
from cloud_bridge.sage.errors import SageError
from edge.errors import ConfigError

__all__ = [
    "CallbackRejected",
    "CallbackTimeout",
    "ConsentRefused",
    "SageConnectError",
    "authorization_url",
    "connect",
    "disconnect",
]

log = logging.getLogger("packline.bridge.sage")

SCOPE = "full_access"
_HEAD_LIMIT = 16 * 1024
_READ_TIMEOUT_S = 10.0


class SageConnectError(SageError):
    """Connecting to Sage did not complete; no tokens were saved."""


class ConsentRefused(SageConnectError, PermissionError):
    """Sage sent the person back with an error instead of a code (for example, Deny)."""


class CallbackRejected(SageConnectError, ValueError):
    """The callback cannot be trusted or used: a different `state`, or no code."""


class CallbackTimeout(SageConnectError, TimeoutError):
    """No callback arrived in time."""


def authorization_url(settings: SageSettings, state: str) -> str:
    """Sage's consent address for this app, keeping any query `authorize_url` already has."""
    url = httpx.URL(settings.authorize_url).copy_merge_params(
        {
            "client_id": settings.client_id,
            "response_type": "code",
            "redirect_uri": settings.redirect_uri,
            "scope": SCOPE,
            "state": state,
        }
    )
    return str(url)


async def connect(
    settings: SageSettings,
    *,
    environment: Literal["test", "live"],
    open_browser: bool,
    out: Callable[[str], None],
    transport: httpx.AsyncBaseTransport | None = None,
    timeout_s: float = 300,
    sessions: sessionmaker[Session] | None = None,
    actor: str = "",
) -> list[tuple[str, str]]:
    """Run the consent flow for `environment`; the (id, name) of every business it reaches.

    `out` shows the person what to do and what happened. `transport` carries the token
    exchange and the business list (the callback listener always uses a real socket). With
    `sessions`, the connection is recorded in the audit trail as done by `actor`.
    """
    chosen = settings.test if environment == "test" else settings.live
    if chosen is None:
        raise ConfigError(
            f"sage.{environment}: not configured; add [sage.{environment}] with its "
            "business_id and token_file before connecting it"
        )
    host, port, path = _listen_address(settings.redirect_uri)
    # Built first: an unreadable client secret fails now, not after the person clicked Allow.
    sage = open_client(settings, environment=environment, transport=transport)
    state = secrets.token_urlsafe(32)
    address = authorization_url(settings, state)
    async with _CallbackListener(host, port, path, state) as listener:
        out(f"Open this address in a browser, sign in to Sage and allow access:\n  {address}")
        if open_browser and not await asyncio.to_thread(webbrowser.open, address):
            out("No browser could be opened here; open the address above by hand.")
        out(f"Waiting up to {timeout_s:g} s for Sage's answer at {settings.redirect_uri} ...")
        code = await listener.code(timeout_s)
    async with sage:
        await sage.exchange_code(code, settings.redirect_uri)
        out(f"Connected: tokens saved to {chosen.token_file} (mode 0600).")
        businesses = [
            (str(record.get("id", "")), str(record.get("name") or record.get("displayed_as", "")))
            for record in await sage.businesses()
        ]
    _report(businesses, chosen, environment, out)
    if sessions is not None:
        with sessions.begin() as session:
            record_audit(
                session,
                actor=actor or "console",
                action="sage.connect",
                subject=AUDIT_SUBJECT,
                after={
                    "environment": environment,
                    "business_id": chosen.business_id,
                    "token_file": str(chosen.token_file),
                    "business_reachable": chosen.business_id in {b for b, _ in businesses},
                },
            )
    return businesses


def disconnect(
    settings: SageSettings,
    sessions: sessionmaker[Session],
    *,
    environment: Literal["test", "live"],
    actor: str,
) -> int:
    """Forget `environment`'s tokens and record it; returns its postings still pending.

    The token file is removed, so nothing can be sent there until someone connects again;
    pending postings stay pending (and are sent after a reconnect). The audit row and the
    removal go together: the row is committed only once the file is gone.
    """
    chosen = settings.test if environment == "test" else settings.live
    if chosen is None:
        raise ConfigError(f"sage.{environment}: not configured; there is nothing to disconnect")
    with sessions.begin() as session:
        pending = len(in_flight(session, environment).postings)
        record_audit(
            session,
            actor=actor,
            action="sage.disconnect",
            subject=AUDIT_SUBJECT,
            before={
                "environment": environment,
                "business_id": chosen.business_id,
                "token_file": str(chosen.token_file),
                "connected": chosen.token_file.exists(),
            },
            after={"environment": environment, "connected": False, "pending": pending},
        )
        chosen.token_file.unlink(missing_ok=True)
    log.warning(
        "sage disconnect: environment=%s business_id=%s pending=%d by %s",
        environment,
        chosen.business_id,
        pending,
        actor,
    )
    return pending


def _listen_address(redirect_uri: str) -> tuple[str, int, str]:
    """Host, port and path to listen on, from the redirect address Sage sends the browser to."""
    parts = urlsplit(redirect_uri)
    if parts.scheme != "http" or not parts.hostname:
        raise ConfigError(
            f"sage.redirect_uri: {redirect_uri!r} cannot be listened on here; expected "
            "http://<this machine's address>:<port>/<path>, such as "
            "http://127.0.0.1:8765/callback, registered with the Sage app"
        )
    return parts.hostname, parts.port or 80, parts.path or "/"


def _report(
    businesses: list[tuple[str, str]],
    chosen: SageEnvironmentSettings,
    environment: str,
    out: Callable[[str], None],
) -> None:
    out("Sage businesses this login can reach:")
    for business_id, name in businesses:
        marker = (
            f"   <- [sage.{environment}] business_id" if business_id == chosen.business_id else ""
        )
        out(f"  {business_id}  {name}{marker}")
    if chosen.business_id not in {business_id for business_id, _ in businesses}:
        warning = (
            f"WARNING: [sage.{environment}] business_id = {chosen.business_id!r} is not one of "
            "these businesses; Sage will refuse every request for it. Set business_id to one "
            "of the ids above."
        )
        log.warning(
            "sage connect: environment=%s business_id=%s is not among the %d reachable",
            environment,
            chosen.business_id,
            len(businesses),
        )
        out(warning)


# --- the callback listener --------------------------------------------------------------------


@dataclass(frozen=True)
class _Page:
    status: str
    title: str
    text: str

    def encode(self) -> bytes:
        body = (
            f"<!doctype html><title>{html.escape(self.title)}</title>"
            f"<h1>{html.escape(self.title)}</h1><p>{html.escape(self.text)}</p>"
        ).encode()
        head = (
            f"HTTP/1.1 {self.status}\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        return head + body


_NOT_HERE = _Page("404 Not Found", "Not found", "This address is only for Sage's callback.")
_ALREADY = _Page(
    "409 Conflict", "Already answered", "Sage's answer was already received; close this tab."
)


def _outcome(query: dict[str, list[str]], state: str) -> str:
    """The authorisation code, or the error that says why there is none to use."""
    first = {name: values[0] for name, values in query.items() if values}
    if "error" in first:
        detail = first.get("error_description", "")
        raise ConsentRefused(
            f"Sage did not grant access ({first['error']}{': ' + detail if detail else ''}); "
            "run connect again and choose Allow"
        )
    if not hmac.compare_digest(first.get("state", "").encode(), state.encode()):
        raise CallbackRejected(
            "the callback's state does not match the one this connect sent; it answers another "
            "request, so its code was not used. Run connect again and use the address it prints"
        )
    code = first.get("code", "")
    if not code:
        raise CallbackRejected("the callback carries no code; expected ?code=...&state=...")
    return code


class _CallbackListener:
    """A one-shot HTTP listener: the first request to `path` decides the outcome."""

    def __init__(self, host: str, port: int, path: str, state: str) -> None:
        self._host = host
        self._port = port
        self._path = path
        self._state = state
        self._result: asyncio.Future[str] | None = None
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> _CallbackListener:
        self._result = asyncio.get_running_loop().create_future()
        try:
            self._server = await asyncio.start_server(
                self._serve, self._host, self._port, limit=_HEAD_LIMIT
            )
        except OSError as error:
            raise SageConnectError(
                f"cannot listen on {self._host}:{self._port} for Sage's callback ({error}); "
                "free the port or change sage.redirect_uri (and the Sage app's registration)"
            ) from error
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._result is not None and not self._result.done():
            self._result.cancel()

    async def code(self, timeout_s: float) -> str:
        """The code of the callback, once one arrives; its error if it is refused."""
        assert self._result is not None
        try:
            async with asyncio.timeout(timeout_s):
                return await self._result
        except TimeoutError:
            raise CallbackTimeout(
                f"no answer from Sage within {timeout_s:g} s; run connect again and finish "
                "signing in within that time"
            ) from None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_READ_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
            writer.write(self._answer(head).encode())
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _answer(self, head: bytes) -> _Page:
        method, _, rest = head.decode("latin-1").partition(" ")
        target = rest.partition(" ")[0]
        parts = urlsplit(target)
        if method != "GET" or parts.path != self._path:
            return _NOT_HERE
        assert self._result is not None
        if self._result.done():
            return _ALREADY
        try:
            code = _outcome(parse_qs(parts.query), self._state)
        except SageConnectError as refusal:
            self._result.set_exception(refusal)
            return _Page("400 Bad Request", "Not connected", str(refusal))
        self._result.set_result(code)
        return _Page(
            "200 OK",
            "Sage answered",
            "Packline received Sage's answer. Close this tab and return to the terminal.",
        )
