"""The chaos command's fault list (no graph: the faults' causes are not called here)."""

from __future__ import annotations

from types import SimpleNamespace

from loadtests import chaos


def test_process_faults_kill_each_deployment_then_restart_milvus():
    labels = [label for label, _ in chaos.process_faults("http://127.0.0.1:1")]
    assert labels == [f"kill {name} replica" for name in chaos.REPLICA_FAULTS] + [
        "restart Milvus server"
    ]


def test_the_node_fault_kills_the_whole_worker_node():
    killed = []
    worker = SimpleNamespace(proc=SimpleNamespace(pid=4242), kill=lambda: killed.append(True))
    label, cause = chaos.node_fault(worker)
    assert label == "kill worker node" and not killed  # nothing happens until it is injected
    assert cause() == 4242 and killed == [True]
