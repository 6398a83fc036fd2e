"""Turn shipments into postings: exactly the difference between what shipped and what Sage has.

A shipment is marked `posting_due` when it is recorded and again when it is corrected. Planning
compares each line's shipped quantity with its posted quantity (invoices minus credit notes that
are pending or posted in this business) and writes one invoice posting for lines that shipped
more and one credit note posting for lines that shipped less. Because the comparison is with
what is already in the outbox, planning twice posts nothing twice. A posting's body is fixed
when it is written, so a correction made even before the first invoice went out becomes its own
credit note: finance sees both documents, which is what happened.

Every posting's idempotency id is derived from (business, shipment, kind, revision) and stored
with the exact body before anything is sent.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cloud_bridge.db.credit import Debtor
from cloud_bridge.db.engine import for_update
from cloud_bridge.db.orders import OrderLine, SalesOrder
from cloud_bridge.db.posting import (
    Posting,
    PostingKind,
    PostingLine,
    PostingState,
    SageEnvironment,
    ShipmentCorrection,
)
from cloud_bridge.db.shipping import Shipment
from cloud_bridge.db.stock import Product
from cloud_bridge.posting.documents import (
    DeliverTo,
    DocumentDraft,
    DocumentStrategy,
    DraftLine,
)
from cloud_bridge.posting.mapping import contact_for, item_for
from cloud_bridge.posting.settings import PostingPreferences
from cloud_bridge.posting.sync import ledger_account_id
from cloud_bridge.sage.wire import encode_json

__all__ = [
    "COUNTED_STATES",
    "MAX_REFERENCE_LENGTH",
    "PlanResult",
    "document_reference",
    "plan_postings",
    "posted_quantities",
    "posting_idempotency_id",
]

COUNTED_STATES = (PostingState.PENDING, PostingState.POSTED)
"""Postings that count as posted: sent, or certain to be sent with their fixed body."""
MAX_REFERENCE_LENGTH = 25
"""Kept within Sage's short reference field so a reference is never cut (and stays unique)."""
_NAMESPACE = uuid.UUID("5f0c3c1e-8d0a-4b7e-9a43-2f6e4f1d7c21")

log = logging.getLogger("packline.bridge.posting")


def posting_idempotency_id(business_id: str, shipment_id: int, kind: str, revision: int) -> str:
    """Sage's idempotency_id for a document: 32 hex digits, the same for the same inputs."""
    return uuid.uuid5(_NAMESPACE, f"{business_id}/{shipment_id}/{kind}/{revision}").hex


def document_reference(order_no: str, shipment_id: int, kind: PostingKind, revision: int) -> str:
    """The document's `reference`: order and shipment, plus the revision after the first.

    `ORDER/SHIPMENT` for a shipment's first invoice, `ORDER/SHIPMENT/C2` for a credit note of
    revision 2, `/I3` for a later invoice. Long order numbers fall back to `PL<shipment>`.
    """
    suffix = ""
    if not (kind is PostingKind.INVOICE and revision == 1):
        suffix = f"/{'C' if kind is PostingKind.CREDIT_NOTE else 'I'}{revision}"
    reference = f"{order_no}/{shipment_id}{suffix}"
    if len(reference) > MAX_REFERENCE_LENGTH:
        reference = f"PL{shipment_id}{suffix}"
    return reference


def posted_quantities(postings: Iterable[Posting]) -> dict[str, int]:
    """Per shipment line: units invoiced minus units credited, over the counted postings."""
    net: dict[str, int] = {}
    for posting in postings:
        if posting.state not in COUNTED_STATES:
            continue
        sign = 1 if posting.kind is PostingKind.INVOICE else -1
        for line in posting.lines:
            net[line.line_id] = net.get(line.line_id, 0) + sign * line.quantity
    return net


@dataclass(frozen=True)
class PlanResult:
    """What one planning pass wrote."""

    shipments: int
    """Shipments looked at."""
    postings: tuple[int, ...]
    """Ids of the postings written, pending or (when they could not be built) failed."""
    failed: tuple[int, ...]
    """Of those, the ones that could not be built (a missing mapping); in the error report."""


@dataclass(frozen=True)
class _Change:
    kind: PostingKind
    quantities: dict[str, int]


def plan_postings(
    session: Session,
    *,
    environment: str,
    business_id: str,
    strategy: DocumentStrategy,
    preferences: PostingPreferences,
    now: datetime,
    due_at: datetime,
    limit: int = 200,
) -> PlanResult:
    """Write the postings for up to `limit` shipments marked `posting_due`; commit is the caller's.

    A shipment already posted to a different environment or business is not posted again here:
    the posting carries the environment and business it was meant for, so a test posting never
    follows the switch to live.
    """
    stamp = SageEnvironment(environment)
    shipments = list(
        session.scalars(
            for_update(
                select(Shipment)
                .where(Shipment.posting_due.is_(True))
                .order_by(Shipment.id)
                .limit(limit)
            ).options(selectinload(Shipment.lines))
        )
    )
    written: list[Posting] = []
    failed: list[Posting] = []
    for shipment in shipments:
        shipment.posting_due = False
        existing = list(
            session.scalars(
                select(Posting)
                .where(Posting.shipment_id == shipment.id)
                .order_by(Posting.id)
                .options(selectinload(Posting.lines))
            )
        )
        ours = [
            posting
            for posting in existing
            if posting.business_id == business_id and posting.environment == stamp
        ]
        elsewhere = [
            posting
            for posting in existing
            if posting not in ours and posting.state in COUNTED_STATES
        ]
        if elsewhere and not ours:
            log.info(
                "shipment %d was posted in Sage %s business %s; not posted to Sage %s business %s",
                shipment.id,
                elsewhere[0].environment.value,
                elsewhere[0].business_id,
                stamp.value,
                business_id,
            )
            continue
        for change in _changes(shipment, posted_quantities(ours)):
            revision = len(ours) + 1
            posting = _write_posting(
                session,
                shipment=shipment,
                change=change,
                revision=revision,
                earlier=ours,
                environment=stamp,
                business_id=business_id,
                strategy=strategy,
                preferences=preferences,
                now=now,
                due_at=due_at,
            )
            ours.append(posting)
            written.append(posting)
            if posting.state is PostingState.FAILED:
                failed.append(posting)
    session.flush()
    return PlanResult(
        shipments=len(shipments),
        postings=tuple(posting.id for posting in written),
        failed=tuple(posting.id for posting in failed),
    )


def _changes(shipment: Shipment, posted: dict[str, int]) -> list[_Change]:
    shipped = {line.line_id: line.quantity for line in shipment.lines}
    more: dict[str, int] = {}
    less: dict[str, int] = {}
    for line_id in sorted(set(shipped) | set(posted)):
        difference = shipped.get(line_id, 0) - posted.get(line_id, 0)
        if difference > 0:
            more[line_id] = difference
        elif difference < 0:
            less[line_id] = -difference
    changes = []
    if more:
        changes.append(_Change(PostingKind.INVOICE, more))
    if less:
        changes.append(_Change(PostingKind.CREDIT_NOTE, less))
    return changes


def _write_posting(
    session: Session,
    *,
    shipment: Shipment,
    change: _Change,
    revision: int,
    earlier: list[Posting],
    environment: SageEnvironment,
    business_id: str,
    strategy: DocumentStrategy,
    preferences: PostingPreferences,
    now: datetime,
    due_at: datetime,
) -> Posting:
    order = session.get_one(SalesOrder, shipment.order_no)
    order_lines = {line.line_id: line for line in order.lines}
    invoice = _credited_invoice(earlier) if change.kind is PostingKind.CREDIT_NOTE else None
    reference = document_reference(order.order_no, shipment.id, change.kind, revision)
    idempotency_id = posting_idempotency_id(business_id, shipment.id, change.kind.value, revision)
    problems: list[str] = []
    debtor = session.get(Debtor, order.invoice_debtor_no)
    contact_id = contact_for(session, business_id, debtor) if debtor is not None else None
    if not contact_id:
        problems.append(
            f"debtor {order.invoice_debtor_no} has no single Sage contact in business "
            f"{business_id} (give one Sage customer the reference {order.invoice_debtor_no}, or "
            "set the debtor's sage_contact_id, then run `packline sage sync`)"
        )
    ledger_id = ledger_account_id(session, business_id, preferences.sales_ledger_account)
    if ledger_id is None:
        problems.append(
            f"sales ledger account {preferences.sales_ledger_account} is not in business "
            f"{business_id} (run `packline sage sync`, or fix sage.posting.sales_ledger_account)"
        )
    lines: list[DraftLine] = []
    prices: dict[str, tuple[Decimal, Decimal]] = {}
    for line_id, quantity in sorted(change.quantities.items()):
        order_line = order_lines.get(line_id)
        if order_line is None:
            problems.append(f"line {line_id} is not on order {order.order_no}")
            continue
        unit_price, tax_rate = prices[line_id] = _price(order_line, invoice, earlier)
        drafted = _draft_line(
            session,
            business_id,
            order_line=order_line,
            quantity=quantity,
            unit_price=unit_price,
            tax_rate=tax_rate,
            ledger_id=ledger_id or "",
            preferences=preferences,
            problems=problems,
        )
        if drafted is not None:
            lines.append(drafted)
    draft = DocumentDraft(
        kind=change.kind,
        idempotency_id=idempotency_id,
        contact_id=contact_id or "",
        document_date=_document_date(shipment, revision, now),
        reference=reference,
        notes=_notes(
            session, shipment, order=order, kind=change.kind, invoice=invoice, earlier=earlier
        ),
        deliver_to=DeliverTo(
            name=order.deliver_to_name,
            line1=order.deliver_to_line1,
            line2=order.deliver_to_line2,
            city=order.deliver_to_city,
            postal_code=order.deliver_to_postal_code,
            country=order.deliver_to_country,
        ),
        lines=tuple(lines),
        original_invoice_date=_invoice_date(invoice),
        original_invoice_number=invoice.sage_number if invoice is not None else None,
    )
    body: dict[str, Any] = {} if problems else strategy.body(draft)
    posting = Posting(
        environment=environment,
        business_id=business_id,
        shipment_id=shipment.id,
        kind=change.kind,
        revision=revision,
        idempotency_id=idempotency_id,
        reference=reference,
        document=encode_json(body).decode(),
        state=PostingState.FAILED if problems else PostingState.PENDING,
        due_at=due_at,
        created_at=now,
        attempts=0,
        last_error="; ".join(problems) if problems else None,
        credits_posting_id=invoice.id if invoice is not None else None,
        lines=[
            PostingLine(
                line_id=line_id,
                sku=order_lines[line_id].sku,
                quantity=quantity,
                unit_price=prices[line_id][0],
                tax_rate=prices[line_id][1],
            )
            for line_id, quantity in sorted(change.quantities.items())
            if line_id in prices
        ],
    )
    session.add(posting)
    session.flush()
    return posting


def _credited_invoice(earlier: list[Posting]) -> Posting | None:
    """The newest counted invoice of the shipment: the one a credit note is allocated to."""
    for posting in reversed(earlier):
        if posting.kind is PostingKind.INVOICE and posting.state in COUNTED_STATES:
            return posting
    return None


def _price(
    order_line: OrderLine, invoice: Posting | None, earlier: list[Posting]
) -> tuple[Decimal, Decimal]:
    """Credit at the price the units were invoiced at; invoice at the order line's price."""
    if invoice is not None:
        for posting in reversed(earlier):
            if posting.kind is not PostingKind.INVOICE or posting.state not in COUNTED_STATES:
                continue
            for line in posting.lines:
                if line.line_id == order_line.line_id:
                    return line.unit_price, line.tax_rate
    return order_line.unit_price, order_line.tax_rate


def _draft_line(
    session: Session,
    business_id: str,
    *,
    order_line: OrderLine,
    quantity: int,
    unit_price: Decimal,
    tax_rate: Decimal,
    ledger_id: str,
    preferences: PostingPreferences,
    problems: list[str],
) -> DraftLine | None:
    product = session.get_one(Product, order_line.sku)
    tax_rate_id = preferences.tax_rate_id(tax_rate)
    if tax_rate_id is None:
        problems.append(
            f"tax rate {tax_rate.normalize()} (line {order_line.line_id}) has no Sage tax rate "
            "in sage.posting.tax_rates"
        )
    item = item_for(session, business_id, product)
    if item is None:
        problems.append(
            f"product {product.sku} has no single Sage stock item, product or service in "
            f"business {business_id} (give one the item code {product.sku}, or set the "
            "product's sage_item_id, then run `packline sage sync`)"
        )
    if tax_rate_id is None or item is None:
        return None
    description = f"{product.sku} {product.description}".strip()
    return DraftLine(
        line_id=order_line.line_id,
        sku=product.sku,
        description=description,
        quantity=quantity,
        unit_price=unit_price,
        tax_rate=tax_rate,
        item_kind=item.kind,
        item_id=item.item_id,
        ledger_account_id=ledger_id,
        tax_rate_id=tax_rate_id,
    )


def _document_date(shipment: Shipment, revision: int, now: datetime) -> date:
    """The shipment's own date for its first document; the correction's date afterwards."""
    return shipment.shipped_at.date() if revision == 1 else now.date()


def _invoice_date(invoice: Posting | None) -> date | None:
    if invoice is None:
        return None
    stored = json.loads(invoice.document or "{}").get("date")
    return date.fromisoformat(stored) if stored else None


def _notes(
    session: Session,
    shipment: Shipment,
    *,
    order: SalesOrder,
    kind: PostingKind,
    invoice: Posting | None,
    earlier: list[Posting],
) -> str:
    """Order, shipment, label and tracking: Sage invoices have no custom fields for them."""
    parts = [f"Packline shipment {shipment.id} of order {order.order_no}"]
    parts.append(f"label {shipment.label_id}")
    if shipment.sscc:
        parts.append(f"SSCC {shipment.sscc}")
    tracking = shipment.tracking_number or "none"
    parts.append(f"carrier {shipment.carrier}, tracking {tracking}")
    parts.append(f"deliver to {order.deliver_to_name}, {order.deliver_to_city}")
    if kind is PostingKind.CREDIT_NOTE:
        if invoice is not None:
            parts.append(f"credits {invoice.reference}")
        since = max((posting.created_at for posting in earlier), default=None)
        reasons = _correction_reasons(session, shipment.id, since)
        if reasons:
            parts.append(f"correction: {'; '.join(reasons)}")
    return "; ".join(parts)


def _correction_reasons(session: Session, shipment_id: int, since: datetime | None) -> list[str]:
    query = select(ShipmentCorrection.reason).where(ShipmentCorrection.shipment_id == shipment_id)
    if since is not None:
        query = query.where(ShipmentCorrection.corrected_at >= since)
    reasons: list[str] = []
    for reason in session.scalars(query.order_by(ShipmentCorrection.id)):
        if reason not in reasons:
            reasons.append(reason)
    return reasons
