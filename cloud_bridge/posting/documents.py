"""What a shipment becomes in Sage, per edition: the document strategy seam.

Sage Accounting (the v3.1 API) has sales invoices and sales credit notes and no sales orders, so
its strategy posts an invoice per shipment and a credit note per correction, and links the two
with a contact allocation because a credit note has no field naming its invoice. Sage 200 and
Sage 50 Professional have sales orders; a poster for them implements `DocumentStrategy` and is
registered in `strategy_for`, and nothing else in the outbox changes.

Money: Sage computes a line's net as quantity times unit price, to the penny, and in v3.1 wants
the line's tax amount sent unless the rate is zero; both are rounded half up here the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from cloud_bridge.db.posting import PostingKind, SageItemKind
from cloud_bridge.posting.settings import DocumentType, Edition
from edge.errors import ConfigError

__all__ = [
    "AllocationDraft",
    "DeliverTo",
    "DocumentDraft",
    "DocumentResource",
    "DocumentStrategy",
    "DraftLine",
    "SageAccountingInvoices",
    "document_total",
    "line_net",
    "line_tax",
    "strategy_for",
]

_PENNY = Decimal("0.01")


def line_net(quantity: int, unit_price: Decimal) -> Decimal:
    """A line's net amount as Sage computes it: quantity times unit price, to the penny."""
    return (quantity * unit_price).quantize(_PENNY, rounding=ROUND_HALF_UP)


def line_tax(quantity: int, unit_price: Decimal, tax_rate: Decimal) -> Decimal:
    """A line's tax, on its rounded net, to the penny."""
    return (line_net(quantity, unit_price) * tax_rate).quantize(_PENNY, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class DeliverTo:
    """Where the goods went, copied onto the document for customer service and finance."""

    name: str
    line1: str
    line2: str
    city: str
    postal_code: str
    country: str


@dataclass(frozen=True)
class DraftLine:
    """One document line: what shipped (or is credited) and how Sage should book it."""

    line_id: str
    sku: str
    description: str
    quantity: int
    unit_price: Decimal
    tax_rate: Decimal
    item_kind: SageItemKind
    item_id: str
    ledger_account_id: str
    tax_rate_id: str

    @property
    def net(self) -> Decimal:
        return line_net(self.quantity, self.unit_price)

    @property
    def tax(self) -> Decimal:
        return line_tax(self.quantity, self.unit_price, self.tax_rate)


@dataclass(frozen=True)
class DocumentDraft:
    """Everything an edition needs to write one document; built by the planner."""

    kind: PostingKind
    idempotency_id: str
    contact_id: str
    document_date: date
    reference: str
    notes: str
    deliver_to: DeliverTo
    lines: tuple[DraftLine, ...]
    original_invoice_date: date | None = None
    original_invoice_number: str | None = None


@dataclass(frozen=True)
class AllocationDraft:
    """Offset a credit note against the invoice it corrects, for one contact."""

    idempotency_id: str
    contact_id: str
    allocation_date: date
    invoice_id: str
    credit_note_id: str
    amount: Decimal


@dataclass(frozen=True)
class DocumentResource:
    """The Sage collection a document kind is posted to and the key its body is wrapped in."""

    resource: str
    singular: str
    number_field: str


def document_total(lines: tuple[DraftLine, ...]) -> Decimal:
    """Gross total of the lines (net plus tax), as Sage will total the document."""
    return sum((line.net + line.tax for line in lines), Decimal("0.00"))


class DocumentStrategy(Protocol):
    """How one Sage edition represents a shipment and its corrections."""

    edition: Edition

    def resource(self, kind: PostingKind) -> DocumentResource:
        """Where documents of `kind` are posted."""
        ...

    def body(self, draft: DocumentDraft) -> dict[str, Any]:
        """The JSON body (unwrapped) that creates the document."""
        ...

    def allocation_resource(self) -> DocumentResource | None:
        """Where credit-to-invoice links are posted, or None if the edition links them itself."""
        ...

    def allocation_body(self, draft: AllocationDraft) -> dict[str, Any]:
        """The JSON body (unwrapped) that links a credit note to its invoice."""
        ...


class SageAccountingInvoices:
    """Sage Business Cloud Accounting v3.1: an invoice per shipment, credit notes for less."""

    edition = Edition.SAGE_ACCOUNTING
    _RESOURCES: Mapping[PostingKind, DocumentResource] = {
        PostingKind.INVOICE: DocumentResource("sales_invoices", "sales_invoice", "invoice_number"),
        PostingKind.CREDIT_NOTE: DocumentResource(
            "sales_credit_notes", "sales_credit_note", "credit_note_number"
        ),
    }
    _LINES_FIELD: Mapping[PostingKind, str] = {
        PostingKind.INVOICE: "invoice_lines",
        PostingKind.CREDIT_NOTE: "credit_note_lines",
    }

    def resource(self, kind: PostingKind) -> DocumentResource:
        return self._RESOURCES[kind]

    def body(self, draft: DocumentDraft) -> dict[str, Any]:
        body: dict[str, Any] = {
            "idempotency_id": draft.idempotency_id,
            "contact_id": draft.contact_id,
            "date": draft.document_date.isoformat(),
            "reference": draft.reference,
            "notes": draft.notes,
            "delivery_address": {
                "address_line_1": draft.deliver_to.line1,
                "address_line_2": draft.deliver_to.line2,
                "city": draft.deliver_to.city,
                "postal_code": draft.deliver_to.postal_code,
                "country_id": draft.deliver_to.country,
            },
            self._LINES_FIELD[draft.kind]: [self._line(line) for line in draft.lines],
        }
        if draft.kind is PostingKind.CREDIT_NOTE:
            if draft.original_invoice_date is not None:
                body["original_invoice_date"] = draft.original_invoice_date.isoformat()
            if draft.original_invoice_number is not None:
                body["original_invoice_number"] = draft.original_invoice_number
        return body

    @staticmethod
    def _line(line: DraftLine) -> dict[str, Any]:
        item_key = "service_id" if line.item_kind is SageItemKind.SERVICE else "product_id"
        return {
            "description": line.description,
            item_key: line.item_id,
            "ledger_account_id": line.ledger_account_id,
            "quantity": Decimal(line.quantity),
            "unit_price": line.unit_price,
            "tax_rate_id": line.tax_rate_id,
            "tax_amount": line.tax,
        }

    def allocation_resource(self) -> DocumentResource | None:
        return DocumentResource("contact_allocations", "contact_allocation", "id")

    def allocation_body(self, draft: AllocationDraft) -> dict[str, Any]:
        return {
            "idempotency_id": draft.idempotency_id,
            "transaction_type_id": "CUSTOMER_ALLOCATION",
            "contact_id": draft.contact_id,
            "date": draft.allocation_date.isoformat(),
            "allocated_artefacts": [
                {"artefact_id": draft.invoice_id, "amount": draft.amount},
                {"artefact_id": draft.credit_note_id, "amount": -draft.amount},
            ],
        }


def strategy_for(edition: Edition, document_type: DocumentType) -> DocumentStrategy:
    """The poster for an edition and document type, or a `ConfigError` saying what exists."""
    if edition is Edition.SAGE_ACCOUNTING:
        if document_type is DocumentType.INVOICE:
            return SageAccountingInvoices()
        raise ConfigError(
            "sage.posting.document_type: Sage Accounting has no sales orders; "
            'use document_type = "invoice"'
        )
    raise ConfigError(
        f"sage.posting.edition: no poster for {edition.value} yet; the edition strategy seam is "
        "cloud_bridge.posting.documents.DocumentStrategy (only sage_accounting is implemented)"
    )
