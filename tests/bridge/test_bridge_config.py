"""bridge.toml is validated at start; errors name the section and key."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from cloud_bridge.config import load_bridge_config, parse_bridge_config
from cloud_bridge.posting.documents import strategy_for
from cloud_bridge.posting.settings import PostingPreferences
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


def test_a_config_that_still_names_an_http_token_file_is_refused_saying_what_to_do() -> None:
    data = example()
    data["http"]["token_file"] = "/etc/packline/bridge-token"  # type: ignore[index]

    with pytest.raises(ConfigError, match=r"http\.token_file") as refusal:
        parse_bridge_config(data)

    assert "packline bridge token create" in str(refusal.value)
    assert "remove token_file" in str(refusal.value).lower()


def test_the_example_names_no_http_token_file() -> None:
    assert "token_file" not in example()["http"]  # type: ignore[operator]


def test_the_example_posts_to_the_test_business_with_its_own_tokens() -> None:
    config = load_bridge_config(EXAMPLE)

    assert config.sage is not None
    assert config.sage.environment == "test"
    assert config.sage.business.business_id == "0123456789abcdef0123456789abcdef"
    assert config.sage.posting.tax_rate_id(Decimal("0.2")) == "GB_STANDARD"


def test_sage_without_the_chosen_environment_is_refused_naming_it() -> None:
    data = example()
    del data["sage"]["test"]  # type: ignore[attr-defined]

    with pytest.raises(ConfigError, match=r"\[sage\.test\] is missing"):
        parse_bridge_config(data)


def test_test_and_live_naming_one_business_is_refused() -> None:
    data = example()
    data["sage"]["live"]["business_id"] = data["sage"]["test"]["business_id"]  # type: ignore[index]

    with pytest.raises(ConfigError, match="same business_id"):
        parse_bridge_config(data)


def test_sales_orders_are_refused_for_sage_accounting_naming_the_alternative() -> None:
    data = example()
    data["sage"]["posting"]["document_type"] = "sales_order"  # type: ignore[index]
    config = parse_bridge_config(data)
    assert config.sage is not None

    with pytest.raises(ConfigError, match="Sage Accounting has no sales orders"):
        strategy_for(config.sage.posting.edition, config.sage.posting.document_type)


def test_the_default_tax_map_finds_our_rates_however_they_are_written() -> None:
    preferences = PostingPreferences()

    assert preferences.tax_rate_id(Decimal("0.2000")) == "GB_STANDARD"
    assert preferences.tax_rate_id(Decimal("0.20")) == "GB_STANDARD"
    assert preferences.tax_rate_id(Decimal("0")) == "GB_ZERO"
    assert preferences.tax_rate_id(Decimal("0.05")) is None
