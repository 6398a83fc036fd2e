"""Errors from talking to Sage Accounting, each quoting what Sage itself said.

Sage answers an error with a JSON array of `$severity`/`$dataCode`/`$message`/`$source`
objects. Those are kept on the exception (`items`) and their `$message`s are quoted in its text,
so a log line or an operator's screen shows Sage's own words next to what we were doing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cloud_bridge.errors import BridgeError

__all__ = [
    "RECONNECT_HINT",
    "SageAuthError",
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
    "parse_error_items",
]

RECONNECT_HINT = "a person must reconnect Sage with `packline sage connect`"


@dataclass(frozen=True)
class SageErrorItem:
    """One object of Sage's error array."""

    severity: str
    data_code: str
    message: str
    source: str


def parse_error_items(body: Any) -> tuple[SageErrorItem, ...]:
    """Sage's error array as items; anything else (HTML from a gateway, `{}`) gives none."""
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        return ()
    return tuple(
        SageErrorItem(
            severity=str(entry.get("$severity", "")),
            data_code=str(entry.get("$dataCode", "")),
            message=str(entry.get("$message", "")),
            source=str(entry.get("$source", "")),
        )
        for entry in body
        if isinstance(entry, dict) and "$message" in entry
    )


class SageError(BridgeError):
    """Base of every Sage error; `status` is the HTTP status when there was an answer."""

    def __init__(
        self, what: str, *, status: int | None = None, items: Iterable[SageErrorItem] = ()
    ) -> None:
        self.status = status
        self.items = tuple(items)
        quoted = "; ".join(
            f"{item.message!r}" + (f" (source {item.source})" if item.source else "")
            for item in self.items
        )
        text = what if status is None else f"{what} [HTTP {status}]"
        super().__init__(f"{text}: Sage said {quoted}" if quoted else text)

    @property
    def messages(self) -> tuple[str, ...]:
        """Sage's `$message`s, in order."""
        return tuple(item.message for item in self.items)

    @property
    def sources(self) -> tuple[str, ...]:
        """Sage's `$source`s (the fields at fault), in order."""
        return tuple(item.source for item in self.items)


class SageValidationError(SageError, ValueError):
    """422: Sage refused the record's contents; `items` lists every field it objected to."""


class SageNotFound(SageError, LookupError):
    """404: no such record or resource in this business."""


class SageConflict(SageError, ValueError):
    """409 (e.g. an idempotency_id reused on another resource type), or duplicate records."""


class SageRequestError(SageError, ValueError):
    """Another 4xx: the request itself was wrong (bad JSON, unsupported method or media type)."""


class SageAuthError(SageError, PermissionError):
    """401 even after a token refresh, or 403: the connection may not do this in this business."""


class SageReconnectRequired(SageAuthError):
    """The refresh token is gone or refused; only a person at the consent screen can fix it."""


class SageUnavailable(SageError, ConnectionError):
    """Sage stayed throttled, failing or unreachable through every permitted attempt."""


class SageWriteOutcomeUnknown(SageUnavailable):
    """A write without an idempotency_id failed after it may have been stored.

    It is not retried, because a repeat could post it twice; look for it (for example with
    `find_by_reference`) before posting it again.
    """


class SageProtocolError(SageError, ValueError):
    """Sage answered with a body that is not the JSON shape its API documents."""


class SageEnvironmentMismatch(SageError, PermissionError):
    """Something of one Sage environment (test or live) was about to be used with the other.

    A token, a posting, a retry, a correction or a reconciliation: each belongs to the
    environment it was made in, and the message names both environments.
    """


class TokenFileInsecure(SageError, PermissionError):
    """The token file can be read by other users, so its secrets may already have leaked."""


class TokenFileInvalid(SageError, ValueError):
    """The token file is not the JSON object the token store writes."""
