"""The station home: installed releases, the `current` symlink, and the files kept beside them.

Everything the updater needs to survive a power cut lives here, and every change is made so a cut
leaves either the old or the new state on disk: files are written to a temporary name, fsynced,
renamed over the old one, and their directory fsynced; directories are renamed whole. A release
is removed by renaming it aside first, so a half-deleted release never looks installed.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from edge.fleet.errors import FleetError

__all__ = [
    "ReleaseInfo",
    "StationHome",
    "fsync_directory",
    "fsync_tree",
    "write_file_atomic",
]

_PARTIAL = ".partial"
_TRASH = ".trash"


def fsync_directory(path: Path) -> None:
    """Make a directory's entries (a rename, a new file) durable."""
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_file_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so a power cut leaves the old bytes or the new, never a mix."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_directory(path.parent)


def fsync_tree(root: Path) -> None:
    """Fsync every file and directory under `root` (and `root`), before it is renamed into use."""
    for directory, _subdirectories, files in os.walk(root, topdown=False):
        for name in files:
            file = Path(directory, name)
            if file.is_symlink():
                continue
            with file.open("rb") as handle:
                os.fsync(handle.fileno())
        fsync_directory(Path(directory))


@dataclass(frozen=True)
class ReleaseInfo:
    """A release's `release.json`: its version, whether it is the factory base, its wheels."""

    version: str
    base: bool
    wheels: tuple[str, ...]

    def to_json(self) -> bytes:
        document: dict[str, object] = {"version": self.version, "base": self.base}
        if not self.base:
            document["wheels"] = list(self.wheels)
        return json.dumps(document, indent=2).encode() + b"\n"


def parse_version(version: str) -> Version:
    """A PEP 440 version, or `FleetError` naming the string that is not one."""
    try:
        return Version(version)
    except InvalidVersion as error:
        raise FleetError(f"{version!r} is not a PEP 440 version (e.g. 0.2.0)") from error


class StationHome:
    """The directory a station runs from (layout in docs/fleet.md).

    ``releases/<v>/`` holds an installed release (``release.json`` and ``lib/``, or for the
    factory version only a ``release.json`` with ``"base": true``); ``current`` links to the one
    to run.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.releases = root / "releases"
        self.current = root / "current"
        self.state_file = root / "updater.json"
        self.tuf_dir = root / "tuf"
        self.station_toml = root / "station.toml"

    def __repr__(self) -> str:
        return f"StationHome({str(self.root)!r})"

    @classmethod
    def provision(
        cls,
        root: Path,
        *,
        factory_version: str,
        trusted_root: bytes | None = None,
        station_toml: Path | None = None,
    ) -> StationHome:
        """Make a new home whose only release is the factory version, run from the interpreter.

        Refuses a home that already has a `current` release: provisioning again would take an
        updated station back to its factory version.
        """
        parse_version(factory_version)
        home = cls(root)
        if home.current.is_symlink() or home.current.exists():
            raise FleetError(
                f"{home.current} already exists: {root} is provisioned "
                f"(running {home.running_version()}); use a new directory"
            )
        home.releases.mkdir(parents=True, exist_ok=True)
        partial = home.partial_dir(factory_version)
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        info = ReleaseInfo(version=factory_version, base=True, wheels=())
        (partial / "release.json").write_bytes(info.to_json())
        fsync_tree(partial)
        final = home.release_dir(factory_version)
        if not final.exists():
            partial.rename(final)
        else:
            shutil.rmtree(partial)
        fsync_directory(home.releases)
        if trusted_root is not None:
            home.tuf_dir.mkdir(mode=0o700, exist_ok=True)
            write_file_atomic(home.tuf_dir / "root.json", trusted_root)
        if station_toml is not None:
            write_file_atomic(home.station_toml, station_toml.read_bytes())
        from edge.fleet.switch import point_current

        point_current(home, factory_version)
        return home

    # --- where things are --------------------------------------------------------------------

    def release_dir(self, version: str) -> Path:
        return self.releases / version

    def partial_dir(self, version: str) -> Path:
        return self.releases / f"{version}{_PARTIAL}"

    def running_version(self) -> str:
        """The version `current` points to; `FleetError` when it is missing or dangling."""
        try:
            target = os.readlink(self.current)
        except FileNotFoundError:
            raise FleetError(f"{self.current} is missing: the home was never provisioned") from None
        except OSError as error:
            raise FleetError(f"{self.current} is not a symlink to a release: {error}") from error
        version = Path(target).name
        if not self.is_installed(version):
            raise FleetError(
                f"{self.current} points to {target}, which is not an installed release"
            )
        return version

    def is_installed(self, version: str) -> bool:
        """Whether ``releases/<version>`` is a complete release (renamed into place whole)."""
        try:
            return self.read_release(version).version == version
        except FleetError:
            return False

    def read_release(self, version: str) -> ReleaseInfo:
        """The `release.json` of an installed release, checked against its directory name."""
        path = self.release_dir(version) / "release.json"
        try:
            document = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise FleetError(f"release {version} is not installed ({path} is missing)") from None
        except (OSError, ValueError) as error:
            raise FleetError(f"{path} is unreadable: {error}") from error
        if not isinstance(document, dict) or document.get("version") != version:
            raise FleetError(f"{path} does not describe version {version}")
        base = document.get("base", False) is True
        wheels = document.get("wheels", [])
        if not isinstance(wheels, list) or not all(isinstance(name, str) for name in wheels):
            raise FleetError(f"{path}: 'wheels' should be a list of wheel file names")
        return ReleaseInfo(version=version, base=base, wheels=tuple(wheels))

    def installed_versions(self) -> list[str]:
        """Every complete release, oldest first (by PEP 440 order)."""
        if not self.releases.is_dir():
            return []
        versions = [
            entry.name
            for entry in self.releases.iterdir()
            if entry.is_dir() and not entry.name.endswith((_PARTIAL, _TRASH))
        ]
        valid = []
        for version in versions:
            try:
                parse_version(version)
            except FleetError:
                continue
            if self.is_installed(version):
                valid.append(version)
        return sorted(valid, key=Version)

    def lib_path(self, version: str) -> Path | None:
        """What goes on PYTHONPATH to run `version`; None for the factory base release."""
        if self.read_release(version).base:
            return None
        return self.release_dir(version) / "lib"

    # --- removing ----------------------------------------------------------------------------

    def discard(self, version: str) -> None:
        """Remove an installed release: renamed aside first, so it is never half there."""
        if self.current.is_symlink() and Path(os.readlink(self.current)).name == version:
            raise FleetError(f"release {version} is the one `current` points to; not removing it")
        release = self.release_dir(version)
        if not release.exists():
            return
        trash = self.releases / f"{version}{_TRASH}"
        shutil.rmtree(trash, ignore_errors=True)
        release.rename(trash)
        fsync_directory(self.releases)
        shutil.rmtree(trash, ignore_errors=True)

    def remove_partial(self, version: str) -> None:
        """Remove a download or install in progress (it is redone from scratch)."""
        partial = self.partial_dir(version)
        if partial.exists():
            shutil.rmtree(partial)
            fsync_directory(self.releases)

    def sweep(self, *, keep_partial: str | None = None) -> None:
        """Remove leftovers of interrupted work: partial installs (but `keep_partial`) and trash."""
        if not self.releases.is_dir():
            return
        keep = self.partial_dir(keep_partial).name if keep_partial is not None else None
        for entry in self.releases.iterdir():
            if entry.name.endswith(_TRASH) or (
                entry.name.endswith(_PARTIAL) and entry.name != keep
            ):
                shutil.rmtree(entry, ignore_errors=True)
