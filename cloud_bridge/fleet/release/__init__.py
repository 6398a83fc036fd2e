"""The release side of fleet updates: signing keys, the TUF repository, builds, blob serving.

`keys` keeps one Ed25519 key per TUF role in owner-only files; `repository` signs releases as
TUF targets with ``tuf.api``; `build` makes a release from the installed code; `blobs` answers
stations' fetch requests from the repository over MQTT; `cli` adds the `packline fleet` commands.
"""

from __future__ import annotations

from cloud_bridge.fleet.release.blobs import BlobServer
from cloud_bridge.fleet.release.build import build_release, wheel_name
from cloud_bridge.fleet.release.errors import (
    BuildError,
    InsecureKeyFileError,
    KeyStoreError,
    PublishRefusedError,
    ReleaseError,
    RepositoryStateError,
)
from cloud_bridge.fleet.release.keys import ROLES, KeyStore, Role
from cloud_bridge.fleet.release.repository import (
    ExpiryPolicy,
    ReleaseRepository,
    published_releases,
)

__all__ = [
    "ROLES",
    "BlobServer",
    "BuildError",
    "ExpiryPolicy",
    "InsecureKeyFileError",
    "KeyStore",
    "KeyStoreError",
    "PublishRefusedError",
    "ReleaseError",
    "ReleaseRepository",
    "RepositoryStateError",
    "Role",
    "build_release",
    "published_releases",
    "wheel_name",
]
