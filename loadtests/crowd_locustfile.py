"""Locust users for the overload run (``python -m loadtests.overload``): a crowd asking.

Each :class:`CrowdUser` asks a question from ``graph/sample_corpus`` (``/v1/query``),
reads the answer for ``RAG_CROWD_THINK_MIN``..``RAG_CROWD_THINK_MAX`` seconds (default
1..5), and asks again. A shed (503) or rate-limited (429) reply is what a well-behaved
client gets under overload: the user waits the reply's ``Retry-After`` (times a random
0.5..1.5, so a crowd does not come back in step) and asks again.

Every reply is recorded by outcome (``full``, ``degraded``, ``shed``, ``limited``,
``error``, ``timeout``) with its latency; at exit the records go to the JSON file named by
``RAG_CROWD_OUT``, which :mod:`loadtests.overload` summarises. Locust's own statistics
name the requests ``/v1/query <outcome>``.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path

from locust import HttpUser, events, task

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from loadtests.workload import pick_query, reply_outcome  # noqa: E402 - needs sys.path above

THINK = (
    float(os.environ.get("RAG_CROWD_THINK_MIN", "1")),
    float(os.environ.get("RAG_CROWD_THINK_MAX", "5")),
)
TIMEOUT_S = float(os.environ.get("RAG_CROWD_TIMEOUT_S", "60"))
OUT = os.environ.get("RAG_CROWD_OUT")
# (outcome, latency ms at the client, finished at, the Supervisor's own total ms or None)
RECORDS: list[tuple[str, float, float, float | None]] = []


class CrowdUser(HttpUser):
    """One person asking questions, backing off as the graph tells it to."""

    def on_start(self) -> None:
        self.rng = random.Random()
        self.pause = 0.0

    def wait_time(self) -> float:
        pause, self.pause = self.pause, 0.0
        return pause or self.rng.uniform(*THINK)

    @task
    def ask(self) -> None:
        query = pick_query(self.rng, 0.3)
        with self.client.post(
            "/v1/query",
            json={"query": query.text, "top_k": 5},
            timeout=TIMEOUT_S,
            catch_response=True,
        ) as response:
            outcome, body = reply_outcome(response.status_code, response.text or "")
            inside = body.get("timings_ms", {}).get("total") if isinstance(body, dict) else None
            RECORDS.append((outcome, response.request_meta["response_time"], time.time(), inside))
            response.request_meta["name"] = f"/v1/query {outcome}"
            if outcome in ("shed", "limited"):
                retry_after = float(response.headers.get("Retry-After") or 1)
                self.pause = retry_after * self.rng.uniform(0.5, 1.5)
                response.success()
            elif outcome in ("full", "degraded"):
                response.success()
            else:
                response.failure(f"HTTP {response.status_code}: {str(body)[:200]}")


@events.quitting.add_listener
def _write_records(environment, **_kwargs) -> None:
    if OUT:
        Path(OUT).write_text(json.dumps(RECORDS), encoding="utf-8")
