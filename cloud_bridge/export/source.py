"""A read-only snapshot of the bridge's database, so every dataset of a run agrees.

The bridge's own SQLite engine starts every transaction with ``BEGIN IMMEDIATE`` (the write
lock), which would stall ingest for the whole export. The export only reads, so on SQLite it
uses a plain deferred ``BEGIN``: in WAL mode that is a snapshot taken at the first read, and
writers carry on. On PostgreSQL the transaction is ``REPEATABLE READ`` and read-only: one
snapshot for every query of the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from cloud_bridge.db import make_engine
from cloud_bridge.db.engine import DEFAULT_BUSY_TIMEOUT_MS
from cloud_bridge.export.errors import ExportInputError

__all__ = ["snapshot_engine"]


def snapshot_engine(url: str) -> Engine:
    """An engine whose transactions read one consistent snapshot and never take a write lock."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return make_engine(url).execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
    database = parsed.database or ""
    on_disk = database not in {"", ":memory:"} and not database.startswith("file:")
    if on_disk and not Path(database).is_file():
        raise ExportInputError(
            f"database {database} does not exist; expected the bridge's SQLite file"
        )
    # No pool: a reader's connection closes with its session. A pooled reader engine per app
    # (the dashboard, /metrics) would hold its file descriptors for the life of the process.
    engine = create_engine(parsed, poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _tune(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={DEFAULT_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_deferred(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine
