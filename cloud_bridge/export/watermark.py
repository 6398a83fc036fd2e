"""The stored watermark: how far each dataset has been exported, kept in the export directory.

It lives beside the files it describes (``_watermark.json``), so moving or restoring the
directory keeps the two in step. Storing it commits a run: it is replaced atomically (a
temporary file, fsynced, renamed, then the directory fsynced) once every data file of the run is
durable under its partial name, and before any of them gets its final name (see ``files``). A
crash before the rename leaves the previous watermark, and the next run repeats the crashed one.

What each cursor means is explained in the module that advances it (``select_logs`` and
``select_settled``); here they are only stored and validated.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from cloud_bridge.export.errors import WatermarkError

__all__ = [
    "WATERMARK_FILE",
    "ExportWatermark",
    "HoleRange",
    "IdCursor",
    "OrderCursor",
    "fsync_directory",
    "read_watermark",
    "write_watermark",
]

WATERMARK_FILE = "_watermark.json"
_FORMAT_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HoleRange(_Strict):
    """A run of missing ids too long to list one by one (``first`` to ``last``, inclusive)."""

    first: int = Field(ge=1)
    last: int = Field(ge=1)
    first_missed: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> HoleRange:
        if self.last < self.first:
            raise ValueError(f"last {self.last} is below first {self.first}")
        return self


class IdCursor(_Strict):
    """Rows keyed by an autoincrement id: all ids up to ``last_id`` are accounted for.

    ``pending`` are ids seen but not yet exportable (still changing); ``holes`` are ids below
    ``last_id`` not yet visible when last read, with when they were first missed, because on
    PostgreSQL an id can commit after a higher one; ``hole_ranges`` are the same for gaps too
    long to list id by id.
    """

    last_id: int = Field(default=0, ge=0)
    pending: frozenset[int] = frozenset()
    holes: dict[int, AwareDatetime] = Field(default_factory=dict)
    hole_ranges: tuple[HoleRange, ...] = ()


class OrderCursor(_Strict):
    """Orders, which have no id that grows: by creation time, with an overlap window.

    ``created_through`` is the time of the last read; ``recent`` are the orders already seen
    that were created within the overlap window before it, so a re-read of that window skips
    them; ``pending`` are orders seen but not yet settled.
    """

    created_through: AwareDatetime | None = None
    pending: frozenset[str] = frozenset()
    recent: frozenset[str] = frozenset()


class ExportWatermark(_Strict):
    """Everything one run needs to continue where the previous one stopped."""

    format: int = _FORMAT_VERSION
    last_run: str | None = None
    """The name of the last committed run; partial files of a later run are leftovers."""
    through: AwareDatetime | None = None
    """When the last committed run read the database."""
    station_events: dict[str, int] = Field(default_factory=dict)
    """Per station, the highest sequence exported (labels come from the same events)."""
    shipments: IdCursor = IdCursor()
    shipment_corrections: IdCursor = IdCursor()
    allocations: IdCursor = IdCursor()
    sage_postings: IdCursor = IdCursor()
    orders: OrderCursor = OrderCursor()


def read_watermark(directory: Path) -> ExportWatermark | None:
    """The stored watermark, or None before the first run; a damaged one is an error."""
    path = directory / WATERMARK_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise WatermarkError(f"watermark {path} cannot be read: {error}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise WatermarkError(
            f"watermark {path} is not valid JSON ({error}); restore it from a backup or remove "
            "it together with the files it describes"
        ) from None
    if not isinstance(data, dict) or data.get("format") != _FORMAT_VERSION:
        raise WatermarkError(
            f"watermark {path} has no format {_FORMAT_VERSION} marker; expected a watermark "
            "written by this export"
        )
    try:
        return ExportWatermark.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors()
        )
        raise WatermarkError(f"watermark {path} is damaged: {problems}") from None


def write_watermark(directory: Path, watermark: ExportWatermark) -> None:
    """Replace the watermark atomically and durably."""
    path = directory / WATERMARK_FILE
    temporary = directory / f".{WATERMARK_FILE}.tmp"
    payload = watermark.model_dump_json(indent=1)
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_directory(directory)


def fsync_directory(directory: Path) -> None:
    """Make renames and new names in ``directory`` durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
