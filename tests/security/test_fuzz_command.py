"""`packline fuzz` runs every target for its time box and reports what it tried."""

from __future__ import annotations

import argparse
import json

import pytest

from firmware_sim.fuzz.cli import add_fuzz_command
from firmware_sim.fuzz.runner import run_fuzz

TARGETS = {"decode", "station", "bridge-ingest", "bridge-state", "scanner", "scans", "zpl"}


def test_a_short_run_tries_every_target_and_finds_no_failure() -> None:
    report = run_fuzz(0.03, seed=7, chunk=10)

    assert not report.failed, report.to_text()
    assert {target.name for target in report.targets} == TARGETS
    for target in report.targets:
        assert target.tried >= 10
        assert target.tried == target.accepted + target.rejected
    decode = next(target for target in report.targets if target.name == "decode")
    assert decode.rejected > 0
    assert decode.reasons


def test_the_command_prints_a_json_report_and_exits_zero(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser(prog="packline")
    add_fuzz_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["fuzz", "--minutes", "0.01", "--seed", "3", "--json"])

    status = args.handler(args)

    report = json.loads(capsys.readouterr().out)
    assert status == 0
    assert report["seed"] == 3
    assert report["failed"] is False
    assert {target["target"] for target in report["targets"]} == TARGETS | {"http api"}
    api = next(target for target in report["targets"] if target["target"] == "http api")
    assert api["tried"] > 0
    assert all("top_reasons" in target and "failures" in target for target in report["targets"])


def test_minutes_must_be_positive() -> None:
    parser = argparse.ArgumentParser(prog="packline")
    add_fuzz_command(parser.add_subparsers(dest="command", required=True))
    with pytest.raises(SystemExit):
        parser.parse_args(["fuzz", "--minutes", "0"])
