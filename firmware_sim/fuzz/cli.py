"""`packline fuzz --minutes M [--seed S] [--json]`: the long fuzz run, for a soak or a release."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_fuzz_command"]


def add_fuzz_command(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register `packline fuzz`; Hypothesis is imported only when the command runs."""
    fuzz = subparsers.add_parser(
        "fuzz",
        help="fuzz every message, handler, scan and label for a while and report what it tried",
    )
    fuzz.add_argument(
        "--minutes", type=_positive_minutes, required=True, help="how long to run (e.g. 0.5)"
    )
    fuzz.add_argument("--seed", type=int, default=None, help="repeat the run of this seed")
    fuzz.add_argument("--json", action="store_true", help="print the report as JSON")
    fuzz.set_defaults(handler=_run)


def _positive_minutes(text: str) -> float:
    try:
        minutes = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--minutes {text!r} is not a number") from None
    if not 0 < minutes <= 24 * 60:
        raise argparse.ArgumentTypeError(f"--minutes {text} must be above 0 and at most 1440")
    return minutes


_API_SHARE = 0.3
"""The part of the time given to the HTTP API; the rest goes to messages, scans and labels."""


def _run(args: argparse.Namespace) -> int:
    try:
        from firmware_sim.fuzz.api import run_api_fuzz
        from firmware_sim.fuzz.runner import api_target_report, run_fuzz
    except ImportError as error:
        print(
            f"packline fuzz: {error}; install the dev extras (hypothesis, schemathesis) to fuzz",
            file=sys.stderr,
        )
        return 2
    report = run_fuzz(args.minutes * (1 - _API_SHARE), seed=args.seed)
    api = run_api_fuzz(args.minutes * _API_SHARE, seed=report.seed)
    report.targets.append(api_target_report(api))
    report.seconds += float(api["seconds"])
    print(report.to_json() if args.json else report.to_text(), flush=True)
    return 1 if report.failed else 0
