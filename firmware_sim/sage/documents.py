"""What a POST does to a business: contacts, sales invoices, credit notes and allocations.

Validation follows Sage's rules so a client that passes here passes there: required fields are
reported together as 422s, and an invoice line on a stock item moves the stock out (a credit
note line moves it back), refusing the invoice when stock is short, since Sage does both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from firmware_sim.sage.state import Business, SageApiError, SageSandbox, error_item

__all__ = ["create_contact", "create_contact_allocation", "create_sales_document"]

Record = dict[str, Any]
_CENT = Decimal("0.01")
_BLANK = "can't be blank"


@dataclass(frozen=True)
class _DocumentKind:
    resource: str
    lines_field: str
    number_prefix: str
    number_field: str
    stock_direction: int
    movement_details: str


SALES_INVOICE = _DocumentKind(
    "sales_invoices", "invoice_lines", "SI", "invoice_number", -1, "Goods out"
)
SALES_CREDIT_NOTE = _DocumentKind(
    "sales_credit_notes", "credit_note_lines", "SCN", "credit_note_number", 1, "Goods returned"
)
DOCUMENT_KINDS = {kind.resource: kind for kind in (SALES_INVOICE, SALES_CREDIT_NOTE)}


class _Errors:
    """Collects validation errors so one 422 names every problem, as Sage's does."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, source: str, message: str) -> None:
        self.items.append(error_item("RecordInvalid", message, source))

    def raise_if_any(self) -> None:
        if self.items:
            raise SageApiError(422, self.items)


def _link(record: Record) -> Record:
    return {"id": record["id"], "displayed_as": record["displayed_as"], "$path": record["$path"]}


def _decimal(value: Any, source: str, errors: _Errors) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        errors.add(source, "is not a number")
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        errors.add(source, "is not a number")
        return None


def _lookup(business: Business, resource: str, record_id: Any) -> Record | None:
    if not isinstance(record_id, str):
        return None
    return business.collection(resource).get(record_id)


def create_contact(sandbox: SageSandbox, business: Business, body: Record) -> Record:
    """POST /contacts: `name` and `contact_type_ids` are required."""
    errors = _Errors()
    name = body.get("name")
    if not name:
        errors.add("name", _BLANK)
    type_ids = body.get("contact_type_ids")
    if not type_ids or not isinstance(type_ids, list):
        errors.add("contact_type_ids", _BLANK)
    errors.raise_if_any()
    reference = str(body.get("reference") or "")
    return sandbox.add_record(
        business.id,
        "contacts",
        {
            "displayed_as": f"{name} ({reference})" if reference else str(name),
            "name": str(name),
            "reference": reference,
            "contact_types": [
                {"id": str(type_id), "displayed_as": str(type_id).title()}
                for type_id in type_ids or []
            ],
            "credit_limit": body.get("credit_limit"),
            "credit_days": body.get("credit_days"),
            "balance": Decimal("0.00"),
            "notes": str(body.get("notes") or ""),
        },
    )


def _build_line(
    business: Business, raw: Any, source: str, errors: _Errors
) -> tuple[Record, Record | None, Decimal] | None:
    """One validated line, the stock item it moves (if any) and its quantity."""
    if not isinstance(raw, dict):
        errors.add(source, "must be an object")
        return None
    before = len(errors.items)
    for required in ("description", "ledger_account_id", "unit_price"):
        if raw.get(required) in (None, ""):
            errors.add(f"{source}.{required}", _BLANK)
    ledger = _lookup(business, "ledger_accounts", raw.get("ledger_account_id"))
    if raw.get("ledger_account_id") and ledger is None:
        errors.add(f"{source}.ledger_account_id", "is invalid")
    product = _lookup(business, "products", raw.get("product_id"))
    if raw.get("product_id") and product is None:
        errors.add(f"{source}.product_id", "is invalid")
    service = _lookup(business, "services", raw.get("service_id"))
    if raw.get("service_id") and service is None:
        errors.add(f"{source}.service_id", "is invalid")
    tax_rate = _lookup(business, "tax_rates", raw.get("tax_rate_id"))
    if raw.get("tax_rate_id") and tax_rate is None:
        errors.add(f"{source}.tax_rate_id", "is invalid")
    quantity = _decimal(raw.get("quantity", "1"), f"{source}.quantity", errors)
    unit_price = _decimal(raw.get("unit_price"), f"{source}.unit_price", errors)
    tax_amount = _decimal(raw.get("tax_amount"), f"{source}.tax_amount", errors)
    discount = _decimal(raw.get("discount_amount"), f"{source}.discount_amount", errors)
    if tax_rate is not None and tax_rate["percentage"] > 0 and tax_amount is None:
        errors.add(f"{source}.tax_amount", _BLANK)
    if quantity is not None and quantity <= 0:
        errors.add(f"{source}.quantity", "must be greater than 0")
    if len(errors.items) > before or quantity is None or unit_price is None or ledger is None:
        return None
    net = (quantity * unit_price - (discount or Decimal(0))).quantize(_CENT)
    tax = (tax_amount or Decimal(0)).quantize(_CENT)
    line: Record = {
        "id": None,
        "displayed_as": str(raw["description"]),
        "description": str(raw["description"]),
        "product": _link(product) if product is not None else None,
        "service": _link(service) if service is not None else None,
        "ledger_account": _link(ledger),
        "quantity": quantity,
        "unit_price": unit_price,
        "discount_amount": (discount or Decimal(0)).quantize(_CENT),
        "net_amount": net,
        "tax_rate": _link(tax_rate) if tax_rate is not None else None,
        "tax_amount": tax,
        "total_amount": net + tax,
    }
    is_stock = product is not None and product["item_type"]["id"] == "STOCK_ITEM"
    return line, product if is_stock else None, quantity


def _check_stock(business: Business, needed: dict[str, Decimal], lines_field: str) -> None:
    """Refuse the whole document when any stock item is short, before anything moves."""
    short = []
    for product_id, quantity in needed.items():
        item = business.collection("products")[product_id]
        if item["quantity_in_stock"] < quantity:
            short.append(
                error_item(
                    "RecordInvalid",
                    f"You can't add stock item {item['item_code']} to this invoice: "
                    f"{quantity} needed but only {item['quantity_in_stock']} in stock",
                    lines_field,
                )
            )
    if short:
        raise SageApiError(422, short)


def create_sales_document(
    sandbox: SageSandbox, business: Business, resource: str, body: Record
) -> Record:
    """POST /sales_invoices or /sales_credit_notes, moving stock for stock-item lines."""
    kind = DOCUMENT_KINDS[resource]
    errors = _Errors()
    contact = _lookup(business, "contacts", body.get("contact_id"))
    if not body.get("contact_id"):
        errors.add("contact_id", _BLANK)
    elif contact is None:
        errors.add("contact_id", "is invalid")
    document_date = body.get("date")
    if not document_date:
        errors.add("date", _BLANK)
    else:
        try:
            date.fromisoformat(str(document_date))
        except ValueError:
            errors.add("date", "is not a valid date (expected YYYY-MM-DD)")
    raw_lines = body.get(kind.lines_field)
    if not raw_lines or not isinstance(raw_lines, list):
        errors.add(kind.lines_field, _BLANK)
        raw_lines = []
    built = [
        _build_line(business, raw, f"{kind.lines_field}[{index}]", errors)
        for index, raw in enumerate(raw_lines)
    ]
    errors.raise_if_any()
    assert contact is not None
    lines = [entry for entry in built if entry is not None]
    moves: dict[str, Decimal] = {}
    for _line, stock_item, quantity in lines:
        if stock_item is not None:
            moves[stock_item["id"]] = moves.get(stock_item["id"], Decimal(0)) + quantity
    if kind.stock_direction < 0:
        _check_stock(business, moves, kind.lines_field)
    number = business.next_number(kind.number_prefix)
    net = sum((line["net_amount"] for line, _, _ in lines), Decimal("0.00"))
    tax = sum((line["tax_amount"] for line, _, _ in lines), Decimal("0.00"))
    record = sandbox.add_record(
        business.id,
        resource,
        {
            "displayed_as": number,
            kind.number_field: number,
            "contact": _link(contact),
            "date": str(document_date),
            "due_date": str(body.get("due_date") or document_date),
            "reference": str(body.get("reference") or ""),
            "notes": str(body.get("notes") or ""),
            "status": {"id": "UNPAID", "displayed_as": "Unpaid"},
            "net_amount": net,
            "tax_amount": tax,
            "total_amount": net + tax,
            "outstanding_amount": net + tax,
            kind.lines_field: [line for line, _, _ in lines],
            **(
                {"original_invoice_date": body.get("original_invoice_date")}
                if resource == "sales_credit_notes"
                else {}
            ),
        },
    )
    for index, line in enumerate(record[kind.lines_field]):
        line["id"] = f"{record['id']}-{index + 1}"
    _move_stock(sandbox, business, moves, kind, record)
    return record


def _move_stock(
    sandbox: SageSandbox,
    business: Business,
    moves: dict[str, Decimal],
    kind: _DocumentKind,
    document: Record,
) -> None:
    """Apply stock changes and record each as a stock movement, as Sage shows them."""
    for product_id, quantity in moves.items():
        item = business.collection("products")[product_id]
        item["quantity_in_stock"] += kind.stock_direction * quantity
        item["updated_at"] = sandbox.clock()
        sandbox.add_record(
            business.id,
            "stock_movements",
            {
                "displayed_as": f"{kind.movement_details}: {document['displayed_as']}",
                "stock_item": _link(item),
                "date": document["date"],
                "quantity": kind.stock_direction * quantity,
                "details": f"{kind.movement_details}: {document['displayed_as']}",
                "reference": document["reference"],
            },
        )


def create_contact_allocation(sandbox: SageSandbox, business: Business, body: Record) -> Record:
    """POST /contact_allocations: offset a credit note against an invoice of one contact.

    Amounts are signed as Sage expects (invoice positive, credit note negative) and must sum to
    zero; each is limited to what is still outstanding on its document.
    """
    errors = _Errors()
    if not body.get("transaction_type_id"):
        errors.add("transaction_type_id", _BLANK)
    contact = _lookup(business, "contacts", body.get("contact_id"))
    if contact is None:
        errors.add("contact_id", _BLANK if not body.get("contact_id") else "is invalid")
    artefacts = body.get("allocated_artefacts")
    if not isinstance(artefacts, list) or len(artefacts) < 2:
        errors.add("allocated_artefacts", "needs at least two artefacts")
        artefacts = []
    resolved: list[tuple[Record, Decimal]] = []
    for index, raw in enumerate(artefacts):
        source = f"allocated_artefacts[{index}]"
        artefact_id = raw.get("artefact_id") if isinstance(raw, dict) else None
        document = _lookup(business, "sales_invoices", artefact_id) or _lookup(
            business, "sales_credit_notes", artefact_id
        )
        amount = _decimal(raw.get("amount") if isinstance(raw, dict) else None, source, errors)
        if document is None or amount is None:
            errors.add(f"{source}.artefact_id", "is invalid")
            continue
        if contact is not None and document["contact"]["id"] != contact["id"]:
            errors.add(f"{source}.artefact_id", "belongs to a different contact")
        if abs(amount) > document["outstanding_amount"]:
            errors.add(f"{source}.amount", "is more than the outstanding amount")
        resolved.append((document, amount))
    if resolved and sum(amount for _, amount in resolved) != 0:
        errors.add("allocated_artefacts", "amounts must sum to zero")
    errors.raise_if_any()
    assert contact is not None
    for document, amount in resolved:
        document["outstanding_amount"] -= abs(amount)
        if document["outstanding_amount"] == 0:
            document["status"] = {"id": "PAID", "displayed_as": "Paid"}
        document["updated_at"] = sandbox.clock()
    return sandbox.add_record(
        business.id,
        "contact_allocations",
        {
            "displayed_as": f"Allocation for {contact['displayed_as']}",
            "transaction_type": {"id": str(body["transaction_type_id"])},
            "contact": _link(contact),
            "date": str(body.get("date") or sandbox.clock().date().isoformat()),
            "allocated_artefacts": [
                {"artefact": _link(document), "amount": amount} for document, amount in resolved
            ],
        },
    )
