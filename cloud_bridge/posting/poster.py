"""Send due postings to one Sage business, oldest first, never creating a document twice.

The rules that make "never twice" hold whatever crashes or times out:

* The idempotency id and the exact body were stored when the posting was planned. Each send
  repeats them, so within Sage's 7-day window a repeat returns the original document.
* When a posting was first sent longer ago than that window (less a margin), it is looked up by
  its reference before being sent again, and an existing document is adopted.
* The posting is marked posted only once Sage's id is stored. For a credit note the link to its
  invoice (a contact allocation, under its own stored idempotency id) comes after the credit
  note's id is stored, so a crash between them only repeats the link.
* Two bridge instances posting the same business at once are harmless: they send the same ids.
* Only postings of the client's environment (test or live) are sent, and a credit note is never
  linked to an invoice of the other environment.

Failures: a refusal for good (422 and other client errors) marks that posting failed, with
Sage's messages, and the queue moves on. A throttle, outage or unknown outcome pauses this
business's queue with backoff (order is kept; the client already retried). An expired
connection stops the queue until someone reconnects.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, Protocol

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.db.posting import Posting, PostingKind, PostingState
from cloud_bridge.db.types import utc_now
from cloud_bridge.posting.documents import AllocationDraft, DocumentStrategy
from cloud_bridge.posting.environment import require_environment
from cloud_bridge.posting.planner import posting_idempotency_id
from cloud_bridge.sage.client import SageClient
from cloud_bridge.sage.errors import (
    SageAuthError,
    SageEnvironmentMismatch,
    SageError,
    SageUnavailable,
)
from edge.station.backoff import full_jitter

__all__ = ["IDEMPOTENCY_SAFE_WINDOW", "AttemptObserver", "AttemptStep", "Poster", "PostingRound"]

log = logging.getLogger(__name__)

IDEMPOTENCY_SAFE_WINDOW = timedelta(days=6)
"""Sage replays an idempotency id for 7 days; after 6, search by reference before re-sending."""

_Record = dict[str, Any]

AttemptStep = Literal["document", "allocation"]
"""What an attempt sends: a posting's document, or a credit note's link to its invoice."""


class AttemptObserver(Protocol):
    """Told of every attempt to send to Sage and of every one that failed, as they happen.

    The queue's tables keep only each posting's latest outcome, so a failure that a later retry
    mends leaves no trace there; an observer (the bridge's metrics) is what counts them.
    """

    def attempted(self, step: AttemptStep) -> None:
        """An attempt is about to be sent."""

    def failed(self, step: AttemptStep, error: SageError) -> None:
        """The attempt ended with ``error`` (refused, throttled, unreachable...)."""


@dataclass
class PostingRound:
    """What one pass over the queue did."""

    posted: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)
    """Credit notes waiting for their invoice to be posted first."""
    halted: str | None = None
    """Why the queue stopped early (Sage unavailable, or a reconnect is needed)."""
    reconnect_required: bool = False


class _Halt(Exception):
    def __init__(self, message: str, *, reconnect: bool = False) -> None:
        super().__init__(message)
        self.reconnect = reconnect


class Poster:
    """The posting queue of the business `client` is bound to."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        client: SageClient,
        strategy: DocumentStrategy,
        *,
        clock: Callable[[], datetime] = utc_now,
        batch: int = 100,
        retry_initial_s: float = 30.0,
        retry_max_s: float = 3600.0,
        rng: random.Random | None = None,
        observer: AttemptObserver | None = None,
    ) -> None:
        self._sessions = sessions
        self._observer = observer
        self._client = client
        self._strategy = strategy
        self._clock = clock
        self._batch = batch
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._rng = rng or random.Random()

    @property
    def business_id(self) -> str:
        return self._client.business_id

    @property
    def environment(self) -> str:
        return self._client.environment

    async def post_due(self) -> PostingRound:
        """Send every due posting of this business (up to `batch`), oldest first."""
        now = self._clock()
        round_ = PostingRound()
        with self._sessions() as session:
            due = list(
                session.scalars(
                    select(Posting.id)
                    .where(
                        Posting.environment == self.environment,
                        Posting.business_id == self.business_id,
                        Posting.state == PostingState.PENDING,
                        Posting.due_at <= now,
                        or_(Posting.next_attempt_at.is_(None), Posting.next_attempt_at <= now),
                    )
                    .order_by(Posting.id)
                    .limit(self._batch)
                )
            )
        for posting_id in due:
            try:
                outcome = await self._post_one(posting_id)
            except _Halt as halt:
                round_.halted = str(halt)
                round_.reconnect_required = halt.reconnect
                break
            getattr(round_, outcome).append(posting_id)
        return round_

    async def _post_one(self, posting_id: int) -> str:
        with self._sessions.begin() as session:
            posting = session.get_one(Posting, posting_id)
            if posting.state is not PostingState.PENDING:
                return "posted" if posting.state is PostingState.POSTED else "failed"
            require_environment(posting, self.environment, "sent")
            invoice = (
                session.get(Posting, posting.credits_posting_id)
                if posting.credits_posting_id is not None
                else None
            )
            if invoice is not None and invoice.environment != posting.environment:
                posting.state = PostingState.FAILED
                posting.last_error = str(
                    SageEnvironmentMismatch(
                        f"the invoice it credits (posting {invoice.id}) was made in Sage "
                        f"{invoice.environment.value}, this credit note in Sage "
                        f"{posting.environment.value}; a credit note is only linked to an "
                        "invoice of its own environment"
                    )
                )
                return "failed"
            if invoice is not None and invoice.state is not PostingState.POSTED:
                if invoice.state is PostingState.PENDING:
                    return "waiting"
                posting.state = PostingState.FAILED
                posting.last_error = (
                    f"the invoice it credits (posting {invoice.id}, {invoice.reference}) was not "
                    f"posted: {invoice.last_error or invoice.state.value}"
                )
                return "failed"
            sage_id = posting.sage_id
        if sage_id is None:
            outcome = await self._create_document(posting_id)
            if outcome != "linking":
                return outcome
        return await self._finish(posting_id)

    async def _create_document(self, posting_id: int) -> str:
        """Create (or find) the document and store its id.

        Returns "posted" (stored, nothing more to do), "linking" (a credit note still to be
        linked to its invoice) or "failed" (refused for good).
        """
        now = self._clock()
        with self._sessions.begin() as session:
            posting = session.get_one(Posting, posting_id)
            target = self._strategy.resource(posting.kind)
            body = json.loads(posting.document)
            reference = posting.reference
            search_first = (
                posting.first_sent_at is not None
                and now - posting.first_sent_at >= IDEMPOTENCY_SAFE_WINDOW
            )
            if posting.first_sent_at is None:
                posting.first_sent_at = now
            posting.attempts += 1
        self._attempted("document")
        try:
            record = None
            if search_first:
                record = await self._client.find_by_reference(target.resource, reference)
                if record is not None:
                    log.info(
                        "posting %d: adopted %s %s found by reference",
                        posting_id,
                        target.singular,
                        record.get("id"),
                    )
            if record is None:
                record = await self._client.create(target.resource, target.singular, body)
        except SageError as error:
            self._failed("document", error)
            self._handle(posting_id, error, "document")
            return "failed"
        with self._sessions.begin() as session:
            posting = session.get_one(Posting, posting_id)
            posting.sage_id = str(record["id"])
            posting.sage_number = str(
                record.get(target.number_field) or record.get("displayed_as") or ""
            )
            posting.last_error = None
            posting.next_attempt_at = None
            if self._needs_link(posting):
                return "linking"
            posting.state = PostingState.POSTED
            posting.posted_at = self._clock()
        return "posted"

    def _needs_link(self, posting: Posting) -> bool:
        """A credit note not yet linked to its invoice, in an edition that links them."""
        return (
            posting.kind is PostingKind.CREDIT_NOTE
            and self._strategy.allocation_resource() is not None
            and posting.credits_posting_id is not None
            and posting.allocation_id is None
        )

    async def _finish(self, posting_id: int) -> str:
        """Posted, after linking a credit note to its invoice where the edition needs it."""
        allocation = self._strategy.allocation_resource()
        with self._sessions.begin() as session:
            posting = session.get_one(Posting, posting_id)
            if not self._needs_link(posting):
                posting.state = PostingState.POSTED
                posting.posted_at = self._clock()
                return "posted"
            invoice = session.get_one(Posting, posting.credits_posting_id)
            invoice_id = invoice.sage_id
            credit_id = posting.sage_id
            contact_id = json.loads(posting.document).get("contact_id", "")
            if posting.allocation_idempotency_id is None:
                posting.allocation_idempotency_id = posting_idempotency_id(
                    posting.business_id, posting.shipment_id, "allocation", posting.revision
                )
            allocation_key = posting.allocation_idempotency_id
        assert allocation is not None
        assert invoice_id is not None
        assert credit_id is not None
        note: str | None = None
        self._attempted("allocation")
        try:
            invoice_record = await self._client.get("sales_invoices", invoice_id)
            credit_record = await self._client.get(
                self._strategy.resource(PostingKind.CREDIT_NOTE).resource, credit_id
            )
            amount = min(
                _amount(invoice_record, "outstanding_amount"),
                _amount(credit_record, "outstanding_amount"),
            )
            allocation_id: str | None = None
            if amount > 0:
                draft = AllocationDraft(
                    idempotency_id=allocation_key,
                    contact_id=contact_id,
                    allocation_date=self._clock().date(),
                    invoice_id=invoice_id,
                    credit_note_id=credit_id,
                    amount=amount,
                )
                created = await self._client.create(
                    allocation.resource,
                    allocation.singular,
                    self._strategy.allocation_body(draft),
                )
                allocation_id = str(created["id"])
            else:
                note = (
                    f"credit note posted; invoice {invoice_record.get('displayed_as', invoice_id)}"
                    " has nothing outstanding, so the credit stays on the customer's account"
                )
        except SageError as error:
            self._failed("allocation", error)
            if isinstance(error, SageUnavailable | SageAuthError):
                self._handle(posting_id, error, "allocation")
            note = f"credit note posted; its allocation to the invoice was refused: {error}"
            allocation_id = None
        with self._sessions.begin() as session:
            posting = session.get_one(Posting, posting_id)
            posting.allocation_id = allocation_id
            posting.state = PostingState.POSTED
            posting.posted_at = self._clock()
            posting.last_error = note
        return "posted"

    def _attempted(self, step: AttemptStep) -> None:
        if self._observer is not None:
            self._observer.attempted(step)

    def _failed(self, step: AttemptStep, error: SageError) -> None:
        if self._observer is not None:
            self._observer.failed(step, error)

    def _handle(self, posting_id: int, error: SageError, what: str) -> str:
        """Record a failure: refused for good, or pause the queue (raises `_Halt`)."""
        now = self._clock()
        with self._sessions.begin() as session:
            posting = session.get_one(Posting, posting_id)
            posting.last_error = f"{what}: {error}"
            if isinstance(error, SageUnavailable):
                wait = full_jitter(
                    self._retry_initial_s, self._retry_max_s, posting.attempts - 1, self._rng
                )
                posting.next_attempt_at = now + timedelta(seconds=max(wait, 1.0))
            elif not isinstance(error, SageAuthError):
                posting.state = PostingState.FAILED
                posting.error_items = json.dumps(
                    [
                        {
                            "$severity": item.severity,
                            "$dataCode": item.data_code,
                            "$message": item.message,
                            "$source": item.source,
                        }
                        for item in error.items
                    ]
                )
        if isinstance(error, SageAuthError):
            log.error("posting %d: %s", posting_id, error)
            raise _Halt(str(error), reconnect=True)
        if isinstance(error, SageUnavailable):
            log.warning("posting %d: Sage unavailable, queue paused: %s", posting_id, error)
            raise _Halt(str(error))
        log.error("posting %d refused by Sage: %s", posting_id, error)
        return str(error)


def _amount(record: _Record, key: str) -> Decimal:
    value = record.get(key)
    return Decimal(str(value)) if value is not None else Decimal(0)
