"""The export's errors, rooted in the bridge's, each also the standard exception that fits."""

from __future__ import annotations

from cloud_bridge.errors import BridgeError

__all__ = ["ExportError", "ExportInputError", "UnreadableEventBodyError", "WatermarkError"]


class ExportError(BridgeError):
    """Base of every error raised by `cloud_bridge.export`."""


class ExportInputError(ExportError, ValueError):
    """An option or the output directory is not usable; nothing was written."""


class WatermarkError(ExportError, ValueError):
    """The stored watermark cannot be read as one; nothing was written, nothing is guessed."""


class UnreadableEventBodyError(ExportError, ValueError):
    """A stored event body is not the JSON object the bridge wrote; nothing was written."""
