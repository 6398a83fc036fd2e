"""station.toml is validated at start, and every error names the bad key and why."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from edge.cli import main
from edge.errors import ConfigError
from edge.station.config import load_station_config, parse_station_config

EXAMPLE = Path(__file__).resolve().parents[2] / "edge" / "station" / "station.example.toml"


def example() -> dict[str, object]:
    return tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def test_the_shipped_example_config_is_valid() -> None:
    loaded = load_station_config(EXAMPLE)

    assert loaded.config.station.station_id.client_id == "ams1.st07"
    assert set(loaded.config.lights.slots) == {"A1", "A2"}
    assert len(loaded.sha256) == 64


def test_an_unknown_key_is_named_with_its_section() -> None:
    data = example()
    data["station"]["verifcation"] = "each"  # type: ignore[index]

    with pytest.raises(ConfigError, match=r"station\.verifcation: unknown key"):
        parse_station_config(data)


def test_an_unknown_or_missing_section_is_named() -> None:
    data = example()
    data["printers"] = data.pop("printer")

    with pytest.raises(ConfigError, match=r"unknown section.*printers"):
        parse_station_config(data)
    del data["printers"]
    with pytest.raises(ConfigError, match=r"missing section.*printer"):
        parse_station_config(data)


def test_a_station_id_that_cannot_be_a_topic_level_is_refused() -> None:
    data = example()
    data["station"]["id"] = "st/07"  # type: ignore[index]

    with pytest.raises(ConfigError, match=r"station: .*'/' separates topic levels"):
        parse_station_config(data)


def test_a_bad_value_inside_a_driver_section_names_the_full_path() -> None:
    data = example()
    data["lights"]["slots"]["A1"] = {"led": 5}  # type: ignore[index]

    with pytest.raises(ConfigError, match=r"lights\.slots\.A1\.button"):
        parse_station_config(data)


def test_a_relative_state_dir_is_taken_from_the_config_files_folder(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        'state_dir = "/var/lib/packline"', 'state_dir = "state"'
    )
    path = tmp_path / "station.toml"
    path.write_text(text, encoding="utf-8")

    config = load_station_config(path).config

    assert config.station.state_dir == tmp_path.resolve() / "state"
    assert config.resolve(Path("print-jobs.json")) == tmp_path.resolve() / "state/print-jobs.json"


def test_packline_station_run_exits_2_and_names_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "station.toml"
    path.write_text(EXAMPLE.read_text(encoding="utf-8").replace("dpi = 203", "dpi = 250"))

    status = main(["station", "run", "--config", str(path)])

    assert status == 2
    assert "labels.dpi" in capsys.readouterr().err
