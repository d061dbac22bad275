"""The Ingester class in process (no Ray): its limits, and what POST /v1/documents runs."""

from __future__ import annotations

import asyncio

import pytest

from deployments.common.store.config import MilvusConfig
from deployments.errors import InvalidRequestError
from deployments.ingester.config import IngesterConfig
from deployments.ingester.deployment import Ingester
from deployments.types import Document


@pytest.fixture(scope="module")
def ingester(milvus_uri: str):
    milvus = MilvusConfig(uri=milvus_uri, lite=None, collection="ingester_deployment")
    cfg = IngesterConfig(max_documents_per_request=3)
    # The deployment's own defaults: the packaged MiniLM, one pass for both vector kinds.
    return Ingester.func_or_class(cfg.model_dump(), milvus.model_dump(), {}, {}, run_jobs=False)


def test_ingests_once_and_counts(ingester) -> None:
    assert ingester.encoder.one_pass
    docs = [Document("Zürich", "Zürich is a city."), Document("x'y", "Quotes in ids work.")]
    first = asyncio.run(ingester.ingest(docs))
    again = asyncio.run(ingester.ingest(docs))
    assert (first.stored, first.chunks, again.skipped) == (2, 2, 2)
    assert ingester.store.published_doc_ids(["Zürich", "x'y"]) == {"Zürich", "x'y"}


def test_too_many_documents_in_one_call_is_a_400(ingester) -> None:
    docs = [Document(f"d{i}", "t") for i in range(4)]
    with pytest.raises(InvalidRequestError, match="max_documents_per_request=3") as info:
        asyncio.run(ingester.ingest(docs))
    assert info.value.param == "documents"
