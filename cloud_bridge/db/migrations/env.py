"""Alembic's entry point: migrate through the connection the caller hands over.

``cloud_bridge.db.migrate`` puts an open connection, already inside a transaction, into the
configuration's attributes, so the whole upgrade commits or rolls back as one. Run from the
``alembic`` command line instead, it makes its own engine from ``sqlalchemy.url``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from cloud_bridge.db.engine import make_engine
from cloud_bridge.db.models import Base

_config = context.config
_target_metadata = Base.metadata


def _run_offline() -> None:
    """Write the SQL to standard output, for a database administrator to review and apply."""
    context.configure(
        url=_config.get_main_option("sqlalchemy.url"),
        target_metadata=_target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=_target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    handed_over = _config.attributes.get("connection")
    if isinstance(handed_over, Connection):
        _run_on(handed_over)
        return
    url = _config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("sqlalchemy.url is not set and no connection was handed over")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            _run_on(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
