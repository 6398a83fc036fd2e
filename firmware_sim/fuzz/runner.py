"""`packline fuzz --minutes M`: every fuzz target, round robin, for a fixed time, and a report.

Each target runs in short Hypothesis chunks (each with a seed derived from ``--seed``), so the
time box is kept and a failure comes back shrunk, with the falsifying example as its reproducer.
Handler targets also check, after every chunk, that a valid message is still applied. The report
says per target how many examples were tried, accepted and rejected (with the commonest reasons),
and every distinct failure.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from edge.contract import TopicKind
from edge.station.uplink import SUBSCRIBED_KINDS
from firmware_sim.fuzz import strategies as fs
from firmware_sim.fuzz import targets as ft

__all__ = ["FuzzReport", "TargetReport", "label_fields", "run_fuzz"]

_CHUNK = 25
_TOP_REASONS = 5
_BRIDGE_KINDS = (TopicKind.STATE, TopicKind.STATUS, TopicKind.FLEET, TopicKind.FETCH)


@dataclass
class TargetReport:
    """What one target saw: examples tried, accepted, rejected (by reason) and failures."""

    name: str
    tried: int = 0
    accepted: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    failures: list[dict[str, str]] = field(default_factory=list)

    def record(self, outcome: ft.Outcome) -> None:
        self.tried += 1
        if outcome.accepted:
            self.accepted += 1
        else:
            self.rejected += 1
            self.reasons[outcome.reason or "unspecified"] += 1

    def fail(self, error: BaseException, chunk_seed: int | None = None) -> None:
        message = (
            f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error) else ''}"
        )
        if any(failure["error"] == message for failure in self.failures):
            return
        notes = "\n".join(getattr(error, "__notes__", ()))
        where = f"\n(chunk seed {chunk_seed})" if chunk_seed is not None else ""
        self.failures.append({"error": message, "reproducer": (notes or repr(error)) + where})

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.name,
            "tried": self.tried,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "top_reasons": [
                {"reason": reason, "count": count}
                for reason, count in self.reasons.most_common(_TOP_REASONS)
            ],
            "failures": self.failures,
        }


@dataclass
class FuzzReport:
    """The whole run: its seed, how long it ran, and one report per target."""

    seed: int
    seconds: float
    targets: list[TargetReport]

    @property
    def failed(self) -> bool:
        return any(target.failures for target in self.targets)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "seconds": round(self.seconds, 2),
            "failed": self.failed,
            "targets": [target.as_dict() for target in self.targets],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False)

    def to_text(self) -> str:
        lines = [f"packline fuzz: seed {self.seed}, {self.seconds:.1f} s"]
        for target in self.targets:
            lines.append(
                f"  {target.name:<16} tried {target.tried:>7}  accepted {target.accepted:>7}  "
                f"rejected {target.rejected:>7}  failures {len(target.failures)}"
            )
            for reason, count in target.reasons.most_common(_TOP_REASONS):
                lines.append(f"      {count:>7}  {reason}")
            for failure in target.failures:
                lines.append(f"    FAILURE {failure['error']}")
                lines.extend(f"      {line}" for line in failure["reproducer"].splitlines())
        lines.append("FAILED" if self.failed else "no failures")
        return "\n".join(lines)


def label_fields() -> st.SearchStrategy[ft.LabelFields]:
    """Label text for every free-text field: mostly present, sometimes empty or far too long."""

    def present(prefix: str) -> st.SearchStrategy[str]:
        return fs.label_texts().map(lambda text: prefix + text) | fs.label_texts()

    return st.builds(
        ft.LabelFields,
        name=present("N") | fs.overlong_texts(),
        lines=st.lists(fs.label_texts(), max_size=4).map(tuple),
        city=fs.label_texts(),
        postal_code=fs.label_texts(max_size=16),
        country=fs.label_texts(max_size=8),
        order_reference=present("O") | fs.overlong_texts(),
        shipment_reference=present("S"),
        carrier=present("K"),
    )


@dataclass
class _Target:
    name: str
    strategy: st.SearchStrategy[Any]
    check: Callable[[Any], ft.Outcome]
    sentinel: Callable[[], None] | None = None


@contextlib.contextmanager
def _targets() -> Iterator[list[_Target]]:
    with ft.StationTarget() as station, ft.IngestTarget() as ingest, ft.BridgeTarget() as bridge:
        yield [
            _Target("decode", fs.payloads(), ft.check_decode),
            _Target("station", fs.payloads(SUBSCRIBED_KINDS), station.feed, station.sentinel),
            _Target("bridge-ingest", fs.payloads((TopicKind.EVENT,)), ingest.feed, ingest.sentinel),
            _Target("bridge-state", fs.payloads(_BRIDGE_KINDS), bridge.feed, bridge.sentinel),
            _Target(
                "scanner",
                fs.hid_report_streams(),
                ft.check_hid_stream,
            ),
            _Target(
                "scans",
                st.tuples(fs.barcodes(), st.sampled_from((None, "]C0", "]C1", "]E0", "]d2"))),
                lambda example: ft.check_scan(*example),
            ),
            _Target("zpl", label_fields(), ft.check_label),
        ]


def _chunk(target: _Target, report: TargetReport, chunk_seed: int, examples: int) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,
        verbosity=Verbosity.normal,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    @given(target.strategy)
    def run(example: Any) -> None:
        report.record(target.check(example))

    try:
        hypothesis_seed(chunk_seed)(run)()
    except Exception as error:  # every failure is reported, and the run goes on
        report.fail(error, chunk_seed)
    if target.sentinel is not None:
        try:
            target.sentinel()
        except Exception as error:
            report.fail(error)


def run_fuzz(minutes: float, *, seed: int | None = None, chunk: int = _CHUNK) -> FuzzReport:
    """Fuzz every target round robin for ``minutes`` (at least one chunk each); see the module."""
    run_seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
    chunk_seeds = random.Random(run_seed)
    started = time.monotonic()
    deadline = started + minutes * 60
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)  # every rejection logs a warning; the report counts them
    try:
        with _targets() as targets:
            reports = [TargetReport(target.name) for target in targets]
            first = True
            while first or time.monotonic() < deadline:
                first = False
                for target, report in zip(targets, reports, strict=True):
                    _chunk(target, report, chunk_seeds.randrange(2**32), chunk)
                    if time.monotonic() >= deadline:
                        break
    finally:
        logging.disable(previous)
    return FuzzReport(run_seed, time.monotonic() - started, reports)


def api_target_report(result: dict[str, Any]) -> TargetReport:
    """`firmware_sim.fuzz.api.run_api_fuzz`'s answer as one more target of the report.

    Requests are what was tried; refused ones (400 and up, each checked to have changed nothing)
    are the rejections, counted by operation; every failure keeps its curl reproducer.
    """
    report = TargetReport("http api")
    report.tried = int(result["requests"])
    report.rejected = int(result["refused"])
    report.accepted = report.tried - report.rejected
    for operation in result["per_operation"]:
        if operation["refused"]:
            report.reasons[f"{operation['operation']} refused"] += int(operation["refused"])
    for failure in result["failures"]:
        report.failures.append(
            {
                "error": f"{failure['operation']}: {failure['error']}",
                "reproducer": str(failure.get("reproducer", failure.get("details", ""))),
            }
        )
    return report
