"""MilvusStore against a real milvus-lite server (the session's), one collection per test
group: search modes, token vectors by id, all-or-nothing publishing, hostile ids."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from deployments.common.store.config import MilvusConfig
from deployments.common.store.milvus import MilvusStore
from deployments.errors import ConfigError
from deployments.types import Chunk, Hit

DIM = 16
TEXTS = {
    "zebra": ("Savanna animals", "Zebras graze on the savanna grasslands in large herds."),
    "milvus": ("Vector databases", "Milvus stores dense and sparse vectors in collections."),
    "panda": ("Bamboo", "Pandas spend most of the day eating bamboo shoots."),
    "volcano": ("Geology", "Basalt forms when lava from a volcano cools quickly."),
    "orbit": ("Astronomy", "Comets follow elongated elliptical orbits around the sun."),
}
HOSTILE_IDS = [
    "Tucker's Island, Bermuda",
    'say "hi"',
    "C:\\docs\\a.md",
    "Zürich — 東京 🚀",
    "tab\there",
    "ends with backslash \\",
    "'; drop collection x; '",
    '"] or chunk_id != ["',
]
_names = itertools.count()


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _store(uri: str, *, dim: int | None = DIM, name: str | None = None) -> MilvusStore:
    cfg = MilvusConfig(uri=uri, lite=None, collection=name or f"store_{next(_names)}")
    return MilvusStore(cfg, dim=dim)


def _write(store: MilvusStore, chunks: list[Chunk], vectors: np.ndarray) -> None:
    store.write_tokens(chunks, [f"blob-{c.chunk_id}" for c in chunks])
    store.publish(chunks, vectors)
    store.flush()


@pytest.fixture(scope="module")
def corpus(milvus_uri: str):
    """An open store holding TEXTS as one chunk each, with random unit vectors."""
    store = _store(milvus_uri, name="store_corpus")
    chunks = [Chunk(f"{key}#0000", key, title, text) for key, (title, text) in TEXTS.items()]
    vectors = _unit(np.random.default_rng(7), len(chunks))
    _write(store, chunks, vectors)
    yield store, chunks, vectors
    store.close()


def _ids(hits: list[Hit]) -> list[str]:
    return [h.chunk_id for h in hits]


def test_count_and_published_doc_ids(corpus) -> None:
    store, chunks, _ = corpus
    assert store.count() == len(chunks) == store.count(tokens=True)
    assert store.published_doc_ids(["zebra", "unknown", "panda"]) == {"zebra", "panda"}
    assert store.published_doc_ids([]) == set()


def test_published_doc_ids_across_expression_batches(corpus) -> None:
    store, _, _ = corpus
    ids = [f"missing-{i}" for i in range(300)] + ["orbit"]  # the second list holds the hit
    assert store.published_doc_ids(ids) == {"orbit"}


def test_tokens_are_fetched_by_chunk_id(corpus) -> None:
    store, _, _ = corpus
    found = store.fetch_tokens(["milvus#0000", "nope#0000", "orbit#0000", "milvus#0000"])
    assert found == {"milvus#0000": "blob-milvus#0000", "orbit#0000": "blob-orbit#0000"}
    assert store.fetch_tokens([]) == {}


def test_hostile_ids_round_trip_through_every_expression(milvus_uri: str) -> None:
    store = _store(milvus_uri)
    try:
        chunks = [Chunk(f"{d}#0000", d, "T", f"text of {d}") for d in HOSTILE_IDS]
        _write(store, chunks, _unit(np.random.default_rng(3), len(chunks)))
        assert store.published_doc_ids(HOSTILE_IDS + ["absent"]) == set(HOSTILE_IDS)
        blobs = store.fetch_tokens([c.chunk_id for c in chunks])
        assert blobs == {c.chunk_id: f"blob-{c.chunk_id}" for c in chunks}
        for doc_id in HOSTILE_IDS:
            (row,) = store.rows(doc_id)
            assert (row["doc_id"], row["text"]) == (doc_id, f"text of {doc_id}")
        assert store.count() == len(HOSTILE_IDS)  # nothing matched more than it should
    finally:
        store.close()


def test_upsert_is_keyed_by_chunk_id(milvus_uri: str) -> None:
    store = _store(milvus_uri)
    try:
        vec = _unit(np.random.default_rng(1), 1)
        _write(store, [Chunk("d#0000", "d", "", "old text")], vec)
        _write(store, [Chunk("d#0000", "d", "", "new text")], vec)
        assert store.count() == 1 == store.count(tokens=True)
        (hits,) = store.search(["text"], vec, mode="dense", limit=5)
        assert [h.text for h in hits] == ["new text"]
        with pytest.raises(ValueError, match="1 chunks but 2 token blobs"):
            store.write_tokens([Chunk("e#0000", "e", "", "x")], ["t", "u"])
    finally:
        store.close()


def test_token_rows_alone_are_invisible_until_published(milvus_uri: str) -> None:
    store = _store(milvus_uri)
    try:
        chunks = [Chunk(f"doc#{i:04d}", "doc", "", f"part {i} about comets") for i in range(3)]
        vectors = _unit(np.random.default_rng(5), 3)
        store.write_tokens(chunks, ["b0", "b1", "b2"])
        store.flush()
        assert store.published_doc_ids(["doc"]) == set()
        assert store.search(["comets"], vectors[:1], mode="bm25", limit=5) == [[]]
        store.publish(chunks, vectors)
        assert store.published_doc_ids(["doc"]) == {"doc"}
        (hits,) = store.search(["comets"], vectors[:1], mode="bm25", limit=5)
        assert sorted(_ids(hits)) == [c.chunk_id for c in chunks]
    finally:
        store.close()


def test_dense_finds_the_identical_vector(corpus) -> None:
    store, chunks, vectors = corpus
    results = store.search(["q0", "q3"], vectors[[0, 3]], mode="dense", limit=3)
    assert [r[0].chunk_id for r in results] == [chunks[0].chunk_id, chunks[3].chunk_id]
    assert results[0][0].score == pytest.approx(1.0, abs=1e-4)
    assert results[0][0].scores == {"dense": results[0][0].score}
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
    assert hits[0].score > 0 and hits[0].scores == {"bm25": hits[0].score}
    assert expected.split("#")[0] == hits[0].doc_id
    assert hits[0].text == TEXTS[hits[0].doc_id][1]
    assert hits[0].title == TEXTS[hits[0].doc_id][0]


def test_hybrid_ranks_a_chunk_matching_both_first(corpus) -> None:
    store, _, vectors = corpus
    queries = ["lava volcano basalt", "zebras savanna"]
    results = store.search(queries, vectors[[3, 0]], mode="hybrid", limit=4, rrf_k=60)
    assert [r[0].chunk_id for r in results] == ["volcano#0000", "zebra#0000"]
    assert results[0][0].score == pytest.approx(2 / 61, rel=1e-3)  # rank 1 in both lists
    assert results[0][0].scores == {"hybrid": results[0][0].score}


def test_hybrid_fuses_keyword_and_vector_lists(corpus) -> None:
    store, _, vectors = corpus
    # The vector is the zebra chunk's; only the milvus chunk has the keywords. The milvus
    # chunk is ranked in both lists (BM25 first, dense somewhere), so RRF puts it first.
    (hits,) = store.search(["Milvus dense sparse vectors"], vectors[[0]], mode="hybrid", limit=5)
    assert _ids(hits[:2]) == ["milvus#0000", "zebra#0000"]
    assert hits[0].score > hits[1].score == pytest.approx(1 / 61, rel=1e-3)


def test_existing_collection_is_checked(milvus_uri: str) -> None:
    name = f"store_{next(_names)}"
    _store(milvus_uri, dim=8, name=name).close()
    again = _store(milvus_uri, dim=8, name=name)  # reopened: same fields, fine
    again.close()
    with pytest.raises(ConfigError) as info:
        _store(milvus_uri, dim=16, name=name)
    assert info.value.param == "milvus.collection"
    assert "holds 8-d vectors but the embedder gives 16-d" in info.value.message
    reader = _store(milvus_uri, dim=None, name=name)  # the reranker checks tokens only
    reader.close()


def test_a_collection_with_other_fields_is_refused(milvus_uri: str) -> None:
    from pymilvus import DataType, MilvusClient

    client = MilvusClient(milvus_uri)
    schema = client.create_schema(auto_id=False)
    schema.add_field("chunk_id", DataType.VARCHAR, is_primary=True, max_length=128)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    index = client.prepare_index_params()
    index.add_index("v", index_type="AUTOINDEX", metric_type="L2")
    client.create_collection("old_layout_tokens", schema=schema, index_params=index)
    with pytest.raises(ConfigError, match="does not have the fields this version"):
        _store(milvus_uri, dim=None, name="old_layout")


def test_a_collection_made_before_entity_keys_is_refused_naming_the_field(milvus_uri: str):
    """An upgrade over data written before chunks kept their entity keys: refused at start
    with the missing field named, the data left as it was."""
    from pymilvus import MilvusClient

    from deployments.common.store import schema

    client = MilvusClient(milvus_uri)
    old, index = schema.chunks_schema(client, DIM)
    old.fields.remove(next(f for f in old.fields if f.name == "entities"))  # the old layout
    client.create_collection("before_entities", schema=old, index_params=index)
    with pytest.raises(ConfigError) as info:
        _store(milvus_uri, name="before_entities")
    assert "missing or different: entities (VARCHAR:16513)" in info.value.message
    assert "not expected: none" in info.value.message
    assert client.has_collection("before_entities")


def test_a_released_collection_is_loaded_again(corpus, milvus_uri: str) -> None:
    """What a restarted Milvus looks like: collections released; the next call reloads."""
    from pymilvus import MilvusClient

    store, _, vectors = corpus
    MilvusClient(milvus_uri).release_collection(store.chunks)
    (hits,) = store.search(["zebras savanna"], vectors[[0]], mode="hybrid", limit=1)
    assert hits[0].chunk_id == "zebra#0000"
    MilvusClient(milvus_uri).release_collection(store.tokens)
    assert store.fetch_tokens(["zebra#0000"]) == {"zebra#0000": "blob-zebra#0000"}


def test_entity_links_are_followed_by_exact_match(milvus_uri: str) -> None:
    """Each chunk row carries its text's entity keys; the agents' backlink expression finds
    the passages naming a title, whatever its disambiguation, accents or quotes."""
    from deployments.supervisor.agents.links import mention_expression

    store = _store(milvus_uri)
    texts = {
        "album": ("Glass Hours (album)", "Glass Hours is the debut of Velvet Ferns."),
        "band": ("Velvet Ferns", 'Velvet Ferns first played in Zürich after "Glass Hours".'),
        "city": ("Zürich", "Zürich is a city; Tucker's Island is not near it."),
        "other": ("Glassworks", "Glassworks make hour glasses."),
    }
    chunks = [Chunk(f"{k}#0000", k, title, text) for k, (title, text) in texts.items()]
    _write(store, chunks, _unit(np.random.default_rng(3), len(chunks)))
    vectors = _unit(np.random.default_rng(4), 1)

    def backlinks(*titles: str) -> set[str]:
        where = mention_expression(titles)
        (hits,) = store.search(["x"], vectors, mode="dense", limit=10, where=where)
        return {h.doc_id for h in hits}

    assert backlinks("Glass Hours (album)") == {"album", "band"}
    assert backlinks("Zurich") == {"band", "city"}
    assert backlinks("Tucker's Island, Bermuda") == set()  # "tucker s island bermuda"
    assert backlinks("Tucker's Island") == {"city"}
    assert backlinks("Velvet Ferns", "Nobody") == {"album", "band"}
    store.close()
