"""API tokens (hashed, with roles) and the append-only audit log.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

The audit log must never be rewritten, so triggers refuse UPDATE and DELETE on it: a SQLite
trigger that raises, and on PostgreSQL a PL/pgSQL function that raises for row UPDATE/DELETE
and for TRUNCATE. The tables themselves are plain DDL, the same on both.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True)

REFUSAL = "audit_log is append-only"
"""The start of the error either database raises when something tries to change the log."""

_SQLITE_TRIGGERS = tuple(
    f"""
    CREATE TRIGGER audit_log_refuse_{verb.lower()}
    BEFORE {verb} ON audit_log
    BEGIN
        SELECT RAISE(ABORT, '{REFUSAL}: {verb} refused');
    END
    """
    for verb in ("UPDATE", "DELETE")
)

_POSTGRES_FUNCTION = f"""
    CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{REFUSAL}: % refused', TG_OP;
    END
    $$
"""

_POSTGRES_TRIGGERS = (
    """
    CREATE TRIGGER audit_log_refuse_change
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()
    """,
    """
    CREATE TRIGGER audit_log_refuse_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()
    """,
)


def upgrade() -> None:
    _tokens()
    _audit_log()
    _refuse_changes_to_audit_log()


def _tokens() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("revoked_at", INSTANT, nullable=True),
        sa.CheckConstraint("name <> ''", name=op.f("ck_api_tokens_name_not_empty")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_api_tokens_name")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_api_tokens_token_sha256")),
    )


def _audit_log() -> None:
    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    for column in ("at", "actor", "action", "subject"):
        op.create_index(op.f(f"ix_audit_log_{column}"), "audit_log", [column], unique=False)


def _refuse_changes_to_audit_log() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_POSTGRES_FUNCTION)
        for trigger in _POSTGRES_TRIGGERS:
            op.execute(trigger)
        return
    for trigger in _SQLITE_TRIGGERS:
        op.execute(trigger)


def downgrade() -> None:
    # Dropping the table drops its triggers on both databases; the function stays otherwise.
    for column in ("subject", "action", "actor", "at"):
        op.drop_index(op.f(f"ix_audit_log_{column}"), table_name="audit_log")
    op.drop_table("audit_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_log_refuse_change()")
    op.drop_table("api_tokens")
