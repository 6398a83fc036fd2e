"""The sandbox's HTTP face: Sage Accounting v3.1 routes, OAuth token endpoint and fault layer.

Requests are checked in Sage's order (token, then business, then body) and every error is
Sage's JSON array of `$severity`/`$dataCode`/`$message`/`$source` objects, so a client's error
handling is exercised against the shapes it will meet in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from firmware_sim.sage.documents import (
    create_contact,
    create_contact_allocation,
    create_sales_document,
)
from firmware_sim.sage.faults import FaultKind, FaultQueue
from firmware_sim.sage.state import Business, SageApiError, SageSandbox, error_item

__all__ = ["API_PREFIX", "CONSENT_PATH", "SimulatedConnectionDrop", "create_sandbox"]

API_PREFIX = "/v3.1"
CONSENT_PATH = "/oauth2/auth/central"
"""Sage's consent screen; here the person always clicks Allow."""
DEFAULT_ITEMS_PER_PAGE = 20
MAX_ITEMS_PER_PAGE = 200
_IDEMPOTENCY_ID = re.compile(r"^[0-9a-fA-F]{32}$")
_LIST_FIELDS = ("id", "displayed_as", "$path")

Record = dict[str, Any]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_READABLE = (
    "contacts",
    "ledger_accounts",
    "tax_rates",
    "products",
    "services",
    "stock_items",
    "stock_movements",
    "sales_invoices",
    "sales_credit_notes",
    "contact_allocations",
)
_CREATORS: dict[str, tuple[str, Callable[[SageSandbox, Business, Record], Record]]] = {
    "contacts": ("contact", create_contact),
    "sales_invoices": (
        "sales_invoice",
        lambda s, b, body: create_sales_document(s, b, "sales_invoices", body),
    ),
    "sales_credit_notes": (
        "sales_credit_note",
        lambda s, b, body: create_sales_document(s, b, "sales_credit_notes", body),
    ),
    "contact_allocations": ("contact_allocation", create_contact_allocation),
}
_SEARCHED_FIELDS: dict[str, tuple[str, ...]] = {
    "contacts": ("name", "reference"),
    "products": ("item_code", "description"),
    "stock_items": ("item_code", "description"),
    "sales_invoices": ("reference", "invoice_number"),
    "sales_credit_notes": ("reference", "credit_note_number"),
}
_FAULT_CODES = {429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable"}


class SimulatedConnectionDrop(ConnectionError):
    """Raised inside the server to cut a response off after the write was committed."""


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, default=_encode),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def _error_response(error: SageApiError) -> Response:
    return _json(error.items, error.status)


def create_sandbox(sandbox: SageSandbox | None = None) -> Starlette:
    """The ASGI app serving `sandbox` (a fresh one if omitted; reach it as `app.state.sandbox`).

    The fault layer wraps the whole app, so a queued fault hits before authentication, as a
    gateway's throttling or outage would.
    """
    held = sandbox if sandbox is not None else SageSandbox()
    routes = [
        Route(CONSENT_PATH, _consent, methods=["GET"]),
        Route("/oauth/token", _token, methods=["POST"]),
        Route(f"{API_PREFIX}/businesses", _businesses, methods=["GET"]),
        Route(f"{API_PREFIX}/{{resource}}", _list_resource, methods=["GET"]),
        Route(f"{API_PREFIX}/{{resource}}", _create_resource, methods=["POST"]),
        Route(f"{API_PREFIX}/{{resource}}/{{record_id}}", _get_resource, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.sandbox = held
    app.add_middleware(_FaultMiddleware, faults=held.faults)
    return app


def _sandbox(request: Request) -> SageSandbox:
    sandbox: SageSandbox = request.app.state.sandbox
    return sandbox


async def _consent(request: Request) -> Response:
    """Sage's consent screen, with the person clicking Allow: 302 back with a fresh code.

    Without a usable client_id or redirect_uri the browser gets an error and is not sent on
    (RFC 6749 4.1.2.1: the redirect address cannot be trusted then). A missing or unsupported
    response_type goes back to the redirect_uri as an `error`. `state` is returned unchanged.
    """
    params = request.query_params
    problems = [
        error_item("invalid_request", f"{name} is required", name)
        for name in ("client_id", "redirect_uri")
        if not params.get(name)
    ]
    redirect = params.get("redirect_uri", "")
    if redirect and urlsplit(redirect).scheme not in {"http", "https"}:
        problems.append(
            error_item(
                "invalid_request", "redirect_uri must be an absolute http(s) URL", "redirect_uri"
            )
        )
    if problems:
        return _json(problems, 400)
    response_type = params.get("response_type")
    answer: dict[str, str]
    if response_type == "code":
        answer = {"code": _sandbox(request).issue_code()}
    else:
        answer = {"error": "unsupported_response_type" if response_type else "invalid_request"}
    if "state" in params:
        answer["state"] = params["state"]
    separator = "&" if urlsplit(redirect).query else "?"
    return Response(
        status_code=302, headers={"Location": f"{redirect}{separator}{urlencode(answer)}"}
    )


async def _token(request: Request) -> Response:
    """OAuth 2.0 token endpoint: authorization_code and rotating refresh_token grants."""
    sandbox = _sandbox(request)
    form = {key: values[0] for key, values in parse_qs((await request.body()).decode()).items()}
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        pair = sandbox.tokens.exchange_code(form.get("code", ""))
    elif grant_type == "refresh_token":
        pair = sandbox.tokens.refresh(form.get("refresh_token", ""))
    else:
        pair = None
    if pair is None:
        return _json({"error": "invalid_grant"}, 400)
    return _json(pair.as_json())


def _authorise(request: Request) -> None:
    sandbox = _sandbox(request)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not sandbox.tokens.access_valid(token.strip()):
        raise SageApiError.one(
            401,
            "AuthorizationFailure",
            "The access token is missing, invalid or expired; refresh it and retry",
        )


def _business(request: Request) -> Business:
    _authorise(request)
    sandbox = _sandbox(request)
    business_id = request.headers.get("x-business")
    if not business_id:
        raise SageApiError.one(
            401,
            "AuthorizationFailure",
            "X-Business header is missing; expected the id of one of your businesses",
            "X-Business",
        )
    business = sandbox.businesses.get(business_id)
    if business is None:
        raise SageApiError.one(
            403, "AccessDenied", f"You do not have access to business {business_id}", "X-Business"
        )
    return business


async def _businesses(request: Request) -> Response:
    try:
        _authorise(request)
    except SageApiError as error:
        return _error_response(error)
    items = [
        {"id": b.id, "displayed_as": b.name, "$path": f"/businesses/{b.id}"}
        for b in _sandbox(request).businesses.values()
    ]
    return _json(
        {
            "$total": len(items),
            "$page": 1,
            "$next": None,
            "$back": None,
            "$itemsPerPage": len(items),
            "$items": items,
        }
    )


def _unknown_resource(resource: str) -> SageApiError:
    return SageApiError.one(404, "RecordNotFound", f"No such resource: /{resource}", resource)


def _records(business: Business, resource: str) -> list[Record]:
    if resource == "stock_items":
        return [
            {**record, "$path": f"/stock_items/{record['id']}"}
            for record in business.collection("products").values()
            if record["item_type"]["id"] == "STOCK_ITEM"
        ]
    return list(business.collection(resource).values())


def _shape(record: Record, attributes: str | None) -> Record:
    """Lists carry only id, displayed_as and $path unless `attributes` asks for more."""
    if attributes == "all":
        return record
    wanted = set(_LIST_FIELDS)
    if attributes:
        wanted |= {name.strip() for name in attributes.split(",")}
    return {key: value for key, value in record.items() if key in wanted}


def _filter(resource: str, records: list[Record], request: Request) -> list[Record]:
    search = request.query_params.get("search")
    if search and resource in _SEARCHED_FIELDS:
        needle = search.lower()
        records = [
            r
            for r in records
            if any(needle in str(r.get(name) or "").lower() for name in _SEARCHED_FIELDS[resource])
            or needle in str((r.get("contact") or {}).get("displayed_as", "")).lower()
        ]
    since = request.query_params.get("updated_or_created_since")
    if since:
        try:
            threshold = datetime.fromisoformat(since)
        except ValueError as error:
            raise SageApiError.one(
                422,
                "RecordInvalid",
                f"updated_or_created_since {since!r} is not an ISO 8601 date-time",
                "updated_or_created_since",
            ) from error
        records = [r for r in records if r["updated_at"] >= threshold]
    return records


def _positive_int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise SageApiError.one(
            422, "RecordInvalid", f"{name} must be a whole number, got {raw!r}", name
        ) from error
    return max(value, 1)


def _page_link(resource: str, query: dict[str, str], page: int) -> str:
    return f"/{resource}?{urlencode({**query, 'page': str(page)})}"


async def _list_resource(request: Request) -> Response:
    """A paged list; a page past the end returns the last page, as Sage does."""
    resource = request.path_params["resource"]
    try:
        business = _business(request)
        if resource not in _READABLE:
            raise _unknown_resource(resource)
        records = _filter(resource, _records(business, resource), request)
        per_page = min(
            _positive_int(request, "items_per_page", DEFAULT_ITEMS_PER_PAGE), MAX_ITEMS_PER_PAGE
        )
        page = _positive_int(request, "page", 1)
    except SageApiError as error:
        return _error_response(error)
    last_page = max(1, math.ceil(len(records) / per_page))
    page = min(page, last_page)
    window = records[(page - 1) * per_page : page * per_page]
    attributes = request.query_params.get("attributes")
    query = {**request.query_params, "items_per_page": str(per_page)}
    body = {
        "$total": len(records),
        "$page": page,
        "$next": _page_link(resource, query, page + 1) if page < last_page else None,
        "$back": _page_link(resource, query, page - 1) if page > 1 else None,
        "$itemsPerPage": per_page,
        "$items": [_shape(record, attributes) for record in window],
    }
    return _json(body, headers={"X-Business": business.id})


async def _get_resource(request: Request) -> Response:
    resource = request.path_params["resource"]
    record_id = request.path_params["record_id"]
    try:
        business = _business(request)
        if resource not in _READABLE:
            raise _unknown_resource(resource)
        found = [r for r in _records(business, resource) if r["id"] == record_id]
        if not found:
            raise SageApiError.one(
                404, "RecordNotFound", f"No {resource} record with id {record_id}", "id"
            )
    except SageApiError as error:
        return _error_response(error)
    return _json(found[0], headers={"X-Business": business.id})


async def _read_wrapped_body(request: Request, wrapper: str) -> Record:
    if "application/json" not in request.headers.get("content-type", ""):
        raise SageApiError.one(
            415, "UnsupportedMediaType", "Send the body as application/json", "Content-Type"
        )
    try:
        body = json.loads(await request.body(), parse_float=Decimal)
    except ValueError as error:
        raise SageApiError.one(400, "BadRequest", f"The body is not valid JSON: {error}") from error
    inner = body.get(wrapper) if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        raise SageApiError.one(
            422, "RecordInvalid", f"expected the resource inside a {wrapper!r} object", wrapper
        )
    return inner


async def _create_resource(request: Request) -> Response:
    """POST with Sage's idempotency: a repeated `idempotency_id` within 7 days replays."""
    resource = request.path_params["resource"]
    sandbox = _sandbox(request)
    try:
        business = _business(request)
        if resource not in _CREATORS:
            raise SageApiError.one(
                405, "MethodNotAllowed", f"POST is not supported on /{resource}", resource
            )
        wrapper, create = _CREATORS[resource]
        body = await _read_wrapped_body(request, wrapper)
        idempotency_id = body.get("idempotency_id")
        if idempotency_id is not None and not _IDEMPOTENCY_ID.match(str(idempotency_id)):
            raise SageApiError.one(
                422,
                "RecordInvalid",
                "idempotency_id must be a 32-character hyphenless GUID",
                "idempotency_id",
            )
        if idempotency_id is not None:
            original = sandbox.idempotent_original(business, str(idempotency_id), resource)
            if original is not None:
                sandbox.log_write(business, resource, original["id"], replayed=True)
                return _json(original, 201, headers={"X-Business": business.id})
        record = create(sandbox, business, body)
    except SageApiError as error:
        return _error_response(error)
    if idempotency_id is not None:
        sandbox.remember_idempotent(business, str(idempotency_id), resource, record["id"])
    sandbox.log_write(business, resource, record["id"])
    return _json(record, 201, headers={"X-Business": business.id})


class _FaultMiddleware:
    """Applies the next queued fault that matches a request, before or after the app runs."""

    def __init__(self, app: AsgiApp, faults: FaultQueue) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fault = self.faults.take(scope["method"], scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
        elif fault.kind is FaultKind.STATUS:
            await self._send_error(send, fault.status, fault.retry_after)
        elif fault.kind is FaultKind.SLOW:
            await asyncio.sleep(fault.delay)
            await self.app(scope, receive, send)
        elif fault.kind is FaultKind.COMMIT_THEN_HANG:
            answer: list[Message] = []

            async def hold(message: Message) -> None:
                answer.append(message)

            await self.app(scope, receive, hold)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_client_gone(receive), timeout=fault.delay)
                return
            for message in answer:
                await send(message)
        else:
            await self.app(scope, receive, _discard)
            if fault.kind is FaultKind.COMMIT_THEN_FAIL:
                await self._send_error(send, fault.status, fault.retry_after)
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": 201,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"4096"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b"{", "more_body": True})
            raise SimulatedConnectionDrop("connection dropped after the write was committed")

    @staticmethod
    async def _send_error(send: Send, status: int, retry_after: int | None) -> None:
        code = _FAULT_CODES.get(status, "Error")
        body = json.dumps([error_item(code, f"Simulated {status} from the sandbox")]).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if retry_after is not None:
            headers.append((b"retry-after", str(retry_after).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _client_gone(receive: Receive) -> None:
    """Return once the client has disconnected (the request body was already read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _discard(message: Message) -> None:
    """Swallows the real response of a commit-then-fail request."""
