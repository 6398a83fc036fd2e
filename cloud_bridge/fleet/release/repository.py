"""The signed release repository: TUF metadata for every published release, kept on disk.

Layout (what the bridge's blob server serves and stations fetch over MQTT)::

    <repo>/metadata/  1.root.json 2.root.json ... root.json, timestamp.json,
                      <n>.snapshot.json snapshot.json, <n>.targets.json targets.json
    <repo>/targets/   releases/<version>/<sha256>.<file>

Consistent snapshots are on: every snapshot, targets file and target is written under a new
name and never changed, and ``timestamp.json`` is replaced last, so a station fetching while a
release is being published sees either the old state or the new one, never a mix. Metadata is
built and signed with ``tuf.api``; stations verify it with ``tuf.ngclient``.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, TypeVar

from packaging.version import InvalidVersion, Version
from securesystemslib.signer._crypto_signer import CryptoSigner
from tuf.api._payload import MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp
from tuf.api.metadata import Metadata
from tuf.api.serialization.json import JSONSerializer

from cloud_bridge.fleet.release.errors import (
    PublishRefusedError,
    RepositoryStateError,
)
from cloud_bridge.fleet.release.keys import ROLES, KeyStore, Role
from edge.contract.messages import FETCH_PATH_PATTERN
from edge.fleet.errors import UpdateRefused
from edge.fleet.verify import MANIFEST_NAME, parse_manifest

__all__ = ["ExpiryPolicy", "ReleaseRepository", "published_releases"]

_HASH: Final = "sha256"
_RELEASE_TARGET = re.compile(r"^releases/([^/]+)/release\.json$")
_SERIALIZER: Final = JSONSerializer(compact=False)

S = TypeVar("S", Root, Timestamp, Snapshot, Targets)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ExpiryPolicy:
    """How long each role's metadata stays valid after it is signed.

    The timestamp is short so a station that is fed old metadata (a freeze attack) notices within
    a day; the bridge re-signs it with `ReleaseRepository.refresh_timestamp` well before then.
    """

    root: timedelta = timedelta(days=365)
    targets: timedelta = timedelta(days=90)
    snapshot: timedelta = timedelta(days=7)
    timestamp: timedelta = timedelta(days=1)

    def period(self, role: Role) -> timedelta:
        """The validity period of ``role``."""
        periods: dict[Role, timedelta] = {
            "root": self.root,
            "targets": self.targets,
            "snapshot": self.snapshot,
            "timestamp": self.timestamp,
        }
        return periods[role]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write a file whole or not at all: temporary file, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _copy_atomic(source: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.tmp")
    with source.open("rb") as reader, temporary.open("wb") as writer:
        shutil.copyfileobj(reader, writer)
        writer.flush()
        os.fsync(writer.fileno())
    os.replace(temporary, destination)
    _fsync_dir(destination.parent)


def published_releases(directory: Path) -> list[str]:
    """The versions published in the repository at ``directory``, oldest first (no keys needed)."""
    return ReleaseRepository(directory).releases()


class ReleaseRepository:
    """A TUF repository of releases; signing operations need the `KeyStore`, reading does not."""

    def __init__(
        self,
        directory: Path,
        keys: KeyStore | None = None,
        *,
        expiry: ExpiryPolicy | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.directory = Path(directory)
        self.keys = keys
        self.expiry = expiry or ExpiryPolicy()
        self._clock = clock
        if not (self.metadata_dir / "root.json").is_file():
            raise RepositoryStateError(
                f"{self.directory} is not a release repository (no metadata/root.json); "
                "create it with 'packline fleet repo init'"
            )

    @property
    def metadata_dir(self) -> Path:
        """Where the signed metadata lives."""
        return self.directory / "metadata"

    @property
    def targets_dir(self) -> Path:
        """Where the target files live, under hash-prefixed names."""
        return self.directory / "targets"

    # --- creating -------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        directory: Path,
        keys: KeyStore,
        *,
        expiry: ExpiryPolicy | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> ReleaseRepository:
        """Write version 1 of every role's metadata, trusting one key per role from ``keys``."""
        directory = Path(directory)
        metadata_dir = directory / "metadata"
        if (metadata_dir / "root.json").exists():
            raise RepositoryStateError(f"{directory} already holds a release repository")
        metadata_dir.mkdir(parents=True, exist_ok=True)
        (directory / "targets").mkdir(exist_ok=True)
        policy = expiry or ExpiryPolicy()
        now = clock()

        root = Root(expires=now + policy.root, consistent_snapshot=True)
        for role in ROLES:
            root.add_key(keys.public_key(role), role)
        root_md = Metadata(root)
        root_md.sign(keys.signer("root"))
        _write_atomic(metadata_dir / "1.root.json", root_md.to_bytes(_SERIALIZER))
        _write_atomic(metadata_dir / "root.json", root_md.to_bytes(_SERIALIZER))

        repository = cls(directory, keys, expiry=policy, clock=clock)
        with repository._locked():
            targets = Metadata(Targets(expires=now + policy.targets))
            targets_bytes = repository._sign_and_write(targets, "targets", bump=False)
            snapshot = Metadata(Snapshot(expires=now + policy.snapshot))
            snapshot.signed.meta["targets.json"] = MetaFile.from_data(1, targets_bytes, [_HASH])
            snapshot_bytes = repository._sign_and_write(snapshot, "snapshot", bump=False)
            timestamp = Metadata(Timestamp(expires=now + policy.timestamp))
            timestamp.signed.snapshot_meta = MetaFile.from_data(1, snapshot_bytes, [_HASH])
            repository._sign_and_write(timestamp, "timestamp", bump=False)
        return repository

    # --- reading --------------------------------------------------------------------------

    def trusted_root(self) -> bytes:
        """The current root metadata: what a station is provisioned to trust."""
        return (self.metadata_dir / "root.json").read_bytes()

    def releases(self) -> list[str]:
        """The published release versions, oldest first."""
        versions: list[Version] = []
        for path in self._load("targets", Targets).signed.targets:
            match = _RELEASE_TARGET.match(path)
            if match is None:
                continue
            try:
                versions.append(Version(match.group(1)))
            except InvalidVersion:
                continue
        return [str(version) for version in sorted(versions)]

    def expires(self, role: Role) -> datetime:
        """When ``role``'s current metadata expires."""
        if role == "root":
            return self._load(role, Root).signed.expires
        if role == "targets":
            return self._load(role, Targets).signed.expires
        if role == "snapshot":
            return self._load(role, Snapshot).signed.expires
        return self._load(role, Timestamp).signed.expires

    # --- changing -------------------------------------------------------------------------

    def publish(self, release_dir: Path) -> str:
        """Sign a built release as targets ``releases/<version>/...``; returns its version.

        Refuses a version already published or not newer than the newest published one, so the
        repository's releases only ever go up.
        """
        release_dir = Path(release_dir)
        manifest_file = release_dir / MANIFEST_NAME
        if not manifest_file.is_file():
            raise PublishRefusedError(f"{release_dir} has no {MANIFEST_NAME}; is it a release?")
        try:
            manifest = parse_manifest(manifest_file.read_bytes())
        except UpdateRefused as refused:
            raise PublishRefusedError(f"{manifest_file}: {refused.reason}") from None
        files = {f"releases/{manifest.version}/{MANIFEST_NAME}": manifest_file}
        for wheel in manifest.wheels:
            wheel_file = release_dir / wheel
            if not wheel_file.is_file():
                raise PublishRefusedError(
                    f"{manifest_file} names {wheel}, which is not in {release_dir}"
                )
            files[f"releases/{manifest.version}/{wheel}"] = wheel_file
        with self._locked():
            published = self.releases()
            if manifest.version in published:
                raise PublishRefusedError(f"release {manifest.version} is already published")
            if published and Version(manifest.version) <= Version(published[-1]):
                raise PublishRefusedError(
                    f"release {manifest.version} is not newer than the newest published "
                    f"release {published[-1]}"
                )
            self._add_targets(files)
        return manifest.version

    def sign_targets(self, files: Mapping[str, Path]) -> None:
        """Sign arbitrary files as targets (target path -> local file), without release checks.

        `publish` is the checked way to add a release; this is the building block under it.
        """
        with self._locked():
            self._add_targets(files)

    def refresh_timestamp(self) -> None:
        """Sign a new timestamp, and re-sign snapshot and targets if they would expire first.

        The bridge calls this periodically so stations never see stale metadata unless the
        bridge itself is stopped (which is exactly what expiry is meant to reveal).
        """
        with self._locked():
            horizon = self._clock() + self.expiry.timestamp
            resign_targets = self._load("targets", Targets).signed.expires <= horizon
            resign_snapshot = self._load("snapshot", Snapshot).signed.expires <= horizon
            targets = self._load("targets", Targets) if resign_targets else None
            self._commit(targets, snapshot=resign_targets or resign_snapshot)

    def rotate_keys(self, role: str) -> None:
        """Replace ``role``'s key: a new root version lists the new key, signed by old and new.

        A station walks root versions one by one and accepts each only if the previous root's
        keys and the new root's keys both sign it, so a rotated root is followed, not trusted
        blindly. The rotated role's metadata (and what depends on it) is re-signed at once.
        """
        keys = self._require_keys()
        if role not in ROLES:
            raise RepositoryStateError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        with self._locked():
            root_md = self._load("root", Root)
            root = root_md.signed
            old_root_keyids = list(root.roles["root"].keyids)
            old_keyids = list(root.roles[role].keyids)
            if keys.public_key(role).keyid in old_keyids:
                keys.rotate(role)
            new_key = keys.public_key(role)
            for keyid in old_keyids:
                root.revoke_key(keyid, role)
            root.add_key(new_key, role)
            root.version += 1
            root.expires = self._clock() + self.expiry.root
            signers = [self._retired_signer(keyid) for keyid in old_root_keyids]
            signers.append(keys.signer("root"))
            root_md.signatures.clear()
            for signer in {signer.public_key.keyid: signer for signer in signers}.values():
                root_md.sign(signer, append=True)
            data = root_md.to_bytes(_SERIALIZER)
            _write_atomic(self.metadata_dir / f"{root.version}.root.json", data)
            _write_atomic(self.metadata_dir / "root.json", data)
            _fsync_dir(self.metadata_dir)
            targets = self._load("targets", Targets) if role == "targets" else None
            self._commit(targets, snapshot=role in {"targets", "snapshot"})

    # --- inside ---------------------------------------------------------------------------

    def _require_keys(self) -> KeyStore:
        if self.keys is None:
            raise RepositoryStateError(
                f"changing the repository {self.directory} needs the key store"
            )
        return self.keys

    def _retired_signer(self, keyid: str) -> CryptoSigner:
        signer = self._require_keys().find(keyid)
        if signer is None:
            raise RepositoryStateError(
                f"root key {keyid[:16]}... that signs the current root is not in the key store "
                f"{self._require_keys().directory} (in use or retired); cannot sign the new root"
            )
        return signer

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time: publishing, refreshing and rotating each take the lock."""
        with (self.metadata_dir / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _load(self, role: str, kind: type[S]) -> Metadata[S]:
        path = self.metadata_dir / f"{role}.json"
        try:
            metadata = Metadata[S].from_bytes(path.read_bytes())
        except OSError as error:
            raise RepositoryStateError(f"cannot read {path}: {error.strerror}") from None
        if not isinstance(metadata.signed, kind):
            raise RepositoryStateError(f"{path} holds {metadata.signed.type} metadata")
        return metadata

    def _add_targets(self, files: Mapping[str, Path]) -> None:
        targets = self._load("targets", Targets)
        for target_path, local in files.items():
            if re.match(FETCH_PATH_PATTERN, f"targets/{target_path}") is None or any(
                level in {".", ".."} for level in target_path.split("/")
            ):
                raise PublishRefusedError(
                    f"target path {target_path!r} is not a plain relative path of letters, "
                    "digits and ._+-"
                )
            info = TargetFile.from_file(target_path, str(local), [_HASH])
            directory, _, name = target_path.rpartition("/")
            stored = self.targets_dir / directory / f"{info.hashes[_HASH]}.{name}"
            _copy_atomic(Path(local), stored)
            targets.signed.targets[target_path] = info
        self._commit(targets, snapshot=True)

    def _commit(self, targets: Metadata[Targets] | None, *, snapshot: bool) -> None:
        """Re-sign the chain: targets (if given), snapshot (if asked or targets changed), timestamp.

        Written in that order, timestamp last, so the new state appears to stations all at once.
        """
        snapshot_md = self._load("snapshot", Snapshot)
        if targets is not None:
            targets_bytes = self._sign_and_write(targets, "targets")
            snapshot_md.signed.meta["targets.json"] = MetaFile.from_data(
                targets.signed.version, targets_bytes, [_HASH]
            )
        timestamp_md = self._load("timestamp", Timestamp)
        if targets is not None or snapshot:
            snapshot_bytes = self._sign_and_write(snapshot_md, "snapshot")
            timestamp_md.signed.snapshot_meta = MetaFile.from_data(
                snapshot_md.signed.version, snapshot_bytes, [_HASH]
            )
        self._sign_and_write(timestamp_md, "timestamp")

    def _sign_and_write(self, metadata: Metadata[S], role: Role, *, bump: bool = True) -> bytes:
        keys = self._require_keys()
        signer = keys.signer(role)
        trusted = self._load("root", Root).signed.roles[role].keyids
        if signer.public_key.keyid not in trusted:
            raise RepositoryStateError(
                f"the {role} key in {keys.directory} ({signer.public_key.keyid[:16]}...) is not "
                f"the one the repository's root trusts for {role}; was the key rotated without "
                "the repository?"
            )
        if bump:
            metadata.signed.version += 1
        metadata.signed.expires = self._clock() + self.expiry.period(role)
        metadata.sign(signer)
        data = metadata.to_bytes(_SERIALIZER)
        if role != "timestamp":
            _write_atomic(self.metadata_dir / f"{metadata.signed.version}.{role}.json", data)
        _write_atomic(self.metadata_dir / f"{role}.json", data)
        _fsync_dir(self.metadata_dir)
        return data
