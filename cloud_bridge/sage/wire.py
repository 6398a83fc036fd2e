"""What goes over the wire to Sage and back: JSON with money as Decimal, and token answers.

Kept apart from the client so the retry and refresh logic there reads without the parsing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from cloud_bridge.sage.errors import SageProtocolError
from cloud_bridge.sage.tokens import OAuthTokens

__all__ = ["decode_json", "encode_json", "maybe_json", "tokens_from_answer"]

DEFAULT_REFRESH_LIFETIME = timedelta(days=31)
"""Sage's documented refresh-token lifetime, for a token answer that does not state it."""


def _encode(value: Any) -> Any:
    """Money goes out as a decimal string, never through float."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} to Sage as JSON")


def encode_json(body: Mapping[str, Any]) -> bytes:
    """A request body, with Decimal and dates as strings."""
    return json.dumps(dict(body), default=_encode).encode()


def maybe_json(response: httpx.Response) -> Any:
    """The body as JSON (numbers with a point as Decimal), or None if it is not JSON."""
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError:
        return None


def decode_json(response: httpx.Response, what: str) -> Any:
    """The body as JSON; `SageProtocolError` naming the request if it is not."""
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError as error:
        raise SageProtocolError(
            f"{what} answered HTTP {response.status_code} with a body that is not JSON",
            status=response.status_code,
        ) from error


def tokens_from_answer(body: Mapping[str, Any], now: datetime, what: str) -> OAuthTokens:
    """The token endpoint's answer as tokens with absolute expiry times from `now`."""
    try:
        refresh_lifetime = body.get("refresh_token_expires_in")
        return OAuthTokens(
            access_token=str(body["access_token"]),
            refresh_token=str(body["refresh_token"]),
            access_expires_at=now + timedelta(seconds=int(body["expires_in"])),
            refresh_expires_at=now
            + (
                timedelta(seconds=int(refresh_lifetime))
                if refresh_lifetime is not None
                else DEFAULT_REFRESH_LIFETIME
            ),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise SageProtocolError(
            f"the {what} answered without access_token, refresh_token and expires_in"
        ) from error
