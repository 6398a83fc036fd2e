"""The export directory's data files: named by dataset and run, and final only once committed.

A run writes each file as ``<run>.<format>.partial`` and makes it durable (the file and its
folder fsynced). It then commits the run by storing the watermark, which names the run
(``last_run``) and holds the positions after its rows. Only then does it give the files their
final names. So a file under a final name always belongs to a committed run, and a warehouse may
load it as soon as it appears.

A run that stops part way leaves ``.partial`` files. The next run settles them before it reads
anything: those of a run up to the watermark's ``last_run`` were committed, so their renames are
finished; those of a later run were not, so they are removed and their rows are read again. A
file under a final name of a run after ``last_run`` cannot come from a stop; it means the
watermark is older than the files (restored from a backup, say), and the run refuses rather than
export those rows a second time. Files of committed runs are never opened for writing again.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from cloud_bridge.export.datasets import DATASETS, Dataset
from cloud_bridge.export.errors import LeftoverFileError
from cloud_bridge.export.watermark import WATERMARK_FILE, fsync_directory

__all__ = [
    "FORMATS",
    "ExportFormat",
    "Leftovers",
    "PartialFile",
    "commit_files",
    "next_run_name",
    "partial_file",
    "run_files",
    "settle_leftovers",
]

ExportFormat = Literal["parquet", "csv"]
FORMATS: tuple[ExportFormat, ...] = ("parquet", "csv")
_PARTIAL = ".partial"
_RUN_NAME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ)(?:_(\d+))?$")


@dataclass(frozen=True)
class PartialFile:
    """A data file of a run, under its partial name until the run is committed."""

    partial: Path
    final: Path


@dataclass(frozen=True)
class Leftovers:
    """What a run found of a run that stopped: partial files it finished or removed."""

    finished: list[Path] = field(default_factory=list)
    """Files of a committed run, renamed to their final names now."""
    removed: list[Path] = field(default_factory=list)
    """Partial files of a run that was never committed, removed; their rows are read again."""


def _run_key(name: str) -> tuple[str, int] | None:
    match = _RUN_NAME.match(name)
    if match is None:
        return None
    return match.group(1), int(match.group(2) or 1)


def _key_of(path: Path) -> tuple[str, int] | None:
    return _run_key(path.name.split(".", 1)[0])


def next_run_name(now: datetime, last_run: str | None) -> str:
    """The run's name from its UTC time; after ``last_run`` even if the clock stepped back."""
    base = now.strftime("%Y-%m-%dT%H-%M-%SZ")
    last = _run_key(last_run) if last_run else None
    if last is None or base > last[0]:
        return base
    return f"{last[0]}_{last[1] + 1}"


def partial_file(
    directory: Path, dataset: Dataset, run: str, file_format: ExportFormat
) -> PartialFile:
    """Where the run's file of ``dataset`` is written, and the name it is committed under."""
    final = directory / dataset.name / f"{run}.{file_format}"
    return PartialFile(partial=final.with_name(f"{final.name}{_PARTIAL}"), final=final)


def _data_files(directory: Path) -> list[Path]:
    """Every file of a run in the dataset folders, partial or final, in name order."""
    return [
        path
        for dataset in DATASETS
        if (directory / dataset.name).is_dir()
        for path in sorted((directory / dataset.name).iterdir())
        if _key_of(path) is not None
    ]


def run_files(directory: Path) -> list[Path]:
    """Data files under their final names, of any run."""
    return [path for path in _data_files(directory) if not path.name.endswith(_PARTIAL)]


def settle_leftovers(directory: Path, last_run: str | None) -> Leftovers:
    """Finish the renames of committed runs' partial files and remove uncommitted ones.

    Refuses (changing nothing) a final file of a run after ``last_run``, or a committed partial
    file whose final name is taken: either means the watermark does not describe the files.
    """
    last = _run_key(last_run) if last_run else None
    committed: list[PartialFile] = []
    uncommitted: list[Path] = []
    for path in _data_files(directory):
        key = _key_of(path)
        later = last is None or (key is not None and key > last)
        if path.name.endswith(_PARTIAL):
            final = path.with_name(path.name.removesuffix(_PARTIAL))
            if later:
                uncommitted.append(path)
            elif final.exists():
                raise LeftoverFileError(
                    f"{path} and {final} both exist; expected only one of them: "
                    "move the partial file aside after checking the final one"
                )
            else:
                committed.append(PartialFile(partial=path, final=final))
        elif later:
            raise LeftoverFileError(
                f"{path} is named after a run later than the last run in "
                f"{directory / WATERMARK_FILE} ({last_run or 'none'}): the watermark is older "
                "than the files; restore the watermark that goes with them"
            )
    for path in uncommitted:
        path.unlink()
    commit_files(committed)
    for folder in sorted({path.parent for path in uncommitted}):
        fsync_directory(folder)
    return Leftovers(finished=[file.final for file in committed], removed=uncommitted)


def commit_files(files: list[PartialFile]) -> None:
    """Give committed partial files their final names (never over a file) and fsync folders."""
    for file in files:
        if file.final.exists():
            raise LeftoverFileError(f"{file.final} already exists; an earlier run's file is kept")
        os.replace(file.partial, file.final)
    for folder in sorted({file.final.parent for file in files}):
        fsync_directory(folder)
