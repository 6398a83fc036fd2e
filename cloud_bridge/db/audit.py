"""The audit trail: who changed what, when, with the values before and after.

Rows are only ever added. Database triggers (migration 0006) refuse UPDATE and DELETE on the
table on both SQLite and PostgreSQL, so not even a bug or a hand-run statement through the
application's connection can rewrite the history; nothing in the bridge maps an update to it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud_bridge.db.base import Base
from cloud_bridge.db.types import UtcDateTime, utc_now

__all__ = ["AuditEntry"]


class AuditEntry(Base):
    """One audited change: the actor (a token's name or ``station:<id>``) and what it changed."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, index=True)
    actor: Mapped[str] = mapped_column(String(128), index=True)
    role: Mapped[str] = mapped_column(String(32))
    """The actor's role when it acted: an API role, ``station`` or ``system``."""
    action: Mapped[str] = mapped_column(String(64), index=True)
    """What was done, as ``<thing>.<verb>``, e.g. ``debtor.update`` or ``label.void``."""
    subject: Mapped[str] = mapped_column(String(200), index=True)
    """What it was done to, as ``<kind>:<key>``, e.g. ``debtor:ACME`` or ``order:SO-1``."""
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
