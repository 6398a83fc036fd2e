"""bridge.toml is validated at start; errors name the section and key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from cloud_bridge.config import load_bridge_config, parse_bridge_config
from edge.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "cloud_bridge" / "bridge.example.toml"


def example() -> dict[str, object]:
    return tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def test_the_shipped_example_is_valid_and_relative_paths_follow_the_file() -> None:
    config = load_bridge_config(EXAMPLE)

    assert config.bridge.database_url == f"sqlite:///{EXAMPLE.parent / 'bridge.db'}"
    assert config.slot_maps["ams1.st07"]["MUG-RED-350"] == "A1"


def test_a_routed_station_without_a_slot_map_is_refused_naming_it() -> None:
    data = example()
    del data["stations"]["ams1.st08"]  # type: ignore[attr-defined]

    with pytest.raises(ConfigError, match=r"no slot map for ams1\.st08"):
        parse_bridge_config(data)


def test_an_unknown_key_is_named() -> None:
    data = example()
    data["bridge"]["cycle"] = 3  # type: ignore[index]

    with pytest.raises(ConfigError, match=r"bridge\.cycle: unknown key"):
        parse_bridge_config(data)


def test_a_token_file_other_users_can_read_is_refused(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret-token-0123456789\n")
    token.chmod(0o644)
    data = example()
    data["http"]["token_file"] = str(token)  # type: ignore[index]
    config = parse_bridge_config(data)

    with pytest.raises(ConfigError, match="chmod 600"):
        config.http.read_token()
    token.chmod(0o600)
    assert config.http.read_token() == "s3cret-token-0123456789"
