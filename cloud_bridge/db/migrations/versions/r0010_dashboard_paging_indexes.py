"""Indexes so the dashboard's Sage and credit panels page in SQL at any size.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10

- ``ix_sage_postings_rejected``: only the postings in the error report (refused, or posted with
  a problem left), by id, so the report is paged and counted without reading every posting.
- ``ix_sage_postings_posted_at``: when the bridge last posted is the index's last entry.
- ``ix_sage_postings_state_due_at``: postings per state, and those due now, from the index alone.
- ``ix_error_reports_open``: the unresolved credit report lines by age, the dashboard's default
  view, newest first, whatever the resolved history holds.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REJECTED_CONDITION = (
    "CASE WHEN state = 'failed' THEN 1 "
    "WHEN state = 'posted' AND last_error IS NOT NULL THEN 1 ELSE 0 END = 1"
)
OPEN_CONDITION = "resolved_at IS NULL"
_PLAIN: tuple[tuple[str, str, list[str]], ...] = (
    ("ix_sage_postings_posted_at", "sage_postings", ["posted_at"]),
    ("ix_sage_postings_state_due_at", "sage_postings", ["state", "due_at"]),
)
_PARTIAL: tuple[tuple[str, str, list[str], str], ...] = (
    ("ix_sage_postings_rejected", "sage_postings", ["id"], REJECTED_CONDITION),
    ("ix_error_reports_open", "error_reports", ["created_at", "id"], OPEN_CONDITION),
)


def upgrade() -> None:
    for name, table, columns in _PLAIN:
        op.create_index(name, table, columns, unique=False)
    for name, table, columns, condition in _PARTIAL:
        op.create_index(
            name,
            table,
            columns,
            unique=False,
            sqlite_where=sa.text(condition),
            postgresql_where=sa.text(condition),
        )


def downgrade() -> None:
    for name, table, _, _ in reversed(_PARTIAL):
        op.drop_index(name, table_name=table)
    for name, table, _ in reversed(_PLAIN):
        op.drop_index(name, table_name=table)
