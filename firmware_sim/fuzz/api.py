"""The bridge's HTTP API fuzzed against its own OpenAPI document with schemathesis.

Every operation of the document is called in-process (ASGI) with an admin token on a seeded
database (`firmware_sim.fuzz.api_world`), with valid and invalid requests, and every answer must
be no 5xx, a documented status code, the documented content type and a body matching the
documented schema. A request that is refused (any status from 400 up) must leave the database
exactly as it was: the API promises one transaction per request, so nothing half-applies.
Generated path parameters, query parameters and body fields whose names the world knows are
mostly replaced by the id of a seeded row, so requests reach the code behind the 404.

`check_case` is the check per request, shared by the pytest suite and by `run_api_fuzz`, the
time-boxed run behind ``packline fuzz``.
"""

from __future__ import annotations

import difflib
import logging
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode, HookContext, Response
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from firmware_sim.fuzz.api_world import KNOWN, ApiWorld, api_world, openapi_document

__all__ = [
    "API_CHECKS",
    "AnyCase",
    "HalfAppliedError",
    "api_schema",
    "check_case",
    "run_api_fuzz",
]

_not_a_server_error: Callable[..., Any] = schemathesis.checks.not_a_server_error

API_CHECKS = (
    _not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
)
"""No 5xx; a documented status; the documented content type; a body matching its schema."""

AnyCase = Case[Any]
Operation = APIOperation[Any, Any, Any, Any]

_CHUNK = 10
_DIFF_LINES = 12


class HalfAppliedError(AssertionError):
    """A refused request changed the database; the message shows the rows that changed."""


def api_schema() -> BaseSchema:
    """The API's OpenAPI document as a schemathesis schema, steered towards the seeded rows.

    Built from the document alone, so a test module can parametrize over it at import; each
    request is sent to the world's app by `check_case`.
    """
    schema = schemathesis.openapi.from_dict(openapi_document())

    def steered(values: Mapping[str, Any] | None) -> st.SearchStrategy[Any]:
        return _steer(values, KNOWN) if values else st.just(values)

    schema.hook("flatmap_path_parameters")(lambda _context, values: steered(values))
    schema.hook("flatmap_query")(lambda _context, values: steered(values))
    schema.hook("flatmap_body")(lambda context, body: _steer(body, KNOWN, _new_row_keys(context)))
    return schema


_NEW_ROW_KEYS: Mapping[str, frozenset[str]] = {
    "POST /orders": frozenset({"order_no"}),
    "POST /debtors": frozenset({"debtor_no"}),
    "POST /products": frozenset({"sku"}),
}
"""Body fields that name the row a request creates: a known value there is only a conflict."""

_UNIQUE_IN_A_LIST = frozenset({"line_id"})
"""Fields that must differ between the items of one list; only the first item is steered."""


def _new_row_keys(context: HookContext) -> frozenset[str]:
    operation = context.operation
    return _NEW_ROW_KEYS.get(operation.label, frozenset()) if operation else frozenset()


def _steer(
    value: Any, known: Mapping[str, tuple[Any, ...]], left: frozenset[str] = frozenset()
) -> st.SearchStrategy[Any]:
    """``value`` as generated, with each field the world knows (but those in ``left``) mostly
    set to a known id, and integers written as ``2.0`` mostly written as ``2``."""
    if isinstance(value, dict):
        fields = {}
        for key, item in value.items():
            inner = _steer(item, known)
            if key in known and key not in left:
                inner = _often(st.sampled_from(known[key]).map(_as_json), inner)
            fields[key] = inner
        return st.fixed_dictionaries(fields)
    if isinstance(value, list):
        items = [
            _steer(item, known, _UNIQUE_IN_A_LIST if index else frozenset())
            for index, item in enumerate(value)
        ]
        return st.tuples(*items).map(list)
    if isinstance(value, float) and value.is_integer():
        # JSON Schema's integer admits 2.0; the API's strict integers refuse it with a 422,
        # which would hide everything behind that field.
        return _often(st.just(int(value)), st.just(value))
    return st.just(value)


def _as_json(value: Any) -> Any:
    """A known value as a request carries it: a tuple as a new list, never a shared one."""
    return list(value) if isinstance(value, tuple) else value


def _often(
    likely: st.SearchStrategy[Any], otherwise: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """``likely`` about three times in four (and what shrinking goes to): a request must name
    several known rows to get past 404."""
    return st.integers(0, 3).flatmap(lambda roll: otherwise if roll == 3 else likely)


def check_case(world: ApiWorld, case: AnyCase) -> Response:
    """Send ``case`` as the admin and check the answer; see the module for what is checked.

    Raises `HalfAppliedError` when a refused request changed the database, and schemathesis's
    ``FailureGroup`` when the answer breaks a check.
    """
    before = world.dump()
    response = case.call(app=world.app, headers=world.headers)
    if response.status_code >= 400:
        after = world.dump()
        if after != before:
            raise HalfAppliedError(_half_applied(case, response, before, after))
    case.validate_response(response, checks=list(API_CHECKS), headers=world.headers)
    return response


def _half_applied(case: AnyCase, response: Response, before: list[str], after: list[str]) -> str:
    changes = [
        line
        for line in difflib.unified_diff(before, after, "before", "after", lineterm="", n=0)
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    shown = "\n".join(changes[:_DIFF_LINES])
    more = f"\n... and {len(changes) - _DIFF_LINES} more" if len(changes) > _DIFF_LINES else ""
    return (
        f"{case.operation.label} answered {response.status_code} but changed the database; "
        f"a refused request must change nothing:\n{shown}{more}"
    )


@dataclass
class _OperationReport:
    label: str
    requests: int = 0
    refused: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)

    def fail(
        self, error: BaseException, case: AnyCase | None, headers: dict[str, str], chunk_seed: int
    ) -> None:
        message = _summary(error)
        if any(failure["error"] == message for failure in self.failures):
            return
        reproducer = (
            case.as_curl_command(headers=headers) if case is not None else "(no request was sent)"
        )
        self.failures.append(
            {
                "error": message,
                "details": str(error),
                "reproducer": f"{reproducer}\n(chunk seed {chunk_seed})",
            }
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "operation": self.label,
            "requests": self.requests,
            "refused": self.refused,
            "failures": self.failures,
        }


def _summary(error: BaseException) -> str:
    """One line naming what failed: each check's code and title, or the error's first line."""
    if isinstance(error, FailureGroup):
        return "; ".join(f"{failure.code} {failure.title}" for failure in error.exceptions)
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"


def run_api_fuzz(minutes: float, seed: int | None) -> dict[str, Any]:
    """Fuzz every API operation round robin for ``minutes`` (at least one chunk each).

    The answer counts what was tried: ``operations``, ``requests``, ``refused`` (answers of 400
    and up, each checked to have changed nothing) and ``failures``, each with the operation, the
    error, and a reproducer (the request as a curl command and the chunk's seed). The run's
    ``seed`` repeats it.
    """
    run_seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
    chunk_seeds = random.Random(run_seed)
    started = time.monotonic()
    deadline = started + minutes * 60
    schema = api_schema()
    operations = _operations(schema)
    reports = [_OperationReport(operation.label) for operation in operations]
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)  # refused requests log warnings; the report counts them
    try:
        first = True
        while first or time.monotonic() < deadline:
            # A fresh world each round: cancelled orders and corrected shipments stay reachable.
            with _world() as world:
                for operation, report in zip(operations, reports, strict=True):
                    _chunk(world, operation, report, chunk_seeds.randrange(2**32))
                    if not first and time.monotonic() >= deadline:
                        break
            first = False
    finally:
        logging.disable(previous)
    failures = [
        {"operation": report.label, **failure} for report in reports for failure in report.failures
    ]
    return {
        "seed": run_seed,
        "seconds": round(time.monotonic() - started, 2),
        "operations": len(operations),
        "requests": sum(report.requests for report in reports),
        "refused": sum(report.refused for report in reports),
        "failures": failures,
        "per_operation": [report.as_dict() for report in reports],
    }


def _operations(schema: BaseSchema) -> list[Operation]:
    """Every operation of the document; one the document cannot describe fails the run."""
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operations.append(result.ok())
    return operations


@contextmanager
def _world() -> Iterator[ApiWorld]:
    with (
        tempfile.TemporaryDirectory(prefix="packline-api-fuzz-") as directory,
        api_world(Path(directory)) as world,
    ):
        yield world


def _chunk(world: ApiWorld, operation: Operation, report: _OperationReport, seed: int) -> None:
    """One short Hypothesis run of ``operation``, valid and invalid requests mixed."""
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    last: list[AnyCase] = []

    @settings(
        max_examples=_CHUNK,
        deadline=None,
        database=None,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(case: AnyCase) -> None:
        last[:] = [case]
        report.requests += 1
        response = check_case(world, case)
        if response.status_code >= 400:
            report.refused += 1

    try:
        hypothesis_seed(seed)(run)()
    except (Exception, FailureGroup) as error:  # every failure is reported, and the run goes on
        report.fail(error, last[0] if last else None, world.headers, seed)
