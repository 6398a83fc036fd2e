"""Bring a database's schema up to date from inside the program, without an ini file.

The migration scripts ship inside the package, so an installed bridge can upgrade its own
database at start-up, and tests can build a schema exactly as production does.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from cloud_bridge.db.engine import make_engine

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision", "upgrade"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
"""Where the Alembic environment and its revisions live, inside the package."""


def alembic_config() -> Config:
    """An Alembic configuration pointing at the packaged migrations, with no database yet."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(engine_or_url: Engine | str | URL, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (the newest by default) in one transaction.

    Given a URL, an engine is made for the duration and disposed of afterwards; given an
    engine, it is used as it is and left open for the caller.
    """
    if isinstance(engine_or_url, Engine):
        _upgrade_with(engine_or_url, revision)
        return
    engine = make_engine(engine_or_url)
    try:
        _upgrade_with(engine, revision)
    finally:
        engine.dispose()


def _upgrade_with(engine: Engine, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` if it has never been migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision the packaged migrations define."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise LookupError(f"no migration revisions found under {MIGRATIONS_DIR.name}/versions")
    return head
