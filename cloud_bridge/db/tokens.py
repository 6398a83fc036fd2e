"""Bearer tokens for the bridge's HTTP API, stored only as hashes.

A token is 256 random bits; the table keeps its SHA-256, never the token itself, so a copy of
the database does not hand out access. ``prefix`` is the token's first few characters, enough
to tell tokens apart in a listing and useless to an attacker.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud_bridge.db.base import Base
from cloud_bridge.db.types import UtcDateTime, utc_now

__all__ = ["ApiToken"]


class ApiToken(Base):
    """One API token: its name (the audit actor), role, hash and whether it was revoked."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    prefix: Mapped[str] = mapped_column(String(16))
    """The token's first characters, for listings; not secret."""
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    """Hex SHA-256 of the token."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)

    __table_args__ = (CheckConstraint("name <> ''", name="name_not_empty"),)
