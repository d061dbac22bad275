"""Forwarding one request into the graph under its deadline and the edge's admission.

The deadline is ``X-Request-Timeout`` (seconds) or the configured default. The query is
admitted, degraded or shed by :class:`~deployments.ingress.admission.Admission`; once
admitted, the call carries the absolute deadline down the graph and is cancelled (with
every stage call it made) when the deadline passes or the client disconnects.
:func:`forward_stream` does the same for a streaming call: failures before its first item
are the reply's status (and a dead replica is retried), later ones end the stream.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request

from deployments.calls import call_stage, reading_stream
from deployments.common.streams import bounded
from deployments.errors import (
    DeadlineExceededError,
    InvalidRequestError,
    OverloadedError,
    StageUnavailableError,
)
from deployments.ingress.admission import Admission
from deployments.ingress.config import AdmissionConfig
from deployments.metrics import record_admission
from deployments.types import FULL_PLAN, Plan

T = TypeVar("T")
DEADLINE_HEADER = "X-Request-Timeout"
# The supervisor's own deadline fires first and answers with what went wrong; the
# edge's, a little later, only catches a request stuck before the supervisor ran it.
GRACE_S = 0.5


def deadline_budget(header: str | None, cfg: AdmissionConfig) -> float:
    """Seconds the request may take: its ``X-Request-Timeout`` header, or the default.

    >>> deadline_budget(None, AdmissionConfig()), deadline_budget("2.5", AdmissionConfig())
    (30.0, 2.5)
    >>> deadline_budget("soon", AdmissionConfig())
    Traceback (most recent call last):
    ...
    deployments.errors.InvalidRequestError: X-Request-Timeout must be a number of seconds ...
    """
    if header is None:
        return cfg.default_deadline_s
    try:
        seconds = float(header)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= cfg.max_deadline_s:  # also refuses nan
        raise InvalidRequestError(
            f"{DEADLINE_HEADER} must be a number of seconds above 0 and at most "
            f"{cfg.max_deadline_s:g} (got {header[:40]!r}); omit it for the default "
            f"{cfg.default_deadline_s:g}s",
            param=DEADLINE_HEADER,
        )
    return seconds


async def forward(
    request: Request,
    route: str,
    call: Callable[[float, Plan], Awaitable[T]],
    *,
    stage: str = "Supervisor",
    admit: bool = True,
) -> T:
    """Admit ``request`` and run ``call(deadline, plan)`` within its deadline.

    Args:
        request: The HTTP request (its app holds the config and the admission books).
        route: Which books to keep (``query``, ``search``, ``ingest``).
        call: Sends the request to a stage given the absolute deadline (``time.time()``
            seconds) and the plan it was admitted under.
        stage: The callee, for error messages.
        admit: Keep admission books (queries); False runs ``call`` under the deadline
            only, with the full plan (ingestion, bounded by its own size limit).

    Raises:
        OverloadedError: Shed; even the cheapest plan would miss the objective/deadline.
        DeadlineExceededError: Admitted, but no answer before the deadline.
    """
    budget, deadline = _deadline(request)
    if not admit:
        return await _within(call_stage(lambda: call(deadline, FULL_PLAN), stage=stage), budget)
    books: Admission = request.app.state.admission
    plan = _admit(books, route, budget)
    ticket = books.start(route, plan)
    measured = False
    try:
        result = await _within(call_stage(lambda: call(deadline, plan), stage=stage), budget)
        # A cached answer says nothing about what the graph can carry: learning from it
        # would set the latency "alone" (and so the objective) to a cache lookup's.
        measured = not getattr(result, "cached", False)
        return result
    finally:
        books.done(ticket, measured=measured)


async def forward_stream(
    request: Request,
    route: str,
    start: Callable[[float, Plan], Any],
    *,
    stage: str = "Supervisor",
) -> AsyncIterator[Any]:
    """Admit ``request`` and open ``start(deadline, plan)``'s stream (a Serve
    ``DeploymentResponseGenerator``) within its deadline.

    Returns once the first item has arrived, with an iterator over every item: failures
    before it raise here (and become the reply's status); a replica that died before it
    is retried like any stage call. Later failures (the deadline included) are raised by
    the iterator, whose end, failure or abandonment (the client went away) cancels the
    stream and gives the admission ticket back.

    Raises:
        OverloadedError: Shed.
        DeadlineExceededError: No first item before the deadline.
    """
    books: Admission = request.app.state.admission
    budget, deadline = _deadline(request)
    plan = _admit(books, route, budget)
    ticket = books.start(route, plan)
    returned = [False]

    def give_back(measured: bool) -> None:
        if not returned[0]:
            returned[0] = True
            books.done(ticket, measured=measured)

    async def first() -> tuple[Any, Any]:
        source = start(deadline, plan)
        try:
            return source, await source.__anext__()
        except StopAsyncIteration:
            raise StageUnavailableError(f"the {stage} stage ended its stream empty") from None
        except BaseException:
            source.cancel()
            raise

    try:
        source, head = await _within(call_stage(first, stage=stage), budget)
    except BaseException:
        give_back(False)
        raise

    async def items() -> AsyncIterator[Any]:
        finished = False
        try:
            async with reading_stream(source, stage):
                yield head
                remaining = deadline + GRACE_S - time.time()
                async for item in bounded(source, remaining, functools.partial(_late, budget)):
                    yield item
            finished = True
        finally:
            give_back(finished)

    stream = items()
    weakref.finalize(stream, give_back, False)  # never iterated: the ticket still returns
    return stream


def _deadline(request: Request) -> tuple[float, float]:
    """(seconds the request may take, its absolute deadline as ``time.time()``)."""
    cfg: AdmissionConfig = request.app.state.config.admission
    budget = deadline_budget(request.headers.get(DEADLINE_HEADER), cfg)
    return budget, time.time() + budget


def _admit(books: Admission, route: str, budget: float) -> Plan:
    """The plan ``route``'s query is admitted under (counted in metrics), or shed."""
    decision = books.decide(route, budget)
    if decision.plan is None:
        record_admission(route, "shed")
        raise OverloadedError(
            f"the graph is at capacity: this {route} would take about "
            f"{decision.estimate_s:.1f}s, beyond the {min(budget, books.objective_s(route)):.1f}s "
            "it may take; retry after the Retry-After delay",
            retry_after_s=decision.retry_after_s,
        )
    record_admission(route, "degraded" if decision.plan.degraded else "full")
    return decision.plan


def _late(budget: float) -> DeadlineExceededError:
    return DeadlineExceededError(
        f"no answer within the request's deadline of {budget:g}s; its work was cancelled "
        f"(set {DEADLINE_HEADER} for a longer one)"
    )


async def _within(work: Awaitable[T], budget: float) -> T:
    try:
        return await asyncio.wait_for(work, budget + GRACE_S)
    except TimeoutError as exc:
        raise _late(budget) from exc
