"""The root of every error raised by the cloud bridge.

Each error also inherits the standard exception that fits it, so callers that only know the
standard library can still catch it sensibly.
"""

from __future__ import annotations

__all__ = ["BridgeError"]


class BridgeError(Exception):
    """Base of all errors raised by `cloud_bridge`."""
