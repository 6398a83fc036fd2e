"""Ingest of station events: parked events ahead of a gap, and each line's picked quantity.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

The picked-quantity column is added with one ``ALTER TABLE ... ADD COLUMN`` carrying its own
named CHECK, which both SQLite and PostgreSQL accept. SQLite could otherwise add a CHECK only by
rebuilding ``order_lines``, and dropping that table while foreign keys are enforced would delete
or refuse the allocations that point at it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "parked_events",
        sa.Column("station_id", sa.String(length=128), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", INSTANT, nullable=False),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_parked_events_seq_positive")),
        sa.PrimaryKeyConstraint("station_id", "seq", name=op.f("pk_parked_events")),
    )
    op.execute(
        "ALTER TABLE order_lines ADD COLUMN picked_quantity INTEGER DEFAULT 0 NOT NULL "
        "CONSTRAINT ck_order_lines_picked_quantity_not_negative CHECK (picked_quantity >= 0)"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE order_lines DROP COLUMN picked_quantity")
    op.drop_table("parked_events")
