"""The Sage posting outbox, shipment corrections, and what the bridge has read from Sage.

A posting row is written, with its idempotency id and the exact document body, *before* the
document is sent. Whatever happens after that (a timeout, a crash before Sage's id is stored, a
restart) the same body goes out again under the same id, so Sage returns the original instead
of creating a second document. What a shipment has been posted for is the sum of its posting
lines (invoices add, credit notes subtract), so a correction only ever posts the difference.

Every posting is stamped with the Sage environment (test or live) it was made in, and the one
row of ``sage_connection`` says which environment the bridge posts to now; together they keep a
posting from ever being sent, retried, corrected or reconciled in the other environment.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloud_bridge.db.base import Base
from cloud_bridge.db.types import Money, Rate, UtcDateTime, string_enum, utc_now

__all__ = [
    "REJECTED_POSTINGS_CONDITION",
    "REJECTED_POSTINGS_INDEX",
    "SAGE_CONNECTION_ID",
    "Posting",
    "PostingKind",
    "PostingLine",
    "PostingState",
    "SageConnection",
    "SageEnvironment",
    "SageItemKind",
    "SageReconcileRun",
    "SageRecord",
    "SageSyncMark",
    "ShipmentCorrection",
]


REJECTED_POSTINGS_CONDITION = (
    "CASE WHEN state = 'failed' THEN 1 "
    "WHEN state = 'posted' AND last_error IS NOT NULL THEN 1 ELSE 0 END = 1"
)
"""Which postings the error report lists: refused ones, and posted ones with a problem left.

Kept as SQL text, for the partial index and the query alike: SQLite uses a partial index only
when the query states its condition in the same words, never through bound parameters. It is
one CASE term rather than an OR so SQLite cannot split it over the index on ``state``, which
would walk every posted posting to find the few with a problem left.
"""

REJECTED_POSTINGS_INDEX = "ix_sage_postings_rejected"
"""The partial index of the postings in the error report, so it is paged without a scan."""


class SageEnvironment(enum.StrEnum):
    """The Sage environment a posting belongs to: the test business or the live one."""

    TEST = "test"
    LIVE = "live"


class PostingKind(enum.StrEnum):
    """Which document a posting creates; the edition's strategy maps it to a Sage resource."""

    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class PostingState(enum.StrEnum):
    """Where a posting is in the outbox."""

    PENDING = "pending"
    """Written, not yet confirmed by Sage; it may already exist there (same idempotency id)."""
    POSTED = "posted"
    """Sage's id is stored; for a credit note, its allocation to the invoice is done too."""
    FAILED = "failed"
    """Refused for good (for example a 422); listed in the error report, blocks nothing else."""
    DISMISSED = "dismissed"
    """A failed posting someone chose to re-plan; it no longer counts as posted."""


class SageItemKind(enum.StrEnum):
    """How a product is posted on an invoice line.

    ``stock``: a Sage stock item; the invoice line itself moves the stock out ("goods out"), so
    no separate stock movement is ever posted. ``non_stock``: a Sage product that keeps no stock.
    ``service``: a Sage service (``service_id`` on the line).
    """

    STOCK = "stock"
    NON_STOCK = "non_stock"
    SERVICE = "service"


class Posting(Base):
    """One Sage document for one shipment, in one business: an invoice or a credit note."""

    __tablename__ = "sage_postings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    environment: Mapped[SageEnvironment] = mapped_column(
        string_enum(SageEnvironment, "sage_environment")
    )
    """Test or live: only a client of this environment may send, retry or reconcile it."""
    business_id: Mapped[str] = mapped_column(String(64))
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), index=True)
    kind: Mapped[PostingKind] = mapped_column(string_enum(PostingKind, "posting_kind"))
    revision: Mapped[int] = mapped_column(Integer)
    """1 for the shipment's first document, then one more for each correction posted."""
    idempotency_id: Mapped[str] = mapped_column(String(32), unique=True)
    reference: Mapped[str] = mapped_column(String(64))
    document: Mapped[str] = mapped_column(Text)
    """The JSON body sent to Sage, fixed when the posting is written so every retry is equal."""
    state: Mapped[PostingState] = mapped_column(
        string_enum(PostingState, "posting_state"), default=PostingState.PENDING
    )
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    """Not sent before this instant: now, or the end of the current batch interval."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    first_sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """When it was first sent; past Sage's 7-day idempotency window, search before re-sending."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    """The latest failure, transient or final, in words."""
    error_items: Mapped[str | None] = mapped_column(Text)
    """Sage's error array (JSON) when the posting was refused for good."""
    sage_id: Mapped[str | None] = mapped_column(String(64))
    sage_number: Mapped[str | None] = mapped_column(String(64))
    posted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    credits_posting_id: Mapped[int | None] = mapped_column(ForeignKey("sage_postings.id"))
    """For a credit note: the invoice posting it credits. Sage keeps no such link; we do."""
    allocation_idempotency_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    allocation_id: Mapped[str | None] = mapped_column(String(64))
    """The Sage contact allocation that offsets this credit note against its invoice."""

    lines: Mapped[list[PostingLine]] = relationship(
        order_by="PostingLine.line_id", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        UniqueConstraint("business_id", "shipment_id", "kind", "revision"),
        Index("ix_sage_postings_queue", "business_id", "state", "due_at"),
        Index("ix_sage_postings_state_due_at", "state", "due_at"),
        Index("ix_sage_postings_posted_at", "posted_at"),
        Index(
            REJECTED_POSTINGS_INDEX,
            "id",
            sqlite_where=text(REJECTED_POSTINGS_CONDITION),
            postgresql_where=text(REJECTED_POSTINGS_CONDITION),
        ),
        CheckConstraint("revision >= 1", name="revision_positive"),
    )


class PostingLine(Base):
    """How many units of one shipment line a posting invoices or credits, and at what price."""

    __tablename__ = "sage_posting_lines"

    posting_id: Mapped[int] = mapped_column(
        ForeignKey("sage_postings.id", ondelete="CASCADE"), primary_key=True
    )
    line_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Money)
    tax_rate: Mapped[Decimal] = mapped_column(Rate)

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)


class ShipmentCorrection(Base):
    """A change to a shipped quantity after the fact: the audit trail behind a credit note."""

    __tablename__ = "shipment_corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), index=True)
    line_id: Mapped[str] = mapped_column(String(64))
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"))
    quantity_before: Mapped[int] = mapped_column(Integer)
    quantity_after: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(400))
    corrected_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)

    __table_args__ = (
        CheckConstraint("quantity_before >= 0", name="quantity_before_not_negative"),
        CheckConstraint("quantity_after >= 0", name="quantity_after_not_negative"),
    )


class SageRecord(Base):
    """One record read from Sage (contact, ledger account, tax rate, product, stock item)."""

    __tablename__ = "sage_records"

    business_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    sage_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    code: Mapped[str | None] = mapped_column(String(200))
    """What we match on: a contact's reference, a product's item code, a nominal code."""
    displayed_as: Mapped[str] = mapped_column(String(400), default="")
    data: Mapped[str] = mapped_column(Text)
    """The record as Sage returned it, JSON."""
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """Sage's own ``updated_at``: incremental syncs ask for what changed since the newest."""

    __table_args__ = (Index("ix_sage_records_code", "business_id", "resource", "code"),)


class SageSyncMark(Base):
    """How far each resource of a business has been read, for the next incremental sync."""

    __tablename__ = "sage_sync_marks"

    business_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    synced_since: Mapped[datetime] = mapped_column(UtcDateTime)
    """The next sync asks Sage for records updated or created at or after this instant."""
    synced_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


SAGE_CONNECTION_ID = 1
"""The id of the one row of ``sage_connection``."""


class SageConnection(Base):
    """The Sage environment and business the bridge posts to now (a single row).

    Written when the bridge first posts, and changed only by a switch of environment, which is
    refused while postings of the old one are in flight; see ``cloud_bridge.posting.environment``.
    """

    __tablename__ = "sage_connection"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    environment: Mapped[SageEnvironment] = mapped_column(
        string_enum(SageEnvironment, "sage_environment")
    )
    business_id: Mapped[str] = mapped_column(String(64))
    selected_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)

    __table_args__ = (CheckConstraint(f"id = {SAGE_CONNECTION_ID}", name="single_row"),)


class SageReconcileRun(Base):
    """One finished reconciliation: what was compared with Sage, and every difference found.

    Written by the reconciliation itself, whoever runs it, so the dashboard can show the last
    result instead of asking someone to run ``packline sage reconcile`` and read the terminal.
    """

    __tablename__ = "sage_reconcile_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    environment: Mapped[SageEnvironment] = mapped_column(
        string_enum(SageEnvironment, "sage_environment")
    )
    business_id: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime)
    shipped_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """The lower bound of the shipment checks, if the run had one."""
    shipment_lines_checked: Mapped[int] = mapped_column(Integer)
    postings_checked: Mapped[int] = mapped_column(Integer)
    documents_checked: Mapped[int] = mapped_column(Integer)
    """Sage sales invoices and credit notes read."""
    stock_items_checked: Mapped[int] = mapped_column(Integer)
    differences: Mapped[int] = mapped_column(Integer)
    problems: Mapped[int] = mapped_column(Integer)
    """Differences that need attention: all but postings awaiting Sage."""
    difference_lines: Mapped[str] = mapped_column(Text)
    """Every difference as JSON: a list of objects with ``kind``, ``message`` and the ids."""

    __table_args__ = (
        Index("ix_sage_reconcile_runs_finished_at", "finished_at"),
        CheckConstraint("problems <= differences", name="problems_within_differences"),
    )
