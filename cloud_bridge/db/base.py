"""The declarative base every bridge table hangs off, with one naming rule for constraints.

Named constraints let migrations drop or alter them on both SQLite and PostgreSQL, and the
same names come out of the models and the migrations, so comparing the two finds no drift.
"""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

__all__ = ["NAMING_CONVENTION", "Base"]

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of the bridge's mapped classes; its ``metadata`` is the whole schema."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
