"""Installing a verified release into the station home, without network and without surprises.

TUF has already checked each wheel file against its signed hash and length. The wheel's inside
is checked here, before one byte is extracted: every member must stay inside the install
directory, must be listed in the wheel's RECORD, and must match its RECORD size and hash. Then
the wheels are extracted into ``releases/<v>.partial/lib``, everything is fsynced, and the
directory is renamed to ``releases/<v>``: the release is either wholly installed or not at all.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import re
import shutil
import stat
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.exceptions import InstallerError
from installer.sources import WheelFile

from edge.fleet.errors import UpdateRefused
from edge.fleet.home import ReleaseInfo, StationHome, fsync_directory, fsync_tree, parse_version

__all__ = ["ReleaseFiles", "inspect_wheel", "install_release"]

_HASHES = ("sha256", "sha384", "sha512")
"""RECORD hashes accepted; anything weaker could be forged to match a changed file."""
_SIGNATURE_FILES = ("RECORD.jws", "RECORD.p7s")
_DRIVE = re.compile(r"^[A-Za-z]:")
_READ_BLOCK = 64 * 1024
_OUTPUTS = frozenset({"lib", "bin", "include", "data", "release.json"})
"""What an install writes into the partial directory (beside the download)."""


class ReleaseFiles(Protocol):
    """A release whose files TUF has verified (what `fetch_verified_release` returns)."""

    @property
    def version(self) -> str: ...

    @property
    def directory(self) -> Path: ...

    @property
    def wheels(self) -> tuple[Path, ...]: ...


@dataclass(frozen=True)
class _Recorded:
    algorithm: str
    digest: str
    size: int


def _escape_reason(name: str, info: zipfile.ZipInfo) -> str | None:
    """Why a member would land outside the install directory, or None when it stays inside."""
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    if "\\" in name or "\x00" in name:
        return "has a backslash or NUL in its path"
    if name.startswith("/"):
        return "is an absolute path"
    if _DRIVE.match(name):
        return "starts with a drive letter"
    if any(level == ".." for level in name.split("/")):
        return "has a '..' level"
    return None


def _check_member_paths(wheel: Path, infos: list[zipfile.ZipInfo]) -> None:
    seen: set[str] = set()
    for info in infos:
        reason = _escape_reason(info.filename, info)
        if reason is not None:
            raise UpdateRefused(
                "path_escape",
                f"{wheel.name}: member {info.filename!r} {reason}; "
                "every file must stay inside the release directory",
            )
        if info.filename in seen:
            raise UpdateRefused(
                "tampered", f"{wheel.name}: member {info.filename!r} appears twice in the archive"
            )
        seen.add(info.filename)


def _record_name(wheel: Path, infos: list[zipfile.ZipInfo]) -> str:
    records = [
        info.filename
        for info in infos
        if info.filename.count("/") == 1
        and info.filename.split("/")[0].endswith(".dist-info")
        and info.filename.endswith("/RECORD")
    ]
    if len(records) != 1:
        raise UpdateRefused(
            "tampered",
            f"{wheel.name}: expected exactly one <name>-<version>.dist-info/RECORD, "
            f"found {len(records)}",
        )
    return records[0]


def _read_record(wheel: Path, archive: zipfile.ZipFile, record_name: str) -> dict[str, _Recorded]:
    text = archive.read(record_name).decode("utf-8")
    recorded: dict[str, _Recorded] = {}
    for row in csv.reader(text.splitlines()):
        if not row:
            continue
        if len(row) != 3:
            raise UpdateRefused(
                "tampered", f"{wheel.name}: RECORD row {row!r} should have path, hash and size"
            )
        path, hash_text, size_text = row
        if path == record_name or path.rsplit("/", 1)[-1] in _SIGNATURE_FILES:
            continue
        algorithm, _, digest = hash_text.partition("=")
        if algorithm not in _HASHES or not digest or not size_text.isdigit():
            raise UpdateRefused(
                "tampered",
                f"{wheel.name}: RECORD entry for {path!r} has hash {hash_text!r} and size "
                f"{size_text!r}; expected one of {', '.join(_HASHES)} and a size in bytes",
            )
        recorded[path] = _Recorded(algorithm=algorithm, digest=digest, size=int(size_text))
    return recorded


def _check_member(
    wheel: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, entry: _Recorded
) -> None:
    name = info.filename
    if info.file_size > entry.size:
        raise UpdateRefused(
            "oversize",
            f"{wheel.name}: {name} is {info.file_size} bytes; its RECORD says {entry.size}",
        )
    hasher = hashlib.new(entry.algorithm)
    read = 0
    with archive.open(info) as stream:
        while block := stream.read(min(_READ_BLOCK, entry.size + 1 - read)):
            read += len(block)
            if read > entry.size:
                raise UpdateRefused(
                    "oversize", f"{wheel.name}: {name} is larger than its RECORD size {entry.size}"
                )
            hasher.update(block)
    digest = base64.urlsafe_b64encode(hasher.digest()).decode().rstrip("=")
    if read != entry.size or digest != entry.digest:
        raise UpdateRefused(
            "tampered",
            f"{wheel.name}: {name} does not match its RECORD "
            f"({read} bytes, {entry.algorithm}={digest}; expected {entry.size} bytes, "
            f"{entry.algorithm}={entry.digest})",
        )


def inspect_wheel(path: Path) -> None:
    """Refuse a wheel whose inside could escape, or differs from its RECORD, before extraction.

    Raises `UpdateRefused` with ``path_escape`` (absolute, ``..``, drive letter or symlink
    member), ``oversize`` (a member larger than RECORD says) or ``tampered`` (a member missing
    from RECORD, a hash that differs, a RECORD entry with no file, an unreadable archive).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            _check_member_paths(path, infos)
            record_name = _record_name(path, infos)
            recorded = _read_record(path, archive, record_name)
            for info in infos:
                name = info.filename
                if name.endswith("/") or name == record_name:
                    continue
                if name.rsplit("/", 1)[-1] in _SIGNATURE_FILES and name.count("/") == 1:
                    continue
                entry = recorded.pop(name, None)
                if entry is None:
                    raise UpdateRefused(
                        "tampered", f"{path.name}: {name} is in the archive but not in its RECORD"
                    )
                _check_member(path, archive, info, entry)
            if recorded:
                raise UpdateRefused(
                    "tampered",
                    f"{path.name}: RECORD lists {', '.join(sorted(recorded))}, "
                    "which the archive lacks",
                )
    except (zipfile.BadZipFile, UnicodeDecodeError, EOFError) as error:
        raise UpdateRefused("tampered", f"{path.name} is not a readable wheel: {error}") from error


def _clear_partial(partial: Path, *, keep: Path) -> None:
    """Empty the partial directory for a fresh install, keeping the verified download in it."""
    if not partial.exists():
        return
    keep = keep.resolve()
    if not keep.is_relative_to(partial.resolve()):
        shutil.rmtree(partial)
        return
    for entry in partial.iterdir():
        if keep == partial.resolve():
            if entry.name not in _OUTPUTS:
                continue
        elif keep.is_relative_to(entry.resolve()):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _extract(wheel: Path, partial: Path) -> None:
    """Unpack one checked wheel: its packages and dist-info into lib/, where Python finds them."""
    lib = str(partial / "lib")
    destination = SchemeDictionaryDestination(
        scheme_dict={
            "purelib": lib,
            "platlib": lib,
            "headers": str(partial / "include"),
            "scripts": str(partial / "bin"),
            "data": str(partial / "data"),
        },
        interpreter=sys.executable,
        script_kind="posix",
    )
    try:
        with WheelFile.open(wheel) as source:
            install(source, destination, additional_metadata={"INSTALLER": b"packline\n"})
    except (InstallerError, ValueError, FileExistsError) as error:
        raise UpdateRefused(
            "install_failed", f"{wheel.name} could not be installed: {error}"
        ) from error


def install_release(verified: ReleaseFiles, home: StationHome) -> Path:
    """Install a verified release as ``releases/<version>`` and return that directory.

    Safe to redo after a power cut: a leftover partial install is cleared first, and a release
    already installed whole is reused as it is.
    """
    version = verified.version
    parse_version(version)
    final = home.release_dir(version)
    if home.is_installed(version):
        return final
    if final.exists():
        home.discard(version)
    for wheel in verified.wheels:
        inspect_wheel(wheel)
    partial = home.partial_dir(version)
    _clear_partial(partial, keep=verified.directory)
    (partial / "lib").mkdir(parents=True)
    for wheel in verified.wheels:
        _extract(wheel, partial)
    info = ReleaseInfo(
        version=version, base=False, wheels=tuple(wheel.name for wheel in verified.wheels)
    )
    (partial / "release.json").write_bytes(info.to_json())
    download = verified.directory.resolve()
    if download != partial.resolve() and download.is_relative_to(partial.resolve()):
        shutil.rmtree(download)
    fsync_tree(partial)
    partial.rename(final)
    fsync_directory(home.releases)
    return final
