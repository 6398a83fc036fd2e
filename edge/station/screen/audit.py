"""The screen's audit trail: one row per action a packer took on the screen, never changed.

Rows go into the station's own TinyDB, written by `Station.handle` inside the same storage
transaction as the workflow state the action produced, so the trail and the state cannot
disagree after a power cut: either both the row and its effect are on disk, or neither is.

The table keeps only the newest `AUDIT_ROWS_KEPT` rows: the storage journals a changed table
whole, so an unbounded table would make every action cost more than the last. The durable
trail is the bridge's: each action's effect reaches it as a station event (shortage recorded,
label voided, order aborted...) with its reason. The rows here are what the screen lists and
what a person at the bench can read after a dispute on the same shift.
"""

from __future__ import annotations

from datetime import datetime
from itertools import islice
from typing import Final, Literal, get_args

from tinydb import TinyDB
from typing_extensions import TypedDict

__all__ = ["AUDIT_ROWS_KEPT", "AUDIT_TABLE", "AuditRow", "Outcome", "ScreenAudit"]

AUDIT_TABLE: Final = "screen_audit"

AUDIT_ROWS_KEPT: Final = 1000
"""Several shifts of screen actions; a row is about 200 bytes, so the table stays near 200 kB."""

Outcome = Literal["done", "refused", "unchanged"]
"""What the workflow made of the action: carried out, refused with an alert, or a no-op."""


class AuditRow(TypedDict):
    """One screen action as recorded."""

    at: str
    """When, as an ISO 8601 UTC time."""
    action: str
    reason: str | None
    order_id: str | None
    """The order it acted on: the open one, or the label's order for void and reprint (void
    acts on the last printed label, an earlier order's once the next is open); None if none."""
    outcome: Outcome
    detail: str
    """What happened, or why it was refused, in the packer's words."""


class ScreenAudit:
    """Append and read the `screen_audit` table; a row is never changed, only pruned when old.

    Rows are read straight from the storage's table, whose keys are in insertion order (TinyDB
    appends each new document at the end, and the JSON journal keeps that order), so the
    newest rows are the last keys and `recent` touches only the rows it returns.
    """

    def __init__(self, db: TinyDB, *, keep: int = AUDIT_ROWS_KEPT) -> None:
        if keep < 1:
            raise ValueError(f"the screen audit must keep at least 1 row; got keep={keep}")
        self._db = db
        self._keep = keep

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
        """Add one row and drop the oldest beyond `keep`.

        Call it inside the storage transaction that holds the action's effect: the insert and
        the prune then land in that transaction's one journal record.
        """
        row = AuditRow(
            at=at.isoformat(),
            action=action,
            reason=reason,
            order_id=order_id,
            outcome=outcome,
            detail=detail,
        )
        table = self._db.table(AUDIT_TABLE)
        table.insert(dict(row))
        stored = self._stored()
        excess = len(stored) - self._keep
        if excess > 0:
            table.remove(doc_ids=[int(key) for key in islice(stored, excess)])
        return row

    def recent(self, limit: int) -> list[AuditRow]:
        """The newest `limit` rows, newest first."""
        stored = self._stored()
        return [_row(document) for document in islice(reversed(stored.values()), limit)]

    def __len__(self) -> int:
        return len(self._stored())

    def _stored(self) -> dict[str, dict[str, object]]:
        """The table as stored, keyed by document id in insertion order (oldest first)."""
        tables = self._db.storage.read() or {}
        table: dict[str, dict[str, object]] = tables.get(AUDIT_TABLE, {})
        return table


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
