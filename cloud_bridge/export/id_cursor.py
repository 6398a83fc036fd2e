"""Reading a table keyed by an autoincrement id so that every row is taken exactly once.

Ids only grow, so "above the last id read" finds new rows. Two things need more than that:

- On PostgreSQL an id is drawn when a row is inserted, not when it commits, so id 41 can become
  visible after 42 was read. An id missing below the highest one read is kept as a *hole* and
  looked for again on each run for the late-commit window; a rolled-back insert leaves a hole
  that simply expires. (SQLite serialises writers, so it never leaves one.)
- Some rows change until they settle (an allocation until it is consumed or released, a Sage
  posting until it is posted or refused). A row read before it settles is kept as *pending* and
  read again on each run until it settles; it is exported once, settled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.base import ExecutableOption

from cloud_bridge.export.watermark import IdCursor

__all__ = ["IdRead", "read_by_id"]

_Entity = TypeVar("_Entity")
_CHUNK = 500
_MAX_NEW_HOLES = 10_000
"""More missing ids than this in one read is a sequence jump (e.g. PostgreSQL after a crash)."""


@dataclass(frozen=True)
class IdRead(Generic[_Entity]):
    """The settled rows to export, in id order, and the cursor to store after the run."""

    rows: list[_Entity]
    cursor: IdCursor


def read_by_id(
    session: Session,
    entity: type[_Entity],
    id_column: InstrumentedAttribute[int],
    cursor: IdCursor,
    *,
    now: datetime,
    late_window: timedelta,
    settled: Callable[[_Entity], bool],
    wanted: Callable[[_Entity], bool],
    options: Sequence[ExecutableOption] = (),
) -> IdRead[_Entity]:
    """New rows, pending rows and holes of ``entity``; ``wanted`` filters settled rows."""
    query = select(entity).options(*options)
    found = list(session.scalars(query.where(id_column > cursor.last_id)))
    for chunk in _chunks(sorted(cursor.pending | set(cursor.holes))):
        found.extend(session.scalars(query.where(id_column.in_(chunk))))
    found.sort(key=_id_of)
    present = {_id_of(row) for row in found}
    last_id = max([cursor.last_id, *present])
    holes = {
        missing: first_missed
        for missing, first_missed in cursor.holes.items()
        if missing not in present and now - first_missed < late_window
    }
    if last_id - cursor.last_id <= _MAX_NEW_HOLES:
        holes.update(
            (missing, now)
            for missing in range(cursor.last_id + 1, last_id)
            if missing not in present
        )
    export = [row for row in found if settled(row) and wanted(row)]
    pending = frozenset(_id_of(row) for row in found if not settled(row))
    return IdRead(export, IdCursor(last_id=last_id, pending=pending, holes=holes))


def _id_of(row: Any) -> int:
    return int(row.id)


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]
