"""Sage environments: every posting names test or live, and one row says which one is in use.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

Before this revision a posting carried only its business id, and nothing recorded which business
was the test one. Existing postings are stamped ``test`` here; the first time the bridge posts
after the upgrade it records the configured environment and re-stamps the postings of that
environment's business (see ``cloud_bridge.posting.environment``), so a site that was already
live keeps its live postings live.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True)
ENVIRONMENTS = ("test", "live")
_CHECK = "environment IN ('test', 'live')"


def upgrade() -> None:
    with op.batch_alter_table("sage_postings") as batch:
        batch.add_column(
            sa.Column("environment", sa.String(length=32), nullable=False, server_default="test")
        )
        batch.create_check_constraint(op.f("ck_sage_postings_sage_environment"), _CHECK)
    with op.batch_alter_table("sage_postings") as batch:
        batch.alter_column("environment", server_default=None)
    op.create_table(
        "sage_connection",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
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
        sa.Column("selected_at", INSTANT, nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_sage_connection_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sage_connection")),
    )


def downgrade() -> None:
    op.drop_table("sage_connection")
    with op.batch_alter_table("sage_postings") as batch:
        batch.drop_constraint(op.f("ck_sage_postings_sage_environment"), type_="check")
        batch.drop_column("environment")
