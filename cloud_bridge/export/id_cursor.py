"""Reading a table keyed by an autoincrement id so that every row is taken exactly once.

Ids only grow, so "above the last id read" finds new rows. Two things need more than that:

- On PostgreSQL an id is drawn when a row is inserted, not when it commits, so id 41 can become
  visible after 42 was read. An id missing below the highest one read is kept as a *hole* and
  looked for again on each run for the late-commit window; a rolled-back insert leaves a hole
  that simply expires. A gap longer than ``MAX_LISTED_HOLES`` (a large bulk insert still
  committing, or a sequence that jumped) is kept as one *hole range* rather than id by id, and
  logged, so it costs one range read per run instead of thousands of ids. (SQLite serialises
  writers, so it never leaves a hole.)
- Some rows change until they settle (an allocation until it is consumed or released, a Sage
  posting until it is posted or refused). A row read before it settles is kept as *pending* and
  read again on each run until it settles; it is exported once, settled.

Rows are read and handed on in batches (a generator whose return value is the cursor to store),
so a first run over a large table never holds the whole table: every query is a primary-key
lookup or range.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.base import ExecutableOption

from cloud_bridge.export.chunks import CHUNK, chunked
from cloud_bridge.export.watermark import HoleRange, IdCursor

__all__ = ["MAX_LISTED_HOLES", "read_by_id"]

log = logging.getLogger("packline.bridge.export")

_Entity = TypeVar("_Entity")

MAX_LISTED_HOLES = 1_000
"""A gap of more missing ids than this is stored as a range, not id by id."""


class _Progress:
    """What one read has seen so far, and the cursor that follows from it."""

    def __init__(self, cursor: IdCursor, now: datetime, late_window: timedelta, table: str):
        self.now = now
        self.table = table
        self.last_id = cursor.last_id
        self.pending: set[int] = set()
        self.found_holes: set[int] = set()
        self.new_holes: dict[int, datetime] = {}
        self.ranges: list[HoleRange] = []
        self._late_window = late_window

    def fresh(self, first_missed: datetime) -> bool:
        return self.now - first_missed < self._late_window

    def missing(self, first: int, last: int, first_missed: datetime, *, new: bool) -> None:
        """Ids ``first`` to ``last`` were not there: keep them, id by id or as one range."""
        if last < first or not self.fresh(first_missed):
            return
        if last - first + 1 <= MAX_LISTED_HOLES:
            self.new_holes.update(dict.fromkeys(range(first, last + 1), first_missed))
            return
        if new:
            log.warning(
                "export %s: ids %d to %d (%d ids) are missing below id %d; kept as one hole "
                "range and looked for again until %s",
                self.table,
                first,
                last,
                last - first + 1,
                last + 1,
                (first_missed + self._late_window).isoformat(),
            )
        self.ranges.append(HoleRange(first=first, last=last, first_missed=first_missed))

    def cursor(self, stored: IdCursor) -> IdCursor:
        holes = {
            missing: first_missed
            for missing, first_missed in stored.holes.items()
            if missing not in self.found_holes and self.fresh(first_missed)
        }
        holes.update(self.new_holes)
        return IdCursor(
            last_id=self.last_id,
            pending=frozenset(self.pending),
            holes=holes,
            hole_ranges=tuple(self.ranges),
        )


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
) -> Generator[list[_Entity], None, IdCursor]:
    """Batches of settled, ``wanted`` rows: pending ones and holes, hole ranges, then new ones.

    Returns the cursor to store once every batch has been taken.
    """
    query = select(entity).options(*options).order_by(id_column)
    progress = _Progress(cursor, now, late_window, str(getattr(entity, "__tablename__", entity)))

    def take(rows: Iterable[_Entity]) -> list[_Entity]:
        chosen: list[_Entity] = []
        for row in rows:
            if not settled(row):
                progress.pending.add(_id_of(row))
            elif wanted(row):
                chosen.append(row)
        return chosen

    for keys in chunked(sorted(cursor.pending | set(cursor.holes))):
        found = list(session.scalars(query.where(id_column.in_(keys))))
        progress.found_holes.update(_id_of(row) for row in found)
        if chosen := take(found):
            yield chosen
    for gap in cursor.hole_ranges:
        expected = gap.first
        for batch in _batches(session, query.where(id_column.between(gap.first, gap.last))):
            for row in batch:
                progress.missing(expected, _id_of(row) - 1, gap.first_missed, new=False)
                expected = _id_of(row) + 1
            if chosen := take(batch):
                yield chosen
        progress.missing(expected, gap.last, gap.first_missed, new=False)
    for batch in _batches(session, query.where(id_column > cursor.last_id)):
        for row in batch:
            progress.missing(progress.last_id + 1, _id_of(row) - 1, now, new=True)
            progress.last_id = _id_of(row)
        if chosen := take(batch):
            yield chosen
    return progress.cursor(cursor)


def _batches(session: Session, query: Select[Any]) -> Iterable[list[Any]]:
    """The query's entities, ``CHUNK`` at a time, without loading them all."""
    result = session.scalars(query.execution_options(yield_per=CHUNK))
    return (list(batch) for batch in result.partitions())


def _id_of(row: Any) -> int:
    return int(row.id)
