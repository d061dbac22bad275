"""Calling another deployment: cancelled with its caller, sent again if its replica died.

Every stage call in the graph is safe to repeat (queries have no side effects; ingestion
upserts whole documents by id, all or nothing), so a call whose replica died mid-way is
sent again after a short pause: to a surviving replica if there is one, else (a stage of
one replica) to the replacement Serve starts, within the request's deadline. A call whose
caller is cancelled (the request's deadline passed, or its HTTP client went away) cancels
the downstream request too, so no stage keeps computing an answer nobody will read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
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


RETRY_PAUSES_S = (0.2, 1.0, 2.0)
"""Pauses before each resend of a call whose replica died: the first lets the router
learn of the death (a survivor takes it), the later ones cover a replacement's start."""


async def call_stage(
    send: Callable[[], Awaitable[T]],
    *,
    stage: str,
    pauses_s: tuple[float, ...] = RETRY_PAUSES_S,
) -> T:
    """Await ``send()`` (a ``handle.method.remote(...)`` call), sending it again when the
    replica died; cancel the downstream request when this task is cancelled (the caller's
    deadline bounds the retries too).

    Args:
        send: Makes the call; invoked again for a retry.
        stage: The callee's name, for error messages and logs.
        pauses_s: Pause before each resend; its length is the number of resends.

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
            if attempt < len(pauses_s) and replica_died(exc):
                logger.warning("a %s replica died mid-call; sending it again: %r", stage, exc)
                await asyncio.sleep(pauses_s[attempt])
                attempt += 1
                continue
            mapped = as_stage_error(exc, stage)
            if mapped is exc:
                raise
            raise mapped from exc


@contextlib.asynccontextmanager
async def reading_stream(source: Any, stage: str) -> AsyncIterator[None]:
    """Around reading a streaming stage call (a ``DeploymentResponseGenerator``): Ray's
    failures become the graph's errors (:func:`as_stage_error`), and the call is cancelled
    (the replica stops its work; vLLM aborts the sequence) when reading ends early: a
    failure, a cancellation, or a reader that went away."""
    finished = False
    try:
        yield
        finished = True
    except Exception as exc:  # noqa: BLE001 - Ray's failures mapped, others re-raised
        mapped = as_stage_error(exc, stage)
        if mapped is exc:
            raise
        raise mapped from exc
    finally:
        if not finished:
            source.cancel()
