"""Calling another deployment: cancelled with its caller, retried once if its replica died.

Every stage call in the graph is safe to repeat (queries have no side effects; ingestion
upserts whole documents by id, all or nothing), so a call whose replica died mid-way is
sent once more, to another replica if one is up. A call whose caller is cancelled (the
request's deadline passed, or its HTTP client went away) cancels the downstream request
too, so no stage keeps computing an answer nobody will read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from deployments.errors import DeadlineExceededError, OverloadedError, StageUnavailableError

logger = logging.getLogger(__name__)
T = TypeVar("T")


def replica_died(exc: BaseException) -> bool:
    """Whether ``exc`` (or the cause Ray wrapped) says the callee's replica went away.

    >>> replica_died(ValueError("bad input"))
    False
    """
    from ray.exceptions import RayActorError
    from ray.serve.exceptions import ReplicaUnavailableError

    cause = getattr(exc, "cause", None)
    return isinstance(exc, RayActorError | ReplicaUnavailableError) or isinstance(
        cause, RayActorError | ReplicaUnavailableError
    )


def as_stage_error(exc: BaseException, stage: str | None = None) -> BaseException:
    """Ray's own failures as the graph's errors; anything else is returned unchanged.

    A full queue (``BackPressureError``) is :class:`OverloadedError` (503 + Retry-After,
    Ray's own delay when its back-pressure config sets one); a missing deployment or a
    dead or unreachable replica is :class:`StageUnavailableError`; a cancelled request
    (its deadline passed, its client went away) is :class:`DeadlineExceededError`.
    Looks through Ray's ``RayTaskError`` wrapping (``exc.cause``).

    >>> from ray.serve.exceptions import RequestCancelledError
    >>> as_stage_error(RequestCancelledError("r1")).error_type
    'deadline_exceeded'
    >>> as_stage_error(KeyError("x"))
    KeyError('x')
    """
    from ray.serve.exceptions import (
        BackPressureError,
        DeploymentUnavailableError,
        RequestCancelledError,
    )

    what = f"the {stage} stage" if stage else "a stage of the graph"
    for err in (exc, getattr(exc, "cause", None)):
        if isinstance(err, BackPressureError):
            return OverloadedError(
                f"{what}'s queue is full; retry after the Retry-After delay",
                retry_after_s=getattr(err, "retry_after_s", None),
            )
        if isinstance(err, DeploymentUnavailableError):
            return StageUnavailableError(f"{what} is not running; retry shortly")
        if isinstance(err, RequestCancelledError):
            return DeadlineExceededError(
                "the request was cancelled before its answer was ready (its deadline "
                "passed or the client went away); retry, with a longer X-Request-Timeout "
                "if it was too short"
            )
    if replica_died(exc):
        return StageUnavailableError(
            f"a replica of {what} died during this request (it was retried once); retry shortly"
        )
    return exc


async def call_stage(send: Callable[[], Awaitable[T]], *, stage: str, retries: int = 1) -> T:
    """Await ``send()`` (a ``handle.method.remote(...)`` call), retrying it when the
    replica died; cancel the downstream request when this task is cancelled.

    Args:
        send: Makes the call; invoked again for a retry.
        stage: The callee's name, for error messages and logs.
        retries: How many more times a call whose replica died is sent.

    Raises:
        OverloadedError / StageUnavailableError: Ray's back-pressure, a missing
            deployment, or a replica that died on every attempt.
    """
    attempt = 0
    while True:
        response: Any = send()
        try:
            return await response
        except asyncio.CancelledError:
            cancel = getattr(response, "cancel", None)
            if cancel is not None:
                cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - classified below, re-raised otherwise
            if attempt < retries and replica_died(exc):
                attempt += 1
                logger.warning("a %s replica died mid-call; retrying once: %r", stage, exc)
                continue
            mapped = as_stage_error(exc, stage)
            if mapped is exc:
                raise
            raise mapped from exc
