"""Recording audited changes in the same transaction as the change itself.

``record_audit`` only adds a row to the caller's session: the change and its audit row commit
or roll back together, so the trail never shows a change that did not happen nor misses one
that did. Values are turned into plain JSON here (money as exact decimal strings, instants as
ISO 8601 in UTC, enums by value) so callers can pass what their models hold.
"""

from __future__ import annotations

import enum
import getpass
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from cloud_bridge.db.audit import AuditEntry

__all__ = [
    "STATION_ACTOR_PREFIX",
    "SYSTEM_ROLE",
    "AuditEntry",
    "console_actor",
    "record_audit",
    "station_actor",
]

STATION_ACTOR_PREFIX = "station:"
"""Actors that are stations (events they sent) are named ``station:<station id>``."""

SYSTEM_ROLE = "system"
"""The role recorded when the caller names none and the actor is not a station."""


def station_actor(station_id: str) -> str:
    """The audit actor for a change a station made, such as a label reprint or void."""
    return f"{STATION_ACTOR_PREFIX}{station_id}"


def console_actor() -> str:
    """The audit actor for a change made with a command at this console: the user who ran it."""
    return f"console:{getpass.getuser()}"


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    role: str | None = None,
) -> None:
    """Add one audit row to ``session``'s transaction; the caller commits it with the change.

    ``role`` is the actor's role when it acted; left out, it is ``station`` for station actors
    and ``system`` otherwise. ``before`` and ``after`` hold only the fields that matter to the
    change; values must be JSON-able once money, instants and enums are converted.
    """
    if not actor:
        raise ValueError("audit actor is empty; expected a token name or station:<id>")
    if not action or not subject:
        raise ValueError(f"audit action {action!r} or subject {subject!r} is empty")
    session.add(
        AuditEntry(
            actor=actor,
            role=role or _default_role(actor),
            action=action,
            subject=subject,
            before=_plain(before),
            after=_plain(after),
        )
    )


def _default_role(actor: str) -> str:
    return "station" if actor.startswith(STATION_ACTOR_PREFIX) else SYSTEM_ROLE


def _plain(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``values`` as a JSON-able dict, or None when there is nothing to record."""
    if values is None:
        return None
    return {str(key): _plain_value(value) for key, value in values.items()}


def _plain_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return _plain_value(value.value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): _plain_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain_value(item) for item in value]
    raise TypeError(
        f"audit value {value!r} is a {type(value).__name__}; expected JSON-able data, "
        "a Decimal, a datetime or an enum"
    )
