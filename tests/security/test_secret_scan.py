"""The demo's secret scan: every secret of a site folder is found, and so is each leak of one.

A small fake site laid out as `packline demo` lays out its folder: the bridge's config, its Sage
secret and token files, a throwaway PKI, a station, and their logs.
"""

from __future__ import annotations

import json
from pathlib import Path

import tomli_w
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from firmware_sim.shift.secret_scan import collect_site_secrets, find_leaks, log_files

CLIENT_SECRET = "sandbox-client-secret-value"
ACCESS = "access-token-3f9c1d7e2b8a4f60"
REFRESH = "refresh-token-9a8b7c6d5e4f3a2b"
API_TOKEN = "pl_api_token_5d1e9c2f7a3b8e4d6c0f"


def private(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)
    return path


def pem_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def fake_site(folder: Path) -> dict[str, str]:
    """Write the site; returns each key file's PEM text by its path relative to `folder`."""
    bridge = folder / "bridge"
    private(bridge / "sage-client-secret", CLIENT_SECRET + "\n")
    private(
        bridge / "sage-test-tokens.json",
        json.dumps(
            {"environment": "test", "access_token": ACCESS, "refresh_token": REFRESH},
        ),
    )
    private(bridge / "api-token", API_TOKEN + "\n")
    keys = {"pki/bridge-shift.key": pem_key(), "pki/demo.st01.key": pem_key()}
    for name, text in keys.items():
        private(folder / name, text)
    (folder / "pki" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n")
    (bridge / "bridge.toml").write_bytes(
        tomli_w.dumps(
            {
                "broker": {"url": "mqtts://127.0.0.1:8883", "key_file": "../pki/bridge-shift.key"},
                "sage": {
                    "client_secret_file": "sage-client-secret",
                    "test": {"business_id": "b", "token_file": "sage-test-tokens.json"},
                    "live": {"business_id": "c", "token_file": "sage-live-tokens.json"},
                },
            }
        ).encode()
    )
    station = folder / "stations" / "demo.st01"
    station.mkdir(parents=True)
    (station / "station.toml").write_bytes(
        tomli_w.dumps({"broker": {"key_file": str(folder / "pki" / "demo.st01.key")}}).encode()
    )
    (bridge / "bridge.log").write_text("level=INFO sage business=b planned=1 posted=1\n")
    (station / "station.log").write_text("level=INFO station demo.st01 born\n")
    return keys


def test_every_secret_of_the_site_is_collected(tmp_path: Path) -> None:
    keys = fake_site(tmp_path)

    secrets = collect_site_secrets(tmp_path)

    values = set(secrets.values())
    assert {CLIENT_SECRET, ACCESS, REFRESH, API_TOKEN} <= values
    for text in keys.values():
        body = [line for line in text.splitlines() if not line.startswith("-----")]
        assert set(body) - {line for line in body if len(line) < 12} <= values
    assert not any("CERTIFICATE" in name for name in secrets)


def test_a_clean_site_has_no_leaks(tmp_path: Path) -> None:
    fake_site(tmp_path)

    assert find_leaks(tmp_path, collect_site_secrets(tmp_path)) == []


def test_each_leak_names_the_secret_and_the_log_but_not_the_value(tmp_path: Path) -> None:
    fake_site(tmp_path)
    log = tmp_path / "bridge" / "bridge.log"
    with log.open("a") as handle:
        handle.write(f"level=INFO HTTP Request: POST /token?refresh_token={REFRESH}\n")
        handle.write(f"level=ERROR headers {{'Authorization': 'Bearer {API_TOKEN}'}}\n")

    leaks = find_leaks(tmp_path, collect_site_secrets(tmp_path))

    assert leaks == [
        "API token (bridge/api-token) appears in bridge/bridge.log (line 3)",
        "Sage refresh_token (bridge/sage-test-tokens.json) appears in bridge/bridge.log (line 2)",
    ]
    assert not any(REFRESH in leak or API_TOKEN in leak for leak in leaks)


def test_a_private_key_logged_as_a_repr_with_escaped_newlines_is_found(tmp_path: Path) -> None:
    keys = fake_site(tmp_path)
    station_log = tmp_path / "stations" / "demo.st01" / "station.log"
    with station_log.open("a") as handle:
        handle.write(f"level=ERROR bad key {keys['pki/demo.st01.key']!r}\n")

    leaks = find_leaks(tmp_path, collect_site_secrets(tmp_path))

    assert leaks
    assert all(leak.startswith("private key pki/demo.st01.key (PEM line") for leak in leaks)
    assert all("stations/demo.st01/station.log (line 2)" in leak for leak in leaks)


def test_rotated_logs_are_scanned_and_other_files_are_not(tmp_path: Path) -> None:
    fake_site(tmp_path)
    (tmp_path / "bridge" / "bridge.log.1").write_text(f"old {ACCESS}\n")
    (tmp_path / "bridge" / "notes.txt").write_text(f"not a log {ACCESS}\n")

    leaks = find_leaks(tmp_path, collect_site_secrets(tmp_path))

    assert [path.name for path in log_files(tmp_path)] == [
        "bridge.log",
        "bridge.log.1",
        "station.log",
    ]
    assert leaks == [
        "Sage access_token (bridge/sage-test-tokens.json) appears in bridge/bridge.log.1 (line 1)"
    ]


def test_short_values_are_not_looked_for(tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text("secret\n")

    assert find_leaks(tmp_path, {"short": "secret"}) == []
