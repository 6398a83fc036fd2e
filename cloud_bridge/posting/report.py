"""The posting error report, and putting a fixed posting back in the queue.

A posting refused for good stays in the report with Sage's own message until someone fixes the
cause (a missing mapping, Sage's stock too low) and asks for a retry. A retry does not resend
the refused body: it dismisses that posting and marks the shipment due, so the planner writes a
new revision from what is true now, under a new idempotency id. Sage created nothing for the
refused one, so nothing can be doubled. A retry is made in the environment the posting was made
in, never the other: asking for one from the other environment is refused, naming both.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cloud_bridge.db.posting import Posting, PostingKind, PostingState
from cloud_bridge.db.shipping import Shipment
from cloud_bridge.errors import BridgeError
from cloud_bridge.posting.environment import require_environment

__all__ = ["PostingProblem", "RetryRefused", "error_report", "retry_postings"]


class RetryRefused(BridgeError, ValueError):
    """A retry was asked for a posting that is not failed (or does not exist)."""


@dataclass(frozen=True)
class PostingProblem:
    """One line of the error report."""

    posting_id: int
    environment: str
    business_id: str
    shipment_id: int
    kind: PostingKind
    reference: str
    state: PostingState
    message: str
    sage_messages: tuple[str, ...]
    created_at: datetime

    def line(self) -> str:
        """One printable line."""
        said = f" | Sage: {' / '.join(self.sage_messages)}" if self.sage_messages else ""
        return (
            f"posting {self.posting_id} ({self.kind.value} {self.reference}, shipment "
            f"{self.shipment_id}) {self.state.value}: {self.message}{said}"
        )


def error_report(
    session: Session, business_id: str | None = None, *, environment: str | None = None
) -> list[PostingProblem]:
    """Failed postings, and posted credit notes whose link to the invoice could not be made.

    `environment` and `business_id` limit it to the postings of one environment or business.
    """
    query = (
        select(Posting)
        .where(
            or_(
                Posting.state == PostingState.FAILED,
                (Posting.state == PostingState.POSTED) & Posting.last_error.is_not(None),
            )
        )
        .order_by(Posting.id)
    )
    if business_id is not None:
        query = query.where(Posting.business_id == business_id)
    if environment is not None:
        query = query.where(Posting.environment == environment)
    return [_problem(posting) for posting in session.scalars(query)]


def _problem(posting: Posting) -> PostingProblem:
    items = json.loads(posting.error_items) if posting.error_items else []
    return PostingProblem(
        posting_id=posting.id,
        environment=posting.environment.value,
        business_id=posting.business_id,
        shipment_id=posting.shipment_id,
        kind=posting.kind,
        reference=posting.reference,
        state=posting.state,
        message=posting.last_error or "",
        sage_messages=tuple(str(item.get("$message", "")) for item in items),
        created_at=posting.created_at,
    )


def retry_postings(session: Session, posting_ids: Iterable[int], *, environment: str) -> list[int]:
    """Dismiss failed postings and mark their shipments due; returns the shipment ids.

    `environment` is the one the bridge posts to; a posting of the other is refused
    (`SageEnvironmentMismatch`) before anything changes.
    """
    postings: list[Posting] = []
    for posting_id in posting_ids:
        posting = session.get(Posting, posting_id)
        if posting is None:
            raise RetryRefused(f"posting {posting_id} does not exist")
        if posting.state is not PostingState.FAILED:
            raise RetryRefused(
                f"posting {posting_id} is {posting.state.value}; only a failed posting can be "
                "retried"
            )
        require_environment(posting, environment, "retried")
        postings.append(posting)
    shipments: list[int] = []
    for posting in postings:
        posting.state = PostingState.DISMISSED
        session.get_one(Shipment, posting.shipment_id).posting_due = True
        shipments.append(posting.shipment_id)
    return shipments
