"""The bridge's HTTP client for Sage Accounting API v3.1, bound to one business.

Why it looks the way it does:

* The business is fixed when the client is made and sent as `X-Business` on every request, so
  a client built for the test business cannot post into the live one. Its environment (test or
  live) is its token store's, and the store refuses tokens stamped for the other one.
* Access tokens last minutes and refresh tokens rotate on every use, with the old one dead at
  once. Refreshes are serialised per client and each rotated pair is saved before the new access
  token is used; losing it would mean a person has to reconnect.
* Retries: 429 is always retried (Sage throttled it before doing anything), waiting out
  `Retry-After`. A 5xx or a timeout is retried only for requests that are safe to repeat: reads,
  and POSTs whose body carries an `idempotency_id` (Sage replays the original result for a
  repeat). A POST without one is never repeated after it may have reached Sage, because a reply
  lost after the commit would otherwise post it twice; it raises `SageWriteOutcomeUnknown`.
* Lists are followed by `$next` until it is null. Counting pages is wrong: past the last page
  Sage answers with the last page again.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from cloud_bridge.sage.backoff import Backoff, parse_retry_after
from cloud_bridge.sage.errors import (
    RECONNECT_HINT,
    SageAuthError,
    SageConflict,
    SageError,
    SageNotFound,
    SageProtocolError,
    SageReconnectRequired,
    SageRequestError,
    SageUnavailable,
    SageValidationError,
    SageWriteOutcomeUnknown,
    parse_error_items,
)
from cloud_bridge.sage.pace import Pacer
from cloud_bridge.sage.tokens import OAuthTokens, TokenStore
from cloud_bridge.sage.wire import decode_json, encode_json, maybe_json, tokens_from_answer

__all__ = ["DEFAULT_TOKEN_URL", "ITEMS_PER_PAGE", "REFRESH_MARGIN", "SageClient"]

DEFAULT_TOKEN_URL = "https://oauth.accounting.sage.com/token"
ITEMS_PER_PAGE = 200
REFRESH_MARGIN = timedelta(seconds=30)
"""Refresh this long before the access token expires, so it does not die in flight."""
_NAME = re.compile(r"^[a-z][a-z_]*$")
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_STATUS_ERRORS: dict[int, type[SageError]] = {
    401: SageAuthError,
    403: SageAuthError,
    404: SageNotFound,
    409: SageConflict,
    422: SageValidationError,
}

Record = dict[str, Any]
Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _checked_name(kind: str, value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{kind} must be a Sage resource name like 'sales_invoices', got {value!r}"
        )
    return value


class SageClient:
    """Sage Accounting v3.1 for one business; use `async with SageClient(...) as sage:`.

    `clock` and `sleep` are the seams for time: token expiry is judged by `clock`, and every
    backoff wait goes through `sleep`, so tests can cross expiries and retry storms instantly.
    `token_url` is Sage's OAuth token endpoint. `requests_per_minute` paces request starts for
    this business (0: no pacing; a 429 is honoured either way).
    """

    def __init__(
        self,
        *,
        base_url: str,
        business_id: str,
        client_id: str,
        client_secret: str,
        tokens: TokenStore,
        transport: httpx.AsyncBaseTransport | None = None,
        max_attempts: int = 5,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        timeout_s: float = 30.0,
        rng: random.Random | None = None,
        token_url: str = DEFAULT_TOKEN_URL,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        requests_per_minute: float = 0,
    ) -> None:
        if not business_id:
            raise ValueError("SageClient: business_id must name one Sage business, got ''")
        if max_attempts < 1:
            raise ValueError(f"SageClient: max_attempts must be at least 1, got {max_attempts}")
        self.business_id = business_id
        self.environment = tokens.environment
        """`test` or `live`: the environment of the tokens, and so of everything this sends."""
        self._base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._store = tokens
        self._transport = transport
        self._max_attempts = max_attempts
        self._backoff = Backoff(backoff_initial_s, backoff_max_s, rng or random.Random())
        self._timeout_s = timeout_s
        self._token_url = token_url
        self._clock = clock or _utc_now
        self._sleep = sleep or asyncio.sleep
        self._pacer = Pacer(requests_per_minute, sleep=self._sleep)
        self._tokens: OAuthTokens | None = None
        self._refresh_lock = asyncio.Lock()
        self._http: httpx.AsyncClient | None = None

    @property
    def where(self) -> str:
        """`Sage test business <id>`: how messages name what this client talks to."""
        return f"Sage {self.environment} business {self.business_id}"

    async def __aenter__(self) -> SageClient:
        if self._http is not None:
            raise RuntimeError("SageClient is already open; it is not re-entrant")
        self._http = httpx.AsyncClient(
            base_url=self._base_url, transport=self._transport, timeout=self._timeout_s
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    # OAuth

    async def exchange_code(self, code: str, redirect_uri: str) -> OAuthTokens:
        """Trade a consent-screen code for tokens and save them; a code works once, for 60 s."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        async with self._refresh_lock:
            tokens = await self._token_request(form, "exchange of the authorisation code")
            await asyncio.to_thread(self._store.save, tokens)
            self._tokens = tokens
        return tokens

    def _current_tokens(self) -> OAuthTokens:
        if self._tokens is None:
            self._tokens = self._store.load()
        return self._tokens

    def _is_fresh(self, tokens: OAuthTokens) -> bool:
        return self._clock() + REFRESH_MARGIN < tokens.access_expires_at

    async def _access_token(self) -> str:
        tokens = self._current_tokens()
        if self._is_fresh(tokens):
            return tokens.access_token
        return await self._refresh(tokens.access_token)

    async def _refresh(self, stale_access_token: str) -> str:
        """One refresh at a time; a caller that waited finds the new token and does nothing."""
        async with self._refresh_lock:
            tokens = self._current_tokens()
            if tokens.access_token != stale_access_token and self._is_fresh(tokens):
                return tokens.access_token
            form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
            renewed = await self._token_request(form, "refresh of the Sage access token")
            await asyncio.to_thread(self._store.save, renewed)
            self._tokens = renewed
            return renewed.access_token

    async def _token_request(self, form: dict[str, str], what: str) -> OAuthTokens:
        credentials = {"client_id": self._client_id, "client_secret": self._client_secret}
        response = await self._send(
            "POST", self._token_url, what, data={**form, **credentials}, authorised=False
        )
        body = decode_json(response, what) if response.content else {}
        error = body.get("error") if isinstance(body, dict) else None
        if error == "invalid_grant":
            raise SageReconnectRequired(
                f"Sage refused the {what} (invalid_grant: the token or code is expired, used "
                f"or revoked); {RECONNECT_HINT} --environment {self.environment}",
                status=response.status_code,
            )
        if response.status_code >= 400 or not isinstance(body, dict):
            raise SageAuthError(
                f"Sage's token endpoint refused the {what} ({error or 'no error code'}); "
                f"expected the client id and secret of this Sage app to be valid",
                status=response.status_code,
            )
        return tokens_from_answer(body, self._clock(), what)

    # Transport with retries

    async def _send(
        self,
        method: str,
        url: str,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        data: Mapping[str, str] | None = None,
        authorised: bool = True,
        replay_safe: bool = False,
        for_business: bool = True,
    ) -> httpx.Response:
        """Send with retries as the module docstring sets out; a refused 401 refreshes once."""
        if self._http is None:
            raise RuntimeError("SageClient is not open; use `async with SageClient(...)`")
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            headers = {"Accept": "application/json"}
            access = ""
            if authorised:
                access = await self._access_token()
                headers["Authorization"] = f"Bearer {access}"
                if for_business:
                    headers["X-Business"] = self.business_id
            if content is not None:
                headers["Content-Type"] = "application/json"
            await self._pacer.wait_turn()
            try:
                response = await self._http.request(
                    method, url, params=params, content=content, data=data, headers=headers
                )
            except httpx.TransportError as error:
                if not replay_safe and not isinstance(error, _NEVER_SENT):
                    raise self._outcome_unknown(what, repr(error)) from error
                if attempt >= self._max_attempts:
                    raise self._exhausted(what, repr(error)) from error
                await self._sleep(self._backoff.delay(attempt))
                continue
            status = response.status_code
            if status == 401 and authorised and not refreshed:
                refreshed = True
                attempt -= 1
                await self._refresh(access)
                continue
            if status == 429 or status >= 500:
                if status >= 500 and not replay_safe:
                    raise self._outcome_unknown(what, f"HTTP {status}", response)
                if attempt >= self._max_attempts:
                    raise self._exhausted(what, f"HTTP {status}", response)
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                wait = (
                    self._backoff.after_throttle(retry_after, attempt)
                    if status == 429
                    else self._backoff.delay(attempt)
                )
                await self._sleep(wait)
                continue
            return response

    def _outcome_unknown(
        self, what: str, cause: str, response: httpx.Response | None = None
    ) -> SageWriteOutcomeUnknown:
        return SageWriteOutcomeUnknown(
            f"{what} in {self.where} failed with {cause} after Sage may have "
            "acted on it; not repeated, because without an idempotency_id a repeat could apply "
            "it twice",
            status=None if response is None else response.status_code,
            items=() if response is None else parse_error_items(maybe_json(response)),
        )

    def _exhausted(
        self, what: str, cause: str, response: httpx.Response | None = None
    ) -> SageUnavailable:
        return SageUnavailable(
            f"{what} in {self.where} still failing after "
            f"{self._max_attempts} attempts (last: {cause})",
            status=None if response is None else response.status_code,
            items=() if response is None else parse_error_items(maybe_json(response)),
        )

    async def _call(self, method: str, url: str, what: str, **kwargs: Any) -> Any:
        """Send, turn an error answer into the fitting `SageError`, and return the JSON body."""
        response = await self._send(method, url, what, **kwargs)
        status = response.status_code
        if status >= 400:
            error_type = _STATUS_ERRORS.get(status, SageRequestError)
            raise error_type(
                f"{what} in {self.where} was refused",
                status=status,
                items=parse_error_items(maybe_json(response)),
            )
        return decode_json(response, what)

    # Reads

    async def list_all(
        self,
        resource: str,
        *,
        params: Mapping[str, str] | None = None,
        updated_or_created_since: datetime | None = None,
    ) -> AsyncIterator[Record]:
        """Every record of `resource` (all attributes), following `$next` until it is null."""
        _checked_name("resource", resource)
        query = {"items_per_page": str(ITEMS_PER_PAGE), "attributes": "all", **(params or {})}
        if updated_or_created_since is not None:
            query["updated_or_created_since"] = updated_or_created_since.isoformat()
        url = f"/{resource}"
        followed: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        while True:
            page = await self._call("GET", url, f"GET /{resource}", params=query, replay_safe=True)
            items = page.get("$items") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise SageProtocolError(f"GET /{resource} answered without an $items list")
            for item in items:
                yield item
            next_link = page.get("$next")
            if next_link is None:
                return
            url, query = self._follow(str(next_link), query)
            key = (url, tuple(sorted(query.items())))
            if key in followed:
                raise SageProtocolError(f"GET /{resource}: $next points back to {next_link}")
            followed.add(key)

    def _follow(self, next_link: str, query: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        """The request for a `$next` link: its path, our query overlaid with its query."""
        link = httpx.URL(next_link)
        merged = {**query, **dict(link.params.items())}
        if link.is_absolute_url:
            return str(link.copy_with(query=None)), merged
        base_path = httpx.URL(self._base_url).path.rstrip("/")
        path = link.path
        if base_path and path.startswith(f"{base_path}/"):
            path = path[len(base_path) :]
        return path, merged

    async def get(self, resource: str, record_id: str) -> Record:
        """One record by id; `SageNotFound` if this business has no such record."""
        _checked_name("resource", resource)
        url = f"/{resource}/{quote(record_id, safe='')}"
        body = await self._call("GET", url, f"GET {url}", replay_safe=True)
        if not isinstance(body, dict):
            raise SageProtocolError(f"GET {url} answered with something other than a record")
        return body

    async def businesses(self) -> list[Record]:
        """Every business the login reaches, asked without `X-Business`.

        This is the one request not bound to the client's business: it is how a person finds
        the id to configure, so it must work before (or despite) a wrong one being set.
        """
        body = await self._call(
            "GET", "/businesses", "GET /businesses", replay_safe=True, for_business=False
        )
        items = body.get("$items") if isinstance(body, dict) else body
        if not isinstance(items, list):
            raise SageProtocolError("GET /businesses answered without a list of businesses")
        return [item for item in items if isinstance(item, dict)]

    def contacts(self) -> AsyncIterator[Record]:
        """Every contact (customers and suppliers)."""
        return self.list_all("contacts")

    def ledger_accounts(self) -> AsyncIterator[Record]:
        """Every ledger account, for mapping nominal codes to ids."""
        return self.list_all("ledger_accounts")

    def tax_rates(self) -> AsyncIterator[Record]:
        """Every tax rate of the business."""
        return self.list_all("tax_rates")

    def products(self) -> AsyncIterator[Record]:
        """Every product, stock and non-stock."""
        return self.list_all("products")

    def stock_items(self) -> AsyncIterator[Record]:
        """Every stock item (Accounting Plus)."""
        return self.list_all("stock_items")

    async def find_by_reference(self, resource: str, reference: str) -> Record | None:
        """The one record whose `reference` is exactly `reference`, or None.

        Sage's `search` also matches substrings and contact names, so results are filtered to
        the exact reference. More than one exact match is a duplicate posting: `SageConflict`.
        """
        matches = [
            item
            async for item in self.list_all(resource, params={"search": reference})
            if item.get("reference") == reference
        ]
        if len(matches) > 1:
            ids = ", ".join(str(item.get("id")) for item in matches)
            raise SageConflict(
                f"{len(matches)} {resource} in {self.where} carry reference "
                f"{reference!r} (ids {ids}); expected at most one"
            )
        return matches[0] if matches else None

    # Writes

    async def create(self, resource: str, singular: str, body: Mapping[str, Any]) -> Record:
        """POST `{singular: body}` to `resource` and return the created record.

        Retried after a 5xx or timeout only if `body` has an `idempotency_id`; see the module
        docstring.
        """
        _checked_name("resource", resource)
        _checked_name("singular", singular)
        payload = encode_json({singular: body})
        what = f"POST /{resource}"
        created = await self._call(
            "POST",
            f"/{resource}",
            what,
            content=payload,
            replay_safe="idempotency_id" in body,
        )
        if not isinstance(created, dict):
            raise SageProtocolError(f"{what} answered with something other than a record")
        return created
