"""The bridge's HTTP API: JSON over FastAPI, documented by OpenAPI, guarded by a bearer token."""

from __future__ import annotations

from cloud_bridge.api.app import API_VERSION, create_app
from cloud_bridge.api.errors import (
    ApiConfigurationError,
    ApiError,
    ConflictError,
    NotAuthenticatedError,
    NotFoundError,
)

__all__ = [
    "API_VERSION",
    "ApiConfigurationError",
    "ApiError",
    "ConflictError",
    "NotAuthenticatedError",
    "NotFoundError",
    "create_app",
]
