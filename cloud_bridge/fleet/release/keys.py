"""The release signing keys: one Ed25519 key per TUF role, each in a file only its owner reads.

A key file is a PEM (PKCS#8) private key, mode 0600, in a directory of mode 0700. Loading refuses
a file or directory that group or others can read, because a signing key anyone on the machine
can copy protects nothing. Rotation keeps the replaced key under ``retired/``: the root rotation
must still sign the new root with it, so stations that trust the old root follow the change.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final, Literal, get_args

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.signer._crypto_signer import CryptoSigner
from securesystemslib.signer._key import SSlibKey

from cloud_bridge.fleet.release.errors import InsecureKeyFileError, KeyStoreError
from edge.secret_files import private_path_problem

__all__ = ["ROLES", "KeyStore", "Role"]

Role = Literal["root", "targets", "snapshot", "timestamp"]
"""A top-level TUF role; each has its own key so a stolen online key cannot sign releases."""

ROLES: Final[tuple[Role, ...]] = get_args(Role)

_KEY_SUFFIX: Final = ".pem"
_RETIRED: Final = "retired"


def _require_role(role: str) -> Role:
    if role not in ROLES:
        raise KeyStoreError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return role


def _require_private(path: Path, *, kind: str) -> None:
    """Refuse a key file or key directory that group or others can reach."""
    problem = private_path_problem(path, directory=kind == "directory")
    if problem:
        raise InsecureKeyFileError(f"key {kind} {problem}")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 from the start, so the key is never briefly readable."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


class KeyStore:
    """A directory of role keys: ``<role>.pem`` for the keys in use, ``retired/`` for old ones."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise KeyStoreError(
                f"key directory {self.directory} does not exist; create it with "
                "'packline fleet keys init'"
            )
        _require_private(self.directory, kind="directory")

    @classmethod
    def create(cls, directory: Path) -> KeyStore:
        """Make a new key directory (0700) with a fresh key for every role; never overwrites."""
        directory = Path(directory)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        existing = sorted(path.name for path in directory.glob(f"*{_KEY_SUFFIX}"))
        if existing:
            raise KeyStoreError(
                f"key directory {directory} already holds keys ({', '.join(existing)}); "
                "rotate a role instead of creating the store again"
            )
        directory.chmod(0o700)
        for role in ROLES:
            _write_private(
                directory / f"{role}{_KEY_SUFFIX}", CryptoSigner.generate_ed25519().private_bytes
            )
        _fsync_dir(directory)
        return cls(directory)

    def key_file(self, role: str) -> Path:
        """Where the key in use for ``role`` is kept."""
        return self.directory / f"{_require_role(role)}{_KEY_SUFFIX}"

    def signer(self, role: str) -> CryptoSigner:
        """The signer of ``role``'s key in use, loaded after checking the file is private."""
        return _load(self.key_file(role))

    def public_key(self, role: str) -> SSlibKey:
        """The public half of ``role``'s key in use, as TUF metadata lists it."""
        return self.signer(role).public_key

    def find(self, keyid: str) -> CryptoSigner | None:
        """The signer with ``keyid`` among the keys in use and the retired ones, if any."""
        candidates = [self.directory / f"{role}{_KEY_SUFFIX}" for role in ROLES]
        retired = self.directory / _RETIRED
        if retired.is_dir():
            candidates.extend(sorted(retired.glob(f"*{_KEY_SUFFIX}")))
        for path in candidates:
            if path.exists():
                signer = _load(path)
                if signer.public_key.keyid == keyid:
                    return signer
        return None

    def rotate(self, role: str) -> tuple[CryptoSigner, CryptoSigner]:
        """Replace ``role``'s key with a new one; returns (old, new) signers.

        The old key is copied to ``retired/`` before the new one replaces it, so a cut at any
        point leaves either the old key in use or both keys on disk.
        """
        old = self.signer(role)
        new = CryptoSigner.generate_ed25519()
        retired = self.directory / _RETIRED
        retired.mkdir(mode=0o700, exist_ok=True)
        retired_file = retired / f"{role}-{old.public_key.keyid[:16]}{_KEY_SUFFIX}"
        if not retired_file.exists():
            _write_private(retired_file, old.private_bytes)
            _fsync_dir(retired)
        pending = self.directory / f".{role}{_KEY_SUFFIX}.new"
        pending.unlink(missing_ok=True)
        _write_private(pending, new.private_bytes)
        os.replace(pending, self.key_file(role))
        _fsync_dir(self.directory)
        return old, new


def _load(path: Path) -> CryptoSigner:
    if not path.is_file():
        raise KeyStoreError(f"key file {path} does not exist")
    _require_private(path, kind="file")
    try:
        private_key = load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as error:
        raise KeyStoreError(f"key file {path} is not a PEM private key: {error}") from None
    if not isinstance(private_key, Ed25519PrivateKey):
        raise KeyStoreError(
            f"key file {path} holds a {type(private_key).__name__}; expected an Ed25519 key"
        )
    return CryptoSigner(private_key)
