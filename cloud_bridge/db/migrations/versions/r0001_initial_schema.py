"""The initial schema: accounts, stock, debtors, orders, the allocation ledger and ingest.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Column types are spelled out here rather than imported from the models, so this revision
keeps creating the same schema however the models' types change later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(18, 4).with_variant(sa.BigInteger(), "sqlite")
"""NUMERIC(18, 4); whole ten-thousandths in an integer on SQLite, which has no exact decimal."""
RATE = sa.Numeric(7, 4)
INSTANT = sa.DateTime(timezone=True)


def _string_enum(name: str, *values: str) -> sa.Enum:
    """A string column limited to ``values`` by a CHECK, the same on SQLite and PostgreSQL."""
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("order_from_linked", sa.Boolean(), nullable=False),
        sa.Column("pick_from_linked_if_unavailable", sa.Boolean(), nullable=False),
        sa.CheckConstraint("id <> ''", name=op.f("ck_accounts_id_not_empty")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    op.create_table(
        "applied_events",
        sa.Column("station_id", sa.String(length=128), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("applied_at", INSTANT, nullable=False),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_applied_events_seq_positive")),
        sa.PrimaryKeyConstraint("station_id", "seq", name=op.f("pk_applied_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_applied_events_event_id")),
    )
    op.create_table(
        "debtors",
        sa.Column("debtor_no", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("credit_line", MONEY, nullable=True),
        sa.Column("open_invoices", MONEY, nullable=False),
        sa.Column("shipped_not_invoiced", MONEY, nullable=False),
        sa.CheckConstraint("credit_line >= 0", name=op.f("ck_debtors_credit_line_not_negative")),
        sa.PrimaryKeyConstraint("debtor_no", name=op.f("pk_debtors")),
    )
    op.create_table(
        "locations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locations")),
    )
    op.create_table(
        "products",
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=True),
        sa.Column("pack_size", sa.Integer(), nullable=False),
        sa.Column("sage_item_id", sa.String(length=64), nullable=True),
        sa.Column("description", sa.String(length=400), nullable=False),
        sa.Column("unit_price", MONEY, nullable=False),
        sa.CheckConstraint("pack_size >= 1", name=op.f("ck_products_pack_size_positive")),
        sa.CheckConstraint("unit_price >= 0", name=op.f("ck_products_unit_price_not_negative")),
        sa.PrimaryKeyConstraint("sku", name=op.f("pk_products")),
        sa.UniqueConstraint("gtin", name=op.f("uq_products_gtin")),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_settings")),
    )
    op.create_table(
        "station_cursors",
        sa.Column("station_id", sa.String(length=128), nullable=False),
        sa.Column("highest_contiguous_seq", sa.BigInteger(), nullable=False),
        sa.Column("gaps", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "highest_contiguous_seq >= 0",
            name=op.f("ck_station_cursors_highest_contiguous_seq_not_negative"),
        ),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_station_cursors")),
    )
    op.create_table(
        "account_links",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("linked_account_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "account_id <> linked_account_id", name=op.f("ck_account_links_not_self")
        ),
        sa.CheckConstraint("position >= 0", name=op.f("ck_account_links_position_not_negative")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_links_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["linked_account_id"],
            ["accounts.id"],
            name=op.f("fk_account_links_linked_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "linked_account_id", name=op.f("pk_account_links")),
        sa.UniqueConstraint(
            "account_id", "position", name=op.f("uq_account_links_account_id_position")
        ),
    )
    op.create_table(
        "sales_orders",
        sa.Column("order_no", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("invoice_debtor_no", sa.String(length=64), nullable=False),
        sa.Column("order_type", _string_enum("order_type", "normal", "prepayment"), nullable=False),
        sa.Column("amount_paid", MONEY, nullable=False),
        sa.Column("promised_date", sa.Date(), nullable=True),
        sa.Column("service_level", sa.Integer(), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("deliver_to_name", sa.String(length=128), nullable=False),
        sa.Column("deliver_to_line1", sa.String(length=128), nullable=False),
        sa.Column("deliver_to_line2", sa.String(length=128), nullable=False),
        sa.Column("deliver_to_city", sa.String(length=128), nullable=False),
        sa.Column("deliver_to_postal_code", sa.String(length=16), nullable=False),
        sa.Column("deliver_to_country", sa.String(length=2), nullable=False),
        sa.Column("carrier", sa.String(length=64), nullable=False),
        sa.Column(
            "state",
            _string_enum(
                "order_state",
                "new",
                "held_credit",
                "held_prepayment",
                "allocated",
                "partially_allocated",
                "released",
                "picking",
                "shipped",
                "partially_shipped",
                "cancelled",
            ),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.String(length=128), nullable=True),
        sa.CheckConstraint(
            "amount_paid >= 0", name=op.f("ck_sales_orders_amount_paid_not_negative")
        ),
        sa.CheckConstraint(
            "service_level >= 0", name=op.f("ck_sales_orders_service_level_not_negative")
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_sales_orders_version_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_sales_orders_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_debtor_no"],
            ["debtors.debtor_no"],
            name=op.f("fk_sales_orders_invoice_debtor_no_debtors"),
        ),
        sa.PrimaryKeyConstraint("order_no", name=op.f("pk_sales_orders")),
    )
    op.create_index(op.f("ix_sales_orders_account_id"), "sales_orders", ["account_id"])
    op.create_index(
        "ix_sales_orders_allocation_priority",
        "sales_orders",
        ["state", "promised_date", "service_level", "created_at", "order_no"],
    )
    op.create_index(
        op.f("ix_sales_orders_invoice_debtor_no"), "sales_orders", ["invoice_debtor_no"]
    )
    op.create_index(op.f("ix_sales_orders_station_id"), "sales_orders", ["station_id"])

    op.create_table(
        "stock_items",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.CheckConstraint("on_hand >= 0", name=op.f("ck_stock_items_on_hand_not_negative")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_stock_items_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_stock_items_location_id_locations")
        ),
        sa.ForeignKeyConstraint(
            ["sku"], ["products.sku"], name=op.f("fk_stock_items_sku_products")
        ),
        sa.PrimaryKeyConstraint("account_id", "sku", "location_id", name=op.f("pk_stock_items")),
    )
    op.create_table(
        "auto_queue",
        sa.Column("order_no", sa.String(length=64), nullable=False),
        sa.Column(
            "step",
            _string_enum("release_step", "advice", "send_to_scanner", "replenishment", "autopack"),
            nullable=False,
        ),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("failed_at", INSTANT, nullable=False),
        sa.Column("next_retry_at", INSTANT, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.CheckConstraint("attempts >= 1", name=op.f("ck_auto_queue_attempts_positive")),
        sa.CheckConstraint(
            "next_retry_at >= failed_at", name=op.f("ck_auto_queue_retry_after_failure")
        ),
        sa.ForeignKeyConstraint(
            ["order_no"],
            ["sales_orders.order_no"],
            name=op.f("fk_auto_queue_order_no_sales_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_no", name=op.f("pk_auto_queue")),
    )
    op.create_index(op.f("ix_auto_queue_next_retry_at"), "auto_queue", ["next_retry_at"])

    op.create_table(
        "error_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_no", sa.String(length=64), nullable=False),
        sa.Column(
            "step",
            _string_enum("release_step", "advice", "send_to_scanner", "replenishment", "autopack"),
            nullable=False,
        ),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("resolved_at", INSTANT, nullable=True),
        sa.CheckConstraint(
            "resolved_at IS NULL OR resolved_at >= created_at",
            name=op.f("ck_error_reports_resolved_after_created"),
        ),
        sa.ForeignKeyConstraint(
            ["order_no"],
            ["sales_orders.order_no"],
            name=op.f("fk_error_reports_order_no_sales_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_error_reports")),
    )
    op.create_index(
        "ix_error_reports_order_no_resolved_at", "error_reports", ["order_no", "resolved_at"]
    )

    op.create_table(
        "order_lines",
        sa.Column("order_no", sa.String(length=64), nullable=False),
        sa.Column("line_id", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", MONEY, nullable=False),
        sa.Column("tax_rate", RATE, nullable=False),
        sa.Column("shipped_quantity", sa.Integer(), nullable=False),
        sa.Column(
            "policy",
            _string_enum("line_policy", "partial", "all_or_nothing", "full_packs"),
            nullable=False,
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_lines_quantity_positive")),
        sa.CheckConstraint(
            "shipped_quantity >= 0 AND shipped_quantity <= quantity",
            name=op.f("ck_order_lines_shipped_within_ordered"),
        ),
        sa.CheckConstraint("tax_rate >= 0", name=op.f("ck_order_lines_tax_rate_not_negative")),
        sa.CheckConstraint("unit_price >= 0", name=op.f("ck_order_lines_unit_price_not_negative")),
        sa.ForeignKeyConstraint(
            ["order_no"],
            ["sales_orders.order_no"],
            name=op.f("fk_order_lines_order_no_sales_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sku"], ["products.sku"], name=op.f("fk_order_lines_sku_products")
        ),
        sa.PrimaryKeyConstraint("order_no", "line_id", name=op.f("pk_order_lines")),
    )
    op.create_index(op.f("ix_order_lines_sku"), "order_lines", ["sku"])

    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("debtor_no", sa.String(length=64), nullable=False),
        sa.Column("order_no", sa.String(length=64), nullable=True),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("received_at", INSTANT, nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payments_amount_positive")),
        sa.ForeignKeyConstraint(
            ["debtor_no"], ["debtors.debtor_no"], name=op.f("fk_payments_debtor_no_debtors")
        ),
        sa.ForeignKeyConstraint(
            ["order_no"], ["sales_orders.order_no"], name=op.f("fk_payments_order_no_sales_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
    )
    op.create_index(op.f("ix_payments_debtor_no"), "payments", ["debtor_no"])
    op.create_index(op.f("ix_payments_order_no"), "payments", ["order_no"])

    op.create_table(
        "shipments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_no", sa.String(length=64), nullable=False),
        sa.Column("station_id", sa.String(length=128), nullable=False),
        sa.Column("label_id", sa.String(length=64), nullable=False),
        sa.Column("sscc", sa.String(length=18), nullable=True),
        sa.Column("carrier", sa.String(length=64), nullable=False),
        sa.Column("tracking_number", sa.String(length=128), nullable=True),
        sa.Column("shipped_at", INSTANT, nullable=False),
        sa.ForeignKeyConstraint(
            ["order_no"], ["sales_orders.order_no"], name=op.f("fk_shipments_order_no_sales_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipments")),
        sa.UniqueConstraint("sscc", name=op.f("uq_shipments_sscc")),
    )
    op.create_index(op.f("ix_shipments_order_no"), "shipments", ["order_no"])

    op.create_table(
        "allocations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_no", sa.String(length=64), nullable=False),
        sa.Column("line_id", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("from_account_id", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("borrowed", sa.Boolean(), nullable=False),
        sa.Column(
            "state",
            _string_enum("allocation_state", "active", "released", "consumed"),
            nullable=False,
        ),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("released_at", INSTANT, nullable=True),
        sa.CheckConstraint(
            "(state = 'active') = (released_at IS NULL)",
            name=op.f("ck_allocations_released_at_iff_inactive"),
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_allocations_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["from_account_id"],
            ["accounts.id"],
            name=op.f("fk_allocations_from_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["order_no", "line_id"],
            ["order_lines.order_no", "order_lines.line_id"],
            name=op.f("fk_allocations_order_no_line_id_order_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["sku"], ["products.sku"], name=op.f("fk_allocations_sku_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocations")),
    )
    op.create_index(
        "ix_allocations_active_by_account_sku",
        "allocations",
        ["from_account_id", "sku"],
        postgresql_where=sa.text("state = 'active'"),
        sqlite_where=sa.text("state = 'active'"),
    )
    op.create_index("ix_allocations_order_line", "allocations", ["order_no", "line_id"])

    op.create_table(
        "shipment_lines",
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_shipment_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.id"],
            name=op.f("fk_shipment_lines_shipment_id_shipments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sku"], ["products.sku"], name=op.f("fk_shipment_lines_sku_products")
        ),
        sa.PrimaryKeyConstraint("shipment_id", "line_id", name=op.f("pk_shipment_lines")),
    )


def downgrade() -> None:
    op.drop_table("shipment_lines")
    op.drop_table("allocations")
    op.drop_table("shipments")
    op.drop_table("payments")
    op.drop_table("order_lines")
    op.drop_table("error_reports")
    op.drop_table("auto_queue")
    op.drop_table("stock_items")
    op.drop_table("sales_orders")
    op.drop_table("account_links")
    op.drop_table("station_cursors")
    op.drop_table("settings")
    op.drop_table("products")
    op.drop_table("locations")
    op.drop_table("debtors")
    op.drop_table("applied_events")
    op.drop_table("accounts")
