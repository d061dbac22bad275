"""The local multi-node helpers wait for a node to be up, and explain a node that is not."""

from __future__ import annotations

import subprocess

import pytest

from loadtests.cluster import STARTED, RayNode


def node_running(tmp_path, command: str, log_text: str) -> RayNode:
    log = tmp_path / "ray-start.log"
    log.write_text(log_text)
    proc = subprocess.Popen(["sh", "-c", command], start_new_session=True)
    return RayNode("worker", tmp_path, proc, log)


def test_a_started_node_is_waited_for(tmp_path):
    node = node_running(tmp_path, "sleep 30", f"INFO ...\n{STARTED}.\n")
    try:
        node.wait_started(timeout_s=5)
    finally:
        node.kill()


def test_a_node_that_exits_fails_with_its_log(tmp_path):
    node = node_running(tmp_path, "exit 3", "ConnectionError: could not reach the GCS\n")
    with pytest.raises(RuntimeError, match=r"(?s)exited \(3\).*could not reach the GCS"):
        node.wait_started(timeout_s=30)


def test_a_stalled_node_fails_with_its_log(tmp_path):
    node = node_running(tmp_path, "sleep 30", "Waiting for the head...\n")
    try:
        with pytest.raises(
            RuntimeError, match=r"(?s)did not start within 1 s.*Waiting for the head"
        ):
            node.wait_started(timeout_s=1)
    finally:
        node.kill()
