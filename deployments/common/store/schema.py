"""The two collections every stage shares, created once, checked on every start.

``<collection>`` holds one row per chunk: what search sees and cites.

- ``chunk_id`` VARCHAR primary key, ``doc_id`` VARCHAR, ``title`` VARCHAR
- ``text`` VARCHAR: the chunk as cited
- ``search_text`` VARCHAR with an analyzer: title + text, what BM25 and the encoders see
- ``sparse`` SPARSE_FLOAT_VECTOR filled by Milvus' BM25 function from ``search_text``
- ``dense`` FLOAT_VECTOR (COSINE)
- ``metadata`` JSON
- ``entities`` VARCHAR: the keys of the names the text mentions, as ``|key|key|``
  (:mod:`deployments.common.entity_keys`): the entity links the agents follow by exact
  match

``<collection>_tokens`` holds each chunk's compressed passage token vectors (the bulk of
the data, tens of KB per chunk), which only the reranker reads, by chunk id:

- ``chunk_id`` VARCHAR primary key, ``doc_id`` VARCHAR, ``tokens`` VARCHAR (codec text)
- ``placeholder`` FLOAT_VECTOR of dimension 2: Milvus requires a vector field in every
  collection; it is never searched.

``<collection>_docs`` is the document library, one row per stored document (the version
its chunks carry, their count, title, metadata, digest and ingestion time):

- ``doc_id`` VARCHAR primary key, ``title``, ``version``, ``digest`` VARCHAR, ``chunks``
  and ``chars`` INT64, ``ingested_at`` DOUBLE (Unix seconds), ``metadata`` JSON,
  ``placeholder`` FLOAT_VECTOR(2)

``<collection>_state`` holds what must outlive a replica: ingestion jobs (``kind`` job,
their status and lease in scalar fields, the rest in ``value``), the documents a job was
given (``kind`` input, in pieces of ``payload`` text), requests to cancel a job (``kind``
cancel) and the corpus stamp (``kind`` corpus: changes whenever searchable content does).

A document's token rows are written first; its chunk rows are then written in one call,
which Milvus applies at one timestamp, so a search sees all of a document or none of it
(see ``MilvusStore.publish``). VARCHAR limits count UTF-8 bytes.
"""

from __future__ import annotations

import logging

from deployments.common.entity_keys import ENTITIES_MAX_BYTES
from deployments.common.ids import MAX_CHUNK_ID_BYTES, MAX_DOC_ID_BYTES
from deployments.errors import ConfigError

logger = logging.getLogger(__name__)

VARCHAR_MAX = 65535
#: Longest title, in bytes (the HTTP API takes 1,000 characters, up to 4 bytes each).
TITLE_MAX_BYTES = 4096
PLACEHOLDER = [1.0, 0.0]
CHUNKS_DESCRIPTION = "rag-serve chunks"
TOKENS_DESCRIPTION = "rag-serve passage token vectors"


def chunks_schema(client, dim: int):
    """Schema and index parameters of the chunk collection."""
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(
        auto_id=False, enable_dynamic_field=False, description=CHUNKS_DESCRIPTION
    )
    schema.add_field("chunk_id", DataType.VARCHAR, is_primary=True, max_length=MAX_CHUNK_ID_BYTES)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=MAX_DOC_ID_BYTES)
    schema.add_field("title", DataType.VARCHAR, max_length=TITLE_MAX_BYTES)
    schema.add_field("text", DataType.VARCHAR, max_length=VARCHAR_MAX)
    schema.add_field("search_text", DataType.VARCHAR, max_length=VARCHAR_MAX, enable_analyzer=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("metadata", DataType.JSON)
    schema.add_field("entities", DataType.VARCHAR, max_length=ENTITIES_MAX_BYTES)
    schema.add_function(
        Function(
            name="bm25",
            function_type=FunctionType.BM25,
            input_field_names=["search_text"],
            output_field_names=["sparse"],
        )
    )
    index = client.prepare_index_params()
    index.add_index("dense", index_type="AUTOINDEX", metric_type="COSINE")
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    return schema, index


def tokens_schema(client):
    """Schema and index parameters of the token-vector collection."""
    from pymilvus import DataType

    schema = client.create_schema(
        auto_id=False, enable_dynamic_field=False, description=TOKENS_DESCRIPTION
    )
    schema.add_field("chunk_id", DataType.VARCHAR, is_primary=True, max_length=MAX_CHUNK_ID_BYTES)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=MAX_DOC_ID_BYTES)
    schema.add_field("tokens", DataType.VARCHAR, max_length=VARCHAR_MAX)
    schema.add_field("placeholder", DataType.FLOAT_VECTOR, dim=len(PLACEHOLDER))
    index = client.prepare_index_params()
    index.add_index("placeholder", index_type="AUTOINDEX", metric_type="L2")
    return schema, index


DOCS_DESCRIPTION = "rag-serve document library"
STATE_DESCRIPTION = "rag-serve jobs and corpus state"
#: Longest state key: "input/<job id>/<document>/<piece>".
STATE_KEY_BYTES = 160
#: Largest piece of a staged document's JSON in one state row, in UTF-8 bytes.
PAYLOAD_BYTES = 60_000


def docs_schema(client):
    """Schema and index parameters of the document library."""
    from pymilvus import DataType

    schema = client.create_schema(
        auto_id=False, enable_dynamic_field=False, description=DOCS_DESCRIPTION
    )
    schema.add_field("doc_id", DataType.VARCHAR, is_primary=True, max_length=MAX_DOC_ID_BYTES)
    schema.add_field("title", DataType.VARCHAR, max_length=TITLE_MAX_BYTES)
    schema.add_field("version", DataType.VARCHAR, max_length=16)
    schema.add_field("digest", DataType.VARCHAR, max_length=64)
    schema.add_field("chunks", DataType.INT64)
    schema.add_field("chars", DataType.INT64)
    schema.add_field("ingested_at", DataType.DOUBLE)
    schema.add_field("metadata", DataType.JSON)
    schema.add_field("placeholder", DataType.FLOAT_VECTOR, dim=len(PLACEHOLDER))
    index = client.prepare_index_params()
    index.add_index("placeholder", index_type="AUTOINDEX", metric_type="L2")
    return schema, index


def state_schema(client):
    """Schema and index parameters of the state collection (jobs, inputs, corpus stamp)."""
    from pymilvus import DataType

    schema = client.create_schema(
        auto_id=False, enable_dynamic_field=False, description=STATE_DESCRIPTION
    )
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=STATE_KEY_BYTES)
    schema.add_field("kind", DataType.VARCHAR, max_length=16)
    schema.add_field("job_id", DataType.VARCHAR, max_length=64)
    schema.add_field("status", DataType.VARCHAR, max_length=16)
    schema.add_field("heartbeat", DataType.DOUBLE)
    schema.add_field("value", DataType.JSON)
    schema.add_field("payload", DataType.VARCHAR, max_length=VARCHAR_MAX)
    schema.add_field("placeholder", DataType.FLOAT_VECTOR, dim=len(PLACEHOLDER))
    index = client.prepare_index_params()
    index.add_index("placeholder", index_type="AUTOINDEX", metric_type="L2")
    return schema, index


def ensure_collection(client, name: str, build) -> list[dict]:
    """Create ``name`` from ``build()`` unless it exists, check its fields, load it; return
    the fields as Milvus describes them.

    Several replicas start at once, so a creation that fails because another one just
    created the collection is fine; any other failure is raised.

    Raises:
        ConfigError: The collection exists with other fields or smaller limits (made by an
            older version of this project, or someone else's collection).
    """
    schema, index = build()
    if not client.has_collection(name):
        try:
            client.create_collection(name, schema=schema, index_params=index)
            logger.info("created Milvus collection %s", name)
        except Exception:  # pymilvus raises MilvusException subclasses, by server version
            if not client.has_collection(name):
                raise
    fields = client.describe_collection(name)["fields"]
    want, have = _signature(schema.to_dict()["fields"]), _signature(fields)
    if have != want:
        missing = ", ".join(f"{n} ({kind})" for n, kind in sorted(want - have))
        other = ", ".join(f"{n} ({kind})" for n, kind in sorted(have - want))
        raise ConfigError(
            f"Milvus collection {name!r} does not have the fields this version of rag-serve "
            f"writes (missing or different: {missing or 'none'}; not expected: "
            f"{other or 'none'}); it was made by an older version or by someone else: "
            "choose another milvus.collection, or drop this one and ingest again",
            param="milvus.collection",
        )
    client.load_collection(name)
    return fields


def _signature(fields: list[dict]) -> set[tuple[str, str]]:
    """Field names with their type and VARCHAR limit, comparable across describe calls."""
    out = set()
    for f in fields:
        params = f.get("params") or {}
        kind = getattr(f.get("type"), "name", str(f.get("type")))
        out.add((f["name"], f"{kind}:{params.get('max_length', '')}"))
    return out


def check_dense_dim(fields: list[dict], name: str, dim: int) -> None:
    """Raise ConfigError when the collection's dense vectors (in its described ``fields``)
    are not ``dim``-d."""
    dense = next((f for f in fields if f["name"] == "dense"), None)
    have = int(dense["params"]["dim"]) if dense else None
    if have != dim:
        raise ConfigError(
            f"collection {name!r} holds {have}-d vectors but the embedder gives {dim}-d; use "
            "another milvus.collection, or the embedder it was built with",
            param="milvus.collection",
        )
