"""Errors of the release side: key files, the signed repository, and release builds.

Each names the file, role or version that is wrong and what was expected, so the command line
can print it as one line.
"""

from __future__ import annotations

from cloud_bridge.errors import BridgeError

__all__ = [
    "BuildError",
    "InsecureKeyFileError",
    "KeyStoreError",
    "PublishRefusedError",
    "ReleaseError",
    "RepositoryStateError",
]


class ReleaseError(BridgeError):
    """Something on the release side (keys, repository, build) went wrong."""


class KeyStoreError(ReleaseError, ValueError):
    """A key directory or key file is missing, malformed or for an unknown role."""


class InsecureKeyFileError(ReleaseError, PermissionError):
    """A private key file (or its directory) is readable by someone other than its owner."""


class RepositoryStateError(ReleaseError, ValueError):
    """The release repository is missing, half-made, or does not match the key store."""


class PublishRefusedError(ReleaseError, ValueError):
    """A release cannot be published: a bad release directory or a version that is not new."""


class BuildError(ReleaseError, ValueError):
    """A release cannot be built: a bad version, an output that exists, a missing package."""
