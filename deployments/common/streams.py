"""Async streams under a deadline (pure asyncio).

``asyncio.timeout`` cannot guard an async generator that yields (the timeout would fire in
whatever its consumer is doing), and ``asyncio.wait_for(anext(...))`` on Python 3.11 runs
each step in a new task (context variables set by the source, as LangGraph's runner sets
them, would not survive from one step to the next). :func:`bounded` instead drains the
source in one task of its own and hands the items over through a queue.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

T = TypeVar("T")
_END = object()


async def bounded(
    source: AsyncIterator[T],
    budget_s: float,
    on_timeout: Callable[[], BaseException],
) -> AsyncIterator[T]:
    """Yield ``source``'s items until it ends, raising ``on_timeout()`` once ``budget_s``
    seconds have passed; the source is cancelled when the budget runs out, when it fails,
    or when the consumer stops early.

    >>> async def ticks(n, pause):
    ...     for i in range(n):
    ...         await asyncio.sleep(pause)
    ...         yield i
    >>> async def take(stream):
    ...     return [i async for i in stream]
    >>> asyncio.run(take(bounded(ticks(3, 0), 5, lambda: TimeoutError("late"))))
    [0, 1, 2]
    >>> asyncio.run(take(bounded(ticks(3, 10), 0.05, lambda: TimeoutError("late"))))
    Traceback (most recent call last):
    ...
    TimeoutError: late
    """
    queue: asyncio.Queue = asyncio.Queue()  # unbounded: a token stream is slower than its reader

    async def drain() -> None:
        try:
            async for item in source:
                await queue.put(item)
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()

    task = asyncio.create_task(drain())
    task.add_done_callback(lambda _: queue.put_nowait(_END))
    end = time.monotonic() + budget_s
    try:
        while True:
            remaining = end - time.monotonic()
            try:
                item = await asyncio.wait_for(queue.get(), max(remaining, 0.0))
            except TimeoutError:
                raise on_timeout() from None
            if item is _END:
                if not task.cancelled():
                    task.result()  # the source's own failure, if any
                return
            yield item
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
