"""Ingestion jobs and the document library on the real graph.

- A job survives the death of the Ingester replica running it (SIGKILL): another replica
  takes it over and it ends with every document stored exactly once, none ever half
  visible.
- A 2 MB document and a 300-page PDF (through ``python -m graph.ingest``) ingest as jobs
  with progress.
- Documents are listed, replaced and deleted, and a cached answer is never served once
  the documents under it changed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from pymilvus import MilvusClient

from deployments.common.chunking import Chunker
from deployments.common.encoders.checkpoint import packaged_model_dir
from deployments.common.ids import chunk_version
from deployments.common.store.expr import field_in
from deployments.types import Document
from graph.readers import read_file
from loadtests.chaos import deployments, running
from tests.support.pdfs import write_pdf

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHUNKS = "rag_chunks"
WORDS = "granite basalt schist moraine glacier fjord tundra lichen cirque esker".split()


@pytest.fixture(scope="module")
def chunker() -> Chunker:
    """The graph's chunker with the shipped settings: what a clean run stores."""
    from transformers import AutoTokenizer

    tokenize = AutoTokenizer.from_pretrained(packaged_model_dir()).tokenize
    return Chunker(chunk_size=200, chunk_overlap=30, tokenize=tokenize)


def _text(n: int, sentences: int) -> str:
    return " ".join(
        f"Field note {n}-{i} says the {WORDS[(n + i) % 10]} near camp {n} lies "
        f"{i % 7 + 1} metres from the {WORDS[(3 * n + i) % 10]} of valley {i % 13}."
        for i in range(sentences)
    )


def _rows(client: MilvusClient, collection: str, ids: list[str]) -> list[dict]:
    return client.query(
        collection, filter=field_in("doc_id", ids), output_fields=["chunk_id", "doc_id", "text"]
    )


def _wait_job(url: str, job_id: str, *, until, timeout_s: float = 900) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = httpx.get(f"{url}/v1/ingest/jobs/{job_id}", timeout=30).json()
        if until(job):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} never reached the state asked for: {job}")


def _ended(job: dict) -> bool:
    return job["status"] in ("succeeded", "failed", "cancelled")


class Watcher(threading.Thread):
    """Reads the store while the job runs: every document must show all its chunks or
    none (a query may never see part of one)."""

    def __init__(self, uri: str, expected: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.client = MilvusClient(uri)
        self.expected = expected
        self.done = threading.Event()
        self.partial: list[tuple[str, int]] = []
        self.reads = 0

    def run(self) -> None:
        while not self.done.is_set():
            try:
                rows = _rows(self.client, CHUNKS, list(self.expected))
            except Exception:  # noqa: BLE001 - a read racing the kill may fail; try again
                time.sleep(0.2)
                continue
            self.reads += 1
            for doc_id, count in Counter(r["doc_id"] for r in rows).items():
                if count != self.expected[doc_id]:
                    self.partial.append((doc_id, count))
            time.sleep(0.2)


def test_a_job_survives_its_ingester_being_killed_exactly_once(graph, chunker) -> None:
    docs = [
        {"id": f"job-kill-{n:02d}", "title": f"Camp {n}", "text": _text(n, 70),
         "metadata": {"batch": "kill", "n": n}}
        for n in range(36)
    ]  # fmt: skip
    expected = {
        d["id"]: [c.text for c in chunker.split(Document(d["id"], d["text"], d["title"]))]
        for d in docs
    }
    reply = httpx.post(graph.url + "/v1/ingest/jobs", json={"documents": docs}, timeout=120)
    assert reply.status_code == 202, reply.text
    job = reply.json()
    assert reply.headers["location"] == f"/v1/ingest/jobs/{job['job_id']}"
    assert job["status"] == "queued" and job["documents"]["total"] == 36

    watcher = Watcher(graph.milvus_uri, {k: len(v) for k, v in expected.items()})
    watcher.start()
    # Kill the replica running it once two batches (of 4 documents) are counted.
    running_job = _wait_job(graph.url, job["job_id"], until=lambda j: j["documents"]["done"] >= 8)
    assert running_job["status"] == "running", running_job
    (victim,) = running(deployments(graph.dashboard)["Ingester"])
    os.kill(int(victim["pid"]), signal.SIGKILL)

    final = _wait_job(graph.url, job["job_id"], until=_ended)
    watcher.done.set()
    watcher.join(10)
    assert final["status"] == "succeeded", final
    assert final["attempts"] >= 2  # taken over after the kill
    assert final["documents"] == {"total": 36, "done": 36, "skipped": 0, "failed": 0}
    assert final["chunks"] == sum(len(v) for v in expected.values())
    assert final["progress"] == 1.0 and final["errors"] == []

    client = MilvusClient(graph.milvus_uri)
    rows = sorted(_rows(client, CHUNKS, list(expected)), key=lambda r: r["chunk_id"])
    tokens = sorted(r["chunk_id"] for r in _rows(client, f"{CHUNKS}_tokens", list(expected)))
    for doc_id, texts in expected.items():  # none missing, none twice, one version
        mine = [r for r in rows if r["doc_id"] == doc_id]
        assert [r["text"] for r in mine] == texts, doc_id
        assert len({chunk_version(r["chunk_id"], doc_id) for r in mine}) == 1
    assert tokens == [r["chunk_id"] for r in rows]
    assert watcher.reads > 5 and watcher.partial == []

    # The library lists them; a metadata filter finds exactly one.
    listed = httpx.get(graph.url + "/v1/documents/job-kill-07").json()
    assert (listed["chunks"], listed["metadata"]) == (
        len(expected["job-kill-07"]),
        docs[7]["metadata"],
    )
    search = httpx.post(
        graph.url + "/v1/search",
        json={"query": "field note glacier camp", "filter": {"batch": "kill", "n": 7}},
        timeout=120,
    ).json()
    assert {c["doc_id"] for c in search["citations"]} == {"job-kill-07"}


def test_a_2mb_document_and_a_300_page_pdf_ingest_as_jobs(graph, chunker, tmp_path) -> None:
    text = _text(999, 22_000)[:2_000_000]
    assert len(text.encode()) >= 2_000_000 - 200
    body = {"documents": [{"id": "two-megabytes", "title": "Survey", "text": text}]}
    reply = httpx.post(graph.url + "/v1/ingest/jobs", json=body, timeout=120)
    assert reply.status_code == 202, reply.text
    seen: list[float] = []

    def progressed(job: dict) -> bool:
        seen.append(job["progress"])
        return _ended(job)

    final = _wait_job(graph.url, reply.json()["job_id"], until=progressed)
    assert final["status"] == "succeeded", final
    chunks = chunker.split(Document("two-megabytes", text, "Survey"))
    assert final["chunks"] == len(chunks) > 1000
    assert any(0 < p < 1 for p in seen) and seen == sorted(seen)  # progress moved forward
    rows = _rows(MilvusClient(graph.milvus_uri), CHUNKS, ["two-megabytes"])
    assert len(rows) == len(chunks)

    pdf = tmp_path / "field_manual.pdf"
    pages = write_pdf(pdf, pages=300)
    cli = subprocess.run(
        [sys.executable, "-m", "graph.ingest", str(pdf), "--url", graph.url, "--ids", "path"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert "stored 1 document(s)" in cli.stdout, cli.stdout
    assert "char" in cli.stderr  # tqdm's bar, in characters of text
    record = httpx.get(graph.url + "/v1/documents/field_manual.pdf").json()
    assert record["metadata"] == {"source": "field_manual.pdf", "format": "pdf", "pages": 300}
    assert record["chunks"] > 10
    # Stored exactly as the reader and the chunker cut it, and the text layer is all there
    # (the sentences are near-duplicates of each other, so a search ranks them arbitrarily).
    read = read_file(pdf)
    assert all(" ".join(page.split()) in " ".join(read.text.split()) for page in pages)
    expected = [c.text for c in chunker.split(Document("field_manual.pdf", read.text, ""))]
    stored = _rows(MilvusClient(graph.milvus_uri), CHUNKS, ["field_manual.pdf"])
    assert [r["text"] for r in sorted(stored, key=lambda r: r["chunk_id"])] == expected
    found = httpx.post(
        graph.url + "/v1/search",
        json={"query": pages[211].split("\n")[0], "filter": {"format": "pdf"}},
        timeout=120,
    ).json()
    assert {c["doc_id"] for c in found["citations"]} == {"field_manual.pdf"}


def test_the_library_replaces_and_deletes_and_the_cache_follows(graph) -> None:
    url, doc_id = graph.url, "library/aurora — Tromsø"
    path = f"{url}/v1/documents/{quote(doc_id, safe='')}"
    old = "The aurora over Tromsø glows green when solar wind strikes oxygen high up."
    new = "The aurora over Tromsø glows crimson and violet when nitrogen is struck."
    first = httpx.post(url + "/v1/documents", json={"documents": [{"id": doc_id, "text": old}]})
    assert first.status_code == 200, first.text
    question = {"query": "What colour does the aurora over Tromsø glow?", "top_k": 3}

    def ask() -> dict:
        reply = httpx.post(url + "/v1/query", json=question, timeout=120)
        assert reply.status_code == 200, reply.text
        return reply.json()

    ask()
    assert ask()["cached"] is True
    before = httpx.get(path).json()

    replaced = httpx.put(path, json={"text": new, "title": "Aurora"}, timeout=120)
    assert replaced.json() == {"id": doc_id, "status": "replaced", "chunks": 1}
    again = httpx.put(path, json={"text": new, "title": "Aurora"}, timeout=120)
    assert again.json()["status"] == "unchanged"
    after = ask()
    assert after["cached"] is False  # the corpus changed under the cached answer
    texts = [c["text"] for c in after["citations"] if c["doc_id"] == doc_id]
    assert texts == [new]
    record = httpx.get(path).json()
    assert record["version"] > before["version"] and record["title"] == "Aurora"

    deleted = httpx.delete(path)
    assert deleted.json() == {"id": doc_id, "deleted": True, "chunks": 1}
    assert httpx.get(path).status_code == 404
    assert httpx.delete(path).status_code == 404
    gone = ask()
    assert gone["cached"] is False
    assert all(c["doc_id"] != doc_id for c in gone["citations"])

    # Paging walks the whole library once, in id order.
    seen, after_id = [], None
    while True:
        params = {"limit": 3, **({"after": after_id} if after_id else {})}
        page = httpx.get(url + "/v1/documents", params=params).json()
        seen.extend(d["id"] for d in page["documents"])
        after_id = page["next_after"]
        if after_id is None:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == page["total"]
