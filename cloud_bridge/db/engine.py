"""Engines and sessions for the bridge's database, SQLite on one machine or PostgreSQL beyond.

SQLite is tuned on every new connection: write-ahead logging so readers never block the
writer, ``synchronous=NORMAL`` (durable at each checkpoint, safe in WAL mode), enforced foreign
keys, and a busy timeout so a second writer waits instead of failing at once.

pysqlite's own transaction handling starts a transaction lazily, at the first write, so two
sessions can both read the same stock and then both write: a lost update. Following
SQLAlchemy's recipe for SQLite serialisable isolation, the driver's handling is switched off
and every transaction starts with ``BEGIN IMMEDIATE``, which takes the database's write lock
up front. Writers are then serialised, and a read made inside a transaction stays true until
it commits.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.expression import GenerativeSelect

from cloud_bridge.errors import BridgeError

__all__ = [
    "DEFAULT_BUSY_TIMEOUT_MS",
    "UnsupportedDatabaseError",
    "for_update",
    "make_engine",
    "session_factory",
]

DEFAULT_BUSY_TIMEOUT_MS = 5_000
"""How long a SQLite connection waits for the write lock before giving up."""

_SQLITE_DRIVERS = frozenset({"sqlite", "sqlite+pysqlite"})
_POSTGRES_DRIVERS = frozenset({"postgresql", "postgresql+psycopg"})

_Statement = TypeVar("_Statement", bound=GenerativeSelect)


class UnsupportedDatabaseError(BridgeError, ValueError):
    """The database URL names a backend or driver the bridge does not run on."""


def make_engine(url: str | URL, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> Engine:
    """An engine for ``sqlite:///path`` or ``postgresql+psycopg://...``.

    A bare ``postgresql://`` URL is taken to mean the psycopg 3 driver, the only one installed.
    """
    parsed = make_url(url)
    if parsed.drivername in _SQLITE_DRIVERS:
        return _sqlite_engine(parsed, busy_timeout_ms)
    if parsed.drivername in _POSTGRES_DRIVERS:
        return create_engine(parsed.set(drivername="postgresql+psycopg"), pool_pre_ping=True)
    raise UnsupportedDatabaseError(
        f"database URL driver {parsed.drivername!r} is not supported; expected "
        "'sqlite' (sqlite:///path) or 'postgresql+psycopg'"
    )


def _sqlite_engine(url: URL, busy_timeout_ms: int) -> Engine:
    if busy_timeout_ms < 0:
        raise ValueError(f"busy_timeout_ms {busy_timeout_ms} is negative; expected >= 0")
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _tune(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine`` whose objects stay readable after commit.

    ``expire_on_commit=False`` because results are handed on (to MQTT, to HTTP responses)
    after the transaction ends, and reloading them then would start a new transaction.
    """
    return sessionmaker(bind=engine, expire_on_commit=False)


def for_update(stmt: _Statement) -> _Statement:
    """``stmt`` locking the rows it reads until the transaction ends, where that means anything.

    On PostgreSQL this is ``SELECT ... FOR UPDATE``: concurrent bridge instances allocating the
    same stock queue on the row locks instead of both seeing it free. SQLite has no row locks
    and SQLAlchemy leaves the clause out there; the ``BEGIN IMMEDIATE`` of every transaction
    already holds the whole database's write lock, which serialises the writers.
    """
    return stmt.with_for_update()
