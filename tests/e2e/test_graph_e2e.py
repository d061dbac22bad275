"""End to end on real parts: Ray Serve, Milvus Lite (run by the graph as a server), MiniLM,
the ColBERT reranker and a vLLM engine, all started by ``serve run`` from (a copy of)
serve_config.yaml, with the Retriever at two replicas.

The replies prove which stages ran: each citation carries the scores only hybrid search
(an RRF of the dense and BM25 rankings) and the reranker (MaxSim of stored token vectors,
recomputed here) produce, and vLLM's answer is checked token by token against the prompt
built from the cited passages.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time

import httpx
import pytest
import yaml

from deployments.common.codec import decode_tokens
from deployments.common.encoders.config import EmbedderConfig, TokenEncoderConfig
from deployments.common.encoders.passages import load_passage_encoder
from deployments.common.ids import chunk_id, chunk_version
from deployments.common.prompt import build_messages
from deployments.reranker.maxsim import maxsim
from deployments.rewriter.config import RewriterConfig
from deployments.rewriter.core import rewrite
from deployments.types import Hit
from graph.k8s.dashboard import STAGES
from tests.e2e.conftest import RETRIEVER_REPLICAS

pytestmark = pytest.mark.e2e

# Every stage the Grafana dashboard has a row for, plus the local profile's Milvus.
DEPLOYMENTS = {*STAGES, "Milvus"}
RRF_K, FIRST_STAGE_WEIGHT = 60, 0.3  # the shipped retriever.rrf_k and reranker weight

DOCS = [
    {
        "id": "tides",
        "title": "Ocean tides",
        "text": "Tides are the rise and fall of sea levels caused by the gravitational pull of "
        "the Moon and the Sun on the oceans. Most coasts see two high tides a day.",
    },
    {
        "id": "volcano",
        "title": "Volcanoes",
        "text": "A volcano is an opening in the crust through which molten rock, called magma, "
        "erupts as lava together with ash and gases. Basaltic lava flows are runny.",
    },
    {
        "id": "photosynthesis",
        "title": "Photosynthesis",
        "text": "Photosynthesis lets plants turn sunlight, water and carbon dioxide into glucose "
        "and oxygen. It takes place in the chloroplasts, which contain chlorophyll.",
    },
    {
        "title": "Honey bees",
        "text": "Honey bees communicate the direction of flowers with the waggle dance. Worker "
        "bees collect nectar and turn it into honey inside the hive.",
    },
    {
        "id": 'Tucker\'s Island, Bermuda — "Zürich" C:\\notes',
        "title": "Tucker's Island",
        "text": "Tucker's Island is a small island in Bermuda's Great Sound. It served as a "
        "quarantine station for ships in the nineteenth century.",
    },
]


def post(graph, path: str, body) -> httpx.Response:
    return httpx.post(graph.url + path, json=body, timeout=300)


@pytest.fixture(scope="module")
def ingested(graph):
    first = post(graph, "/v1/documents", {"documents": DOCS})
    assert first.status_code == 200, first.text
    return first.json()


@pytest.fixture(scope="module")
def passage_encoder():
    return load_passage_encoder(EmbedderConfig(), TokenEncoderConfig())


def rrf_terms(score: float, *, weights=(1.0, 1.0), depth: int = 60) -> tuple[int, ...] | None:
    """The ranks (k = RRF_K) whose weighted reciprocal ranks sum to ``score``, if any: a
    score only RRF of two rankings produces."""
    for a in range(1, depth + 1):
        if abs(score - weights[0] / (RRF_K + a)) < 1e-6:
            return (a,)
        for b in range(1, depth + 1):
            if abs(score - weights[0] / (RRF_K + a) - weights[1] / (RRF_K + b)) < 1e-6:
                return (a, b)
    return None


def test_all_deployments_run_with_two_retrievers(graph):
    assert httpx.get(graph.url + "/healthz", timeout=30).status_code == 200
    out = subprocess.run(
        [graph.serve_bin, "status", "--address", graph.dashboard],
        # Ray 2.60 clusters require their token; the CLI only sends it in token mode.
        env={**os.environ, "RAY_AUTH_MODE": "token"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    status = yaml.safe_load(out.stdout)
    app = next(a for a in status["applications"].values())
    assert app["status"] == "RUNNING"
    assert set(app["deployments"]) == DEPLOYMENTS
    assert {d["status"] for d in app["deployments"].values()} == {"HEALTHY"}
    assert app["deployments"]["Retriever"]["replica_states"] == {"RUNNING": RETRIEVER_REPLICAS}


def test_ingestion_is_idempotent_with_unicode_ids(graph, ingested):
    assert ingested["stored"] == len(DOCS) and ingested["skipped"] == 0
    assert ingested["chunks"] >= len(DOCS)
    assert ingested["ids"][:3] == ["tides", "volcano", "photosynthesis"]
    assert ingested["ids"][4] == DOCS[4]["id"]
    again = post(graph, "/v1/documents", {"documents": DOCS})
    assert again.status_code == 200, again.text
    assert again.json() == {
        "stored": 0,
        "skipped": len(DOCS),
        "replaced": 0,
        "chunks": 0,
        "ids": ingested["ids"],
    }


def test_both_retriever_replicas_serve_queries(graph, ingested):
    async def many():
        async with httpx.AsyncClient(base_url=graph.url, timeout=300) as client:
            replies = await asyncio.gather(
                *(client.post("/v1/search", json={"query": f"tides {i}"}) for i in range(24))
            )
        return [r.status_code for r in replies]

    assert set(asyncio.run(many())) == {200}
    pattern = re.compile(r"rag_Retriever (\w+) \S+ -- CALL retrieve OK")
    deadline = time.monotonic() + 30  # replica logs reach serve run's output with a delay
    while time.monotonic() < deadline:
        replicas = set(pattern.findall(graph.log.read_text(errors="replace")))
        if len(replicas) >= RETRIEVER_REPLICAS:
            break
        time.sleep(1)
    assert len(replicas) == RETRIEVER_REPLICAS, replicas


def test_the_reply_shows_hybrid_search_and_the_reranker_ran(graph, ingested, passage_encoder):
    query = "What causes the tides of the sea?"
    reply = post(graph, "/v1/search", {"query": query, "top_k": 3})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["stages"] == ["rewrite", "retrieve", "rerank"]
    citations = body["citations"]
    assert citations[0]["doc_id"] == "tides"
    # First stage: every score is an RRF of ranks in the dense and the BM25 lists, and the
    # top chunk is first in both (2 / 61): hybrid search ran, not one of its halves.
    for c in citations:
        assert set(c["scores"]) == {"hybrid", "maxsim", "rerank"}, c
        assert rrf_terms(c["scores"]["hybrid"]) is not None, c["scores"]
    assert rrf_terms(citations[0]["scores"]["hybrid"]) == (1, 1)
    # Reranker: its MaxSim is what the packaged encoder gives for the rewritten query
    # against the chunk's token vectors (recomputed here from the chunk's text) ...
    rewritten = rewrite(query, RewriterConfig()).query
    (query_vecs,) = passage_encoder.token_encoder.encode_queries([rewritten])
    for c in citations:
        (blob,) = passage_encoder.encode([f"{c['title']}\n{c['text']}"]).tokens
        expected = float(maxsim(query_vecs, [decode_tokens(blob)])[0])
        assert c["scores"]["maxsim"] == pytest.approx(expected, rel=1e-3), c["chunk_id"]
    # ... and the ranking score fuses the MaxSim rank with the first-stage rank.
    weights = (1 - FIRST_STAGE_WEIGHT, FIRST_STAGE_WEIGHT)
    for c in citations:
        assert c["score"] == c["scores"]["rerank"]
        assert len(rrf_terms(c["score"], weights=weights) or ()) == 2, c["score"]
    scores = [c["score"] for c in citations]
    assert scores == sorted(scores, reverse=True)


def test_vllm_answers_from_the_cited_passages(graph, ingested):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    query = "What causes the tides of the sea?"
    reply = post(graph, "/v1/query", {"query": query, "top_k": 3})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["generator"] == "vllm"  # set only on the LLMServer path
    assert body["route"] == "simple"
    assert body["stages"] == ["rewrite", "retrieve", "rerank", "generate"]
    assert set(body["timings_ms"]) == {"rewrite", "retrieve", "rerank", "generate", "total"}
    assert body["citations"][0]["doc_id"] == "tides"
    # The prompt the supervisor sends is built from exactly these passages: generating
    # from it here, greedily, with the same weights, gives vLLM's answer token for token.
    hits = [
        Hit(c["chunk_id"], c["doc_id"], c["title"], c["text"], c["score"])
        for c in body["citations"]
    ]
    tokenizer = AutoTokenizer.from_pretrained(graph.tiny_model)
    model = AutoModelForCausalLM.from_pretrained(graph.tiny_model)
    prompt = tokenizer.apply_chat_template(
        build_messages(query, hits, max_chars=1500), add_generation_prompt=True, tokenize=True
    )
    prompt = list(prompt["input_ids"] if hasattr(prompt, "keys") else prompt)
    out = model.generate(
        input_ids=torch.tensor([prompt]),
        max_new_tokens=16,
        do_sample=False,
        eos_token_id=tokenizer.sep_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )[0][len(prompt) :]
    assert body["usage"] == {"prompt_tokens": len(prompt), "completion_tokens": len(out)}
    expected = tokenizer.decode(out, skip_special_tokens=True)
    assert "".join(body["answer"].split()) == "".join(expected.split())


def test_comparative_query_takes_the_sub_question_branch(graph, ingested):
    reply = post(graph, "/v1/query", {"query": "Compare photosynthesis and volcanoes", "top_k": 4})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["route"] == "comparative"
    assert body["stages"] == ["rewrite", "retrieve_each", "rerank", "generate"]
    cited = {c["doc_id"] for c in body["citations"][:2]}
    assert cited == {"photosynthesis", "volcano"}
    assert all("subquery_rrf" in c["scores"] for c in body["citations"])


AGENT_DOCS = [
    {
        "id": "glass-hours",
        "title": "Glass Hours",
        "text": "Glass Hours is the debut album of Velvet Ferns, released in 2009.",
    },
    {
        "id": "velvet-ferns",
        "title": "Velvet Ferns",
        "text": "Velvet Ferns is a rock group from Texas. It played its first concert in "
        "Austin in 2007.",
    },
    {
        "id": "concert-hall",
        "title": "Concert hall",
        "text": "A concert hall is a venue where a band or an orchestra plays its concerts.",
    },
]


def test_agents_answer_through_the_graph_with_a_trace(graph, ingested):
    docs = [{**d, "metadata": {"suite": "agents"}} for d in AGENT_DOCS]
    assert post(graph, "/v1/documents", {"documents": docs}).status_code == 200
    try:
        question = "The band behind the album Glass Hours played its first concert in what city?"
        body = {"query": question, "top_k": 2, "agents": True, "filter": {"suite": "agents"}}
        reply = post(graph, "/v1/search", body)
        assert reply.status_code == 200, reply.text
        found = reply.json()
        assert found["stages"][:3] == ["rewrite", "plan", "act"]
        assert found["trace"]["chosen"] == ["multihop"], found["trace"]["agents"]
        assert {c["doc_id"] for c in found["citations"]} == {"glass-hours", "velvet-ferns"}
        assert found["trace"]["hops"][0]["queries"] == [question]
        answered = post(graph, "/v1/query", body)
        assert answered.status_code == 200, answered.text
        trace = answered.json()["trace"]
        # The tiny test LLM writes noise: the validator must have judged it (kept what its
        # citations support, or abstained), never passed it unchecked.
        assert "validator" in trace or "abstained" in trace, trace
        assert post(graph, "/v1/search", {"query": question, "agents": "yes"}).status_code == 400
    finally:
        for d in AGENT_DOCS:
            httpx.delete(f"{graph.url}/v1/documents/{d['id']}", timeout=60)


def test_a_unicode_id_is_cited_back_as_given(graph, ingested):
    reply = post(graph, "/v1/search", {"query": "quarantine station in Bermuda", "top_k": 1})
    assert reply.status_code == 200, reply.text
    (top,) = reply.json()["citations"]
    assert top["doc_id"] == DOCS[4]["id"]
    version = chunk_version(top["chunk_id"], DOCS[4]["id"])
    assert top["chunk_id"] == chunk_id(DOCS[4]["id"], 0, version) and version


def test_an_error_raised_inside_a_stage_reaches_the_client_as_a_400(graph, ingested):
    # A question that passes the ingress (4,000 characters, under its 4,096) but leaves no
    # room in the tiny model's 1,024-token context: the Supervisor's prompt fitting refuses
    # it, a Ray hop away; its InvalidRequestError keeps status and param.
    reply = post(graph, "/v1/query", {"query": "1 " * 2000})
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "query"
    assert "context" in error["message"] and error["request_id"]


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/query", {"query": ""}, "query"),
        ("/v1/query", {"query": "   "}, "query"),
        ("/v1/query", {"query": "x" * 4097}, "query"),
        ("/v1/query", {"query": 42}, "query"),
        ("/v1/query", {"query": "tides", "top_k": "3"}, "top_k"),
        ("/v1/query", {"query": "tides", "top_k": 0}, "top_k"),
        ("/v1/query", {"query": "tides", "top_k": 51}, "top_k"),
        ("/v1/query", {"query": "tides", "temperature": 1}, "temperature"),
        ("/v1/documents", {"documents": []}, "documents"),
        ("/v1/documents", {"documents": [{"title": "no text"}]}, "documents.0.text"),
        ("/v1/documents", {"documents": [{"text": ""}]}, "documents.0.text"),
        ("/v1/documents", {"documents": [{"id": "bad\nid", "text": "t"}]}, "documents.0.id"),
        ("/v1/documents", {"documents": [{"text": "t", "metadata": {"n": -(2**90)}}]}, None),
    ],
)
def test_bad_input_gets_a_400_naming_the_parameter(graph, ingested, path, body, param):
    reply = post(graph, path, body)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == (param or "documents.0.metadata")
    assert error["message"]


def test_malformed_json_is_a_400_and_data_survives(graph, ingested):
    reply = httpx.post(
        graph.url + "/v1/query",
        content=b"{not json",
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert reply.status_code == 400
    assert "JSON" in reply.json()["error"]["message"]
    # After all the bad input, the stored documents are intact and still answer.
    again = post(graph, "/v1/documents", {"documents": DOCS})
    assert again.json()["skipped"] == len(DOCS)
    top = post(graph, "/v1/search", {"query": "How do bees communicate?", "top_k": 1}).json()
    assert top["citations"][0]["text"].startswith("Honey bees communicate")


def test_milvus_going_away_is_a_503_then_serve_restarts_it(graph, ingested):
    """Runs last in this module: it kills the graph's Milvus Lite server."""
    pid = _lite_server_pid(graph.milvus_dir)
    os.kill(pid, 9)
    reply = post(graph, "/v1/search", {"query": "tides", "top_k": 1})
    assert reply.status_code == 503, reply.text
    assert reply.json()["error"]["type"] == "stage_unavailable"
    assert int(reply.headers["Retry-After"]) >= 1
    # The Milvus deployment's health check fails; Serve replaces the replica, which starts
    # a server on the same data (its write-ahead log replays): the documents are back, for
    # every replica of every stage (ten answers in a row, both Retrievers taking some).
    deadline, streak = time.monotonic() + 180, 0
    while streak < 10 and time.monotonic() < deadline:
        reply = post(graph, "/v1/search", {"query": "How do bees communicate?", "top_k": 1})
        streak = streak + 1 if reply.status_code == 200 else 0
        time.sleep(0.5 if streak else 2)
    assert streak == 10, reply.text
    assert reply.json()["citations"][0]["text"].startswith("Honey bees communicate")
    assert _lite_server_pid(graph.milvus_dir) != pid


def _lite_server_pid(data_dir) -> int:
    """The pid of the milvus-lite server process serving ``data_dir``."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"milvus_lite" in argv and str(data_dir).encode() in argv:
            return int(entry)
    raise AssertionError(f"no milvus-lite server on {data_dir}")
