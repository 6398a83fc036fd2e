"""Station event bodies, stored reconciliation results, and an index for borrowed stock.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-09

- ``applied_events.body``: the event as applied, as JSON text, so the export can hand a warehouse
  what happened (which label, which order) and not only that something did. Events applied
  before this revision keep a null body: what they said was never stored.
- ``sage_reconcile_runs``: one row per finished reconciliation, with what it compared and every
  difference, so the dashboard shows the last result.
- ``ix_allocations_active_borrowed``: the active borrowed allocations only, with the columns the
  dashboard's borrowing summary groups by, so it reads a handful of index entries instead of
  every allocation an order history has left behind.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True)
ENVIRONMENTS = ("test", "live")
BORROWED_INDEX = "ix_allocations_active_borrowed"
_BORROWED_COLUMNS = ["order_no", "sku", "from_account_id", "quantity"]


def upgrade() -> None:
    with op.batch_alter_table("applied_events") as batch:
        batch.add_column(sa.Column("body", sa.Text(), nullable=True))
    op.create_table(
        "sage_reconcile_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column(
            "environment",
            sa.Enum(
                *ENVIRONMENTS,
                name="sage_environment",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("business_id", sa.String(length=64), nullable=False),
        sa.Column("started_at", INSTANT, nullable=False),
        sa.Column("finished_at", INSTANT, nullable=False),
        sa.Column("shipped_since", INSTANT, nullable=True),
        sa.Column("shipment_lines_checked", sa.Integer(), nullable=False),
        sa.Column("postings_checked", sa.Integer(), nullable=False),
        sa.Column("documents_checked", sa.Integer(), nullable=False),
        sa.Column("stock_items_checked", sa.Integer(), nullable=False),
        sa.Column("differences", sa.Integer(), nullable=False),
        sa.Column("problems", sa.Integer(), nullable=False),
        sa.Column("difference_lines", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "problems <= differences",
            name=op.f("ck_sage_reconcile_runs_problems_within_differences"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sage_reconcile_runs")),
    )
    op.create_index(
        "ix_sage_reconcile_runs_finished_at", "sage_reconcile_runs", ["finished_at"], unique=False
    )
    op.create_index(
        BORROWED_INDEX,
        "allocations",
        _BORROWED_COLUMNS,
        unique=False,
        sqlite_where=sa.text("state = 'active' AND borrowed = 1"),
        postgresql_where=sa.text("state = 'active' AND borrowed"),
    )


def downgrade() -> None:
    op.drop_index(BORROWED_INDEX, table_name="allocations")
    op.drop_index("ix_sage_reconcile_runs_finished_at", table_name="sage_reconcile_runs")
    op.drop_table("sage_reconcile_runs")
    with op.batch_alter_table("applied_events") as batch:
        batch.drop_column("body")
