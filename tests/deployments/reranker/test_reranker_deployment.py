"""The Serve class without a running Ray cluster (``Reranker.func_or_class``)."""

import asyncio
import pickle
import zlib
from types import SimpleNamespace

import numpy as np
import pytest
import ray.serve
from ray.serve import Application

from deployments.errors import ConfigError, InvalidRequestError
from deployments.reranker.codec import decode_tokens, encode_tokens
from deployments.reranker.config import RerankerConfig
from deployments.reranker.deployment import (
    Reranker,
    build_reranker_deployment,
    get_deployment_options,
)
from deployments.types import Hit

RerankerImpl = Reranker.func_or_class
DIM = 64


class BagOfWordsEncoder:
    """One one-hot token vector per word (bucketed by crc32); records query batches."""

    name = "bag-of-words"
    dim = DIM

    def __init__(self) -> None:
        self.query_batches: list[list[str]] = []

    def _encode(self, text: str) -> np.ndarray:
        out = np.zeros((len(text.split()), DIM), np.float32)
        for row, word in enumerate(text.lower().split()):
            out[row, zlib.crc32(word.encode()) % DIM] = 1.0
        return out

    def encode_queries(self, texts: list[str]) -> list[np.ndarray]:
        self.query_batches.append(list(texts))
        return [self._encode(t) for t in texts]

    def encode_passages(self, texts: list[str]) -> list[np.ndarray]:
        return [self._encode(t) for t in texts]


def _hits(encoder: BagOfWordsEncoder, texts: list[str]) -> list[Hit]:
    blobs = [encode_tokens(m) for m in encoder.encode_passages(texts)]
    return [
        Hit(f"c{i}", f"d{i}", "", t, 0.0, b)
        for i, (t, b) in enumerate(zip(texts, blobs, strict=True))
    ]


def _run(coro, timeout: float = 30.0):
    """Run with a bound, so a batching bug fails the test instead of hanging it."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_rerank_many_encodes_all_queries_once_and_isolates_errors():
    encoder = BagOfWordsEncoder()
    reranker = RerankerImpl(RerankerConfig(), encoder=encoder)
    hits = _hits(encoder, ["red apples", "green pears", "blue sky"])
    broken = [hits[0], Hit("c9", "d9", "", "no vectors", 0.0, None)]

    out = reranker.rerank_many(["sky blue", "apples", "pears"], [hits, broken, hits], [1, 2, 2])

    assert encoder.query_batches == [["sky blue", "apples", "pears"]]
    assert [h.chunk_id for h in out[0]] == ["c2"]
    assert isinstance(out[1], ConfigError) and "'c9'" in out[1].message
    assert [h.chunk_id for h in out[2]][0] == "c1"


def test_concurrent_rerank_calls_share_one_batch(monkeypatch):
    # Outside a replica, Ray 2.60's batch queue asks serve.get_replica_context() for
    # max_ongoing_requests when it is created: give it a stand-in.
    context = SimpleNamespace(_deployment_config=SimpleNamespace(max_ongoing_requests=100))
    monkeypatch.setattr(ray.serve, "get_replica_context", lambda: context)
    encoder = BagOfWordsEncoder()
    # Raw MaxSim scores (no fusion with the first-stage order) keep the numbers checkable.
    cfg = RerankerConfig(max_batch_size=3, batch_wait_timeout_s=0.5, first_stage_weight=0.0)
    reranker = RerankerImpl(cfg.model_dump(), encoder=encoder)
    assert reranker._rerank_batch._get_max_batch_size() == 3
    assert reranker._rerank_batch._get_batch_wait_timeout_s() == 0.5
    hits = _hits(encoder, ["red apples", "green pears", "blue sky"])
    bad = [Hit("c9", "d9", "", "no vectors", 0.0, None)]

    async def three_requests():
        return await asyncio.gather(
            reranker.rerank("blue sky", hits, 2),
            reranker.rerank("green", bad, 1),
            reranker.rerank("apples", hits, 1),
            return_exceptions=True,
        )

    sky, error, apples = _run(three_requests())

    assert encoder.query_batches == [["blue sky", "green", "apples"]]  # one forward pass
    assert len(sky) == 2 and sky[0].chunk_id == "c2"
    assert sky[0].score == pytest.approx(2.0, abs=0.02)
    assert isinstance(error, ConfigError)  # only the caller with bad hits fails
    assert [h.chunk_id for h in apples] == ["c0"]


def test_rerank_short_circuits_without_touching_the_batch():
    encoder = BagOfWordsEncoder()
    reranker = RerankerImpl(RerankerConfig(), encoder=encoder)
    assert _run(reranker.rerank("anything", [], 5)) == []
    with pytest.raises(InvalidRequestError, match="top_k"):
        _run(reranker.rerank("anything", _hits(encoder, ["x"]), 0))
    assert encoder.query_batches == []


def test_encode_passages_returns_codec_blobs():
    encoder = BagOfWordsEncoder()
    reranker = RerankerImpl(RerankerConfig(), encoder=encoder)
    blobs = _run(reranker.encode_passages(["one two three", "four"]))
    assert [decode_tokens(b).shape for b in blobs] == [(3, DIM), (1, DIM)]
    assert reranker.check_health() is None


def test_invalid_config_is_a_picklable_config_error():
    with pytest.raises(ConfigError, match="max_batch_size") as info:
        RerankerImpl({"max_batch_size": 0}, encoder=BagOfWordsEncoder())
    copy = pickle.loads(pickle.dumps(info.value))
    assert (type(copy), copy.message, copy.param) == (ConfigError, info.value.message, "reranker")


def test_builder_binds_config_and_sizes_ongoing_requests():
    cfg = RerankerConfig(max_batch_size=8)
    assert get_deployment_options(cfg) == {"max_ongoing_requests": 16}
    app = build_reranker_deployment(cfg)
    assert isinstance(app, Application)


def test_default_encoder_is_packaged_minilm():
    reranker = RerankerImpl({"max_batch_size": 4})
    blobs = _run(reranker.encode_passages(["Seasons come from the tilt of Earth's axis."]))
    assert decode_tokens(blobs[0]).shape[1] == 384
