"""The bearer-token check every endpoint goes through, in one place so roles can replace it.

The token is compared in constant time (``hmac.compare_digest``), so the time a refusal takes
says nothing about how much of a guessed token was right.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cloud_bridge.api.errors import NotAuthenticatedError

__all__ = ["BEARER", "TokenCheck", "require_token"]

BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="BridgeToken",
    description="The bridge's API token, sent as `Authorization: Bearer <token>`.",
)
"""Declares the scheme in the OpenAPI document; the check itself is `TokenCheck`."""

_FIELD = "Authorization"
_RULE = "Bearer <the bridge's API token>"


class TokenCheck:
    """Refuses a request unless its ``Authorization`` header carries the bridge's token.

    Called as a dependency on every route, and also by the validation error handler, so that an
    unauthenticated request with a malformed body is answered 401 rather than 422: nothing about
    the API's inputs is revealed without the token.
    """

    def __init__(self, token: str) -> None:
        self._expected = token.encode()

    def __call__(self, request: Request) -> None:
        header = request.headers.get("authorization")
        if header is None:
            raise NotAuthenticatedError(
                _FIELD, _RULE, "the Authorization header is missing; expected a bearer token"
            )
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise NotAuthenticatedError(
                _FIELD, _RULE, "the Authorization header is not of the form 'Bearer <token>'"
            )
        if not hmac.compare_digest(credentials.strip().encode(), self._expected):
            raise NotAuthenticatedError(_FIELD, _RULE, "the bearer token is not valid")


def require_token(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
) -> None:
    """The dependency on every route: the app's `TokenCheck` (``_credentials`` feeds OpenAPI)."""
    check: TokenCheck = request.app.state.token_check
    check(request)
