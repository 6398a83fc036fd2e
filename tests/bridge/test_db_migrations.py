"""Migrations: an empty database reaches head, and head is exactly what the models describe.

Every test runs on SQLite; when PACKLINE_TEST_POSTGRES_URL names a server, each runs on
PostgreSQL too, in a schema of its own that is dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from cloud_bridge.db.engine import make_engine
from cloud_bridge.db.ledger import ACTIVE_ALLOCATIONS_INDEX
from cloud_bridge.db.migrate import alembic_config, current_revision, head_revision, upgrade
from cloud_bridge.db.models import Base

POSTGRES_URL_VARIABLE = "PACKLINE_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, as a URL: a fresh SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bridge.db'}"
    url: str = request.getfixturevalue("postgres_schema_url")
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def schema_differences(engine: Engine, metadata: sa.MetaData) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def copy_of_models_metadata() -> sa.MetaData:
    copy = sa.MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(copy)
    return copy


def test_an_empty_database_is_upgraded_to_head(engine: Engine) -> None:
    assert current_revision(engine) is None

    upgrade(engine)

    assert current_revision(engine) == head_revision()


def test_the_migrated_schema_is_exactly_the_models(engine: Engine) -> None:
    upgrade(engine)

    assert schema_differences(engine, Base.metadata) == []


def test_a_model_change_without_a_migration_shows_as_a_difference(engine: Engine) -> None:
    upgrade(engine)
    drifted = copy_of_models_metadata()
    drifted.tables["debtors"].append_column(sa.Column("on_stop", sa.Boolean(), nullable=True))

    differences = schema_differences(engine, drifted)

    assert [difference[0] for difference in differences] == ["add_column"]  # type: ignore[index]


def test_upgrading_a_database_already_at_head_changes_nothing(engine: Engine) -> None:
    upgrade(engine)
    upgrade(engine)

    assert current_revision(engine) == head_revision()
    assert schema_differences(engine, Base.metadata) == []


def test_upgrade_takes_a_url_and_leaves_the_database_at_head(database_url: str) -> None:
    upgrade(database_url)

    engine = make_engine(database_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_downgrading_to_base_removes_every_table_it_made(engine: Engine) -> None:
    upgrade(engine)
    config = alembic_config()

    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")

    assert set(sa.inspect(engine).get_table_names()) == {"alembic_version"}


def test_active_allocations_are_indexed_by_account_and_sku_only_while_active(
    engine: Engine,
) -> None:
    upgrade(engine)

    indexes = {index["name"]: index for index in sa.inspect(engine).get_indexes("allocations")}
    active = indexes[ACTIVE_ALLOCATIONS_INDEX]

    assert active["column_names"] == ["from_account_id", "sku"]
    where = active.get("dialect_options", {}).get(f"{engine.dialect.name}_where")
    assert where is not None
    assert "active" in str(where)
