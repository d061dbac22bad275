"""Kill the whole graph (SIGKILL to every process: Ray, the Ingester, the Milvus Lite
server) in the middle of ingesting one large document, start it again on the same data,
ingest again: the store holds exactly the chunks a clean run writes.

Named to sort before test_graph_e2e.py: its two graphs run, one after the other, before
the session's shared graph starts, so two graphs never share this machine's cores.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from pymilvus import MilvusClient

from deployments.common.chunking import Chunker
from deployments.common.encoders.checkpoint import packaged_model_dir
from deployments.common.extractive import split_sentences
from deployments.common.ids import chunk_version
from deployments.common.store.expr import field_in
from deployments.common.store.lite import free_port
from deployments.types import Document
from graph.serve_process import graph_process, kill, write_serve_config

pytestmark = pytest.mark.e2e

DOC_ID = 'Crash test: Zürich\'s "large" report'
TITLE = "Glacier survey"
SENTENCES = [
    f"Survey note {i} records that glacier {i % 17} retreated {i % 9 + 1} metres near "
    f"station {i % 23}, where the moraine holds boulders of granite and schist."
    for i in range(450)  # ~59k characters: under the 64k a request may carry
]
TEXT = " ".join(SENTENCES)
CHUNKS_COLLECTION = "rag_chunks"


def _expected_chunks() -> list[str]:
    """The chunk texts a clean run stores: the graph's own chunker, shipped settings."""
    from transformers import AutoTokenizer

    tokenize = AutoTokenizer.from_pretrained(packaged_model_dir()).tokenize
    chunker = Chunker(chunk_size=200, chunk_overlap=30, tokenize=tokenize)
    return [c.text for c in chunker.split(Document(DOC_ID, TEXT, TITLE))]


def _rows(client: MilvusClient, collection: str, fields: list[str]) -> list[dict]:
    rows = client.query(collection, filter=field_in("doc_id", [DOC_ID]), output_fields=fields)
    return sorted(rows, key=lambda r: r["chunk_id"])


def test_a_killed_ingestion_rerun_leaves_what_a_clean_run_leaves(tmp_path: Path) -> None:
    expected = _expected_chunks()
    assert len(expected) > 40  # long enough to be caught in the middle
    milvus_port = free_port()
    config = write_serve_config(
        tmp_path / "serve_config.yaml",
        port=(port := free_port()),
        args={
            "milvus": {
                "uri": f"http://127.0.0.1:{milvus_port}",
                "lite": {"data_dir": str(tmp_path / "milvus")},
            },
            "generator": {"mode": "extractive"},
            "ingester": {"encode_batch": 8},  # token vectors written every 8 chunks
        },
    )
    body = {"documents": [{"id": DOC_ID, "title": TITLE, "text": TEXT}]}

    # 1. Start ingesting, and kill everything once some token vectors are written.
    with graph_process(config, port=port, log=tmp_path / "serve.1.log") as (url, proc):
        sender = threading.Thread(target=_post_ignoring_errors, args=(url, body), daemon=True)
        sender.start()
        client = MilvusClient(f"http://127.0.0.1:{milvus_port}")
        written = _wait_for_partial_tokens(client, len(expected))
        kill(proc)
        sender.join(timeout=60)
    assert 0 < written < len(expected)

    # 2. Same data, new graph: nothing of the document is visible, then a re-run stores it.
    with graph_process(config, port=port, log=tmp_path / "serve.2.log") as (url, _):
        client = MilvusClient(f"http://127.0.0.1:{milvus_port}")
        assert _rows(client, CHUNKS_COLLECTION, ["chunk_id"]) == []  # never half-visible
        search = httpx.post(url + "/v1/search", json={"query": "glacier moraine granite"})
        assert search.status_code == 200, search.text
        assert all(c["doc_id"] != DOC_ID for c in search.json()["citations"])

        reply = httpx.post(url + "/v1/documents", json=body, timeout=600)
        assert reply.status_code == 200, reply.text
        assert reply.json() == {
            "stored": 1,
            "skipped": 0,
            "chunks": len(expected),
            "ids": [DOC_ID],
            "replaced": 0,
        }

        chunks = _rows(client, CHUNKS_COLLECTION, ["chunk_id", "text"])
        tokens = _rows(client, f"{CHUNKS_COLLECTION}_tokens", ["chunk_id"])
        assert [r["text"] for r in chunks] == expected  # none missing or twice
        # one version, the re-run's: the killed run's token rows were deleted with it
        assert len({chunk_version(r["chunk_id"], DOC_ID) for r in chunks}) == 1
        assert [r["chunk_id"] for r in tokens] == [r["chunk_id"] for r in chunks]
        total = client.query(CHUNKS_COLLECTION, filter="", output_fields=["count(*)"])
        assert total[0]["count(*)"] == len(expected)
        listed = httpx.get(url + "/v1/documents/" + quote(DOC_ID, safe="")).json()
        assert (listed["id"], listed["chunks"], listed["title"]) == (DOC_ID, len(expected), TITLE)

        # The document answers, and the extractive answer quotes its passages.
        answer = httpx.post(
            url + "/v1/query", json={"query": "Which boulders does the moraine hold?"}
        ).json()
        assert answer["citations"][0]["doc_id"] == DOC_ID
        _assert_quotes_its_citations(answer)


def _post_ignoring_errors(url: str, body: dict) -> None:
    try:
        httpx.post(url + "/v1/documents", json=body, timeout=600)
    except httpx.HTTPError:
        pass  # the graph is killed under it


def _wait_for_partial_tokens(client: MilvusClient, total: int, timeout_s: float = 300) -> int:
    """Token rows written for the document so far, once there are some (but not all)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if client.has_collection(f"{CHUNKS_COLLECTION}_tokens"):
            written = len(_rows(client, f"{CHUNKS_COLLECTION}_tokens", ["chunk_id"]))
            if written:
                return written
        time.sleep(0.2)
    raise AssertionError(f"no token vectors of {total} written in {timeout_s}s")


def _assert_quotes_its_citations(answer: dict) -> None:
    """Every sentence of an extractive answer is copied from the passage it cites."""
    assert answer["generator"] == "extractive"
    parts = re.findall(r"(.+?) \[(\d+)\]", answer["answer"])
    assert parts, answer["answer"]
    for sentence, number in parts:
        passage = answer["citations"][int(number) - 1]["text"]
        assert sentence.strip() in split_sentences(passage) or sentence.strip() in passage
