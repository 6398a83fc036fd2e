"""Building a release from the installed code: a real wheel with correct dist-info and RECORD."""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import io
import json
import subprocess
import sys
import time
import zipfile
from base64 import urlsafe_b64encode
from pathlib import Path

import pytest
from installer.sources import WheelFile

from cloud_bridge.fleet.release import BuildError, build_release, wheel_name

VERSION = "0.2.0"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_release(VERSION, tmp_path_factory.mktemp("out"))


@pytest.fixture(scope="module")
def wheel(built: Path) -> zipfile.ZipFile:
    return zipfile.ZipFile(built / wheel_name(VERSION))


def _extract(wheel_file: Path, into: Path) -> Path:
    with zipfile.ZipFile(wheel_file) as archive:
        archive.extractall(into)
    return into


def test_a_release_directory_holds_its_manifest_and_the_project_wheel(built: Path) -> None:
    assert built.name == VERSION
    assert sorted(path.name for path in built.iterdir()) == [
        "packline-0.2.0-py3-none-any.whl",
        "release.json",
    ]
    manifest = json.loads((built / "release.json").read_text())
    assert manifest == {"version": VERSION, "wheels": ["packline-0.2.0-py3-none-any.whl"]}


def test_the_wheel_holds_every_run_time_file_and_no_bytecode(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())

    for needed in (
        "edge/cli.py",
        "edge/py.typed",
        "edge/station/station.example.toml",
        "cloud_bridge/bridge.example.toml",
        "cloud_bridge/db/migrations/script.py.mako",
        "cloud_bridge/db/migrations/env.py",
        "firmware_sim/py.typed",
    ):
        assert needed in names, needed
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert any(name.startswith("cloud_bridge/db/migrations/versions/") for name in names)


def test_the_record_lists_every_file_with_its_sha256_and_size(
    wheel: zipfile.ZipFile, built: Path
) -> None:
    record_name = f"packline-{VERSION}.dist-info/RECORD"
    rows = list(csv.reader(io.StringIO(wheel.read(record_name).decode())))

    assert {row[0] for row in rows} == set(wheel.namelist())
    for name, digest, size in rows:
        if name == record_name:
            assert (digest, size) == ("", "")
            continue
        data = wheel.read(name)
        expected = urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert (digest, int(size)) == (f"sha256={expected}", len(data)), name
    with WheelFile.open(built / wheel_name(VERSION)) as source:
        source.validate_record()


def test_the_metadata_names_the_version_and_copies_the_installed_requirements(
    wheel: zipfile.ZipFile,
) -> None:
    metadata = wheel.read(f"packline-{VERSION}.dist-info/METADATA").decode()
    installed = importlib.metadata.distribution("packline").metadata

    assert "Name: packline\n" in metadata
    assert f"Version: {VERSION}\n" in metadata
    requirements = [
        line.removeprefix("Requires-Dist: ")
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist: ")
    ]
    assert requirements == installed.get_all("Requires-Dist")
    assert "Tag: py3-none-any" in wheel.read(f"packline-{VERSION}.dist-info/WHEEL").decode()
    entry_points = wheel.read(f"packline-{VERSION}.dist-info/entry_points.txt").decode()
    assert "packline = edge.cli:main" in entry_points


def test_code_run_from_the_unpacked_wheel_reports_the_new_version(
    built: Path, tmp_path: Path
) -> None:
    lib = _extract(built / wheel_name(VERSION), tmp_path / "lib")

    result = subprocess.run(
        [sys.executable, "-c", "import edge; print(edge.__version__, edge.__file__)"],
        env={"PYTHONPATH": str(lib), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )

    version, location = result.stdout.split()
    assert version == VERSION
    assert Path(location).is_relative_to(lib)


def test_a_crash_at_start_release_fails_at_import_with_a_clear_message(tmp_path: Path) -> None:
    built = build_release("0.3.0", tmp_path / "out", fault="crash_at_start")
    lib = _extract(built / wheel_name("0.3.0"), tmp_path / "lib")

    result = subprocess.run(
        [sys.executable, "-c", "import edge.station.main"],
        env={"PYTHONPATH": str(lib), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )

    assert result.returncode != 0
    assert "built with the drill fault crash_at_start" in result.stderr


def test_a_build_is_fast(tmp_path: Path) -> None:
    started = time.monotonic()
    build_release("0.4.0", tmp_path)
    assert time.monotonic() - started < 5


def test_extra_wheels_are_copied_and_listed_after_the_project_wheel(tmp_path: Path) -> None:
    extra = tmp_path / "zebra-0.3.0-py3-none-any.whl"
    extra.write_bytes(b"dependency wheel")

    built = build_release("0.5.0", tmp_path / "out", extra_wheels=[extra])

    manifest = json.loads((built / "release.json").read_text())
    assert manifest["wheels"] == [wheel_name("0.5.0"), extra.name]
    assert (built / extra.name).read_bytes() == b"dependency wheel"


@pytest.mark.parametrize(
    ("version", "message"),
    [("banana", "not a PEP 440 version"), ("v1.0", "expected '1.0'"), ("1.0-1", "'1.0.post1'")],
)
def test_a_version_that_is_not_normalized_pep_440_is_refused(
    tmp_path: Path, version: str, message: str
) -> None:
    with pytest.raises(BuildError, match=message):
        build_release(version, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_building_over_an_existing_release_is_refused(tmp_path: Path) -> None:
    (tmp_path / "0.6.0").mkdir()

    with pytest.raises(BuildError, match="already exists"):
        build_release("0.6.0", tmp_path)
