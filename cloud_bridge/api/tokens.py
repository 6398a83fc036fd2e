"""API tokens: made, listed, revoked and checked against their hashes in the bridge's database.

A token is ``plk_`` and 43 URL-safe characters (256 random bits). Only its SHA-256 is stored,
with its first 12 characters as a non-secret prefix that finds the candidate rows; the hashes
are then compared with ``hmac.compare_digest``, so how long a refusal takes says nothing about
the token. Revoking keeps the row (its name stays the audit trail's actor) and takes effect on
the next request: every request reads the token's row, nothing caches it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from cloud_bridge.api.roles import Role
from cloud_bridge.audit import record_audit
from cloud_bridge.db.engine import session_factory
from cloud_bridge.db.tokens import ApiToken
from cloud_bridge.errors import BridgeError

__all__ = [
    "CLI_ACTOR",
    "Principal",
    "TokenError",
    "TokenInfo",
    "TokenRefusal",
    "create_token",
    "find_principal",
    "has_active_tokens",
    "list_tokens",
    "parse_role",
    "revoke_token",
]

CLI_ACTOR = "command-line"
"""The audit actor for token changes made with `packline bridge token`."""

_SCHEME = "plk_"
_PREFIX_LENGTH = 12
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_NAME_RULE = "1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"


class TokenError(BridgeError, ValueError):
    """A token command that cannot be done: a bad name or role, a taken or unknown name."""


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the token's name (the audit actor) and its role."""

    name: str
    role: Role


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: never the token, only its non-secret prefix."""

    name: str
    role: Role
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class TokenRefusal(BridgeError, PermissionError):
    """The presented token is unknown or revoked; the message says which."""


Sessions = sessionmaker[Session] | Engine


def parse_role(text: str) -> Role:
    """``text`` as a `Role`, or a `TokenError` listing the roles there are."""
    try:
        return Role(text)
    except ValueError:
        known = ", ".join(role.value for role in Role)
        raise TokenError(f"role {text!r} is not a role; expected one of {known}") from None


def create_token(
    sessions_or_engine: Sessions, name: str, role: Role | str, *, actor: str = CLI_ACTOR
) -> str:
    """Store a new token named ``name`` with ``role`` and return it; it is never shown again.

    Names are unique for good, revoked tokens included, so an audit row's actor always means
    one token.
    """
    if not _NAME.fullmatch(name):
        raise TokenError(f"token name {name!r} is not valid; expected {_NAME_RULE}")
    chosen = role if isinstance(role, Role) else parse_role(role)
    token = _SCHEME + secrets.token_urlsafe(32)
    with _transaction(sessions_or_engine) as session:
        if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
            raise TokenError(
                f"a token named {name!r} exists already (revoked ones keep their names so the "
                "audit trail stays unambiguous); choose another name"
            )
        session.add(
            ApiToken(
                name=name,
                role=chosen.value,
                prefix=token[:_PREFIX_LENGTH],
                token_sha256=_digest(token),
                created_at=datetime.now(UTC),
            )
        )
        record_audit(
            session,
            actor=actor,
            action="token.create",
            subject=f"token:{name}",
            after={"role": chosen.value, "prefix": token[:_PREFIX_LENGTH]},
        )
    return token


def revoke_token(sessions_or_engine: Sessions, name: str, *, actor: str = CLI_ACTOR) -> None:
    """Revoke the token named ``name``: from the next request on it is refused with 401."""
    with _transaction(sessions_or_engine) as session:
        row = session.scalar(select(ApiToken).where(ApiToken.name == name))
        if row is None:
            raise TokenError(f"no token is named {name!r}; `packline bridge token list` shows them")
        if row.revoked_at is not None:
            raise TokenError(
                f"token {name!r} was revoked already, at {row.revoked_at:%Y-%m-%d %H:%M:%S} UTC"
            )
        row.revoked_at = datetime.now(UTC)
        record_audit(
            session,
            actor=actor,
            action="token.revoke",
            subject=f"token:{name}",
            before={"revoked_at": None},
            after={"revoked_at": row.revoked_at},
        )


def list_tokens(sessions_or_engine: Sessions) -> list[TokenInfo]:
    """Every token, revoked ones too, oldest first."""
    with _transaction(sessions_or_engine) as session:
        rows = session.scalars(select(ApiToken).order_by(ApiToken.created_at, ApiToken.id))
        return [
            TokenInfo(
                name=row.name,
                role=Role(row.role),
                prefix=row.prefix,
                created_at=row.created_at,
                revoked_at=row.revoked_at,
            )
            for row in rows
        ]


def has_active_tokens(sessions_or_engine: Sessions) -> bool:
    """Whether any token is unrevoked: without one, every API request is refused."""
    with _transaction(sessions_or_engine) as session:
        query = select(ApiToken.id).where(ApiToken.revoked_at.is_(None)).limit(1)
        return session.scalar(query) is not None


def find_principal(session: Session, token: str) -> Principal:
    """The principal ``token`` stands for, or `TokenRefusal` if it is unknown or revoked."""
    digest = _digest(token)
    match: ApiToken | None = None
    candidates = session.scalars(select(ApiToken).where(ApiToken.prefix == token[:_PREFIX_LENGTH]))
    for row in candidates:
        if hmac.compare_digest(row.token_sha256.encode(), digest.encode()):
            match = row
    if match is None:
        raise TokenRefusal("the bearer token is not valid")
    if match.revoked_at is not None:
        raise TokenRefusal("the bearer token has been revoked")
    return Principal(name=match.name, role=Role(match.role))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@contextmanager
def _transaction(sessions_or_engine: Sessions) -> Iterator[Session]:
    sessions = (
        session_factory(sessions_or_engine)
        if isinstance(sessions_or_engine, Engine)
        else sessions_or_engine
    )
    with sessions.begin() as session:
        yield session
