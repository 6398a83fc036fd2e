"""`[screen]` in station.toml: on by default, on loopback only."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from edge.errors import ConfigError
from edge.station.config import parse_station_config

EXAMPLE = Path(__file__).resolve().parents[2] / "edge" / "station" / "station.example.toml"


def example() -> dict[str, object]:
    return tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def test_the_screen_is_on_by_default_on_loopback_port_8090() -> None:
    data = example()
    del data["screen"]

    screen = parse_station_config(data).screen

    assert (screen.enabled, screen.host, screen.port) == (True, "127.0.0.1", 8090)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.20.0.7", "station.local"])
def test_a_host_that_is_not_loopback_is_refused_saying_why(host: str) -> None:
    data = example()
    data["screen"] = {"host": host}

    with pytest.raises(ConfigError, match=r"screen: .*not a loopback address.*no login"):
        parse_station_config(data)


def test_an_unknown_screen_key_is_named() -> None:
    data = example()
    data["screen"] = {"prot": 8091}

    with pytest.raises(ConfigError, match=r"screen\.prot: unknown key"):
        parse_station_config(data)
