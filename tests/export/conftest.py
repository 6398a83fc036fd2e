"""The export tests build their books with the bridge tests' small warehouse and Sage world,
which live beside them, on SQLite and on PostgreSQL."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

_directory = str(Path(__file__).resolve().parents[1] / "bridge")
if _directory not in sys.path:
    sys.path.insert(0, _directory)

from sage_world import new_world  # noqa: E402

from firmware_sim.sage import ManualClock, SageSandbox, SageSandboxServer  # noqa: E402

from .export_world import ExportWorld  # noqa: E402


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bridge.db'}"
    url: str = request.getfixturevalue("postgres_schema_url")
    return url


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[ExportWorld]:
    """A bridge whose Sage sandbox is synced and whose account A borrows MUG from B."""
    sandbox = SageSandbox(clock=ManualClock(datetime.now(UTC)))
    async with SageSandboxServer(sandbox) as server:
        sage = new_world(tmp_path, database_url, sandbox, server)
        await sage.sync("test")
        built = ExportWorld(sage)
        built.lend_mugs()
        yield built
        sage.engine.dispose()
