"""`packline station provision`: a station home with its base release and its one trust anchor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomli_w

from cloud_bridge.fleet.release.keys import KeyStore
from cloud_bridge.fleet.release.repository import ReleaseRepository
from edge import __version__
from edge.cli import main
from edge.contract import StationId
from edge.fleet.home import StationHome
from firmware_sim.sim_station import sim_station_document


@pytest.fixture
def station_toml(tmp_path: Path) -> Path:
    document = sim_station_document(
        StationId("ams1", "st01"),
        broker_url="mqtt://127.0.0.1:1883",
        printer_port=9100,
        state_dir=tmp_path / "state",
    )
    path = tmp_path / "station.toml"
    path.write_bytes(tomli_w.dumps(document).encode())
    return path


@pytest.fixture
def root_json(tmp_path: Path) -> Path:
    repository = ReleaseRepository.init(
        tmp_path / "repo", KeyStore.create(tmp_path / "release-keys")
    )
    path = tmp_path / "root.json"
    path.write_bytes(repository.trusted_root())
    return path


def test_provisioning_makes_the_installed_version_the_base_release_and_trusts_the_root(
    tmp_path: Path, station_toml: Path, root_json: Path
) -> None:
    home_dir = tmp_path / "home"

    status = main(
        ["station", "provision", "--home", str(home_dir), "--config", str(station_toml),
         "--trusted-root", str(root_json)]
    )  # fmt: skip

    assert status == 0
    home = StationHome(home_dir)
    assert home.running_version() == __version__
    assert home.lib_path(__version__) is None  # the base release runs the installed code
    assert home.station_toml.read_bytes() == station_toml.read_bytes()
    assert (home.tuf_dir / "root.json").read_bytes() == root_json.read_bytes()


def test_a_root_whose_signature_does_not_verify_is_refused_and_named(
    tmp_path: Path, station_toml: Path, root_json: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(root_json.read_text())
    document["signed"]["version"] = 7  # changed after signing
    root_json.write_text(json.dumps(document))

    status = main(
        ["station", "provision", "--home", str(tmp_path / "home"), "--config",
         str(station_toml), "--trusted-root", str(root_json)]
    )  # fmt: skip

    assert status == 2
    assert "trusted root" in capsys.readouterr().err
    assert not (tmp_path / "home").exists()
