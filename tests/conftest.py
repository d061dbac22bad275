"""Fixtures every test folder may use: one Milvus Lite server for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deployments.common.store.lite import LiteServer, free_port


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URI of a ``milvus-lite server`` (the local profile's Milvus) for this session; each
    test module uses collections of its own."""
    with LiteServer(tmp_path_factory.mktemp("milvus") / "data", port=free_port()) as server:
        yield server.uri
