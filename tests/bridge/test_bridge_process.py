"""`packline bridge run` as a real process: it migrates, serves the API to tokens in its
database, stops."""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w

from cloud_bridge.api.tokens import create_token
from cloud_bridge.db import make_engine, upgrade
from edge.link_security import INSECURE_BANNER
from firmware_sim.broker import MosquittoBroker
from firmware_sim.ports import free_port
from firmware_sim.secure_site import SiteCredentials

TEST_INSTANCE = "test"
"""A bridge instance the session broker's ACL knows (see tests/conftest.py)."""


def bridge_document(link: dict[str, Any], port: int) -> dict[str, Any]:
    return {
        "bridge": {"instance": TEST_INSTANCE, "database_url": "sqlite:///bridge.db"},
        "broker": link,
        "http": {"port": port},
        "routing": {"stations": ["w1.st01"]},
        "stations": {"w1.st01": {"slots": {"MUG": "A1"}}},
    }


def first_answer(
    process: subprocess.Popen[str], request: Callable[[], httpx.Response]
) -> httpx.Response:
    """The first answer of the bridge process's API, retried while it is still starting."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return request()
        except httpx.TransportError:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the bridge never served its API"
            time.sleep(0.2)


def test_the_bridge_process_serves_its_api_only_with_the_token(
    mosquitto: MosquittoBroker, site_credentials: SiteCredentials, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.db'}")
    upgrade(engine)
    token = create_token(engine, "process-test", "viewer")
    engine.dispose()
    port = free_port()
    config = tmp_path / "bridge.toml"
    link = site_credentials.bridge_link(TEST_INSTANCE, mosquitto.tls_url)
    config.write_bytes(tomli_w.dumps(bridge_document(link, port)).encode())
    process = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "bridge", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        refused = first_answer(process, lambda: httpx.get(f"{base}/orders", timeout=2))
        allowed = httpx.get(f"{base}/orders", headers={"Authorization": f"Bearer {token}"})
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)

    assert refused.status_code == 401
    assert allowed.status_code == 200
    assert process.returncode == 0, err
    assert (tmp_path / "bridge.db").exists()


def test_a_bad_bridge_toml_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text('[bridge]\ndatabase_url = "sqlite:///b.db"\nspeed = 3\n', encoding="utf-8")

    completed = subprocess.run(
        [sys.executable, "-m", "edge.cli", "bridge", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 2
    assert "bridge.speed: unknown key" in completed.stderr


def test_a_plain_broker_url_is_refused_unless_insecure_is_asked_for(tmp_path: Path) -> None:
    config = tmp_path / "bridge.toml"
    document = bridge_document({"url": "mqtt://127.0.0.1:1"}, free_port())
    config.write_bytes(tomli_w.dumps(document).encode())

    completed = subprocess.run(
        [sys.executable, "-m", "edge.cli", "bridge", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 2
    assert "broker.url" in completed.stderr
    assert "--insecure" in completed.stderr


def test_insecure_mode_says_so_loudly_in_the_log(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    config = tmp_path / "bridge.toml"
    config.write_bytes(tomli_w.dumps(bridge_document({"url": mosquitto.url}, free_port())).encode())
    process = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "bridge", "run", "--config", str(config), "--insecure"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(3)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)

    assert INSECURE_BANNER in err
    assert "level=WARNING" in err


def test_the_bridge_serves_its_api_over_https_when_given_a_certificate(
    mosquitto: MosquittoBroker, site_credentials: SiteCredentials, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'bridge.db'}")
    upgrade(engine)
    token = create_token(engine, "https-test", "viewer")
    engine.dispose()
    pki = site_credentials.pki  # the broker's certificate names 127.0.0.1: it serves here too
    port = free_port()
    document = bridge_document(site_credentials.bridge_link(TEST_INSTANCE, mosquitto.tls_url), port)
    document["http"] |= {
        "tls_cert_file": str(pki.broker_cert_file),
        "tls_key_file": str(pki.broker_key_file),
    }
    config = tmp_path / "bridge.toml"
    config.write_bytes(tomli_w.dumps(document).encode())
    process = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "bridge", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        served = first_answer(
            process,
            lambda: httpx.get(
                f"https://127.0.0.1:{port}/orders",
                headers={"Authorization": f"Bearer {token}"},
                verify=ssl.create_default_context(cafile=pki.ca_file),
                timeout=2,
            ),
        )
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/orders", timeout=2)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)

    assert served.status_code == 200
