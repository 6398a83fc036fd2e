"""The errors an API request can end in, each carrying the HTTP status and the field at fault.

Every one names the field (a dotted path into the request, or the header or path parameter), the
rule the value broke, and a sentence saying what was wrong, so a client can point at the input
without parsing prose. The exception handlers turn them into the uniform JSON error body.
"""

from __future__ import annotations

from cloud_bridge.errors import BridgeError

__all__ = [
    "ApiConfigurationError",
    "ApiError",
    "ConflictError",
    "ForbiddenError",
    "NotAuthenticatedError",
    "NotFoundError",
]


class ApiError(BridgeError):
    """A request the API refuses; ``status`` is the HTTP status it answers with."""

    status = 400

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.rule = rule
        self.message = message


class NotAuthenticatedError(ApiError, PermissionError):
    """The request carries no bearer token, or one that is unknown or revoked."""

    status = 401


class ForbiddenError(ApiError, PermissionError):
    """The token is valid but its role does not grant what the route needs."""

    status = 403


class NotFoundError(ApiError, LookupError):
    """The request names an order, account, product, debtor or line that does not exist."""

    status = 404


class ConflictError(ApiError, ValueError):
    """The request is well formed but breaks a rule given what is already in the database."""

    status = 409


class ApiConfigurationError(BridgeError, ValueError):
    """``create_app`` was given something it cannot serve, such as a route without a role."""
