"""Exception handlers that give every refusal the same JSON shape, validation included.

The body is ``{"error": {field, rule, message}, "errors": [...]}``: ``error`` is the first
problem, so a client reads one key whatever went wrong, and ``errors`` lists them all, which for
a validation error is every invalid field. Pydantic's error types are translated into the rule
the value must meet, and its locations into dotted paths such as ``lines.0.quantity``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from cloud_bridge.api.auth import Authorizer
from cloud_bridge.api.errors import ApiError, ForbiddenError, NotAuthenticatedError
from cloud_bridge.api.schemas_base import ErrorBody, ErrorDetail

__all__ = ["error_response", "errors_documented", "install_error_handlers", "validation_details"]

log = logging.getLogger("packline.bridge.api")

_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})

_RULES: Mapping[str, str] = {
    "missing": "required",
    "extra_forbidden": "no such field; remove it",
    "json_invalid": "valid JSON",
    "json_type": "a JSON document",
    "model_type": "a JSON object",
    "model_attributes_type": "a JSON object",
    "dict_type": "a JSON object",
    "list_type": "a JSON array",
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "date_type": "a date as YYYY-MM-DD",
    "date_parsing": "a date as YYYY-MM-DD",
    "date_from_datetime_parsing": "a date as YYYY-MM-DD",
    "none_required": "null",
}

_BOUNDS: Mapping[str, tuple[str, str]] = {
    "greater_than": ("gt", "greater than {}"),
    "greater_than_equal": ("ge", "at least {}"),
    "less_than": ("lt", "less than {}"),
    "less_than_equal": ("le", "at most {}"),
    "string_too_short": ("min_length", "at least {} characters"),
    "string_too_long": ("max_length", "at most {} characters"),
    "too_short": ("min_length", "at least {} items"),
    "too_long": ("max_length", "at most {} items"),
    "string_pattern_mismatch": ("pattern", "matching the pattern {}"),
    "enum": ("expected", "one of {}"),
    "literal_error": ("expected", "one of {}"),
}


_MEANINGS: Mapping[int, str] = {
    401: "No bearer token, or one that is unknown or revoked.",
    403: "The token's role does not allow this endpoint; the message names the roles that do.",
    404: "An order, account, product, debtor, shipment or line named in the request does not "
    "exist.",
    409: "The request breaks a rule given what is stored (a duplicate id, a quantity below "
    "what shipped, stock below what is allocated, an unconfirmed unlink).",
    422: "The request is malformed: every invalid field is listed in `errors`.",
}


def errors_documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route answers with, all with `ErrorBody`."""
    return {status: {"model": ErrorBody, "description": _MEANINGS[status]} for status in statuses}


def _field(location: Sequence[int | str]) -> str:
    parts = list(location)
    if len(parts) > 1 and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(str(part) for part in parts)


def _rule(kind: str, context: Mapping[str, Any], message: str) -> str:
    if kind in _RULES:
        return _RULES[kind]
    if "rule" in context:
        return str(context["rule"])
    if kind in _BOUNDS:
        key, template = _BOUNDS[kind]
        if key in context:
            return template.format(context[key])
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    return kind


def validation_details(errors: Iterable[Mapping[str, Any]]) -> list[ErrorDetail]:
    """Pydantic's errors as `ErrorDetail`s, in the order pydantic found them."""
    details = []
    for error in errors:
        kind = str(error.get("type", ""))
        location = tuple(error.get("loc", ()))
        message = str(error.get("msg", ""))
        context = error.get("ctx") or {}
        field = "body" if kind == "json_invalid" else _field(location)
        details.append(
            ErrorDetail(field=field, rule=_rule(kind, context, message), message=message)
        )
    return details


def error_response(
    status: int, details: Sequence[ErrorDetail], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The uniform error body for ``details`` (at least one)."""
    body = ErrorBody(error=details[0], errors=list(details))
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def _api_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, NotAuthenticatedError) else None
    detail = ErrorDetail(field=error.field, rule=error.rule, message=error.message)
    return error_response(error.status, [detail], headers)


async def _refusal(request: Request) -> JSONResponse | None:
    """401 or 403 if the caller may not call the route, so a malformed request tells a caller
    who may not use the route nothing about its inputs; None if they may."""
    authorizer: Authorizer = request.app.state.authorizer
    try:
        await run_in_threadpool(authorizer.authorize, request)
    except (NotAuthenticatedError, ForbiddenError) as refusal:
        return _api_error(request, refusal)
    return None


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    """422, but only to a caller allowed to call the route: 401 or 403 to anyone else."""
    assert isinstance(error, RequestValidationError)
    refused = await _refusal(request)
    if refused is not None:
        return refused
    return error_response(422, validation_details(error.errors()))


def _integrity_error(_request: Request, error: Exception) -> JSONResponse:
    """A constraint the checks before it did not catch: a conflict, never a half-applied change."""
    log.warning("request refused by a database constraint: %s", error)
    origin = str(getattr(error, "orig", error)).splitlines()[0]
    detail = ErrorDetail(
        field="",
        rule="consistent with the data already stored",
        message=f"the database refused the change: {origin}",
    )
    return error_response(409, [detail])


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    if error.status_code == 400:
        return await _unreadable_body(request, error)
    if error.status_code == 404:
        detail = ErrorDetail(field="path", rule="a path the API serves", message="no such endpoint")
    elif error.status_code == 405:
        detail = ErrorDetail(
            field="method", rule="a method this path accepts", message="method not allowed"
        )
    else:
        detail = ErrorDetail(field="", rule="", message=str(error.detail))
    return error_response(error.status_code, [detail], error.headers)


async def _unreadable_body(request: Request, error: HTTPException) -> JSONResponse:
    """A body FastAPI could not read (not UTF-8, say) is malformed like any other: 422.

    FastAPI answers it with a bare 400 before any dependency runs, a status no route documents;
    the caller's token is checked first, as for every other malformed request.
    """
    refused = await _refusal(request)
    if refused is not None:
        return refused
    cause = error.__cause__
    reason = f": {cause}" if cause is not None else ""
    detail = ErrorDetail(
        field="body",
        rule=_RULES["json_invalid"] + " in UTF-8",
        message=f"the request body could not be read{reason}",
    )
    return error_response(422, [detail])


def _unexpected_error(_request: Request, _error: Exception) -> JSONResponse:
    detail = ErrorDetail(
        field="", rule="", message="the bridge failed to handle the request; nothing was changed"
    )
    return error_response(500, [detail])


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers so that every error response has the `ErrorBody` shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
