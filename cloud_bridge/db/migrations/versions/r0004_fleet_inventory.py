"""The fleet inventory: one row per station with its presence, versions, hardware and outbox.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

A new table only, so SQLite and PostgreSQL take the same DDL. The ``group`` column is quoted by
SQLAlchemy on both, since GROUP is a reserved word.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "fleet_stations",
        sa.Column("station_id", sa.String(length=128), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("group", sa.String(length=64), nullable=True),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("bd_seq", sa.BigInteger(), nullable=True),
        sa.Column("presence_at", INSTANT, nullable=True),
        sa.Column("last_seen", INSTANT, nullable=False),
        sa.Column("software_version", sa.String(length=64), nullable=True),
        sa.Column("config_version", sa.Integer(), nullable=True),
        sa.Column("config_hash", sa.String(length=64), nullable=True),
        sa.Column("hardware", sa.Text(), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=True),
        sa.Column("printer", sa.String(length=16), nullable=True),
        sa.Column("printer_detail", sa.Text(), nullable=True),
        sa.Column("status_at", INSTANT, nullable=True),
        sa.Column("outbox_depth", sa.Integer(), nullable=True),
        sa.Column("outbox_bytes", sa.BigInteger(), nullable=True),
        sa.Column("outbox_oldest_age_s", sa.Float(), nullable=True),
        sa.Column("outbox_at", INSTANT, nullable=True),
        sa.Column("update_state", sa.String(length=32), nullable=True),
        sa.CheckConstraint("bd_seq >= 0", name=op.f("ck_fleet_stations_bd_seq_not_negative")),
        sa.CheckConstraint(
            "outbox_depth >= 0", name=op.f("ck_fleet_stations_outbox_depth_not_negative")
        ),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_fleet_stations")),
    )
    op.create_index(op.f("ix_fleet_stations_site"), "fleet_stations", ["site"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_fleet_stations_site"), table_name="fleet_stations")
    op.drop_table("fleet_stations")
