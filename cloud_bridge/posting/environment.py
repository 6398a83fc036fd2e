"""Which Sage environment the bridge posts to, and the rule for switching from test to live.

The seed asks to connect a test Sage organisation first and then live. Sage itself does not keep
them apart (one login can reach both businesses), so the bridge does:

* Every posting is stamped with its environment when it is written, and only a client of that
  environment sends, retries, corrects or reconciles it; anything else is refused with an error
  naming both environments (`require_environment`).
* One row (`sage_connection`) records the environment and business in use. The first posting
  pass records it. A pass whose configuration names another one is a switch, and a switch is
  refused while anything of the old environment is in flight: a pending posting (queued or
  sent without Sage's answer stored) or a shipment correction waiting to be planned there.
  Those either drain in the old environment (switch the configuration back until they are
  posted) or are dismissed on purpose (`packline sage switch --dismiss-in-flight`). Nothing is
  ever moved across: postings keep their environment, so the test history stays test history,
  and a shipment posted in test is never posted again in live.
* The first selection, the switch and the dismissals are written to the audit trail in the
  same transaction as the change.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cloud_bridge.audit import record_audit
from cloud_bridge.db.posting import (
    SAGE_CONNECTION_ID,
    Posting,
    PostingState,
    SageConnection,
    SageEnvironment,
)
from cloud_bridge.db.shipping import Shipment
from cloud_bridge.sage.errors import SageEnvironmentMismatch

__all__ = [
    "AUDIT_SUBJECT",
    "EnvironmentSwitchRefused",
    "InFlight",
    "in_flight",
    "require_environment",
    "select_environment",
    "selected_environment",
]

log = logging.getLogger("packline.bridge.sage")

AUDIT_SUBJECT = "sage_connection"
"""The audit trail's subject for every change to the Sage connection."""
_LISTED = 10


class EnvironmentSwitchRefused(SageEnvironmentMismatch):
    """The configuration names another Sage environment while the old one has work in flight."""


@dataclass(frozen=True)
class InFlight:
    """What an environment still has to finish: postings and queued corrections."""

    postings: tuple[int, ...]
    """Pending postings: queued, or sent without Sage's answer stored yet."""
    shipments: tuple[int, ...]
    """Shipments posted there, corrected since, and not yet planned again."""

    def __bool__(self) -> bool:
        return bool(self.postings or self.shipments)

    def describe(self) -> str:
        parts = []
        if self.postings:
            parts.append(f"{len(self.postings)} pending posting(s) ({_ids(self.postings)})")
        if self.shipments:
            parts.append(
                f"{len(self.shipments)} corrected shipment(s) not yet planned "
                f"({_ids(self.shipments)})"
            )
        return " and ".join(parts)


def _ids(ids: Sequence[int]) -> str:
    shown = ", ".join(str(number) for number in ids[:_LISTED])
    return shown + (f" and {len(ids) - _LISTED} more" if len(ids) > _LISTED else "")


def require_environment(posting: Posting, environment: str, action: str) -> None:
    """Refuse to `action` (retry, send, correct, reconcile) `posting` in another environment."""
    if posting.environment == environment:
        return
    raise SageEnvironmentMismatch(
        f"posting {posting.id} ({posting.reference}, shipment {posting.shipment_id}) was made "
        f"in Sage {posting.environment.value} (business {posting.business_id}); it cannot be "
        f"{action} in Sage {environment}. Postings stay in the environment they were made in"
    )


def selected_environment(session: Session) -> SageConnection | None:
    """The environment and business the bridge posts to now, or None before its first pass."""
    return session.get(SageConnection, SAGE_CONNECTION_ID)


def in_flight(session: Session, environment: SageEnvironment | str) -> InFlight:
    """What `environment` still has in flight; see the module docstring."""
    postings = tuple(
        session.scalars(
            select(Posting.id)
            .where(
                Posting.environment == SageEnvironment(environment),
                Posting.state == PostingState.PENDING,
            )
            .order_by(Posting.id)
        )
    )
    posted_there = (
        select(Posting.shipment_id)
        .where(
            Posting.environment == SageEnvironment(environment),
            Posting.state.in_((PostingState.PENDING, PostingState.POSTED)),
        )
        .distinct()
    )
    shipments = tuple(
        session.scalars(
            select(Shipment.id)
            .where(Shipment.posting_due.is_(True), Shipment.id.in_(posted_there))
            .order_by(Shipment.id)
        )
    )
    return InFlight(postings, shipments)


def select_environment(
    session: Session,
    *,
    environment: str,
    business_id: str,
    actor: str,
    now: datetime,
    dismiss_in_flight: bool = False,
) -> bool:
    """Make `environment`/`business_id` the one posted to; True if that changed anything.

    Refused (`EnvironmentSwitchRefused`) while the environment in use has work in flight,
    unless `dismiss_in_flight`, which dismisses it and says so in the audit trail. Also
    refused when this business already holds postings of the other environment. Nothing is
    committed here.
    """
    wanted = SageEnvironment(environment)
    current = session.get(SageConnection, SAGE_CONNECTION_ID, with_for_update=True)
    if current is None:
        _adopt_business(session, wanted, business_id)
        session.add(
            SageConnection(
                id=SAGE_CONNECTION_ID, environment=wanted, business_id=business_id, selected_at=now
            )
        )
        record_audit(
            session,
            actor=actor,
            action="sage.environment.select",
            subject=AUDIT_SUBJECT,
            after={"environment": wanted, "business_id": business_id},
        )
        log.info("sage: posting to Sage %s business %s", wanted.value, business_id)
        return True
    if current.environment == wanted and current.business_id == business_id:
        return False
    _refuse_business_of_other_environment(session, wanted, business_id)
    before = {"environment": current.environment, "business_id": current.business_id}
    pending = in_flight(session, current.environment)
    if pending and not dismiss_in_flight:
        raise EnvironmentSwitchRefused(
            f"the configuration says Sage {wanted.value} (business {business_id}), but the bridge "
            f"posts to Sage {current.environment.value} (business {current.business_id}), which "
            f"still has {pending.describe()}. Nothing is moved from "
            f"{current.environment.value} to {wanted.value}: set [sage] environment back to "
            f'"{current.environment.value}" until they are posted, or dismiss them with '
            f"`packline sage switch --environment {wanted.value} --dismiss-in-flight`"
        )
    after: dict[str, object] = {"environment": wanted, "business_id": business_id}
    if pending:
        _dismiss(session, pending, old=current.environment, new=wanted, actor=actor)
        after["dismissed_postings"] = list(pending.postings)
        after["dropped_corrections_of_shipments"] = list(pending.shipments)
    current.environment = wanted
    current.business_id = business_id
    current.selected_at = now
    record_audit(
        session,
        actor=actor,
        action="sage.environment.switch",
        subject=AUDIT_SUBJECT,
        before=before,
        after=after,
    )
    log.warning(
        "sage: switched from Sage %s business %s to Sage %s business %s (actor %s)",
        before["environment"],
        before["business_id"],
        wanted.value,
        business_id,
        actor,
    )
    return True


def _adopt_business(session: Session, environment: SageEnvironment, business_id: str) -> None:
    """At the first selection, stamp this business's postings with its environment.

    Only postings written before environments were recorded can exist then; the migration
    stamped them ``test``, and the business the configuration names says which they were.
    """
    session.execute(
        update(Posting)
        .where(Posting.business_id == business_id, Posting.environment != environment)
        .values(environment=environment)
    )


def _refuse_business_of_other_environment(
    session: Session, environment: SageEnvironment, business_id: str
) -> None:
    other = session.scalar(
        select(Posting.environment)
        .where(Posting.business_id == business_id, Posting.environment != environment)
        .limit(1)
    )
    if other is None:
        return
    count = session.scalar(
        select(func.count())
        .select_from(Posting)
        .where(Posting.business_id == business_id, Posting.environment == other)
    )
    raise EnvironmentSwitchRefused(
        f"business {business_id} is configured as Sage {environment.value}, but {count} "
        f"posting(s) were made in it as Sage {other.value}; one business cannot be both. "
        f"Give [sage.{environment.value}] its own business_id"
    )


def _dismiss(
    session: Session,
    pending: InFlight,
    *,
    old: SageEnvironment,
    new: SageEnvironment,
    actor: str,
) -> None:
    note = f"dismissed by {actor} at the switch from Sage {old.value} to Sage {new.value}"
    for posting in session.scalars(select(Posting).where(Posting.id.in_(pending.postings))):
        posting.state = PostingState.DISMISSED
        posting.last_error = f"{note}; last error: {posting.last_error or 'none'}"
    for shipment in session.scalars(select(Shipment).where(Shipment.id.in_(pending.shipments))):
        shipment.posting_due = False
    log.warning(
        "sage: %s; postings %s, shipment corrections %s",
        note,
        list(pending.postings),
        list(pending.shipments),
    )
