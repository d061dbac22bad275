"""The Serve class without a running Ray cluster (``Reranker.func_or_class``), with a fake
token encoder and an in-memory store of token vectors."""

import asyncio
import pickle
import zlib
from types import SimpleNamespace

import numpy as np
import pytest
import ray.serve
from ray.serve import Application

from deployments.common.codec import encode_tokens
from deployments.common.store.config import MilvusConfig
from deployments.errors import ConfigError, InvalidRequestError
from deployments.reranker.config import RerankerConfig
from deployments.reranker.deployment import (
    Reranker,
    build_reranker_deployment,
    get_deployment_options,
)
from deployments.types import Candidate

RerankerImpl = Reranker.func_or_class
DIM = 64
MILVUS = MilvusConfig(lite=None, uri="http://127.0.0.1:1")


class BagOfWordsEncoder:
    """One one-hot token vector per word (bucketed by crc32); records query batches."""

    name = "bag-of-words"
    dim = DIM

    def __init__(self) -> None:
        self.query_batches: list[list[str]] = []

    def encode(self, text: str) -> np.ndarray:
        out = np.zeros((len(text.split()), DIM), np.float32)
        for row, word in enumerate(text.lower().split()):
            out[row, zlib.crc32(word.encode()) % DIM] = 1.0
        return out

    def encode_queries(self, texts: list[str]) -> list[np.ndarray]:
        self.query_batches.append(list(texts))
        return [self.encode(t) for t in texts]


class TokenStore:
    """``fetch_tokens`` over a dict; records the ids of each fetch."""

    def __init__(self, blobs: dict[str, str]) -> None:
        self.blobs = blobs
        self.fetches: list[list[str]] = []

    def fetch_tokens(self, chunk_ids: list[str]) -> dict[str, str]:
        self.fetches.append(list(chunk_ids))
        return {c: self.blobs[c] for c in chunk_ids if c in self.blobs}


def _setup(texts: list[str], cfg: RerankerConfig | dict | None = None):
    encoder = BagOfWordsEncoder()
    store = TokenStore({f"c{i}": encode_tokens(encoder.encode(t)) for i, t in enumerate(texts)})
    reranker = RerankerImpl(cfg or RerankerConfig(), MILVUS, encoder=encoder, store=store)
    candidates = [Candidate(f"c{i}", 0.0) for i in range(len(texts))]
    return reranker, encoder, store, candidates


def _run(coro, timeout: float = 30.0):
    """Run with a bound, so a batching bug fails the test instead of hanging it."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_rerank_many_encodes_once_fetches_once_and_isolates_errors():
    reranker, encoder, store, cands = _setup(["red apples", "green pears", "blue sky"])
    gone = [Candidate("c9", 0.0)]  # deleted since the search: no stored vectors

    out = reranker.rerank_many(["sky blue", "apples", "pears"], [cands, gone, cands], [1, 2, 2])

    assert encoder.query_batches == [["sky blue", "apples", "pears"]]
    assert len(store.fetches) == 1  # one store call for the whole batch
    assert set(store.fetches[0]) == {"c0", "c1", "c2", "c9"}
    assert [r.chunk_id for r in out[0]] == ["c2"]
    assert isinstance(out[1], ConfigError) and "'c9'" in out[1].message
    assert [r.chunk_id for r in out[2]][0] == "c1"


def test_concurrent_rerank_calls_share_one_batch(monkeypatch):
    # Inside a replica the batching is serve.batch, whose queue asks
    # serve.get_replica_context() for max_ongoing_requests: give it a stand-in.
    context = SimpleNamespace(_deployment_config=SimpleNamespace(max_ongoing_requests=100))
    monkeypatch.setattr(ray.serve, "get_replica_context", lambda: context)
    # Raw MaxSim scores (no fusion with the first-stage order) keep the numbers checkable.
    cfg = RerankerConfig(max_batch_size=3, batch_wait_timeout_s=0.5, first_stage_weight=0.0)
    reranker, encoder, store, cands = _setup(["red apples", "green pears", "blue sky"], cfg)
    assert reranker._rerank_batch._get_max_batch_size() == 3
    assert reranker._rerank_batch._get_batch_wait_timeout_s() == 0.5

    async def three_requests():
        return await asyncio.gather(
            reranker.rerank("blue sky", cands, 2),
            reranker.rerank("green", [Candidate("c9", 0.0)], 1),
            reranker.rerank("apples", cands, 1),
            return_exceptions=True,
        )

    sky, error, apples = _run(three_requests())

    assert encoder.query_batches == [["blue sky", "green", "apples"]]  # one forward pass
    assert len(store.fetches) == 1
    assert len(sky) == 2 and sky[0].chunk_id == "c2"
    assert sky[0].score == pytest.approx(2.0, abs=0.02) == sky[0].maxsim
    assert isinstance(error, ConfigError)  # only the caller whose candidates fail
    assert [r.chunk_id for r in apples] == ["c0"]


def test_outside_serve_each_call_is_a_batch_of_one():
    cfg = RerankerConfig(first_stage_weight=0.0)
    reranker, encoder, _, cands = _setup(["red apples", "blue sky"], cfg)

    async def two():
        return await asyncio.gather(
            reranker.rerank("blue", cands, 1), reranker.rerank("red", cands, 1)
        )

    blue, red = _run(two())
    assert (blue[0].chunk_id, red[0].chunk_id) == ("c1", "c0")
    assert sorted(encoder.query_batches) == [["blue"], ["red"]]


def test_rerank_short_circuits_without_touching_the_batch():
    reranker, encoder, store, cands = _setup(["x"])
    assert _run(reranker.rerank("anything", [], 5)) == []
    with pytest.raises(InvalidRequestError, match="top_k"):
        _run(reranker.rerank("anything", cands, 0))
    assert encoder.query_batches == [] and store.fetches == []
    assert reranker.check_health() is None


def test_invalid_config_is_a_picklable_config_error():
    with pytest.raises(ConfigError, match="max_batch_size") as info:
        RerankerImpl({"max_batch_size": 0}, MILVUS, encoder=BagOfWordsEncoder(), store=None)
    copy = pickle.loads(pickle.dumps(info.value))
    assert (type(copy), copy.message, copy.param) == (ConfigError, info.value.message, "reranker")


def test_builder_binds_config_and_sizes_ongoing_requests():
    cfg = RerankerConfig(max_batch_size=8)
    assert get_deployment_options(cfg) == {"max_ongoing_requests": 16}
    assert isinstance(build_reranker_deployment(cfg, MILVUS), Application)


def test_default_encoder_and_store(milvus_uri: str):
    milvus = MilvusConfig(uri=milvus_uri, lite=None, collection="reranker_default")
    reranker = RerankerImpl({"max_batch_size": 4}, milvus.model_dump())
    assert reranker._encoder.dim == 384
    with pytest.raises(ConfigError, match="'nothing#0000'"):  # looked up in Milvus: absent
        _run(reranker.rerank("q", [Candidate("nothing#0000", 1.0)], 1))
