"""The Retriever class in process (no Ray) over the session's milvus-lite server."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from deployments.common.encoders.config import EmbedderConfig
from deployments.common.encoders.embedder import Embedder
from deployments.common.store.config import MilvusConfig
from deployments.common.store.milvus import MilvusStore
from deployments.retriever.config import RetrieverConfig
from deployments.retriever.deployment import Retriever, build_retriever_deployment
from deployments.types import Chunk

CHUNKS = [
    Chunk("tides#0000", "tides", "Tides", "Tides are caused by the pull of the Moon."),
    Chunk("bees#0000", "bees", "Bees", "Honey bees communicate with the waggle dance."),
    Chunk("lava#0000", "lava", "Volcanoes", "Basaltic lava flows are runny."),
]


@pytest.fixture(scope="module")
def retriever(milvus_uri: str):
    embedder = Embedder(EmbedderConfig())
    milvus = MilvusConfig(uri=milvus_uri, lite=None, collection="retriever_deployment")
    store = MilvusStore(milvus, dim=embedder.dim)
    store.write_tokens(CHUNKS, ["-"] * len(CHUNKS))
    store.publish(CHUNKS, embedder.embed([c.search_text for c in CHUNKS]))
    store.flush()
    cfg = RetrieverConfig(candidates=50)
    return Retriever.func_or_class(cfg, milvus, embedder=embedder)  # its own store


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_each_mode_finds_the_document_and_says_how(retriever, mode) -> None:
    retriever.cfg = retriever.cfg.model_copy(update={"mode": mode})
    (hits,) = asyncio.run(retriever.retrieve(["How do honey bees communicate?"]))
    assert hits[0].doc_id == "bees"
    assert set(hits[0].scores) == {mode}


def test_several_queries_and_the_query_cache(retriever) -> None:
    retriever.cfg = retriever.cfg.model_copy(update={"mode": "hybrid"})
    before = retriever.query_cache.stats()
    lists = asyncio.run(retriever.retrieve(["moon tides", "runny lava"], limit=1))
    again = asyncio.run(retriever.retrieve(["moon tides"], limit=1))
    assert [hits[0].doc_id for hits in lists] == ["tides", "lava"]
    assert again[0][0].chunk_id == "tides#0000"
    assert retriever.query_cache.stats().hits == before.hits + 1
    assert np.allclose(
        retriever.embed_queries(["moon tides"]), retriever.embedder.embed(["moon tides"])
    )


def test_builder_binds_config_and_store() -> None:
    app = build_retriever_deployment(RetrieverConfig(), MilvusConfig())
    assert type(app).__name__ == "Application"
