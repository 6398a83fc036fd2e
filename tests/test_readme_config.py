"""The README points at the shipped station config, and that config is what the station accepts."""

from __future__ import annotations

from pathlib import Path

from edge.station.config import load_station_config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = "edge/station/station.example.toml"


def test_the_readme_names_the_shipped_example_config_and_it_validates() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    assert EXAMPLE in readme
    loaded = load_station_config(ROOT / EXAMPLE)
    assert loaded.config.scanner.layout == "uk"
    assert loaded.config.printer.connection.transport == "tcp"
    assert set(loaded.config.lights.slots) == {"A1", "A2"}
