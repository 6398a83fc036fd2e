"""Pushed configuration: validated like station.toml, applied atomically, refused with why."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import JsonValue

from edge.contract import ConfigDesired, ConfigReport
from edge.fleet.config_push import ConfigPush
from edge.station.config import load_station_config

EXAMPLE = Path(__file__).resolve().parents[2] / "edge" / "station" / "station.example.toml"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8").replace('"/var/lib/packline"', '"state"')
    (tmp_path / "station.toml").write_text(text, encoding="utf-8")
    return tmp_path


@pytest.fixture
def push(home: Path) -> ConfigPush:
    return ConfigPush(home / "station.toml", home)


def _desired(version: int, settings: dict[str, JsonValue]) -> ConfigDesired:
    return ConfigDesired(version=version, at=datetime.now(UTC), settings=settings)


def test_a_valid_configuration_is_applied_written_and_run(push: ConfigPush, home: Path) -> None:
    settings: dict[str, JsonValue] = {
        "station": {"alert_seconds": 5.0},
        "outbox": {"max_events": 20000},
    }

    outcome = push.apply(_desired(6, settings))

    assert outcome.applied
    assert json.loads((home / "config-applied.json").read_text()) == {
        "version": 6,
        "settings": settings,
    }
    effective = push.effective_config()
    assert effective.config_version == 6
    assert effective.config.station.alert_seconds == 5.0
    assert effective.config.outbox.max_events == 20000
    assert effective.config.station.verification == "line"  # untouched keys stay
    assert effective.config.station.state_dir == home / "state"
    assert effective.sha256 != load_station_config(home / "station.toml").sha256
    assert push.report() == ConfigReport(applied_version=6)


def test_an_invalid_configuration_is_refused_naming_the_key_and_the_old_one_stays(
    push: ConfigPush, home: Path
) -> None:
    push.apply(_desired(6, {"station": {"alert_seconds": 5.0}}))
    before = (home / "config-applied.json").read_bytes()

    outcome = push.apply(_desired(7, {"station": {"alert_secnds": 9.0}}))

    assert outcome.status == "refused"
    assert outcome.reason is not None
    assert "station.alert_secnds: unknown key" in outcome.reason
    assert (home / "config-applied.json").read_bytes() == before
    assert push.effective_config().config.station.alert_seconds == 5.0
    report = push.report()
    assert (report.applied_version, report.refused_version) == (6, 7)
    assert report.refused_reason == outcome.reason


def test_a_value_out_of_range_is_refused_naming_the_section_and_key(push: ConfigPush) -> None:
    outcome = push.apply(_desired(2, {"outbox": {"max_events": 1}}))

    assert outcome.status == "refused"
    assert outcome.reason is not None
    assert "outbox.max_events" in outcome.reason


def test_the_same_version_again_is_a_no_op(push: ConfigPush, home: Path) -> None:
    push.apply(_desired(3, {"station": {"alert_seconds": 4.0}}))
    written = (home / "config-applied.json").stat().st_mtime_ns

    outcome = push.apply(_desired(3, {"station": {"alert_seconds": 4.0}}))

    assert outcome.status == "unchanged"
    assert not outcome.applied
    assert (home / "config-applied.json").stat().st_mtime_ns == written


def test_an_older_version_is_stale_and_changes_nothing(push: ConfigPush) -> None:
    push.apply(_desired(5, {"station": {"alert_seconds": 4.0}}))

    outcome = push.apply(_desired(4, {"station": {"alert_seconds": 9.0}}))

    assert outcome.status == "stale"
    assert push.effective_config().config.station.alert_seconds == 4.0
    assert push.report().applied_version == 5


@pytest.mark.parametrize(
    ("key", "value"), [("site", "ber1"), ("id", "st99"), ("state_dir", "/elsewhere")]
)
def test_a_change_of_the_station_identity_is_refused(
    key: str, value: str, push: ConfigPush, home: Path
) -> None:
    outcome = push.apply(_desired(2, {"station": {key: value}}))

    assert outcome.status == "refused"
    assert outcome.reason is not None
    assert f"station.{key}" in outcome.reason
    assert "identity" in outcome.reason
    assert not (home / "config-applied.json").exists()
    assert push.report().applied_version == 0


@pytest.mark.parametrize(
    ("key", "value"), [("url", "mqtt://10.9.9.9:1883"), ("ca_file", "/etc/packline/other-ca.pem")]
)
def test_a_change_of_the_broker_link_is_refused_so_a_bad_push_cannot_cut_the_station_off(
    key: str, value: str, push: ConfigPush, home: Path
) -> None:
    outcome = push.apply(_desired(2, {"broker": {key: value}}))

    assert outcome.status == "refused"
    assert outcome.reason is not None
    assert f"broker.{key}" in outcome.reason
    assert not (home / "config-applied.json").exists()


def test_restating_the_identity_unchanged_is_allowed(push: ConfigPush) -> None:
    outcome = push.apply(_desired(2, {"station": {"site": "ams1", "id": "st07"}}))

    assert outcome.applied


def test_a_null_value_sends_a_key_back_to_its_default(push: ConfigPush) -> None:
    push.apply(_desired(1, {"station": {"default_carrier": "UPS"}}))

    push.apply(_desired(2, {"station": {"default_carrier": None}}))

    assert push.effective_config().config.station.default_carrier == "OWN"


def test_a_section_that_is_not_a_table_is_refused_naming_it(push: ConfigPush) -> None:
    outcome = push.apply(_desired(2, {"outbox": 5}))

    assert outcome.status == "refused"
    assert outcome.reason is not None
    assert "settings.outbox: expected a table" in outcome.reason


def test_without_a_pushed_configuration_station_toml_runs_as_it_is(
    push: ConfigPush, home: Path
) -> None:
    effective = push.effective_config()

    assert effective.config_version == 0
    assert effective.sha256 == load_station_config(home / "station.toml").sha256


def test_the_applied_configuration_survives_a_restart(push: ConfigPush, home: Path) -> None:
    push.apply(_desired(8, {"station": {"alert_seconds": 7.0}}))

    again = ConfigPush(home / "station.toml", home)

    assert again.report().applied_version == 8
    assert again.effective_config().config.station.alert_seconds == 7.0
