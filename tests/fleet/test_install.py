"""Installing a verified release: wheels checked before extraction, installed whole or not."""

from __future__ import annotations

import json
import zipfile
from importlib.metadata import distributions
from pathlib import Path
from typing import Any

import pytest
from release_kit import KitRelease, make_release, make_wheel, probe_files

from edge.contract import UpdateRefusal
from edge.fleet.errors import UpdateRefused
from edge.fleet.home import StationHome
from edge.fleet.install import inspect_wheel, install_release


@pytest.fixture
def home(tmp_path: Path) -> StationHome:
    return StationHome.provision(tmp_path / "home", factory_version="0.1.0")


def test_a_release_is_installed_with_its_dist_info_where_importlib_finds_the_version(
    home: StationHome, tmp_path: Path
) -> None:
    release = make_release(tmp_path / "out", "0.2.0")

    installed = install_release(release, home)

    assert installed == home.release_dir("0.2.0")
    assert (installed / "lib" / "edge" / "cli.py").is_file()
    found = [dist.version for dist in distributions(path=[str(installed / "lib")])]
    assert found == ["0.2.0"]
    assert json.loads((installed / "release.json").read_text()) == {
        "version": "0.2.0",
        "base": False,
        "wheels": ["packline-0.2.0-py3-none-any.whl"],
    }
    assert home.lib_path("0.2.0") == installed / "lib"
    assert not home.partial_dir("0.2.0").exists()


def test_a_download_inside_the_partial_directory_is_installed_and_then_removed(
    home: StationHome,
) -> None:
    download = home.partial_dir("0.2.0") / "download"
    wheel = make_wheel(download, "0.2.0", probe_files("0.2.0"))
    (home.partial_dir("0.2.0") / "lib" / "stale").mkdir(parents=True)

    installed = install_release(KitRelease("0.2.0", download, (wheel,)), home)

    assert sorted(path.name for path in installed.iterdir()) == ["lib", "release.json"]
    assert not (installed / "lib" / "stale").exists()


def test_a_leftover_partial_install_is_cleared_and_redone(
    home: StationHome, tmp_path: Path
) -> None:
    leftover = home.partial_dir("0.2.0") / "lib" / "edge"
    leftover.mkdir(parents=True)
    (leftover / "half_written.py").write_text("x = ")

    installed = install_release(make_release(tmp_path / "out", "0.2.0"), home)

    assert not (installed / "lib" / "edge" / "half_written.py").exists()
    assert (installed / "lib" / "edge" / "cli.py").is_file()


def test_an_installed_release_is_reused_as_it_is(home: StationHome, tmp_path: Path) -> None:
    release = make_release(tmp_path / "out", "0.2.0")
    installed = install_release(release, home)
    marker = installed / "lib" / "marker"
    marker.write_text("kept")

    again = install_release(release, home)

    assert again == installed
    assert marker.read_text() == "kept"


REFUSED_WHEELS: dict[str, tuple[UpdateRefusal, dict[str, Any]]] = {
    "a parent-directory member": ("path_escape", {"files": {"../evil.py": b"x = 1\n"}}),
    "an absolute member": ("path_escape", {"files": {"/etc/evil.py": b"x = 1\n"}}),
    "a drive-letter member": ("path_escape", {"files": {"C:/evil.py": b"x = 1\n"}}),
    "a symlink member": ("path_escape", {"symlinks": {"edge/passwd": "/etc/passwd"}}),
    "a member larger than its RECORD size": (
        "oversize",
        {"record_rows": {"edge/cli.py": ("sha256=AAAA", "3")}},
    ),
    "a member whose hash differs from RECORD": (
        "tampered",
        {
            "record_rows": {
                "edge/cli.py": ("sha256=AAAA", str(len(probe_files("0.2.0")["edge/cli.py"])))
            }
        },
    ),
    "a member RECORD does not list": ("tampered", {"unrecorded": {"edge/extra.py": b"x = 1\n"}}),
    "a RECORD entry with no member": (
        "tampered",
        {"record_rows": {}, "files": {}, "drop": "edge/cli.py"},
    ),
    "a RECORD with a weak hash": (
        "tampered",
        {"record_rows": {"edge/cli.py": ("md5=AAAA", "10")}},
    ),
}


def _crafted_wheel(directory: Path, recipe: dict[str, Any]) -> Path:
    files = dict(probe_files("0.2.0"))
    files.update(recipe.get("files", {}))
    wheel = make_wheel(
        directory,
        "0.2.0",
        files,
        record_rows=recipe.get("record_rows"),
        unrecorded=recipe.get("unrecorded"),
        symlinks=recipe.get("symlinks"),
    )
    dropped = recipe.get("drop")
    if isinstance(dropped, str):
        rebuilt = wheel.with_suffix(".tmp")
        with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(rebuilt, "w") as target:
            for info in source.infolist():
                if info.filename != dropped:
                    target.writestr(info, source.read(info))
        rebuilt.replace(wheel)
    return wheel


@pytest.mark.parametrize("case", list(REFUSED_WHEELS))
def test_a_crafted_wheel_is_refused_by_name_before_anything_is_extracted(
    case: str, home: StationHome, tmp_path: Path
) -> None:
    refusal, recipe = REFUSED_WHEELS[case]
    wheel = _crafted_wheel(tmp_path / "out", recipe)

    with pytest.raises(UpdateRefused) as refused:
        install_release(KitRelease("0.2.0", wheel.parent, (wheel,)), home)

    assert refused.value.refusal == refusal
    assert wheel.name in refused.value.reason
    assert not home.partial_dir("0.2.0").exists()
    assert not home.release_dir("0.2.0").exists()
    assert home.running_version() == "0.1.0"


def test_a_file_that_is_not_a_zip_archive_is_refused_as_tampered(tmp_path: Path) -> None:
    wheel = tmp_path / "packline-0.2.0-py3-none-any.whl"
    wheel.write_bytes(b"not a zip at all")

    with pytest.raises(UpdateRefused) as refused:
        inspect_wheel(wheel)

    assert refused.value.refusal == "tampered"


def test_the_refusal_names_the_member_and_both_sizes(tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path,
        "0.2.0",
        {"edge/big.py": b"x" * 100},
        record_rows={"edge/big.py": ("sha256=A", "10")},
    )

    with pytest.raises(UpdateRefused, match=r"edge/big\.py is 100 bytes; its RECORD says 10"):
        inspect_wheel(wheel)
