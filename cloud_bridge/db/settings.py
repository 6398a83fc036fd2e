"""Settings the bridge's behaviour depends on, kept in the database so every instance agrees.

Values are text; the code that reads a setting parses and validates it, naming the key when
the value is wrong.
"""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloud_bridge.db.base import Base

__all__ = ["Setting"]


class Setting(Base):
    """One setting, such as ``check_credit_line`` or ``retry_in_minutes``."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
