"""The bearer-token and role check every endpoint goes through.

The token is looked up in the database on every request (so a revocation takes effect at once)
and compared by hash in constant time (see `cloud_bridge.api.tokens`). Its role must grant the
permission `cloud_bridge.api.roles.ROUTE_PERMISSIONS` gives the route: no token, or an unknown
or revoked one, is 401; a valid token whose role does not grant it is 403, naming the roles that
would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from cloud_bridge.api.errors import ForbiddenError, NotAuthenticatedError
from cloud_bridge.api.roles import ROLE_PERMISSIONS, ROUTE_PERMISSIONS, RouteKey, roles_with
from cloud_bridge.api.tokens import Principal, TokenRefusal, find_principal

__all__ = ["BEARER", "Authorizer", "PrincipalDep", "authorize"]

BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="BridgeToken",
    description="An API token, sent as `Authorization: Bearer <token>`; "
    "`packline bridge token create` makes one with a role.",
)
"""Declares the scheme in the OpenAPI document; the check itself is `Authorizer`."""

_FIELD = "Authorization"
_RULE = "Bearer <the bridge's API token>"


class Authorizer:
    """Finds who a request acts as and refuses it unless their role allows the route.

    Called as a dependency on every route, and also by the validation error handler, so that a
    request with a malformed body is answered 401 or 403 rather than 422 when it would not have
    been allowed anyway: nothing about the API's inputs is revealed to a caller who may not use
    them.
    """

    def __init__(self, sessions: Callable[[], Session]) -> None:
        self._sessions = sessions

    def authenticate(self, request: Request) -> Principal:
        """The token's principal; `NotAuthenticatedError` without a valid, unrevoked token."""
        cached = getattr(request.state, "principal", None)
        if isinstance(cached, Principal):
            return cached
        header = request.headers.get("authorization")
        if header is None:
            raise NotAuthenticatedError(
                _FIELD, _RULE, "the Authorization header is missing; expected a bearer token"
            )
        scheme, _, credentials = header.partition(" ")
        token = credentials.strip()
        if scheme.lower() != "bearer" or not token:
            raise NotAuthenticatedError(
                _FIELD, _RULE, "the Authorization header is not of the form 'Bearer <token>'"
            )
        try:
            with self._sessions() as session:
                principal = find_principal(session, token)
        except TokenRefusal as refusal:
            raise NotAuthenticatedError(_FIELD, _RULE, str(refusal)) from None
        request.state.principal = principal
        return principal

    def authorize(self, request: Request) -> Principal:
        """The principal, once its role is known to grant the permission the route needs."""
        principal = self.authenticate(request)
        key = route_key(request)
        permission = ROUTE_PERMISSIONS.get(key)
        if permission is None or permission not in ROLE_PERMISSIONS[principal.role]:
            allowed = roles_with(permission) if permission is not None else ()
            needed = " or ".join(role.value for role in allowed) or "a role no token has"
            raise ForbiddenError(
                _FIELD,
                f"a token with the role {needed}",
                f"{key[0]} {key[1]} needs the role {needed}; token {principal.name!r} has the "
                f"role {principal.role.value}",
            )
        return principal


def route_key(request: Request) -> RouteKey:
    """The matched route's (method, path template), as `ROUTE_PERMISSIONS` is keyed."""
    route = request.scope.get("route")
    path = route.path if isinstance(route, APIRoute) else request.url.path
    return request.method.upper(), path


def authorize(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
) -> Principal:
    """The dependency on every route: the app's `Authorizer` (``_credentials`` feeds OpenAPI).

    A plain function, so FastAPI runs it on a worker thread: the token lookup blocks.
    """
    authorizer: Authorizer = request.app.state.authorizer
    return authorizer.authorize(request)


PrincipalDep = Annotated[Principal, Depends(authorize)]
"""Who the request acts as, for handlers that record it in the audit trail.

The same dependency as the app-wide one, so FastAPI runs the check once per request.
"""
