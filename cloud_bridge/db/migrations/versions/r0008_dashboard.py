"""The manager's dashboard: stations' counters, and indexes for its summaries and lists.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08

A station's status carries counters (picks, shorts, wrong scans...) that only go up; the fleet
row keeps the latest as JSON so short and wrong-scan rates can be derived from them. The indexes
keep the dashboard's summaries (orders per hour, despatches today, throughput per station, the
error report in order) as range scans, so a database of 100,000 orders opens as fast as one of 100.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES: tuple[tuple[str, str, list[str]], ...] = (
    ("ix_sales_orders_created_at", "sales_orders", ["created_at"]),
    ("ix_sales_orders_state_created_at", "sales_orders", ["state", "created_at"]),
    ("ix_shipments_shipped_at", "shipments", ["shipped_at"]),
    ("ix_shipments_station_id_shipped_at", "shipments", ["station_id", "shipped_at"]),
    ("ix_error_reports_created_at", "error_reports", ["created_at"]),
)


def upgrade() -> None:
    with op.batch_alter_table("fleet_stations") as batch:
        batch.add_column(sa.Column("counters", sa.Text(), nullable=True))
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("fleet_stations") as batch:
        batch.drop_column("counters")
