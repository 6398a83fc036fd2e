"""Which release versions the bridge's release repository publishes, read from its targets.

A rollout may only offer a version a station can actually fetch, so starting one reads the
repository's own targets metadata (the newest version of it, whether the repository writes
``targets.json`` or only consistent-snapshot copies ``<n>.targets.json``). Signatures are not
checked here: this is the bridge's own disk, and the station verifies everything it fetches.
"""

from __future__ import annotations

import re
from pathlib import Path

from tuf.api.exceptions import RepositoryError
from tuf.api.metadata import Metadata, Targets  # type: ignore[attr-defined]  # public, no __all__
from tuf.api.serialization import DeserializationError

from cloud_bridge.errors import BridgeError

__all__ = ["ReleaseCatalogError", "published_releases", "release_target"]

_RELEASE_TARGET = re.compile(r"^releases/(?P<version>[^/]+)/release\.json$")
_VERSIONED_TARGETS = re.compile(r"^(?P<n>[0-9]+)\.targets\.json$")


class ReleaseCatalogError(BridgeError, ValueError):
    """The release repository cannot be read; the message names the file."""


def release_target(version: str) -> str:
    """The TUF target path of a release's manifest, as `UpdateOffered.target` names it."""
    return f"releases/{version}/release.json"


def published_releases(repository_dir: Path) -> list[str]:
    """The versions with a ``releases/<version>/release.json`` target, in metadata order."""
    path = _targets_file(repository_dir / "metadata")
    try:
        targets = Metadata[Targets].from_file(str(path))
    except (OSError, DeserializationError, RepositoryError, ValueError) as error:
        raise ReleaseCatalogError(f"release repository {path}: cannot be read: {error}") from error
    if not isinstance(targets.signed, Targets):
        raise ReleaseCatalogError(
            f"release repository {path}: holds {targets.signed.type} metadata; expected targets"
        )
    versions: list[str] = []
    for target in targets.signed.targets:
        match = _RELEASE_TARGET.match(target)
        if match:
            versions.append(match["version"])
    return versions


def _targets_file(metadata: Path) -> Path:
    plain = metadata / "targets.json"
    if plain.is_file():
        return plain
    numbered = [
        (int(match["n"]), entry)
        for entry in (metadata.iterdir() if metadata.is_dir() else ())
        if (match := _VERSIONED_TARGETS.match(entry.name))
    ]
    if not numbered:
        raise ReleaseCatalogError(
            f"release repository {metadata.parent}: no targets metadata in {metadata} "
            "(expected targets.json or <n>.targets.json; was the repository initialised?)"
        )
    return max(numbered)[1]
