"""Token buckets per API key: requests per minute and generated tokens per minute.

Each key has two buckets, each holding at most one minute's budget and refilling
continuously at ``limit / 60`` per second:

* the **request** bucket pays 1 per admitted request; a request needs a full unit;
* the **token** bucket is charged *after* an answer with the tokens it generated, so it
  can go negative; while it is negative the key is refused until it refills to zero.

Both are checked in one :meth:`QuotaBook.admit` (one round trip per request). The wait
it returns is the Retry-After of the refusal: the time until *both* buckets allow the
request, ``max((1 - requests) / rate_r, -tokens / rate_t)``.

Pure code on an explicit clock; the Serve shim (``deployment.py``) holds one book
that every Ingress replica calls.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """One key's budgets; ``None`` is unlimited.

    >>> Limits(60, None).unlimited, Limits().unlimited
    (False, True)
    """

    requests_per_min: float | None = None
    tokens_per_min: float | None = None

    def __post_init__(self) -> None:
        if self.requests_per_min is not None and self.requests_per_min < 1:
            raise ValueError(
                f"requests_per_min={self.requests_per_min!r} admits no request (a request "
                "needs one whole unit); use at least 1, or None for unlimited"
            )
        if self.tokens_per_min is not None and self.tokens_per_min <= 0:
            raise ValueError(
                f"tokens_per_min={self.tokens_per_min!r} must be positive, or None for unlimited"
            )

    @property
    def unlimited(self) -> bool:
        return self.requests_per_min is None and self.tokens_per_min is None


def refill(level: float, per_min: float, elapsed_s: float) -> float:
    """``level`` after ``elapsed_s`` seconds of refilling at ``per_min / 60`` per second,
    capped at one minute's budget.

    >>> refill(0.0, 60, 2.5), refill(-30.0, 600, 1.0), refill(59.0, 60, 10.0)
    (2.5, -20.0, 60.0)
    """
    return float(min(per_min, level + per_min / 60.0 * max(0.0, elapsed_s)))


def wait_s(level: float, need: float, per_min: float) -> float:
    """Seconds until a bucket refilling at ``per_min / 60`` per second holds ``need``.

    >>> wait_s(0.25, 1, 60), wait_s(-100.0, 0, 600), wait_s(3.0, 1, 60)
    (0.75, 10.0, 0.0)
    """
    return max(0.0, (need - level) * 60.0 / per_min)


@dataclass
class _Buckets:
    requests: float  # math.inf while the key has no such limit
    tokens: float
    updated: float
    limits: Limits

    def full(self, now: float) -> bool:
        """Both buckets would be back at their cap by ``now``."""
        elapsed = now - self.updated
        r, t = self.limits.requests_per_min, self.limits.tokens_per_min
        return (r is None or refill(self.requests, r, elapsed) >= r) and (
            t is None or refill(self.tokens, t, elapsed) >= t
        )


class QuotaBook:
    """Every key's buckets.

    Args:
        clock: Seconds, monotonic (tests pass a fake).
        max_tracked_keys: Keys kept at once; past it, keys whose buckets have refilled
            are dropped (a dropped key comes back full, as it was).

    >>> book = QuotaBook(clock=lambda: 0.0)
    >>> [book.admit("k", Limits(requests_per_min=2)) for _ in range(3)]
    [0.0, 0.0, 30.0]
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_tracked_keys: int = 100_000
    ) -> None:
        self._clock = clock
        self._max_keys = max_tracked_keys
        self._keys: dict[str, _Buckets] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def _buckets(self, key_id: str, limits: Limits, now: float) -> _Buckets:
        """The key's buckets, refilled to ``now`` (created full on first sight)."""
        b = self._keys.get(key_id)
        if b is None:
            if len(self._keys) >= self._max_keys:
                self._forget_refilled(now)
            b = self._keys[key_id] = _Buckets(
                float(limits.requests_per_min or math.inf),
                float(limits.tokens_per_min or math.inf),
                now,
                limits,
            )
            return b
        elapsed = now - b.updated
        if limits.requests_per_min is not None:
            b.requests = refill(b.requests, limits.requests_per_min, elapsed)
        if limits.tokens_per_min is not None:
            b.tokens = refill(b.tokens, limits.tokens_per_min, elapsed)
        b.updated, b.limits = max(b.updated, now), limits
        return b

    def admit(self, key_id: str, limits: Limits) -> float:
        """Admit one request of ``key_id``: 0.0 (and the request is paid for), or the
        seconds to wait before retrying (nothing is paid)."""
        if limits.unlimited:
            return 0.0
        b = self._buckets(key_id, limits, self._clock())
        wait = 0.0
        if limits.requests_per_min is not None:
            wait = wait_s(b.requests, 1.0, limits.requests_per_min)
        if limits.tokens_per_min is not None:
            wait = max(wait, wait_s(b.tokens, 0.0, limits.tokens_per_min))
        if wait > 0.0:
            return wait
        if limits.requests_per_min is not None:
            b.requests -= 1.0
        return 0.0

    def charge(self, key_id: str, tokens: int, limits: Limits) -> float:
        """Take ``tokens`` generated for ``key_id`` from its token bucket (it may go
        negative); returns the bucket's level after the charge."""
        if limits.tokens_per_min is None or tokens <= 0:
            return 0.0
        b = self._buckets(key_id, limits, self._clock())
        b.tokens -= tokens
        return b.tokens

    def _forget_refilled(self, now: float) -> None:
        """Drop keys whose buckets have refilled (forgetting them changes nothing); if
        none has, drop the longest idle one (forgiving what it owed)."""
        full = [k for k, b in self._keys.items() if b.full(now)]
        for key in full or [min(self._keys, key=lambda k: self._keys[k].updated)]:
            del self._keys[key]
