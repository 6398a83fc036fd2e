"""The station home the updater works in: provisioning, the `current` switch, repairs at boot."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from release_kit import KitFetch, make_release, offer_for

from edge.fleet.errors import FleetError
from edge.fleet.home import StationHome
from edge.fleet.switch import point_current
from edge.fleet.updater import Updater


def test_provisioning_makes_a_factory_base_release_and_points_current_at_it(
    tmp_path: Path,
) -> None:
    toml = tmp_path / "factory.toml"
    toml.write_text("[station]\n")

    home = StationHome.provision(
        tmp_path / "home",
        factory_version="0.1.0",
        trusted_root=b'{"signed": {}}',
        station_toml=toml,
    )

    assert home.running_version() == "0.1.0"
    assert os.readlink(home.current) == "releases/0.1.0"
    assert json.loads((home.release_dir("0.1.0") / "release.json").read_text()) == {
        "version": "0.1.0",
        "base": True,
    }
    assert home.lib_path("0.1.0") is None
    assert home.installed_versions() == ["0.1.0"]
    assert (home.tuf_dir / "root.json").read_bytes() == b'{"signed": {}}'
    assert home.station_toml.read_text() == "[station]\n"
    report = Updater(home, fetch=KitFetch()).report()
    assert (report.state, report.running_version) == ("idle", "0.1.0")


def test_provisioning_a_home_twice_is_refused_so_an_update_is_never_undone(
    tmp_path: Path,
) -> None:
    StationHome.provision(tmp_path / "home", factory_version="0.1.0")

    with pytest.raises(FleetError, match=r"already exists: .* is provisioned \(running 0\.1\.0\)"):
        StationHome.provision(tmp_path / "home", factory_version="0.0.9")


def test_a_factory_version_that_is_not_pep_440_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FleetError, match="'first' is not a PEP 440 version"):
        StationHome.provision(tmp_path / "home", factory_version="first")


def test_switching_current_twice_to_the_same_release_changes_nothing(tmp_path: Path) -> None:
    home = StationHome.provision(tmp_path / "home", factory_version="0.1.0")

    point_current(home, "0.1.0")
    point_current(home, "0.1.0")

    assert home.running_version() == "0.1.0"
    assert sorted(entry.name for entry in home.root.iterdir()) == ["current", "releases"]


def test_switching_to_a_release_that_is_not_installed_is_refused(tmp_path: Path) -> None:
    home = StationHome.provision(tmp_path / "home", factory_version="0.1.0")

    with pytest.raises(FleetError, match=r"cannot switch to 0\.2\.0: .* not an installed release"):
        point_current(home, "0.2.0")

    assert home.running_version() == "0.1.0"


def test_the_boot_step_repairs_a_dangling_current_with_the_last_known_version(
    tmp_path: Path,
) -> None:
    home = StationHome.provision(tmp_path / "home", factory_version="0.1.0")
    fetch = KitFetch()
    fetch.publish(make_release(tmp_path / "repo", "0.2.0"))
    updater = Updater(home, fetch=fetch)
    updater.offer(offer_for("0.2.0"))
    Updater(home, fetch=fetch).boot()
    Updater(home, fetch=fetch).commit()
    home.current.unlink()
    home.current.symlink_to("releases/9.9.9")

    lib = Updater(home, fetch=fetch).boot()

    assert lib == home.release_dir("0.2.0") / "lib"
    assert home.running_version() == "0.2.0"
    report = Updater(home, fetch=fetch).report()
    assert (report.state, report.running_version) == ("failed", "0.2.0")
    assert report.reason is not None
    assert "9.9.9" in report.reason
