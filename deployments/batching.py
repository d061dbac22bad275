"""Dynamic batching that also runs outside Ray Serve.

Inside a replica, :func:`batched` is ``serve.batch``: concurrent calls are grouped and the
body runs once per group. Outside Serve (the evaluation harness, the benchmark's
in-process runs, unit tests) ``serve.batch`` cannot run, since it needs a replica context,
so each call runs the same body as a batch of one. Either way the deployment's own
methods are the code path, which is what makes the harness measure what is served.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any


def in_replica() -> bool:
    """True inside a Ray Serve replica."""
    from ray import serve
    from ray.serve.exceptions import RayServeException

    try:
        serve.get_replica_context()
    except RayServeException:
        return False
    return True


def batched(
    body: Callable[..., Awaitable[list[Any]]],
    *,
    max_batch_size: int,
    batch_wait_timeout_s: float,
) -> Callable[..., Awaitable[Any]]:
    """``body`` (lists in, one result per element out) as a per-call function.

    Example:
        >>> import asyncio
        >>> async def double(xs): return [2 * x for x in xs]
        >>> one = batched(double, max_batch_size=8, batch_wait_timeout_s=0.01)
        >>> asyncio.run(one(21))  # outside Serve: a batch of one
        42
    """
    if in_replica():
        from ray import serve

        return serve.batch(
            max_batch_size=max_batch_size, batch_wait_timeout_s=batch_wait_timeout_s
        )(body)

    async def one_at_a_time(*args: Any) -> Any:
        (result,) = await body(*[[arg] for arg in args])
        return result

    return one_at_a_time
