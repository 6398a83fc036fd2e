"""The `[lights]` section: unknown keys, doubled pins and impossible slots are refused by name."""

from __future__ import annotations

from typing import Any

import pytest

from edge.config import parse_section
from edge.drivers.lights import LightsConfig, normalise_pin
from edge.errors import ConfigError


def section(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "slots": {
            "A1": {"led": "GPIO17", "button": "GPIO27"},
            "A2": {"rgb": {"red": 5, "green": 6, "blue": 13}, "button": 22},
        },
        "confirm_button": "GPIO23",
        "shortage_button": "GPIO24",
        "buzzer": {"pin": "GPIO18"},
    }
    base.update(overrides)
    return base


def test_a_valid_section_stores_every_pin_by_its_gpio_name() -> None:
    config = parse_section(LightsConfig, section(), "lights")

    assert config.slots["A2"].rgb is not None
    assert config.slots["A2"].rgb.blue == "GPIO13"
    assert config.slots["A2"].button == "GPIO22"


@pytest.mark.parametrize("spelling", [17, "17", "GPIO17", "gpio17", "BCM17", "BOARD11", "J8:11"])
def test_every_spelling_of_a_pin_normalises_to_one_name(spelling: int | str) -> None:
    assert normalise_pin(spelling) == "GPIO17"


def test_an_unknown_key_is_refused_naming_the_key() -> None:
    data = section()
    data["slots"]["A1"]["colour"] = "red"

    with pytest.raises(ConfigError, match=r"lights\.slots\.A1\.colour: unknown key"):
        parse_section(LightsConfig, data, "lights")


def test_an_unknown_top_level_key_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"lights\.blink_hz: unknown key"):
        parse_section(LightsConfig, section(blink_hz=5), "lights")


def test_two_slots_on_one_led_pin_are_refused_naming_the_pin_and_both_slots() -> None:
    data = section()
    data["slots"]["A3"] = {"led": 17, "button": 25}

    with pytest.raises(
        ConfigError, match=r"GPIO17 is used twice: by slots\.A1\.led and by slots\.A3\.led"
    ):
        parse_section(LightsConfig, data, "lights")


def test_a_pin_clash_is_caught_across_spellings_and_device_kinds() -> None:
    # BOARD11 is GPIO17, already slot A1's LED.
    data = section(shortage_button="BOARD11")

    with pytest.raises(
        ConfigError, match=r"GPIO17 is used twice: by slots\.A1\.led and by shortage_button"
    ):
        parse_section(LightsConfig, data, "lights")


def test_a_buzzer_on_an_rgb_channel_pin_is_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"GPIO6 is used twice: by slots\.A2\.rgb\.green and by buzzer\.pin"
    ):
        parse_section(LightsConfig, section(buzzer={"pin": "GPIO6"}), "lights")


def test_a_header_pin_that_is_not_a_gpio_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"confirm_button: .*'BOARD1' is 3V3, not a GPIO"):
        parse_section(LightsConfig, section(confirm_button="BOARD1"), "lights")


def test_a_pin_that_does_not_exist_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"confirm_button: .*unknown pin 'GPIO99'"):
        parse_section(LightsConfig, section(confirm_button="GPIO99"), "lights")


def test_a_slot_needs_exactly_one_kind_of_light() -> None:
    both = section()
    both["slots"]["A1"]["rgb"] = {"red": 2, "green": 3, "blue": 4}
    neither = section()
    del neither["slots"]["A1"]["led"]

    for data in (both, neither):
        with pytest.raises(ConfigError, match=r"slots\.A1: .*exactly one of `led` or `rgb`"):
            parse_section(LightsConfig, data, "lights")


def test_an_alert_led_without_a_main_led_is_refused() -> None:
    data = section()
    data["slots"]["A2"]["alert_led"] = 20

    with pytest.raises(ConfigError, match=r"slots\.A2: .*`alert_led` is the second colour"):
        parse_section(LightsConfig, data, "lights")


def test_a_long_press_no_longer_than_the_debounce_is_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"long_press_ms \(100\) must be longer than debounce_ms \(100\)"
    ):
        parse_section(LightsConfig, section(debounce_ms=100, long_press_ms=100), "lights")
