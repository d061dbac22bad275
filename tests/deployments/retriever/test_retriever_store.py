"""MilvusStore against a real Milvus Lite file (one file per module, closed at the end)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deployments.errors import ConfigError
from deployments.retriever.config import MilvusConfig
from deployments.retriever.store import MilvusStore
from deployments.types import Chunk, Hit

DIM = 16
TEXTS = {
    "zebra": ("Savanna animals", "Zebras graze on the savanna grasslands in large herds."),
    "milvus": ("Vector databases", "Milvus stores dense and sparse vectors in collections."),
    "panda": ("Bamboo", "Pandas spend most of the day eating bamboo shoots."),
    "volcano": ("Geology", "Basalt forms when lava from a volcano cools quickly."),
    "orbit": ("Astronomy", "Comets follow elongated elliptical orbits around the sun."),
}


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory):
    """An open store holding TEXTS as one chunk each, with random unit vectors."""
    uri = str(tmp_path_factory.mktemp("milvus") / "store.db")
    store = MilvusStore(MilvusConfig(uri=uri, collection="chunks"), dim=DIM)
    chunks = [Chunk(f"{key}#0000", key, title, text) for key, (title, text) in TEXTS.items()]
    vectors = _unit(np.random.default_rng(7), len(chunks))
    blobs = [f"blob-{c.doc_id}" for c in chunks]
    store.upsert(chunks, vectors, blobs)
    yield store, chunks, vectors
    store.close()


def _ids(hits: list[Hit]) -> list[str]:
    return [h.chunk_id for h in hits]


def test_count_and_existing_doc_ids(corpus) -> None:
    store, chunks, _ = corpus
    assert store.count() == len(chunks)
    assert store.existing_doc_ids(["zebra", "unknown", "panda"]) == {"zebra", "panda"}
    assert store.existing_doc_ids([]) == set()


def test_existing_doc_ids_across_query_batches(corpus) -> None:
    store, _, _ = corpus
    ids = [f"missing-{i}" for i in range(300)] + ["orbit"]  # second batch of 256 holds the hit
    assert store.existing_doc_ids(ids) == {"orbit"}


def test_ids_with_quotes_are_escaped(corpus) -> None:
    store, _, _ = corpus
    assert store.existing_doc_ids(['a"b', "c'd", "x\\y"]) == set()


def test_upsert_is_keyed_by_chunk_id(tmp_path: Path) -> None:
    store = MilvusStore(MilvusConfig(uri=str(tmp_path / "u.db"), collection="u"), dim=DIM)
    try:
        vec = _unit(np.random.default_rng(1), 1)
        store.upsert([Chunk("d#0000", "d", "", "old text")], vec, ["t1"])
        store.upsert([Chunk("d#0000", "d", "", "new text")], vec, ["t2"])
        assert store.count() == 1
        (hits,) = store.search(["text"], vec, mode="dense", limit=5, with_tokens=True)
        assert [(h.text, h.token_blob) for h in hits] == [("new text", "t2")]
        with pytest.raises(ValueError, match="differ in length"):
            store.upsert([Chunk("e#0000", "e", "", "x")], vec, ["t", "u"])
    finally:
        store.close()


def test_dense_finds_the_identical_vector(corpus) -> None:
    store, chunks, vectors = corpus
    results = store.search(["q0", "q3"], vectors[[0, 3]], mode="dense", limit=3)
    assert [r[0].chunk_id for r in results] == [chunks[0].chunk_id, chunks[3].chunk_id]
    assert results[0][0].score == pytest.approx(1.0, abs=1e-4)
    assert all(len(r) == 3 for r in results)
    for hits in results:
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("zebras savanna herds", "zebra#0000"),
        ("bamboo pandas", "panda#0000"),
        ("astronomy", "orbit#0000"),
    ],  # the last word is only in a title
)
def test_bm25_finds_the_keyword_chunk(corpus, query: str, expected: str) -> None:
    store, _, vectors = corpus
    (hits,) = store.search([query], vectors[:1], mode="bm25", limit=5)
    assert hits[0].chunk_id == expected
    assert hits[0].score > 0
    assert expected.split("#")[0] == hits[0].doc_id
    assert hits[0].text == TEXTS[hits[0].doc_id][1]
    assert hits[0].title == TEXTS[hits[0].doc_id][0]


def test_hybrid_ranks_a_chunk_matching_both_first(corpus) -> None:
    store, chunks, vectors = corpus
    queries = ["lava volcano basalt", "zebras savanna"]
    results = store.search(queries, vectors[[3, 0]], mode="hybrid", limit=4, rrf_k=60)
    assert [r[0].chunk_id for r in results] == ["volcano#0000", "zebra#0000"]
    assert results[0][0].score == pytest.approx(2 / 61, rel=1e-3)  # rank 1 in both lists


def test_hybrid_fuses_keyword_and_vector_lists(corpus) -> None:
    store, _, vectors = corpus
    # The vector is the zebra chunk's; only the milvus chunk has the keywords. The milvus
    # chunk is ranked in both lists (BM25 first, dense somewhere), so RRF puts it first.
    (hits,) = store.search(["Milvus dense sparse vectors"], vectors[[0]], mode="hybrid", limit=5)
    assert _ids(hits[:2]) == ["milvus#0000", "zebra#0000"]
    assert hits[0].score > hits[1].score == pytest.approx(1 / 61, rel=1e-3)


def test_limit_and_with_tokens(corpus) -> None:
    store, _, vectors = corpus
    (plain,) = store.search(["x"], vectors[[1]], mode="dense", limit=2)
    assert len(plain) == 2
    assert all(h.token_blob is None for h in plain)
    for mode in ("dense", "bm25", "hybrid"):
        (hits,) = store.search(
            ["Milvus vectors"], vectors[[1]], mode=mode, limit=2, with_tokens=True
        )
        assert hits[0].chunk_id == "milvus#0000"
        assert hits[0].token_blob == "blob-milvus"


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_token_vectors_only_for_the_first_hits(corpus, mode: str) -> None:
    store, _, vectors = corpus
    queries = ["Milvus vectors", "zebra savanna"]
    full = store.search(queries, vectors[[1, 0]], mode=mode, limit=4)
    some = store.search(
        queries, vectors[[1, 0]], mode=mode, limit=4, with_tokens=True, tokens_for=2
    )
    for plain, partial in zip(full, some, strict=True):
        assert [h.chunk_id for h in partial] == [h.chunk_id for h in plain]
        assert [h.token_blob for h in partial] == [
            f"blob-{h.doc_id}" if i < 2 else None for i, h in enumerate(plain)
        ]
    none = store.search(
        queries, vectors[[1, 0]], mode=mode, limit=4, with_tokens=True, tokens_for=0
    )
    assert all(h.token_blob is None for hits in none for h in hits)


def test_reopen_persists_and_checks_dimension(tmp_path: Path) -> None:
    cfg = MilvusConfig(uri=str(tmp_path / "dim.db"), collection="dimcheck")
    store = MilvusStore(cfg, dim=8)
    store.upsert([Chunk("d#0000", "d", "", "text")], np.ones((1, 8), np.float32), ["t"])
    store.close()

    again = MilvusStore(cfg, dim=8)
    try:
        assert again.count() == 1
    finally:
        again.close()

    with pytest.raises(ConfigError) as info:
        MilvusStore(cfg, dim=16)
    assert info.value.param == "milvus.collection"
    assert "holds 8-d vectors but the embedder gives 16-d" in info.value.message
    assert "milvus.collection" in info.value.message
