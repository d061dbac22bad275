"""Latency and throughput summaries, and the graph/baseline ratios (pure functions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def summarize(latencies_ms: Sequence[float], wall_s: float, *, errors: int = 0) -> dict:
    """Requests/s and latency percentiles of one run.

    Args:
        latencies_ms: Latency of each successful request.
        wall_s: Wall-clock time of the whole run (first send to last reply).
        errors: Requests that failed.

    >>> s = summarize([10.0, 20.0, 30.0, 40.0], wall_s=0.1)
    >>> s["requests"], s["rps"], s["p50_ms"]
    (4, 40.0, 25.0)
    """
    lat = np.asarray(latencies_ms, dtype=np.float64)
    pct = np.percentile(lat, [50, 95, 99]) if lat.size else [float("nan")] * 3
    return {
        "requests": int(lat.size),
        "errors": int(errors),
        "wall_s": round(wall_s, 3),
        "rps": round(lat.size / wall_s, 3) if wall_s > 0 else 0.0,
        "p50_ms": round(float(pct[0]), 1),
        "p95_ms": round(float(pct[1]), 1),
        "p99_ms": round(float(pct[2]), 1),
        "mean_ms": round(float(lat.mean()), 1) if lat.size else float("nan"),
    }


def stage_means(timings: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Mean milliseconds per stage over requests (a stage missing from one counts as 0).

    >>> stage_means([{"retrieve": 10.0, "rerank": 4.0}, {"retrieve": 20.0}])
    {'retrieve': 15.0, 'rerank': 2.0}
    """
    keys: dict[str, None] = {}
    for t in timings:
        keys.update(dict.fromkeys(t))
    n = max(len(timings), 1)
    return {k: round(sum(t.get(k, 0.0) for t in timings) / n, 1) for k in keys}


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator`` rounded, or None when either is missing or 0.

    >>> ratio(30.0, 10.0), ratio(1.0, 0.0), ratio(None, 2.0)
    (3.0, None, None)
    """
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 3)


def spread(values_ms: Sequence[float]) -> dict[str, float | None]:
    """p50, p95 and mean of ``values_ms`` (None each when there are none).

    >>> spread([10.0, 20.0, 30.0, 40.0])
    {'p50': 25.0, 'p95': 38.5, 'mean': 25.0}
    >>> spread([])
    {'p50': None, 'p95': None, 'mean': None}
    """
    if not values_ms:
        return {"p50": None, "p95": None, "mean": None}
    s = summarize(values_ms, wall_s=1.0)
    return {"p50": s["p50_ms"], "p95": s["p95_ms"], "mean": s["mean_ms"]}
