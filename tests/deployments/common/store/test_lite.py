"""The milvus-lite server process: start, stop, and the two ways a second one is refused."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from deployments.common.store.lite import LiteServer, free_port, port_in_use
from deployments.errors import ConfigError


def test_starts_serves_and_stops(tmp_path: Path) -> None:
    from pymilvus import MilvusClient

    server = LiteServer(tmp_path / "data", port=free_port())
    uri = server.start()
    try:
        assert server.alive() and uri == f"http://127.0.0.1:{server.port}"
        assert MilvusClient(uri).list_collections() == []
    finally:
        server.stop()
    assert not server.alive()
    assert not port_in_use("127.0.0.1", server.port)
    assert (tmp_path / "data.server.log").is_file()


def test_a_second_server_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    with LiteServer(tmp_path / "data", port=free_port()):
        second = LiteServer(tmp_path / "data", port=free_port())
        with pytest.raises(ConfigError) as info:
            second.start()
    assert info.value.param == "milvus.lite.data_dir"
    assert "another process holds it" in info.value.message
    assert "one replica" in info.value.message


def test_a_taken_port_is_refused_before_starting(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ConfigError, match="the port is in use") as info:
            LiteServer(tmp_path / "data", port=port).start()
    assert info.value.param == "milvus.uri"
