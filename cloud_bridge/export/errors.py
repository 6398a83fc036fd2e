"""The export's errors, rooted in the bridge's, each also the standard exception that fits."""

from __future__ import annotations

from cloud_bridge.errors import BridgeError

__all__ = [
    "ExportBusyError",
    "ExportError",
    "ExportInputError",
    "LeftoverFileError",
    "UnreadableEventBodyError",
    "WatermarkError",
]


class ExportError(BridgeError):
    """Base of every error raised by `cloud_bridge.export`."""


class ExportInputError(ExportError, ValueError):
    """An option or the output directory is not usable; nothing was written."""


class WatermarkError(ExportError, ValueError):
    """The stored watermark cannot be read as one; nothing was written, nothing is guessed."""


class UnreadableEventBodyError(ExportError, ValueError):
    """A stored event body is not the JSON object the bridge wrote; nothing was written."""


class ExportBusyError(ExportError, RuntimeError):
    """Another run holds the export directory's lock; nothing was written."""


class LeftoverFileError(ExportError, ValueError):
    """The export directory holds a data file its watermark cannot account for; nothing was
    written, because exporting again could hand the warehouse the same rows twice."""
