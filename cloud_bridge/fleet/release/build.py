"""Build a release from the installed code: ``<out>/<version>/`` with release.json and a wheel.

The wheel ``packline-<version>-py3-none-any.whl`` packs the installed packages ``edge``,
``cloud_bridge`` and ``firmware_sim`` as they are on disk (every file but bytecode caches, so
templates, example TOML, migrations and py.typed come along) with dist-info copied from the
installed distribution: the station installs it without network, and ``edge.__version__`` reads
the new version from it. ``fault="crash_at_start"`` builds a deliberately broken release for
drills of the health gate and rollback.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import os
import re
import shutil
import zipfile
from base64 import urlsafe_b64encode
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final, Literal

from packaging.version import InvalidVersion, Version

from cloud_bridge.fleet.release.errors import BuildError
from edge.fleet.errors import UpdateRefused
from edge.fleet.verify import MANIFEST_NAME, parse_manifest

__all__ = ["DISTRIBUTION", "PACKAGES", "Fault", "build_release", "wheel_name"]

DISTRIBUTION: Final = "packline"
PACKAGES: Final = ("edge", "cloud_bridge", "firmware_sim")
Fault = Literal["crash_at_start"]

_FAULTY_MODULE: Final = "edge/station/main.py"
_ZIP_TIME: Final = (1980, 1, 1, 0, 0, 0)
_WHEEL_FILE: Final = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*\.whl$")
_COPIED_FIELDS: Final = ("Summary", "Requires-Python")
_COPIED_LISTS: Final = ("Provides-Extra", "Requires-Dist")


def wheel_name(version: str) -> str:
    """The file name of the project's wheel for ``version``."""
    return f"{DISTRIBUTION}-{version}-py3-none-any.whl"


def _checked_version(version: str) -> str:
    try:
        normalized = str(Version(version))
    except InvalidVersion:
        raise BuildError(f"version {version!r} is not a PEP 440 version (e.g. 0.2.0)") from None
    if normalized != version:
        raise BuildError(
            f"version {version!r} is not in normalized PEP 440 form; expected {normalized!r}"
        )
    return version


def _package_files(package: str) -> Iterator[tuple[str, Path]]:
    """(path in the wheel, file on disk) for every run-time file of an installed package."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise BuildError(f"package {package} is not installed; cannot build a release from it")
    root = Path(spec.origin).parent
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part == "__pycache__" or part.startswith(".") for part in relative.parts):
            continue
        if path.suffix in {".pyc", ".pyo"} or not path.is_file():
            continue
        yield f"{package}/{relative.as_posix()}", path


def _crash_module(version: str) -> bytes:
    message = (
        f"packline {version} was built with the drill fault crash_at_start: the station fails "
        "at start on purpose, so the health gate and rollback can be seen working"
    )
    return (
        '"""A deliberately broken station entry point (release built for a drill)."""\n\n'
        f"raise RuntimeError({message!r})\n"
    ).encode()


def _metadata(version: str) -> bytes:
    try:
        installed = importlib.metadata.distribution(DISTRIBUTION).metadata
    except importlib.metadata.PackageNotFoundError:
        raise BuildError(
            f"distribution {DISTRIBUTION} is not installed; its metadata (dependencies) is "
            "copied into the release"
        ) from None
    lines = ["Metadata-Version: 2.1", f"Name: {DISTRIBUTION}", f"Version: {version}"]
    lines.extend(f"{field}: {installed[field]}" for field in _COPIED_FIELDS if installed[field])
    for field in _COPIED_LISTS:
        lines.extend(f"{field}: {value}" for value in installed.get_all(field) or [])
    return ("\n".join(lines) + "\n").encode()


def _record_hash(data: bytes) -> str:
    digest = urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return f"sha256={digest}"


def _write_wheel(path: Path, version: str, fault: Fault | None) -> None:
    dist_info = f"{DISTRIBUTION}-{version}.dist-info"
    members: list[tuple[str, bytes]] = []
    for package in PACKAGES:
        for arcname, source in _package_files(package):
            data = source.read_bytes()
            if fault == "crash_at_start" and arcname == _FAULTY_MODULE:
                data = _crash_module(version)
            members.append((arcname, data))
    if fault == "crash_at_start" and _FAULTY_MODULE not in {name for name, _ in members}:
        raise BuildError(f"cannot inject crash_at_start: {_FAULTY_MODULE} is not installed")
    members.append((f"{dist_info}/METADATA", _metadata(version)))
    members.append(
        (
            f"{dist_info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: packline-release\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n",
        )
    )
    members.append(
        (f"{dist_info}/entry_points.txt", b"[console_scripts]\npackline = edge.cli:main\n")
    )
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for arcname, data in members:
        writer.writerow((arcname, _record_hash(data), len(data)))
    writer.writerow((f"{dist_info}/RECORD", "", ""))
    members.append((f"{dist_info}/RECORD", record.getvalue().encode()))

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as wheel:
        for arcname, data in members:
            info = zipfile.ZipInfo(arcname, date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(info, data)


def _fsync_tree(directory: Path) -> None:
    for path in directory.iterdir():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def build_release(
    version: str,
    out: Path,
    *,
    fault: Fault | None = None,
    extra_wheels: Sequence[Path] = (),
) -> Path:
    """Build release ``version`` into ``out/<version>/`` and return that directory.

    ``extra_wheels`` are dependency wheels that changed; they are copied in and listed in
    release.json after the project's own wheel.
    """
    version = _checked_version(version)
    if fault not in (None, "crash_at_start"):
        raise BuildError(f"unknown fault {fault!r}; expected crash_at_start")
    out = Path(out)
    final = out / version
    if final.exists():
        raise BuildError(f"{final} already exists; build each version once, into a new place")
    names = [wheel_name(version)]
    extras = [Path(extra) for extra in extra_wheels]
    for extra in extras:
        if not extra.is_file() or _WHEEL_FILE.match(extra.name) is None:
            raise BuildError(f"extra wheel {extra} is not a .whl file with a plain name")
        if extra.name in names:
            raise BuildError(f"extra wheel {extra.name} is named twice or clashes with the project")
        names.append(extra.name)

    partial = out / f".{version}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    _write_wheel(partial / names[0], version, fault)
    for extra in extras:
        shutil.copyfile(extra, partial / extra.name)
    manifest = (json.dumps({"version": version, "wheels": names}, indent=2) + "\n").encode()
    try:
        parse_manifest(manifest)
    except UpdateRefused as refused:  # pragma: no cover - names are checked above
        raise BuildError(refused.reason) from None
    (partial / MANIFEST_NAME).write_bytes(manifest)
    _fsync_tree(partial)
    partial.rename(final)
    return final
