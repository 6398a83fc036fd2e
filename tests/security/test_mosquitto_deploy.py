"""The shipped broker configuration (deploy/mosquitto) is the one the tests exercise.

The ACL file must be exactly what the contract generates, the test rig's TLS listener must use
the production listener's settings, and Mosquitto itself must accept the production file and
enforce it: here it runs with only its paths and port changed, on a throwaway PKI.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tls_clients import NOT_AUTHORIZED, TIMEOUT, probe_connect, publish_with_reason

from cloud_bridge.pki import BRIDGE_CERT_NAMES, SitePki
from edge.contract import StationId, TopicKind, mosquitto_acl, station_topic
from firmware_sim.broker import PRODUCTION_LIMITS, TLS_LISTENER_SETTINGS, find_mosquitto
from firmware_sim.ports import launch_on_free_port

pytestmark = pytest.mark.broker

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
CONF = DEPLOY / "mosquitto.conf"
INSTALLED = "/etc/mosquitto/packline/"
STATION_A = StationId("ams1", "st01")
STATION_B = StationId("ams1", "st02")


def settings(text: str) -> dict[str, list[str]]:
    """Every option in a Mosquitto config and the values it is given, comments left out."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            found.setdefault(key, []).append(value.strip())
    return found


def installed_config(text: str, directory: Path, port: int) -> str:
    """The production file with its paths moved into ``directory`` and its port to ``port``."""
    user = pwd.getpwuid(os.getuid()).pw_name
    replacements = {
        r"^listener 8883$": f"listener {port} 127.0.0.1",
        r"^user .*$": f"user {user}",
        r"^pid_file .*$": f"pid_file {directory / 'mosquitto.pid'}",
        r"^persistence_location .*$": f"persistence_location {directory}/",
        r"^log_dest file .*$": f"log_dest file {directory / 'mosquitto.log'}",
    }
    for pattern, replacement in replacements.items():
        text, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        assert count == 1, f"{CONF} has no single line matching {pattern!r}"
    return text.replace(INSTALLED, f"{directory}/")


class DeployedBrokerError(RuntimeError):
    """Mosquitto exited or did not listen with the production file; the message quotes it."""


class DeployedBroker:
    """Mosquitto started from the production file, on a loopback port of its own."""

    host = "127.0.0.1"

    def __init__(self, pki: SitePki, directory: Path) -> None:
        self._pki = pki
        self._dir = directory
        self._process: subprocess.Popen[bytes] | None = None
        self.tls_port = 0

    def run(self) -> None:
        for source in (
            self._pki.ca_file,
            self._pki.broker_cert_file,
            self._pki.broker_key_file,
            self._pki.crl_file,
            DEPLOY / "acl.conf",
        ):
            shutil.copy(source, self._dir / source.name)
        launch_on_free_port(self._launch, DeployedBrokerError)

    def _launch(self, port: int) -> None:
        self.tls_port = port
        config = self._dir / "mosquitto.conf"
        config.write_text(installed_config(CONF.read_text(), self._dir, port))
        with (self._dir / "stderr.log").open("ab") as stderr:
            self._process = subprocess.Popen(
                [str(find_mosquitto()), "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise DeployedBrokerError(f"mosquitto refused {CONF}:\n{self._log()}")
            try:
                with socket.create_connection((self.host, port), timeout=1.0):
                    return
            except OSError:
                time.sleep(0.05)
        self.end()
        raise DeployedBrokerError(f"mosquitto did not listen on {port}:\n{self._log()}")

    def _log(self) -> str:
        return "".join(
            path.read_text(errors="replace")
            for path in (self._dir / "stderr.log", self._dir / "mosquitto.log")
            if path.exists()
        )

    def end(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=TIMEOUT)


@pytest.fixture(scope="module")
def site_pki(tmp_path_factory: pytest.TempPathFactory) -> SitePki:
    return SitePki.init(tmp_path_factory.mktemp("pki") / "site")


@pytest.fixture(scope="module")
def deployed(
    site_pki: SitePki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DeployedBroker]:
    broker = DeployedBroker(site_pki, tmp_path_factory.mktemp("etc"))
    try:
        broker.run()
        yield broker
    finally:
        broker.end()


def test_the_shipped_acl_is_the_one_generated_from_the_contract() -> None:
    assert (DEPLOY / "acl.conf").read_text() == mosquitto_acl(BRIDGE_CERT_NAMES)


def test_the_test_brokers_tls_listener_uses_the_production_listener_settings() -> None:
    production = settings(CONF.read_text())

    assert {key: production.get(key) for key in TLS_LISTENER_SETTINGS} == {
        key: [value] for key, value in TLS_LISTENER_SETTINGS.items()
    }


def test_the_demo_and_drill_brokers_use_the_production_queue_limits() -> None:
    production = settings(CONF.read_text())

    assert {key: production.get(key) for key in PRODUCTION_LIMITS} == {
        key: [value] for key, value in PRODUCTION_LIMITS.items()
    }


def test_the_production_broker_has_one_listener_and_it_is_tls() -> None:
    production = settings(CONF.read_text())

    assert production["listener"] == ["8883"]
    for option in ("cafile", "certfile", "keyfile", "crlfile", "acl_file"):
        assert production[option][0].startswith(INSTALLED), option


def test_the_production_broker_sets_its_queue_limits_explicitly() -> None:
    production = settings(CONF.read_text())

    assert int(production["max_queued_messages"][0]) > 1000
    for option in ("max_queued_bytes", "max_inflight_messages", "max_packet_size"):
        assert int(production[option][0]) > 0, option
    assert production["persistence"] == ["true"]


def test_mosquitto_runs_the_production_file_and_lets_a_station_publish_its_own_events(
    site_pki: SitePki, deployed: DeployedBroker
) -> None:
    station = site_pki.issue(STATION_A.client_id)

    reason = publish_with_reason(deployed, station, station_topic(STATION_A, TopicKind.EVENT))

    assert not reason.is_failure


def test_mosquitto_with_the_production_file_refuses_another_stations_topic(
    site_pki: SitePki, deployed: DeployedBroker
) -> None:
    station = site_pki.issue(f"{STATION_A.site}.st03")

    reason = publish_with_reason(deployed, station, station_topic(STATION_B, TopicKind.EVENT))

    assert reason.value == NOT_AUTHORIZED


def test_mosquitto_with_the_production_file_refuses_a_client_without_a_certificate(
    site_pki: SitePki, deployed: DeployedBroker
) -> None:
    outcome = probe_connect(deployed, ssl.create_default_context(cafile=str(site_pki.ca_file)))

    assert not outcome.accepted
