"""Packline's edge node: the pack-station process and the drivers for its hardware."""

__version__ = "0.1.0"
