"""Products and the stock each account owns of them, per location.

Only ``on_hand`` is stored. What is available is derived, ``on_hand`` minus the active
allocations in the ledger, because a second stored counter drifts from the ledger over time.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud_bridge.db.base import Base
from cloud_bridge.db.posting import SageItemKind
from cloud_bridge.db.types import Money, string_enum

__all__ = ["Location", "Product", "StockItem"]


class Product(Base):
    """A stock-keeping unit, its barcode, pack size and the matching Sage item."""

    __tablename__ = "products"

    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    gtin: Mapped[str | None] = mapped_column(String(14), unique=True)
    pack_size: Mapped[int] = mapped_column(Integer, default=1)
    """Units in one full pack; a 'full_packs' line is allocated in multiples of it."""
    sage_item_id: Mapped[str | None] = mapped_column(String(64))
    """The Sage product or service this SKU posts as; set by hand or matched on item code."""
    sage_item_kind: Mapped[SageItemKind | None] = mapped_column(
        string_enum(SageItemKind, "sage_item_kind")
    )
    """Stock item, non-stock product or service: decides whether Sage moves stock for it."""
    description: Mapped[str] = mapped_column(String(400), default="")
    unit_price: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))

    __table_args__ = (
        CheckConstraint("pack_size >= 1", name="pack_size_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
    )


class Location(Base):
    """A place in the warehouse that holds stock, such as a slot or a bay."""

    __tablename__ = "locations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)


class StockItem(Base):
    """How many units of a product an account physically has at one location."""

    __tablename__ = "stock_items"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"), primary_key=True)
    location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),)
