"""The health gate: every check ok together in time, or a failure naming what was not."""

from __future__ import annotations

import pytest

from edge.fleet.gate import DEFAULT_CHECKS, HealthGate


def _gate(deadline_s: float = 60.0) -> HealthGate:
    return HealthGate(deadline_s, clock=lambda: 100.0)


def test_the_gate_passes_once_every_check_is_ok() -> None:
    gate = _gate()
    for name in DEFAULT_CHECKS[:-1]:
        gate.observe(name, ok=True)
    assert gate.verdict(110.0).pending

    gate.observe("hardware", ok=True)

    assert gate.verdict(111.0).passed


def test_a_check_that_went_bad_again_holds_the_gate_until_it_recovers() -> None:
    gate = _gate()
    for name in DEFAULT_CHECKS:
        gate.observe(name, ok=name != "broker")
    gate.observe("broker", ok=False, detail="connection refused")

    assert gate.verdict(120.0).pending
    gate.observe("broker", ok=True)
    assert gate.verdict(121.0).passed


def test_the_gate_fails_at_its_deadline_naming_each_check_not_ok_and_its_last_detail() -> None:
    gate = _gate(deadline_s=120)
    gate.observe("process", ok=True)
    gate.observe("storage", ok=True)
    gate.observe("broker", ok=True)
    gate.observe("hardware", ok=False, detail="printer: head open")
    gate.observe("hardware", ok=False, detail="printer: paper out")

    assert gate.verdict(219.9).pending
    verdict = gate.verdict(220.0)

    assert verdict.failed
    assert verdict.reason == (
        "not healthy within 120 s: birth: never reported; "
        "hardware: never passed, printer: paper out"
    )


def test_a_decided_verdict_stays_decided() -> None:
    gate = _gate()
    for name in DEFAULT_CHECKS:
        gate.observe(name, ok=True)
    assert gate.verdict(101.0).passed

    gate.observe("broker", ok=False, detail="link dropped")

    assert gate.verdict(500.0).passed


def test_an_unknown_check_is_an_error_naming_the_expected_ones() -> None:
    gate = _gate()

    with pytest.raises(ValueError, match="unknown health check 'disk'; expected one of process"):
        gate.observe("disk", ok=True)


def test_the_required_checks_can_be_chosen() -> None:
    gate = HealthGate(5, required=("process",), clock=lambda: 0.0)

    gate.observe("process", ok=True)

    assert gate.verdict(1.0).passed
