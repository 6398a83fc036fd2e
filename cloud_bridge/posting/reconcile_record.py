"""Keeping each reconciliation's result, so the last one can be shown without running it again.

`reconcile` calls `record_reconciliation` once it has compared everything, in a transaction of
its own: the comparison reads the bridge and Sage at different moments and holds no lock, so
there is nothing to commit together with it. A run that stops on an error records nothing; the
last stored result then stays the last one that finished.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.db.posting import SageEnvironment, SageReconcileRun
from cloud_bridge.errors import BridgeError

__all__ = [
    "CheckedCounts",
    "RecordedDifference",
    "RunFacts",
    "UnreadableReconcileRunError",
    "latest_reconciliation",
    "record_reconciliation",
    "recorded_differences",
]


class UnreadableReconcileRunError(BridgeError, ValueError):
    """A stored reconciliation's differences are not the JSON list the bridge wrote."""


@dataclass(frozen=True)
class CheckedCounts:
    """How much one reconciliation compared: what "no differences" was found across."""

    shipment_lines: int = 0
    postings: int = 0
    documents: int = 0
    """Sage sales invoices and credit notes read."""
    stock_items: int = 0


@dataclass(frozen=True)
class RecordedDifference:
    """One stored difference: its kind, its sentence, and the ids it concerns."""

    kind: str
    message: str
    shipment_id: int | None = None
    posting_id: int | None = None
    sage_id: str | None = None
    sku: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "shipment_id": self.shipment_id,
            "posting_id": self.posting_id,
            "sage_id": self.sage_id,
            "sku": self.sku,
        }


@dataclass(frozen=True)
class RunFacts:
    """Everything a stored run says besides its differences."""

    environment: str
    business_id: str
    started_at: datetime
    finished_at: datetime
    shipped_since: datetime | None
    checked: CheckedCounts
    problems: int


def record_reconciliation(
    sessions: sessionmaker[Session], facts: RunFacts, differences: list[RecordedDifference]
) -> int:
    """Store one finished reconciliation; returns the run's id."""
    run = SageReconcileRun(
        environment=SageEnvironment(facts.environment),
        business_id=facts.business_id,
        started_at=facts.started_at,
        finished_at=facts.finished_at,
        shipped_since=facts.shipped_since,
        shipment_lines_checked=facts.checked.shipment_lines,
        postings_checked=facts.checked.postings,
        documents_checked=facts.checked.documents,
        stock_items_checked=facts.checked.stock_items,
        differences=len(differences),
        problems=facts.problems,
        difference_lines=json.dumps([difference.as_json() for difference in differences]),
    )
    with sessions.begin() as session:
        session.add(run)
        session.flush()
        return run.id


def latest_reconciliation(session: Session) -> SageReconcileRun | None:
    """The reconciliation that finished last, of any environment, or None if none has run."""
    return session.scalars(
        select(SageReconcileRun)
        .order_by(SageReconcileRun.finished_at.desc(), SageReconcileRun.id.desc())
        .limit(1)
    ).first()


def recorded_differences(run: SageReconcileRun) -> list[RecordedDifference]:
    """A stored run's differences, in the order the reconciliation listed them."""
    stored = json.loads(run.difference_lines)
    if not isinstance(stored, list):
        raise UnreadableReconcileRunError(
            f"reconcile run {run.id} stores its differences as a JSON {type(stored).__name__}; "
            "expected a list"
        )
    return [RecordedDifference(**item) for item in stored]
