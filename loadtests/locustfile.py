"""Locust users for the running graph: query traffic and document ingestion.

- :class:`QueryUser` (weight 10) posts ``/v1/query`` with a mix of simple and complex
  (multi-part or comparative) questions about ``graph/sample_corpus``; the requests are named
  ``/v1/query simple`` and ``/v1/query complex`` so Locust reports them separately. A shed
  (503 ``overloaded``) or rate-limited (429) reply is the graph protecting itself: it is
  reported as ``/v1/query shed`` or ``/v1/query limited``, not as a failure, and the user
  waits its ``Retry-After``. Any other reply that is not a 200 or cites nothing is a
  failure.
- :class:`IngestUser` (weight 1) posts small batches of generated documents to
  ``/v1/documents``; every id starts with ``loadtest-<run token>-`` (see
  :func:`loadtests.workload.make_documents`). A reply whose ``stored + skipped`` differs from
  the batch size is a failure.

Ingest the sample corpus first (``python -m graph.ingest graph/sample_corpus``), then run
``python -m loadtests.locust_run`` (headless, bounded, writes CSV and HTML reports) or Locust
itself: ``locust -f loadtests/locustfile.py --host http://127.0.0.1:8000``.

Environment variables (validated at import; a bad value stops Locust with a message naming
it): ``RAG_LOCUST_WAIT_MIN`` / ``RAG_LOCUST_WAIT_MAX`` (seconds between a user's tasks,
default 0.1 / 0.5), ``RAG_LOCUST_COMPLEX_SHARE`` (default 0.3), ``RAG_LOCUST_TOP_K``
(default 5), ``RAG_LOCUST_INGEST_BATCH`` (default 4), ``RAG_LOCUST_TIMEOUT_S`` (default 120)
and ``RAG_LOCUST_RUN_TOKEN`` (default: random, one per process).
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import sys
from pathlib import Path

from locust import HttpUser, between, task

# Locust imports this file by path, with the working directory and loadtests/ on sys.path;
# run from elsewhere than the repository root, the package would not be importable.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from loadtests.workload import (  # noqa: E402 - needs the sys.path entry above
    check_run_token,
    make_documents,
    new_run_token,
    pick_query,
    reply_outcome,
    settings_from_env,
)

logger = logging.getLogger(__name__)

SETTINGS = settings_from_env(os.environ)
RUN_TOKEN = check_run_token(
    os.environ.get("RAG_LOCUST_RUN_TOKEN") or new_run_token(), "RAG_LOCUST_RUN_TOKEN"
)
logger.info("load-test documents are ingested as loadtest-%s-*", RUN_TOKEN)

#: First sequence number of each ingestion batch, shared by the users of this process.
_batch_starts = itertools.count(0, SETTINGS.ingest_batch)
_request_numbers = itertools.count()


def _error_message(response) -> str:
    """``HTTP <status>: <the error body's message>`` (or the start of the raw body)."""
    if response.status_code == 0:  # Locust's stand-in for a connection error
        return f"no response: {response.error!r}"
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = (response.text or "")[:200]
    return f"HTTP {response.status_code}: {message}"


class _LoadTestUser(HttpUser):
    """What both users share: the configured pause between tasks (or the Retry-After of a
    shed or rate-limited reply, which is waited out) and a random source."""

    abstract = True
    _between = between(SETTINGS.wait_min_s, SETTINGS.wait_max_s)
    pause = 0.0  # the Retry-After to wait before the next task, when one was given

    def on_start(self) -> None:
        self.rng = random.Random()
        self.pause = 0.0

    def wait_time(self) -> float:
        pause, self.pause = self.pause, 0.0
        return pause or self._between(self)


class QueryUser(_LoadTestUser):
    """Asks questions: simple with probability ``1 - RAG_LOCUST_COMPLEX_SHARE``."""

    weight = 10

    @task
    def query(self) -> None:
        """POST /v1/query; fail on a non-200 reply or one without citations."""
        q = pick_query(self.rng, SETTINGS.complex_share)
        with self.client.post(
            "/v1/query",
            json={"query": q.text, "top_k": SETTINGS.top_k},
            headers={"X-Request-ID": f"loadtest-{RUN_TOKEN}-q{next(_request_numbers)}"},
            name=f"/v1/query {q.kind}",
            timeout=SETTINGS.timeout_s,
            catch_response=True,
        ) as response:
            outcome, body = reply_outcome(response.status_code, response.text or "")
            if outcome in ("shed", "limited"):
                # The graph protecting itself: reported as its own request name, not a
                # failure; the user waits the Retry-After it was given.
                response.request_meta["name"] = f"/v1/query {outcome}"
                self.pause = float(response.headers.get("Retry-After") or 1)
                response.success()
                return
            if response.status_code != 200:
                response.failure(_error_message(response))
                return
            try:
                citations = response.json().get("citations")
            except (ValueError, AttributeError):
                response.failure("reply is not a JSON object")
                return
            if not citations:
                response.failure("reply has no citations (is the sample corpus ingested?)")
                return
            response.success()


class IngestUser(_LoadTestUser):
    """Adds small batches of ``loadtest-<run token>-*`` documents."""

    weight = 1

    @task
    def ingest(self) -> None:
        """POST /v1/documents; fail unless every document is stored or skipped."""
        batch = make_documents(
            self.rng, run_token=RUN_TOKEN, start=next(_batch_starts), count=SETTINGS.ingest_batch
        )
        with self.client.post(
            "/v1/documents",
            json={"documents": batch},
            name="/v1/documents",
            timeout=SETTINGS.timeout_s,
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(_error_message(response))
                return
            try:
                body = response.json()
                handled = body["stored"] + body["skipped"]
            except (ValueError, KeyError, TypeError):
                response.failure("reply lacks integer 'stored' and 'skipped'")
                return
            if handled != len(batch):
                response.failure(
                    f"stored + skipped = {handled}, expected {len(batch)} (the batch size)"
                )
                return
            response.success()
