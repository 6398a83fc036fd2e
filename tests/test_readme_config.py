"""The station config shown in the README is accepted by the drivers' own config models."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from edge.config import parse_section
from edge.drivers.lights import LightsConfig
from edge.drivers.printer.config import PrinterConfig
from edge.drivers.scanner import ScannerConfig

README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_toml() -> dict[str, object]:
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) == 1, "the README should show exactly one station config"
    text = "\n".join(line.strip() for line in blocks[0].splitlines())
    return tomllib.loads(text)


def test_the_readme_station_config_validates_section_by_section() -> None:
    config = _readme_toml()
    scanner = parse_section(ScannerConfig, config["scanner"], "scanner")  # type: ignore[arg-type]
    printer = parse_section(PrinterConfig, config["printer"], "printer")  # type: ignore[arg-type]
    lights = parse_section(LightsConfig, config["lights"], "lights")  # type: ignore[arg-type]
    assert scanner.layout == "uk"
    assert printer.connection.transport == "tcp"
    assert set(lights.slots) == {"A1", "A2"}
