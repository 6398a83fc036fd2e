"""The screen's audit trail: one row per action a packer took on the screen, never changed.

Rows go into the station's own TinyDB, written by `Station.handle` inside the same storage
transaction as the workflow state the action produced, so the trail and the state cannot
disagree after a power cut: either both the row and its effect are on disk, or neither is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from tinydb import TinyDB
from typing_extensions import TypedDict

__all__ = ["AUDIT_TABLE", "AuditRow", "Outcome", "ScreenAudit"]

AUDIT_TABLE = "screen_audit"

Outcome = Literal["done", "refused", "unchanged"]
"""What the workflow made of the action: carried out, refused with an alert, or a no-op."""


class AuditRow(TypedDict):
    """One screen action as recorded."""

    at: str
    """When, as an ISO 8601 UTC time."""
    action: str
    reason: str | None
    order_id: str | None
    """The order open when the action was taken (or the label's order for reprint/void)."""
    outcome: Outcome
    detail: str
    """What happened, or why it was refused, in the packer's words."""


class ScreenAudit:
    """Append and read the `screen_audit` table; there is deliberately no update or delete."""

    def __init__(self, db: TinyDB) -> None:
        self._db = db

    def append(
        self,
        *,
        at: datetime,
        action: str,
        reason: str | None,
        order_id: str | None,
        outcome: Outcome,
        detail: str,
    ) -> AuditRow:
        """Add one row; call it inside the storage transaction that holds the action's effect."""
        row = AuditRow(
            at=at.isoformat(),
            action=action,
            reason=reason,
            order_id=order_id,
            outcome=outcome,
            detail=detail,
        )
        self._db.table(AUDIT_TABLE).insert(dict(row))
        return row

    def recent(self, limit: int) -> list[AuditRow]:
        """The newest `limit` rows, newest first."""
        documents = sorted(self._db.table(AUDIT_TABLE).all(), key=lambda doc: -doc.doc_id)
        return [_row(document) for document in documents[:limit]]


def _row(document: dict[str, object]) -> AuditRow:
    return AuditRow(
        at=str(document["at"]),
        action=str(document["action"]),
        reason=_optional(document.get("reason")),
        order_id=_optional(document.get("order_id")),
        outcome=_outcome(document.get("outcome")),
        detail=str(document.get("detail", "")),
    )


def _optional(value: object) -> str | None:
    return None if value is None else str(value)


def _outcome(value: object) -> Outcome:
    for outcome in get_args(Outcome):
        if value == outcome:
            return outcome  # type: ignore[no-any-return]
    raise ValueError(f"screen_audit row has outcome {value!r}, expected done/refused/unchanged")
