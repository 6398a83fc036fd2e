"""`packline demo`: the system's end-to-end test, a whole shift under every kind of fault.

Real processes throughout: Mosquitto, the bridge, two stations on the simulated rig, the Sage
sandbox, and packers that make mistakes. The demo reads its figures from each system's own
records and exits non-zero if any invariant fails; this test checks the same figures again from
the JSON line, so a demo that stopped checking could not pass.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REQUIRED_KEYS = {
    "orders",
    "shipped",
    "partially_shipped",
    "cancelled",
    "credit_held",
    "prepayment_held",
    "shipments",
    "labels_printed",
    "events_sent",
    "events_applied",
    "duplicate_effects",
    "lost_events",
    "sage_invoices",
    "sage_credit_notes",
    "sage_duplicates",
    "reconcile_differences",
    "seconds",
}


@pytest.mark.timeout(1500)
def test_a_shift_of_60_orders_on_2_stations_with_all_chaos_keeps_the_books_straight(
    tmp_path: Path,
) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "demo",
            "--orders",
            "60",
            "--stations",
            "2",
            "--json",
            "--chaos",
            "all",
            "--work-dir",
            str(tmp_path / "shift"),
        ],
        capture_output=True,
        text=True,
        timeout=1450,
        check=False,
    )
    lines = completed.stdout.strip().splitlines()
    assert lines, completed.stderr[-3000:]
    figures = json.loads(lines[-1])
    assert completed.returncode == 0, (completed.stdout[-3000:], completed.stderr[-3000:])

    assert set(figures) >= REQUIRED_KEYS
    assert figures["orders"] == 60
    ended = sum(
        figures[state]
        for state in ("shipped", "partially_shipped", "cancelled", "credit_held", "prepayment_held")
    )
    assert ended == figures["orders"]
    assert figures["sage_invoices"] == figures["shipments"] > 0
    assert figures["labels_printed"] == figures["shipments"]
    assert figures["events_applied"] == figures["events_sent"] > 0
    for must_be_zero in ("duplicate_effects", "lost_events", "sage_duplicates"):
        assert figures[must_be_zero] == 0, must_be_zero
    assert figures["reconcile_differences"] == 0
    assert figures["credit_held"] > 0
    assert figures["prepayment_held"] > 0
    assert figures["sage_credit_notes"] >= 1
    assert sum(figures["faults"].values()) > 0
    assert figures["fleet_stations"] == 2, "the bridge's fleet inventory should list both"
    assert figures["secret_leaks"] == 0
    assert figures["secrets_checked"] >= 10
    assert_no_secret_in_any_log(tmp_path / "shift", completed.stdout + completed.stderr)
    assert_every_process_spoke_mutual_tls(tmp_path / "shift")


def site_secrets(site: Path) -> dict[str, str]:
    """The site's secrets, read here from their files independently of the demo's own scan."""
    bridge = site / "bridge"
    tokens = json.loads((bridge / "sage-test-tokens.json").read_text())
    found = {
        "api token": (bridge / "api-token").read_text().strip(),
        "sage client secret": (bridge / "sage-client-secret").read_text().strip(),
        "sage access token": tokens["access_token"],
        "sage refresh token": tokens["refresh_token"],
    }
    for key in sorted((site / "pki").rglob("*.key")):
        body = [
            line for line in key.read_text().splitlines() if line and not line.startswith("-----")
        ]
        for number, line in enumerate(body):
            found[f"{key.name} line {number}"] = line
    return found


def assert_no_secret_in_any_log(site: Path, output: str) -> None:
    logs = {str(path): path.read_text(errors="replace") for path in site.rglob("*.log")}
    logs["the demo's own output"] = output
    assert len(logs) >= 4, f"expected the bridge's and both stations' logs, found {sorted(logs)}"
    leaks = [
        f"{name} in {where}"
        for name, secret in site_secrets(site).items()
        for where, text in logs.items()
        if len(secret) >= 12 and secret in text
    ]
    assert not leaks


def assert_every_process_spoke_mutual_tls(site: Path) -> None:
    for config in [site / "bridge" / "bridge.toml", *sorted(site.glob("stations/*/station.toml"))]:
        broker = tomllib.loads(config.read_text())["broker"]
        assert broker["url"].startswith("mqtts://"), config
        assert Path(broker["cert_file"]).is_file(), config
    for log in [site / "bridge" / "bridge.log", *sorted(site.glob("stations/*/station.log"))]:
        assert "INSECURE" not in log.read_text(errors="replace"), log


def test_an_unknown_chaos_fault_is_refused_naming_the_known_ones() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "edge.cli", "demo", "--chaos", "meteor-strike"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    assert "meteor-strike" in completed.stderr
    assert "broker-restart" in completed.stderr
