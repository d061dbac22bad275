"""Schemathesis settings shared by the ingress's fuzz tests (in process, and the live graph).

Every check is on (``max_response_time`` with a limit, so it runs too), generation is
deterministic, and the known false positives of schemathesis 4.32.5 are dropped by a
``filter_failure`` hook (see :func:`only_undeclared_headers_negated` and
:func:`negative_part_labelled_positive`), as is the one place the contract departs from
what schemathesis expects of REST (see :data:`CANCELLED_NOT_DELETED`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import jsonschema_rs
import schemathesis
from schemathesis.core.failures import AcceptedNegativeData, Failure
from schemathesis.core.parameters import ParameterLocation
from schemathesis.openapi.checks import RejectedPositiveData, UseAfterFree

SEED = 11
EXAMPLES = 50
"""Generated examples per operation in the fuzzing phase (the examples and coverage
phases add their own)."""
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
"""Statuses that refuse a schema-violating request: schemathesis's defaults plus 413, which
the ingress answers for text over the documents' budget (documented as `maxLength`)."""
ACCEPTANCES = ["2xx", "3xx", "401", "403", "404", "409", "413", "429", "5xx"]
"""Replies to a schema-valid request that are not a refusal of its form: schemathesis's
defaults plus 413, for sizes JSON Schema cannot state (the text of all documents together,
metadata's bytes as JSON): valid, but more than one request may carry."""
NOT_SERVER_ERRORS = ["2xx", "3xx", "4xx", "503", "504"]
"""Replies that are not a bug: 503 (shed under load, a stage down) and 504 (the deadline,
e.g. an ``X-Request-Timeout`` of a microsecond, passed) are the contract's answers, each
documented with its body; a 500 still fails the run."""


def fuzz_config(
    *, max_examples: int = EXAMPLES, max_response_time_s: float, no_coverage: Sequence[str] = ()
) -> Any:
    """A deterministic run of every check; ``max_response_time_s`` bounds each reply.

    Args:
        max_examples: Examples per operation in the fuzzing phase.
        max_response_time_s: The ``max_response_time`` check's limit.
        no_coverage: Paths whose coverage phase is skipped (it enumerates boundary values
            of every keyword: ~3,800 cases for ``POST /v1/documents``, most of them
            ingesting a document when the stages are real).
    """
    return schemathesis.Config.from_dict(
        {
            "operations": [
                {"include-path": path, "phases": {"coverage": {"enabled": False}}}
                for path in no_coverage
            ],
            "seed": SEED,
            # A slow reply fails max_response_time (with its time) rather than timing out.
            "request-timeout": max_response_time_s + 15,
            "generation": {
                "max-examples": max_examples,
                "deterministic": True,
                "database": "none",  # no .hypothesis directory in the work tree
            },
            "checks": {
                "not_a_server_error": {"expected-statuses": NOT_SERVER_ERRORS},
                "negative_data_rejection": {"expected-statuses": [*REJECTIONS, "5xx"]},
                "positive_data_acceptance": {"expected-statuses": ACCEPTANCES},
                "max_response_time": max_response_time_s,
            },
        }
    )


def _as_read(value: Any, schema: dict[str, Any]) -> Any:
    """A header's value as the server reads it: numbers are parsed from their text."""
    if isinstance(value, str) and schema.get("type") in ("number", "integer"):
        try:
            return json.loads(value.strip(" \t"))
        except ValueError:
            return value
    return value


def only_undeclared_headers_negated(case: Any) -> bool:
    """Whether the only invalid part of ``case`` is headers the operation does not declare.

    Schemathesis 4.32.5 adds undeclared headers (``x-schemathesis-unknown-property``) as a
    negative case, and treats their acceptance as fine, but only after validating the
    declared headers *as sent*: the text ``"2.5"`` of the ``type: number`` header
    ``X-Request-Timeout`` fails that, so every such case is reported as "schema-violating
    request accepted". Servers ignore unknown headers by design (HTTP); this reads the
    declared headers as the server does and keeps the failure if any of them is invalid.
    """
    meta = case.meta
    if meta is None:
        return False
    negative = {loc for loc, info in meta.components.items() if info.mode.is_negative}
    if negative != {ParameterLocation.HEADER}:
        return False
    declared = {p.name.lower(): p.definition.get("schema", {}) for p in case.operation.headers}
    sent = case.headers or {}
    if all(name.lower() in declared for name in sent):
        return False
    for name, value in sent.items():
        schema = declared.get(name.lower())
        if schema is not None and not jsonschema_rs.validator_for(schema).is_valid(
            _as_read(value, schema)
        ):
            return False
    return True


def negative_part_labelled_positive(case: Any) -> bool:
    """Whether ``case`` is labelled positive though a part of it was generated negative.

    Schemathesis 4.32.5's coverage phase does this for a header's scenarios (e.g. the null
    value of ``X-Request-Id``) on an operation whose body it fails to build positively (a
    job document's text, ``maxLength: 8000000``): it sends the body ``0`` and holds the
    server's 400 to ``positive_data_acceptance``.
    """
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return False
    return any(info.mode.is_negative for info in meta.components.values())


CANCELLED_NOT_DELETED = "DELETE /v1/ingest/jobs/"
"""``DELETE /v1/ingest/jobs/{job_id}`` cancels the job, which stays readable (cancelled):
not the removal ``use_after_free`` expects of a DELETE."""


def filter_failure(context: Any, failure: Failure, case: Any, response: Any) -> bool:
    """Keep every failure except the false positives of
    :func:`only_undeclared_headers_negated` and :func:`negative_part_labelled_positive`,
    and a cancelled job read after its DELETE (:data:`CANCELLED_NOT_DELETED`)."""
    if isinstance(failure, AcceptedNegativeData) and only_undeclared_headers_negated(case):
        return False
    if isinstance(failure, RejectedPositiveData) and negative_part_labelled_positive(case):
        return False
    return not (
        isinstance(failure, UseAfterFree) and failure.free.startswith(CANCELLED_NOT_DELETED)
    )


def hold_to_contract(schema: Any) -> Any:
    """``schema`` with this module's hooks registered."""
    schema.hook(filter_failure)
    return schema


def run_all_phases(schema: Any) -> tuple[list[str], Counter[str]]:
    """Run ``schema`` through schemathesis's engine, every phase (examples, coverage,
    fuzzing, stateful) as ``schemathesis run`` does, and return a line per failure or error
    and the number of test cases per operation.

    (The live test cannot use ``@schema.parametrize()``: a schema loaded from a fixture,
    ``schemathesis.pytest.from_fixture``, fails under pytest 9 in schemathesis 4.32.5 with
    ``'Function' object has no attribute '_nodeid'``.)
    """
    from schemathesis.engine import Status, events, from_schema

    problems: list[str] = []
    sent: Counter[str] = Counter()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            for node in event.recorder.cases.values():
                sent[node.value.operation.label] += 1
            if event.status not in (Status.FAILURE, Status.ERROR):
                continue
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        problems.append(
                            f"{event.label} [{check.name}] {failure.title}: {failure.message}\n"
                            f"    {check.failure_info.code_sample}"
                        )
        elif isinstance(event, events.NonFatalError):
            problems.append(f"{event.label}: error {event.value!r}")
        elif isinstance(event, events.FatalError):
            problems.append(f"engine: fatal error {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            problems.extend(f"run: {f.title}: {f.message}" for f in event.failures)
    return problems, sent
