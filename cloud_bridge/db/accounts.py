"""Accounts that own stock, and the ranked links that let one borrow another's.

An account may take stock from its linked accounts only when both of its flags are on and its
own stock cannot cover a line; the links are an ordered fallback list, tried by ``position``.
"""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloud_bridge.db.base import Base

__all__ = ["Account", "AccountLink"]


class Account(Base):
    """A stock-owning account (a client of the warehouse), keyed by its account code."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    order_from_linked: Mapped[bool] = mapped_column(Boolean, default=False)
    """The 'Order from Linked Accounts' flag."""
    pick_from_linked_if_unavailable: Mapped[bool] = mapped_column(Boolean, default=False)
    """The 'Pick from Linked Accounts if Stock is Unavailable' flag."""

    links: Mapped[list[AccountLink]] = relationship(
        foreign_keys="AccountLink.account_id",
        order_by="AccountLink.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    __table_args__ = (CheckConstraint("id <> ''", name="id_not_empty"),)


class AccountLink(Base):
    """One entry in an account's ranked list of accounts it may borrow stock from."""

    __tablename__ = "account_links"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    linked_account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer)
    """Lower is tried first; unique within the owning account."""

    __table_args__ = (
        UniqueConstraint("account_id", "position"),
        CheckConstraint("account_id <> linked_account_id", name="not_self"),
        CheckConstraint("position >= 0", name="position_not_negative"),
    )
