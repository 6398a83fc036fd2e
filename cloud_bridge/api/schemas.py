"""Request and response bodies for orders, allocation, accounts, products and stock.

Each field is described for the OpenAPI document; the debtor, settings and report bodies are in
`cloud_bridge.api.schemas_credit`, the shared bases and error bodies in
`cloud_bridge.api.schemas_base`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import Field, StrictBool, StrictInt, StrictStr, field_validator
from pydantic_core import PydanticCustomError

from cloud_bridge.api.fields import (
    Amount,
    Gtin,
    LongName,
    MoneyOut,
    Name,
    PositiveQuantity,
    Rate,
    SignedQuantity,
    Text,
)
from cloud_bridge.api.schemas_base import ApiModel, RequestModel, unique
from cloud_bridge.credit import Step
from cloud_bridge.db.models import LinePolicy, OrderState, OrderType

__all__ = [
    "AccountIn",
    "AccountOut",
    "AdjustmentIn",
    "AdjustmentOut",
    "AllocationOut",
    "AllocationRunOut",
    "CancelIn",
    "DeliverTo",
    "DeliverToOut",
    "FlagsIn",
    "HeldOrderOut",
    "LineIn",
    "LineOut",
    "LinksIn",
    "LocationStockOut",
    "OrderIn",
    "OrderOut",
    "OrderPage",
    "OrderSummaryOut",
    "ProductIn",
    "ProductOut",
    "QuantityIn",
    "ReceiptIn",
    "ReceiptOut",
    "StockLevelOut",
    "StockPage",
    "UnfilledLineOut",
]


# --- orders -----------------------------------------------------------------------------------


class DeliverTo(RequestModel):
    """Where the parcel goes, as the shipping label prints it."""

    name: LongName = Field(description="Recipient: a person or company.")
    line1: LongName = Field(description="First address line.")
    line2: StrictStr = Field(default="", max_length=128, description="Second address line, if any.")
    city: LongName = Field(description="Town or city.")
    postal_code: StrictStr = Field(min_length=1, max_length=16, description="Postal code.")
    country: StrictStr = Field(
        pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 country code, such as `GB`."
    )


class LineIn(RequestModel):
    """One product on a new order."""

    line_id: Name | None = Field(
        default=None,
        description="The line's id within the order; defaults to its position (1, 2, ...).",
    )
    sku: Name = Field(description="The product's SKU; it must exist.")
    quantity: PositiveQuantity = Field(description="Units ordered, at least 1.")
    unit_price: Amount = Field(description="Price of one unit before tax.")
    tax_rate: Rate = Field(default=Decimal(0), description='Tax as a fraction: "0.20" is 20 %.')
    policy: LinePolicy = Field(
        default=LinePolicy.PARTIAL,
        description="When stock is short: `partial` takes what there is, `all_or_nothing` waits "
        "for the whole quantity, `full_packs` takes whole packs only.",
    )


class OrderIn(RequestModel):
    """A new sales order, as the order source sends it."""

    order_no: Name = Field(description="The order's number; unique.")
    account: Name = Field(description="The account whose stock fills the order.")
    invoice_debtor: Name = Field(description="The debtor invoiced; its credit line is checked.")
    order_type: OrderType = Field(
        default=OrderType.NORMAL,
        description="`prepayment` orders may be picked only once paid in full.",
    )
    amount_paid: Amount = Field(default=Decimal(0), description="Already paid towards this order.")
    promised_date: date | None = Field(
        default=None, description="Promised delivery date (YYYY-MM-DD); earlier is allocated first."
    )
    service_level: StrictInt = Field(
        default=0, ge=0, le=1000, description="Rank after the promised date; lower goes first."
    )
    deliver_to: DeliverTo = Field(description="The delivery address.")
    carrier: Name = Field(description="The carrier's code, such as `DPD`.")
    lines: list[LineIn] = Field(min_length=1, max_length=1000, description="The order's lines.")

    @field_validator("lines")
    @classmethod
    def _number_lines(cls, lines: list[LineIn]) -> list[LineIn]:
        """Number unnamed lines by position, and refuse two lines with one id."""
        ids = unique(
            [line.line_id or str(position) for position, line in enumerate(lines, 1)], "line_id"
        )
        for line, line_id in zip(lines, ids, strict=True):
            line.line_id = line_id
        return lines


class DeliverToOut(ApiModel):
    """Where the parcel goes."""

    name: str = Field(description="Recipient: a person or company.")
    line1: str = Field(description="First address line.")
    line2: str = Field(description="Second address line, or empty.")
    city: str = Field(description="Town or city.")
    postal_code: str = Field(description="Postal code.")
    country: str = Field(description="ISO 3166-1 alpha-2 country code.")


class LineOut(ApiModel):
    """One line of an order and how far it has got."""

    line_id: str = Field(description="The line's id within the order.")
    sku: str = Field(description="The product's SKU.")
    quantity: int = Field(description="Units ordered.")
    shipped_quantity: int = Field(description="Units already shipped.")
    allocated_quantity: int = Field(description="Units actively allocated and not yet shipped.")
    unit_price: MoneyOut = Field(description="Price of one unit before tax.")
    tax_rate: MoneyOut = Field(description="Tax as a fraction.")
    policy: LinePolicy = Field(description="How the line is allocated when stock is short.")


class AllocationOut(ApiModel):
    """Units of a line reserved from one account's stock."""

    line_id: str = Field(description="The order line the units are reserved for.")
    sku: str = Field(description="The product's SKU.")
    from_account: str = Field(description="The account whose stock is reserved.")
    quantity: int = Field(description="Units reserved.")
    borrowed: bool = Field(
        description="True when the stock is a linked account's, not the order's own account's."
    )
    created_at: datetime = Field(description="When the units were reserved (UTC).")


class OrderSummaryOut(ApiModel):
    """An order without its lines, as listed."""

    order_no: str = Field(description="The order's number.")
    account: str = Field(description="The account whose stock fills the order.")
    invoice_debtor: str = Field(description="The debtor invoiced.")
    order_type: OrderType = Field(description="`normal` or `prepayment`.")
    state: OrderState = Field(description="Where the order is between arrival and despatch.")
    version: int = Field(description="Goes up on every change a station must see.")
    station: str | None = Field(description="The station it is released to, if any.")
    promised_date: date | None = Field(description="Promised delivery date.")
    service_level: int = Field(description="Rank after the promised date; lower goes first.")
    total: MoneyOut = Field(description="Total of the whole order including tax.")
    amount_paid: MoneyOut = Field(description="Paid towards this order so far.")
    created_at: datetime = Field(description="When the order arrived (UTC).")


class OrderOut(OrderSummaryOut):
    """An order with its lines, delivery details and active allocations."""

    deliver_to: DeliverToOut = Field(description="The delivery address.")
    carrier: str = Field(description="The carrier's code.")
    lines: list[LineOut] = Field(description="The order's lines.")
    allocations: list[AllocationOut] = Field(
        description="Active allocations: stock reserved and not yet shipped or released."
    )


class OrderPage(ApiModel):
    """A page of orders matching the filters, oldest first."""

    items: list[OrderSummaryOut] = Field(description="The orders on this page.")
    total: int = Field(description="How many orders match the filters in all.")
    limit: int = Field(description="The page size asked for.")
    offset: int = Field(description="How many matching orders were skipped.")


class QuantityIn(RequestModel):
    """A line's new quantity."""

    quantity: PositiveQuantity = Field(
        description="Units now ordered; not below what already shipped."
    )


class CancelIn(RequestModel):
    """Why an order is cancelled."""

    reason: Text = Field(description="Why the order is cancelled; shown to the station.")


class HeldOrderOut(ApiModel):
    """An order the credit gate stopped, with the error report's exact messages."""

    order_no: str = Field(description="The order held.")
    step: Step = Field(description="The step it was stopped at.")
    messages: list[str] = Field(description="Every reason, exactly as the error report shows it.")


class UnfilledLineOut(ApiModel):
    """A line left with a balance because stock ran short."""

    order_no: str = Field(description="The order.")
    line_id: str = Field(description="The line.")
    units: int = Field(description="Units still to allocate.")
    reason: str | None = Field(description="Why they could not be allocated now.")


class AllocationRunOut(ApiModel):
    """What one allocation run did."""

    step: Step = Field(description="The step the credit gate ran at.")
    orders_checked: int = Field(description="Orders considered.")
    grants: int = Field(description="Allocation rows written.")
    units: int = Field(description="Units allocated.")
    borrowed_units: int = Field(description="Of those, units taken from linked accounts.")
    held: list[HeldOrderOut] = Field(description="Orders the credit gate stopped.")
    unfilled: list[UnfilledLineOut] = Field(description="Lines left with a balance.")


# --- accounts and products --------------------------------------------------------------------


class AccountIn(RequestModel):
    """A new stock-owning account."""

    id: Name = Field(description="The account's code; unique.")
    name: StrictStr = Field(min_length=1, max_length=200, description="The account's name.")
    order_from_linked: StrictBool = Field(
        default=False, description="The 'Order from Linked Accounts' flag."
    )
    pick_from_linked_if_unavailable: StrictBool = Field(
        default=False, description="The 'Pick from Linked Accounts if Stock is Unavailable' flag."
    )


class AccountOut(ApiModel):
    """An account, its flags and the accounts it may borrow from, in fallback order."""

    id: str = Field(description="The account's code.")
    name: str = Field(description="The account's name.")
    order_from_linked: bool = Field(description="The 'Order from Linked Accounts' flag.")
    pick_from_linked_if_unavailable: bool = Field(
        description="The 'Pick from Linked Accounts if Stock is Unavailable' flag."
    )
    linked_account_ids: list[str] = Field(
        description="Linked accounts, tried in this order once the account's own stock is short."
    )


class FlagsIn(RequestModel):
    """Both linked-stock flags; borrowing needs both on."""

    order_from_linked: StrictBool = Field(description="The 'Order from Linked Accounts' flag.")
    pick_from_linked_if_unavailable: StrictBool = Field(
        description="The 'Pick from Linked Accounts if Stock is Unavailable' flag."
    )


class LinksIn(RequestModel):
    """Accounts to link, appended to the fallback list in the order given."""

    linked_account_ids: list[Name] = Field(
        min_length=1,
        max_length=100,
        description="Accounts to link, each existing and not yet linked.",
    )

    @field_validator("linked_account_ids")
    @classmethod
    def _once_each(cls, values: list[str]) -> list[str]:
        return unique(values, "linked account")


class ProductIn(RequestModel):
    """A new product."""

    sku: Name = Field(description="The stock-keeping unit; unique.")
    gtin: Gtin | None = Field(
        default=None, description="The barcode's GTIN-8/12/13/14 with a correct check digit."
    )
    pack_size: StrictInt = Field(default=1, ge=1, le=100_000, description="Units in one full pack.")
    sage_item_id: Name | None = Field(default=None, description="The matching Sage item's id.")
    description: StrictStr = Field(default="", max_length=400, description="What the product is.")
    unit_price: Amount = Field(default=Decimal(0), description="The list price of one unit.")


class ProductOut(ApiModel):
    """A product."""

    sku: str = Field(description="The stock-keeping unit.")
    gtin: str | None = Field(description="The barcode's GTIN.")
    pack_size: int = Field(description="Units in one full pack.")
    sage_item_id: str | None = Field(description="The matching Sage item's id.")
    description: str = Field(description="What the product is.")
    unit_price: MoneyOut = Field(description="The list price of one unit.")


# --- stock ------------------------------------------------------------------------------------


class ReceiptIn(RequestModel):
    """Stock that arrived for an account."""

    account: Name = Field(description="The account that owns the stock.")
    sku: Name = Field(description="The product received.")
    location: Name = Field(description="Where it was put away; created if new.")
    quantity: PositiveQuantity = Field(description="Units received, at least 1.")


class AdjustmentIn(RequestModel):
    """A correction to what is on hand, such as a count difference or damage."""

    account: Name = Field(description="The account that owns the stock.")
    sku: Name = Field(description="The product.")
    location: Name = Field(description="The location counted.")
    quantity: SignedQuantity = Field(description="Units added (positive) or removed (negative).")
    reason: Text = Field(description="Why the stock changed, for the audit log.")

    @field_validator("quantity")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise PydanticCustomError("not_zero", "an adjustment of 0 changes nothing")
        return value


class LocationStockOut(ApiModel):
    """Units of one account's product at one location."""

    location: str = Field(description="The location.")
    on_hand: int = Field(description="Units physically there.")


class StockLevelOut(ApiModel):
    """One account's stock of one product; available is derived, never stored."""

    account: str = Field(description="The account that owns the stock.")
    sku: str = Field(description="The product.")
    on_hand: int = Field(description="Units physically held, over every location.")
    allocated: int = Field(description="Units actively reserved from this stock, for any order.")
    available: int = Field(description="On hand minus allocated.")
    borrowed_by_others: int = Field(
        description="Of the allocated units, those reserved for other accounts' orders via links."
    )
    locations: list[LocationStockOut] = Field(description="On hand per location.")


class StockPage(ApiModel):
    """Stock levels matching the filters."""

    items: list[StockLevelOut] = Field(description="One entry per account and product.")


class ReceiptOut(ApiModel):
    """The stock after a receipt, and the replenishment allocation it triggered."""

    stock: StockLevelOut = Field(description="The account's stock of the product now.")
    allocation: AllocationRunOut = Field(
        description="The allocation run at step Replenishment for orders waiting on the product."
    )


class AdjustmentOut(ApiModel):
    """An applied adjustment and the stock after it."""

    location: str = Field(description="The location adjusted.")
    quantity: int = Field(description="The change applied.")
    reason: str = Field(description="Why.")
    stock: StockLevelOut = Field(description="The account's stock of the product now.")
