"""The bridge's side of Sage Accounting v3.1: an HTTP client for one business and its tokens."""

from cloud_bridge.sage.client import DEFAULT_TOKEN_URL, ITEMS_PER_PAGE, SageClient
from cloud_bridge.sage.errors import (
    RECONNECT_HINT,
    SageAuthError,
    SageConflict,
    SageEnvironmentMismatch,
    SageError,
    SageErrorItem,
    SageNotFound,
    SageProtocolError,
    SageReconnectRequired,
    SageRequestError,
    SageUnavailable,
    SageValidationError,
    SageWriteOutcomeUnknown,
    TokenFileInsecure,
    TokenFileInvalid,
)
from cloud_bridge.sage.tokens import ENVIRONMENTS, Environment, OAuthTokens, TokenStore

__all__ = [
    "DEFAULT_TOKEN_URL",
    "ENVIRONMENTS",
    "ITEMS_PER_PAGE",
    "RECONNECT_HINT",
    "Environment",
    "OAuthTokens",
    "SageAuthError",
    "SageClient",
    "SageConflict",
    "SageEnvironmentMismatch",
    "SageError",
    "SageErrorItem",
    "SageNotFound",
    "SageProtocolError",
    "SageReconnectRequired",
    "SageRequestError",
    "SageUnavailable",
    "SageValidationError",
    "SageWriteOutcomeUnknown",
    "TokenFileInsecure",
    "TokenFileInvalid",
    "TokenStore",
]
