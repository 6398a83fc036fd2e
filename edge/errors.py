"""The root of every error raised by the edge package.

Each error also inherits the standard exception that fits it, so callers that only know the
standard library can still catch it sensibly.
"""

from __future__ import annotations

__all__ = ["ConfigError", "EdgeError"]


class EdgeError(Exception):
    """Base of all errors raised by `edge`."""


class ConfigError(EdgeError, ValueError):
    """A configuration file or section is invalid.

    The message names the key and what was expected.
    """
