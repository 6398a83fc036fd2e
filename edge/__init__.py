"""Packline's edge node: the pack-station process and the drivers for its hardware."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("packline")
    """The installed release's version: what the station reports and the updater compares."""
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
