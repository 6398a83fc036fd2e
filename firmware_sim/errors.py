"""Errors raised by the simulated rig itself (not the errors it simulates)."""

from __future__ import annotations

__all__ = ["SimError"]


class SimError(Exception):
    """Base of all errors raised by `firmware_sim`."""
