"""Incremental export of the bridge's books for a data warehouse (`packline export`).

Each run reads one snapshot of the bridge's database and writes, per dataset, the rows new since
the watermark stored in the export directory, as Parquet or CSV; see ``docs/export.md`` for
which rows each run takes and why none is missed or repeated.

The public names load on first use, so registering the command (``cloud_bridge.export.cli``)
does not import pyarrow or the database code and ``packline --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloud_bridge.export.datasets import DATASETS, Dataset
    from cloud_bridge.export.errors import (
        ExportBusyError,
        ExportError,
        ExportInputError,
        LeftoverFileError,
        WatermarkError,
    )
    from cloud_bridge.export.files import FORMATS, ExportFormat
    from cloud_bridge.export.run import ExportOptions, ExportSummary, run_export
    from cloud_bridge.export.watermark import WATERMARK_FILE, ExportWatermark, read_watermark

__all__ = [
    "DATASETS",
    "FORMATS",
    "WATERMARK_FILE",
    "Dataset",
    "ExportBusyError",
    "ExportError",
    "ExportFormat",
    "ExportInputError",
    "ExportOptions",
    "ExportSummary",
    "ExportWatermark",
    "LeftoverFileError",
    "WatermarkError",
    "read_watermark",
    "run_export",
]

_HOMES = {
    "DATASETS": "datasets",
    "Dataset": "datasets",
    "ExportBusyError": "errors",
    "ExportError": "errors",
    "ExportInputError": "errors",
    "LeftoverFileError": "errors",
    "WatermarkError": "errors",
    "FORMATS": "files",
    "ExportFormat": "files",
    "ExportOptions": "run",
    "ExportSummary": "run",
    "run_export": "run",
    "WATERMARK_FILE": "watermark",
    "ExportWatermark": "watermark",
    "read_watermark": "watermark",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
