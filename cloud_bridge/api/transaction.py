"""One database transaction per request, and station messages published only after it commits.

A handler hands its work to `Transactions.run`: the work runs on a worker thread (the database
driver blocks) inside one transaction, collects the station messages the services return, and
builds its response there, while every row it read is still current. Any exception rolls the
whole transaction back, so a request never half-applies; only after the commit are the collected
messages published, so a station never hears of a change that did not happen.

Work that only reads (the dashboard's panels) goes to `Transactions.read` instead: its session
is read-only (`read_only_sessions`): on SQLite it starts with a deferred ``BEGIN`` and never
queues for the write lock behind ingest and allocation; on PostgreSQL it is a read-only snapshot.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from cloud_bridge.db.engine import session_factory
from cloud_bridge.errors import BridgeError
from cloud_bridge.export.source import snapshot_engine
from cloud_bridge.services.release import Dispatch

__all__ = [
    "Publish",
    "ReadUnit",
    "Transactions",
    "UnboundSessionsError",
    "Unit",
    "read_only_sessions",
]

log = logging.getLogger("packline.bridge.api")

Publish = Callable[[Dispatch], Awaitable[None]]
"""Sends one message to its station (after the commit)."""

_Result = TypeVar("_Result")


@dataclass
class Unit:
    """What a request's work gets: its session, one instant for the whole request, an outbox."""

    session: Session
    now: datetime
    outbox: list[Dispatch] = field(default_factory=list)

    def send(self, dispatch: Dispatch | None) -> None:
        """Queue a service's message for publishing once the transaction has committed."""
        if dispatch is not None:
            self.outbox.append(dispatch)


@dataclass(frozen=True)
class ReadUnit:
    """What read-only work gets: a session that never takes the write lock, and one instant.

    It has no outbox: work that reads cannot have anything to tell a station.
    """

    session: Session
    now: datetime


class UnboundSessionsError(BridgeError, RuntimeError):
    """Read-only work was asked of transactions whose sessions name no database engine."""


class Transactions:
    """Runs each request's work in its own transaction, then publishes what it queued."""

    def __init__(self, sessions: sessionmaker[Session], publish: Publish | None) -> None:
        self._sessions = sessions
        self._publish = publish
        self._readers: sessionmaker[Session] | None = None
        self._readers_lock = threading.Lock()

    def read_session(self) -> Session:
        """A new session on the same database for reading only: it never takes the write lock.

        Its engine is made on first use, not with the app, so building an app opens nothing
        (its database may not even exist yet).
        """
        with self._readers_lock:
            if self._readers is None:
                readers = read_only_sessions(self._sessions)
                if readers is None:
                    raise UnboundSessionsError(
                        "read-only work needs sessions bound to a database engine; these have "
                        "no bind"
                    )
                self._readers = readers
            return self._readers()

    async def read(self, work: Callable[[ReadUnit], _Result]) -> _Result:
        """The result of ``work``, which only reads, in a transaction that takes no write lock."""
        return await run_in_threadpool(self._reading, work)

    def _reading(self, work: Callable[[ReadUnit], _Result]) -> _Result:
        with self.read_session() as session:
            return work(ReadUnit(session=session, now=datetime.now(UTC)))

    async def run(self, work: Callable[[Unit], _Result]) -> _Result:
        """The work's result, committed; its queued messages are published afterwards."""
        result, outbox = await run_in_threadpool(self._in_transaction, work)
        if self._publish is not None:
            for dispatch in outbox:
                await self._deliver(self._publish, dispatch)
        return result

    def _in_transaction(self, work: Callable[[Unit], _Result]) -> tuple[_Result, list[Dispatch]]:
        with self._sessions() as session, session.begin():
            unit = Unit(session=session, now=datetime.now(UTC))
            result = work(unit)
            session.flush()
        return result, unit.outbox

    @staticmethod
    async def _deliver(publish: Publish, dispatch: Dispatch) -> None:
        """Publish one message; a failure is logged, not raised, as the change has committed.

        Stations receive their current allocations again whenever they come online, so a
        message lost here is resent from the database rather than by failing the request.
        """
        try:
            await publish(dispatch)
        except Exception:
            log.exception(
                "publish failed after commit: %s for order %s to station %s",
                dispatch.message.type,
                dispatch.message.order_id,
                dispatch.station_id,
            )


def read_only_sessions(sessions: sessionmaker[Session]) -> sessionmaker[Session] | None:
    """Sessions reading the database ``sessions`` writes, never taking its write lock.

    On SQLite that takes a second engine, the export's snapshot engine, whose transactions begin
    deferred; its connections also refuse writes. On PostgreSQL the same pool serves, each read
    checked out as a read-only ``REPEATABLE READ`` transaction, so reads open no second pool.

    An in-memory SQLite database exists only on its one connection, so a second engine would
    open an empty one; reads there share ``sessions`` (one connection has nothing to queue
    behind). Sessions bound to no engine have no database to read: None.
    """
    bind = sessions.kw.get("bind")
    if not isinstance(bind, Engine):
        return None
    if bind.dialect.name != "sqlite":
        return session_factory(
            bind.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        )
    database = bind.url.database or ""
    if database in {"", ":memory:"} or "mode=memory" in database:
        return sessions
    engine = snapshot_engine(bind.url.render_as_string(hide_password=False))
    event.listen(engine, "connect", _query_only)
    return session_factory(engine)


def _query_only(dbapi_connection: Any, _record: Any) -> None:
    """Refuse writes on a reading connection, so a read-only unit is read-only in fact.

    PostgreSQL's read-only transaction already refuses them; SQLite needs the pragma.
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA query_only = ON")
    finally:
        cursor.close()
