"""Small wheels and releases for the updater's tests, made with zipfile in milliseconds.

A kit release stands in for what TUF verification hands the updater (version, directory,
wheels); `KitFetch` plays the verified download, copying a release into the updater's partial
directory as the real fetcher does, or refusing it with a named reason.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import stat
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from edge.contract import UpdateOffered
from edge.fleet.errors import UpdateRefused
from edge.fleet.home import StationHome

PROBE_CLI = '''"""A stand-in station entry point: writes which release ran, and how, then exits."""
import json, os, sys
from importlib.metadata import version

args = sys.argv[1:]
proof = args[args.index("--proof") + 1]
with open(proof, "w") as handle:
    json.dump(
        {
            "version": version("packline"),
            "module": __file__,
            "argv": args,
            "cwd": os.getcwd(),
            "pythonpath": os.environ.get("PYTHONPATH"),
        },
        handle,
    )
'''


def probe_files(version: str) -> dict[str, bytes]:
    """An `edge` package whose `python -m edge.cli ... --proof FILE` records the version run."""
    return {
        "edge/__init__.py": f'"""Release {version} of the probe."""\n'.encode(),
        "edge/cli.py": PROBE_CLI.encode(),
    }


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


def wheel_name(version: str, name: str = "packline") -> str:
    return f"{name}-{version}-py3-none-any.whl"


def make_wheel(
    directory: Path,
    version: str,
    files: Mapping[str, bytes],
    *,
    name: str = "packline",
    record_rows: Mapping[str, tuple[str, str]] | None = None,
    unrecorded: Mapping[str, bytes] | None = None,
    symlinks: Mapping[str, str] | None = None,
) -> Path:
    """A pure-Python wheel holding `files`, its dist-info, and a RECORD of them.

    `record_rows` overrides the (hash, size) RECORD gives a path; `unrecorded` adds members
    RECORD does not list; `symlinks` adds symlink members (listed in RECORD), for the
    refusal tests.
    """
    dist_info = f"{name}-{version}.dist-info"
    members = dict(files)
    members[f"{dist_info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    )
    members[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: release_kit\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    rows = [(path, _digest(data), str(len(data))) for path, data in members.items()]
    for path, target in (symlinks or {}).items():
        rows.append((path, _digest(target.encode()), str(len(target.encode()))))
    overrides = record_rows or {}
    rows = [(path, *overrides.get(path, (digest, size))) for path, digest, size in rows]
    rows.append((f"{dist_info}/RECORD", "", ""))
    record = "".join(f"{path},{digest},{size}\n" for path, digest, size in rows).encode()
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / wheel_name(version, name)
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in {**members, **(unrecorded or {})}.items():
            archive.writestr(path, data)
        for path, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(path)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
        archive.writestr(f"{dist_info}/RECORD", record)
    return wheel


@dataclass(frozen=True)
class KitRelease:
    """A release as verification hands it over: version, directory, wheel files."""

    version: str
    directory: Path
    wheels: tuple[Path, ...]


def make_release(out: Path, version: str, files: Mapping[str, bytes] | None = None) -> KitRelease:
    """``out/<version>/`` with release.json and one wheel (the probe package by default)."""
    directory = out / version
    wheel = make_wheel(directory, version, files if files is not None else probe_files(version))
    manifest = {"version": version, "wheels": [wheel.name]}
    (directory / "release.json").write_text(json.dumps(manifest))
    return KitRelease(version=version, directory=directory, wheels=(wheel,))


@dataclass
class KitFetch:
    """The updater's `fetch`: hands over published releases, or refuses them by name."""

    published: dict[str, KitRelease] = field(default_factory=dict)
    refusals: dict[str, UpdateRefused] = field(default_factory=dict)
    failures: dict[str, Exception] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)

    def publish(self, release: KitRelease) -> None:
        self.published[release.version] = release

    def __call__(self, target: str, installed_version: str, into: Path) -> KitRelease:
        self.calls.append((target, installed_version))
        version = target.split("/")[1]
        if version in self.failures:
            raise self.failures[version]
        if version in self.refusals:
            raise self.refusals[version]
        release = self.published.get(version)
        if release is None:
            raise UpdateRefused("not_found", f"no target {target}")
        into.mkdir(parents=True, exist_ok=True)
        wheels = tuple(Path(shutil.copy2(wheel, into / wheel.name)) for wheel in release.wheels)
        manifest = release.directory / "release.json"
        if manifest.exists():
            shutil.copy2(manifest, into / "release.json")
        return KitRelease(version=version, directory=into, wheels=wheels)


def offer_for(
    version: str, rollout_id: str = "r-1", *, health_deadline_s: int = 60
) -> UpdateOffered:
    """The bridge's offer of a kit release."""
    return UpdateOffered(
        rollout_id=rollout_id,
        version=version,
        target=f"releases/{version}/release.json",
        at=datetime.now(UTC),
        health_deadline_s=health_deadline_s,
    )


def leftovers(home: StationHome) -> list[str]:
    """Partial installs and half-removed releases still in the home (none once settled)."""
    return sorted(
        entry.name
        for entry in home.releases.iterdir()
        if entry.name.endswith((".partial", ".trash"))
    )
