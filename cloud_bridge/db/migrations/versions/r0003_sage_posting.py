"""Sage posting: the posting outbox, shipment corrections, records read from Sage, mappings.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

Columns on existing tables are added with plain ``ALTER TABLE ... ADD COLUMN`` (with a named
CHECK where the column is an enum), which SQLite and PostgreSQL both accept without rebuilding
the table. Existing shipments start as due for posting: the planner compares each with what
Sage already has, so nothing is posted twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(18, 4).with_variant(sa.BigInteger(), "sqlite")
RATE = sa.Numeric(7, 4)
INSTANT = sa.DateTime(timezone=True)


def _string_enum(name: str, *values: str) -> sa.Enum:
    """A string column limited to ``values`` by a CHECK, the same on SQLite and PostgreSQL."""
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        "sage_records",
        sa.Column("business_id", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("sage_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=200), nullable=True),
        sa.Column("displayed_as", sa.String(length=400), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("updated_at", INSTANT, nullable=True),
        sa.PrimaryKeyConstraint("business_id", "resource", "sage_id", name=op.f("pk_sage_records")),
    )
    op.create_index(
        "ix_sage_records_code", "sage_records", ["business_id", "resource", "code"], unique=False
    )
    op.create_table(
        "sage_sync_marks",
        sa.Column("business_id", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("synced_since", INSTANT, nullable=False),
        sa.Column("synced_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("business_id", "resource", name=op.f("pk_sage_sync_marks")),
    )
    op.create_table(
        "sage_postings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("business_id", sa.String(length=64), nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column("kind", _string_enum("posting_kind", "invoice", "credit_note"), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("idempotency_id", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column(
            "state",
            _string_enum("posting_state", "pending", "posted", "failed", "dismissed"),
            nullable=False,
        ),
        sa.Column("due_at", INSTANT, nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("first_sent_at", INSTANT, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", INSTANT, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("error_items", sa.Text(), nullable=True),
        sa.Column("sage_id", sa.String(length=64), nullable=True),
        sa.Column("sage_number", sa.String(length=64), nullable=True),
        sa.Column("posted_at", INSTANT, nullable=True),
        sa.Column("credits_posting_id", sa.Integer(), nullable=True),
        sa.Column("allocation_idempotency_id", sa.String(length=32), nullable=True),
        sa.Column("allocation_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint("revision >= 1", name=op.f("ck_sage_postings_revision_positive")),
        sa.ForeignKeyConstraint(
            ["credits_posting_id"],
            ["sage_postings.id"],
            name=op.f("fk_sage_postings_credits_posting_id_sage_postings"),
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"], ["shipments.id"], name=op.f("fk_sage_postings_shipment_id_shipments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sage_postings")),
        sa.UniqueConstraint(
            "allocation_idempotency_id", name=op.f("uq_sage_postings_allocation_idempotency_id")
        ),
        sa.UniqueConstraint(
            "business_id",
            "shipment_id",
            "kind",
            "revision",
            name=op.f("uq_sage_postings_business_id_shipment_id_kind_revision"),
        ),
        sa.UniqueConstraint("idempotency_id", name=op.f("uq_sage_postings_idempotency_id")),
    )
    op.create_index(
        "ix_sage_postings_queue", "sage_postings", ["business_id", "state", "due_at"], unique=False
    )
    op.create_index(
        op.f("ix_sage_postings_shipment_id"), "sage_postings", ["shipment_id"], unique=False
    )
    op.create_table(
        "shipment_corrections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity_before", sa.Integer(), nullable=False),
        sa.Column("quantity_after", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=400), nullable=False),
        sa.Column("corrected_at", INSTANT, nullable=False),
        sa.CheckConstraint(
            "quantity_after >= 0",
            name=op.f("ck_shipment_corrections_quantity_after_not_negative"),
        ),
        sa.CheckConstraint(
            "quantity_before >= 0",
            name=op.f("ck_shipment_corrections_quantity_before_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.id"],
            name=op.f("fk_shipment_corrections_shipment_id_shipments"),
        ),
        sa.ForeignKeyConstraint(
            ["sku"], ["products.sku"], name=op.f("fk_shipment_corrections_sku_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipment_corrections")),
    )
    op.create_index(
        op.f("ix_shipment_corrections_shipment_id"),
        "shipment_corrections",
        ["shipment_id"],
        unique=False,
    )
    op.create_table(
        "sage_posting_lines",
        sa.Column("posting_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", MONEY, nullable=False),
        sa.Column("tax_rate", RATE, nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_sage_posting_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["posting_id"],
            ["sage_postings.id"],
            name=op.f("fk_sage_posting_lines_posting_id_sage_postings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sku"], ["products.sku"], name=op.f("fk_sage_posting_lines_sku_products")
        ),
        sa.PrimaryKeyConstraint("posting_id", "line_id", name=op.f("pk_sage_posting_lines")),
    )
    op.execute("ALTER TABLE debtors ADD COLUMN sage_contact_id VARCHAR(64)")
    op.execute(
        "ALTER TABLE products ADD COLUMN sage_item_kind VARCHAR(32) "
        "CONSTRAINT ck_products_sage_item_kind "
        "CHECK (sage_item_kind IN ('stock', 'non_stock', 'service'))"
    )
    op.execute("ALTER TABLE shipments ADD COLUMN posting_due BOOLEAN DEFAULT true NOT NULL")
    op.create_index(op.f("ix_shipments_posting_due"), "shipments", ["posting_due"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_shipments_posting_due"), table_name="shipments")
    op.execute("ALTER TABLE shipments DROP COLUMN posting_due")
    op.execute("ALTER TABLE products DROP COLUMN sage_item_kind")
    op.execute("ALTER TABLE debtors DROP COLUMN sage_contact_id")
    op.drop_table("sage_posting_lines")
    op.drop_index(op.f("ix_shipment_corrections_shipment_id"), table_name="shipment_corrections")
    op.drop_table("shipment_corrections")
    op.drop_index(op.f("ix_sage_postings_shipment_id"), table_name="sage_postings")
    op.drop_index("ix_sage_postings_queue", table_name="sage_postings")
    op.drop_table("sage_postings")
    op.drop_table("sage_sync_marks")
    op.drop_index("ix_sage_records_code", table_name="sage_records")
    op.drop_table("sage_records")
