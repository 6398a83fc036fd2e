"""Errors raised by the wire contract.

The contract is imported by both the station and the bridge, so it has its own root instead of
the station's `EdgeError`: a bridge that rejects a message should not need the station package to
catch the error. Every error is a `ValueError`, because each one means "this input is not what the
contract allows".
"""

from __future__ import annotations

__all__ = [
    "ContractError",
    "InvalidIdError",
    "MessageError",
    "PayloadTooLargeError",
    "SchemaVersionError",
    "TopicError",
]


class ContractError(ValueError):
    """Base of every error raised by `edge.contract`."""


class InvalidIdError(ContractError):
    """A site or station id cannot be used as one level of a topic or as a client id."""


class TopicError(ContractError):
    """A topic is not part of the Packline tree, or names an unknown kind."""


class MessageError(ContractError):
    """A payload is not a valid message for its topic; the message names the field and reason."""


class PayloadTooLargeError(MessageError):
    """A payload exceeds the size limit; it is refused before any parsing."""


class SchemaVersionError(MessageError):
    """A payload carries a schema version this build does not read."""
