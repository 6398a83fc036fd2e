"""Fetch a release and verify it with TUF before anything of it is unpacked.

`fetch_verified_release` runs ``tuf.ngclient.Updater`` against the station's trusted metadata,
downloads the release's manifest and wheels (TUF checks length, hashes, signatures, thresholds,
versions and expiry), then applies the station's own rules: a strict manifest, plain wheel file
names, and a version newer than the installed one. Every failure becomes an `UpdateRefused`
with the refusal the fleet view counts.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from packaging.version import InvalidVersion, Version
from tuf.api import exceptions as tuf_errors
from tuf.api._payload import Root
from tuf.api.metadata import Metadata
from tuf.ngclient.config import UpdaterConfig
from tuf.ngclient.fetcher import FetcherInterface
from tuf.ngclient.updater import Updater

from edge.contract import UpdateRefusal
from edge.fleet.errors import UpdateRefused
from edge.fleet.tuf_fetch import METADATA_URL, TARGETS_URL

__all__ = [
    "MANIFEST_NAME",
    "ReleaseManifest",
    "VerifiedRelease",
    "fetch_verified_release",
    "parse_manifest",
    "trust_root",
]

MANIFEST_NAME: Final = "release.json"
"""The file of a release that names its version and wheels."""

_WHEEL_NAME: Final = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*\.whl$")
_TARGET: Final = re.compile(r"^releases/([A-Za-z0-9_+-][A-Za-z0-9_.+-]*)/release\.json$")
_REASON_LIMIT: Final = 400


@dataclass(frozen=True)
class ReleaseManifest:
    """A release's ``release.json``: its version and the wheel files that make it up."""

    version: str
    wheels: tuple[str, ...]


@dataclass(frozen=True)
class VerifiedRelease:
    """A release whose every file TUF verified, sitting in ``directory``, ready to install."""

    version: str
    directory: Path
    wheels: tuple[Path, ...]


def _refused(refusal: UpdateRefusal, reason: str) -> UpdateRefused:
    if len(reason) > _REASON_LIMIT:
        reason = reason[: _REASON_LIMIT - 3] + "..."
    return UpdateRefused(refusal, reason)


def _wheel_name(name: object) -> str:
    if not isinstance(name, str):
        raise _refused("tampered", f"{MANIFEST_NAME} lists a wheel that is not a string: {name!r}")
    if "/" in name or "\\" in name or ".." in name or "\x00" in name:
        raise _refused(
            "path_escape",
            f"{MANIFEST_NAME} names wheel {name!r}; expected a plain file name in the release",
        )
    if _WHEEL_NAME.match(name) is None:
        raise _refused(
            "tampered",
            f"{MANIFEST_NAME} names wheel {name!r}; expected a file name of letters, digits and "
            "._+- ending in .whl",
        )
    return name


def parse_manifest(data: bytes) -> ReleaseManifest:
    """Read ``release.json`` strictly: exactly a PEP 440 ``version`` and a list of ``wheels``."""
    try:
        document: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise _refused("tampered", f"{MANIFEST_NAME} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise _refused("tampered", f"{MANIFEST_NAME} is not a JSON object")
    unknown = sorted(set(document) - {"version", "wheels"})
    if unknown:
        raise _refused(
            "tampered",
            f"{MANIFEST_NAME} has unexpected keys {', '.join(map(repr, unknown))}; "
            "expected only 'version' and 'wheels'",
        )
    version = document.get("version")
    if not isinstance(version, str):
        raise _refused("tampered", f"{MANIFEST_NAME} has no version string")
    try:
        Version(version)
    except InvalidVersion:
        raise _refused(
            "tampered", f"{MANIFEST_NAME} version {version!r} is not a PEP 440 version"
        ) from None
    wheels = document.get("wheels")
    if not isinstance(wheels, list) or not wheels:
        raise _refused("tampered", f"{MANIFEST_NAME} has no list of wheels")
    names = tuple(_wheel_name(name) for name in wheels)
    if len(set(names)) != len(names):
        raise _refused("tampered", f"{MANIFEST_NAME} lists a wheel twice")
    return ReleaseManifest(version=version, wheels=names)


def trust_root(tuf_dir: Path, root_bytes: bytes) -> None:
    """Provision the station with the root metadata it trusts (checked to be self-signed)."""
    try:
        root_md = Metadata[Root].from_bytes(root_bytes)
        if not isinstance(root_md.signed, Root):
            raise _refused("tampered", f"the trusted root is {root_md.signed.type} metadata")
        root_md.signed.verify_delegate(Root.type, root_md.signed_bytes, root_md.signatures)
    except tuf_errors.UnsignedMetadataError as error:
        raise _refused(_signature_refusal(root_bytes), f"the trusted root: {error}") from None
    except (tuf_errors.RepositoryError, ValueError) as error:
        raise _refused("tampered", f"the trusted root is not TUF root metadata: {error}") from None
    tuf_dir.mkdir(parents=True, exist_ok=True)
    temporary = tuf_dir / ".root.json.tmp"
    with temporary.open("wb") as handle:
        handle.write(root_bytes)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, tuf_dir / "root.json")
    fd = os.open(tuf_dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Recorder(FetcherInterface):
    """Passes fetches through, keeping the last metadata file's bytes.

    TUF reports "not enough valid signatures" the same way for metadata with no signatures and
    for metadata signed by a wrong key; the bytes tell the two apart for the report.
    """

    _LIMIT: Final = 2**20

    def __init__(self, inner: FetcherInterface) -> None:
        self._inner = inner
        self.last_metadata = bytearray()

    def _fetch(self, url: str) -> Iterator[bytes]:
        if not url.startswith(METADATA_URL):
            return self._inner.fetch(url)
        self.last_metadata = bytearray()
        return self._keep(self._inner.fetch(url))

    def _keep(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            if len(self.last_metadata) < self._LIMIT:
                self.last_metadata.extend(chunk)
            yield chunk


def _signature_refusal(metadata: bytes) -> UpdateRefusal:
    """``unsigned`` when the metadata carries no signature at all, else ``bad_signature``."""
    try:
        signatures = json.loads(metadata).get("signatures")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return "bad_signature"
    if not isinstance(signatures, list):
        return "bad_signature"
    if any(isinstance(entry, dict) and entry.get("sig") for entry in signatures):
        return "bad_signature"
    return "unsigned"


def _refusal_for(error: Exception, recorder: _Recorder) -> UpdateRefused:
    """Name a TUF failure the way the fleet report counts it."""
    text = str(error) or type(error).__name__
    if isinstance(error, tuf_errors.UnsignedMetadataError):
        refusal = _signature_refusal(bytes(recorder.last_metadata))
        return _refused(refusal, f"metadata not signed by the trusted keys: {text}")
    if isinstance(error, tuf_errors.ExpiredMetadataError):
        return _refused("freeze", f"stale metadata: {text}")
    if isinstance(error, tuf_errors.BadVersionNumberError):
        return _refused("rollback", f"metadata older than what the station trusts: {text}")
    if isinstance(error, tuf_errors.LengthOrHashMismatchError):
        return _refused("tampered", f"a file does not match its signed hashes: {text}")
    if isinstance(error, tuf_errors.DownloadLengthMismatchError):
        return _refused("oversize", f"a file is longer than its signed length: {text}")
    if isinstance(error, tuf_errors.DownloadHTTPError) and error.status_code == 404:
        return _refused("not_found", text)
    if isinstance(error, tuf_errors.DownloadError | OSError):
        cause = f" ({error.__cause__})" if error.__cause__ else ""
        return _refused("download_failed", f"{text}{cause}")
    return _refused("tampered", f"metadata is not valid TUF metadata: {text}")


def _check_target(target: str) -> str:
    """The version directory named by a ``releases/<version>/release.json`` target."""
    if any(level in {"", ".", ".."} for level in target.split("/")):
        raise _refused("path_escape", f"target {target!r} has an empty, '.' or '..' level")
    match = _TARGET.match(target)
    if match is None:
        raise _refused("not_found", f"target {target!r} is not releases/<version>/release.json")
    return match.group(1)


def fetch_verified_release(
    *,
    tuf_dir: Path,
    fetcher: FetcherInterface,
    target: str,
    installed_version: str,
    into: Path,
    config: UpdaterConfig | None = None,
) -> VerifiedRelease:
    """Download and verify the release whose manifest is ``target`` into ``into``.

    ``tuf_dir`` holds the station's trusted metadata (root.json from provisioning, then what TUF
    keeps across updates). Nothing is returned unless every file verified and the release is
    newer than ``installed_version``; otherwise `UpdateRefused` names why.
    """
    release_dir = _check_target(target)
    try:
        installed = Version(installed_version)
    except InvalidVersion:
        raise _refused(
            "not_updatable", f"the installed version {installed_version!r} is not a PEP 440 version"
        ) from None
    into.mkdir(parents=True, exist_ok=True)
    recorder = _Recorder(fetcher)
    try:
        updater = Updater(
            metadata_dir=str(tuf_dir),
            metadata_base_url=METADATA_URL,
            target_dir=str(into),
            target_base_url=TARGETS_URL,
            fetcher=recorder,
            config=config,
            bootstrap=None,
        )
    except (OSError, tuf_errors.RepositoryError, ValueError) as error:
        raise _refused(
            "not_updatable", f"the station has no usable trusted root in {tuf_dir}: {error}"
        ) from None
    try:
        manifest = _fetch_manifest(updater, target, into)
        if manifest.version != release_dir:
            raise _refused(
                "tampered",
                f"{target} says version {manifest.version}; expected {release_dir}",
            )
        if Version(manifest.version) <= installed:
            raise _refused(
                "rollback",
                f"release {manifest.version} is not newer than the installed {installed_version}",
            )
        wheels = tuple(
            _fetch_target(updater, f"releases/{release_dir}/{name}", into / name)
            for name in manifest.wheels
        )
    except UpdateRefused:
        raise
    except (tuf_errors.RepositoryError, tuf_errors.DownloadError, OSError, ValueError) as error:
        raise _refusal_for(error, recorder) from error
    return VerifiedRelease(version=manifest.version, directory=into, wheels=wheels)


def _fetch_manifest(updater: Updater, target: str, into: Path) -> ReleaseManifest:
    path = _fetch_target(updater, target, into / MANIFEST_NAME)
    return parse_manifest(path.read_bytes())


def _fetch_target(updater: Updater, target: str, destination: Path) -> Path:
    info = updater.get_targetinfo(target)
    if info is None:
        raise _refused("not_found", f"the signed targets list no {target}")
    return Path(updater.download_target(info, filepath=str(destination)))
