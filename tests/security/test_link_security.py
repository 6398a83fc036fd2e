"""A station or bridge refuses a broker link that is neither mutual TLS under its own name nor an
explicitly insecure loopback one, before it connects."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from cloud_bridge.config import parse_bridge_config
from cloud_bridge.main import check_bridge_links
from edge.cli import main
from edge.contract import StationId
from edge.errors import ConfigError
from edge.link_security import INSECURE_BANNER, certificate_name, check_link_security
from edge.station.uplink import BrokerSettings
from firmware_sim.secure_site import SiteCredentials
from firmware_sim.sim_station import sim_station_document

STATION = StationId("ams1", "st01")


def tls_settings(credentials: SiteCredentials, name: StationId) -> BrokerSettings:
    return BrokerSettings.model_validate(credentials.station_link(name, "mqtts://127.0.0.1:8883"))


def test_a_station_with_its_own_certificate_may_connect(
    site_credentials: SiteCredentials,
) -> None:
    check_link_security(tls_settings(site_credentials, STATION), STATION.client_id, insecure=False)


def test_a_station_holding_another_stations_certificate_is_refused_naming_both(
    site_credentials: SiteCredentials,
) -> None:
    other = StationId("ams1", "st02")

    with pytest.raises(ConfigError) as refused:
        check_link_security(
            tls_settings(site_credentials, other), STATION.client_id, insecure=False
        )

    assert "'ams1.st02'" in str(refused.value)
    assert "'ams1.st01'" in str(refused.value)
    assert "packline pki issue ams1.st01" in str(refused.value)


def test_tls_without_the_site_ca_is_refused_so_no_public_ca_is_trusted(tmp_path: Path) -> None:
    settings = BrokerSettings(
        url="mqtts://127.0.0.1:8883", cert_file=tmp_path / "c.crt", key_file=tmp_path / "c.key"
    )

    with pytest.raises(ConfigError, match=r"broker\.ca_file"):
        check_link_security(settings, STATION.client_id, insecure=False)


def test_tls_without_a_client_certificate_is_refused(tmp_path: Path) -> None:
    settings = BrokerSettings(url="mqtts://127.0.0.1:8883", ca_file=tmp_path / "ca.crt")

    with pytest.raises(ConfigError, match=r"broker\.cert_file"):
        check_link_security(settings, STATION.client_id, insecure=False)


def test_a_plain_link_without_insecure_is_refused_and_says_how_to_fix_it() -> None:
    settings = BrokerSettings(url="mqtt://127.0.0.1:1883")

    with pytest.raises(ConfigError) as refused:
        check_link_security(settings, STATION.client_id, insecure=False)

    assert "mqtts://" in str(refused.value)
    assert "--insecure" in str(refused.value)


def test_insecure_is_refused_for_a_broker_that_is_not_on_loopback() -> None:
    settings = BrokerSettings(url="mqtt://10.20.0.5:1883")

    with pytest.raises(ConfigError, match="loopback"):
        check_link_security(settings, STATION.client_id, insecure=True)


def test_an_insecure_loopback_link_is_allowed_and_logged_loudly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = BrokerSettings(url="mqtt://127.0.0.1:1883")

    with caplog.at_level(logging.WARNING, logger="packline.security"):
        check_link_security(settings, STATION.client_id, insecure=True)

    assert [record.levelno for record in caplog.records] == [logging.WARNING]
    assert INSECURE_BANNER in caplog.text


def test_a_file_that_is_not_a_certificate_is_refused_naming_it(tmp_path: Path) -> None:
    junk = tmp_path / "station.crt"
    junk.write_text("not a certificate")

    with pytest.raises(ConfigError, match="not a PEM certificate"):
        certificate_name(junk)


def bridge_document(link: dict[str, str]) -> dict[str, Any]:
    return {
        "bridge": {"instance": "main", "database_url": "sqlite:///bridge.db"},
        "broker": link,
        "http": {},
        "routing": {"mode": "round_robin", "stations": ["ams1.st01"]},
        "stations": {"ams1.st01": {"slots": {"MUG": "A1"}}},
    }


def test_the_bridge_needs_both_of_its_certificates_under_their_own_names(
    site_credentials: SiteCredentials,
) -> None:
    link = site_credentials.bridge_link("main", "mqtts://127.0.0.1:8883")
    check_bridge_links(parse_bridge_config(bridge_document(link)), insecure=False)

    swapped = {
        **link,
        "cert_file": link["ingest_cert_file"],
        "key_file": link["ingest_key_file"],
    }
    with pytest.raises(ConfigError, match="'bridge-main-ingest'"):
        check_bridge_links(parse_bridge_config(bridge_document(swapped)), insecure=False)


def test_a_bridge_config_with_one_certificate_for_both_connections_is_refused(
    site_credentials: SiteCredentials,
) -> None:
    link = site_credentials.bridge_link("main", "mqtts://127.0.0.1:8883")
    del link["ingest_cert_file"], link["ingest_key_file"]

    with pytest.raises(ConfigError, match="ingest_cert_file"):
        parse_bridge_config(bridge_document(link))


def test_packline_station_run_refuses_a_plain_broker_without_insecure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "station.toml"
    document = sim_station_document(
        STATION, broker_url="mqtt://127.0.0.1:1", printer_port=1, state_dir=tmp_path / "state"
    )
    config.write_bytes(tomli_w.dumps(document).encode())

    status = main(["station", "run", "--config", str(config), "--sim"])

    assert status == 2
    assert "--insecure" in capsys.readouterr().err


def test_packline_station_run_refuses_another_stations_certificate(
    site_credentials: SiteCredentials, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "station.toml"
    url = "mqtts://127.0.0.1:1"
    document = sim_station_document(
        STATION,
        broker_url=url,
        broker_link=site_credentials.station_link(StationId("ams1", "st09"), url),
        printer_port=1,
        state_dir=tmp_path / "state",
    )
    config.write_bytes(tomli_w.dumps(document).encode())

    status = main(["station", "run", "--config", str(config), "--sim"])

    assert status == 2
    assert "issued to 'ams1.st09'" in capsys.readouterr().err


def test_the_api_off_loopback_must_serve_https_so_tokens_never_cross_in_clear() -> None:
    document = bridge_document({"url": "mqtt://127.0.0.1:1883"})
    document["http"] = {"host": "0.0.0.0"}

    with pytest.raises(ConfigError, match="tls_cert_file and tls_key_file"):
        parse_bridge_config(document)

    document["http"] = {"host": "0.0.0.0", "tls_cert_file": "api.crt", "tls_key_file": "api.key"}
    http = parse_bridge_config(document, base=Path("/etc/packline")).http
    assert http.scheme == "https"
    assert http.tls_key_file == Path("/etc/packline/api.key")
