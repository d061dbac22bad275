"""The stages' log records in Serve's JSON replica log, without Ray: Serve's own
``configure_component_logger`` sets up the ``ray.serve`` logger as a replica does, into a
temporary directory, and Serve's replica context and request context are set as the
replica sets them before ``__init__`` and around each call."""

from __future__ import annotations

import builtins
import importlib
import json
import logging
import logging.config
import logging.handlers
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from ray.serve import context as serve_context
from ray.serve._private.common import DeploymentID, ReplicaID, ServeComponentType
from ray.serve._private.config import DeploymentConfig
from ray.serve._private.logging_utils import configure_component_logger
from ray.serve.schema import LoggingConfig

from deployments.observability.logs import (
    SERVE_LOGGER,
    STAGE_LOGGER,
    KeepFileTarget,
    route_stage_logs,
)

ROOT = Path(__file__).resolve().parents[3]

REPLICA = ReplicaID(unique_id="r1abc", deployment_id=DeploymentID(name="Retriever", app_name="rag"))
COMPONENT = f"{REPLICA.deployment_id.app_name}_{REPLICA.deployment_id.name}"


@pytest.fixture
def serve_logger(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Serve's replica logger (``Replica.__init__``), JSON lines into ``tmp_path``; the
    logging set-up of this process is put back afterwards."""
    serve, stages = logging.getLogger(SERVE_LOGGER), logging.getLogger(STAGE_LOGGER)
    saved = (serve.handlers[:], serve.level, serve.propagate, stages.parent, stages.level)
    # Serve redirects print and the std streams in a replica when it does not log to stderr.
    for name, value in (("stdout", sys.stdout), ("stderr", sys.stderr)):
        monkeypatch.setattr(sys, name, value)
    monkeypatch.setattr(builtins, "print", builtins.print)
    configure(tmp_path, "INFO")
    yield tmp_path
    for handler in serve.handlers:
        handler.close()
    serve.handlers[:] = saved[0]
    serve.setLevel(saved[1])
    serve.propagate = saved[2]
    stages.parent = saved[3]
    stages.setLevel(saved[4])


def configure(logs_dir: Path, level: str) -> None:
    configure_component_logger(
        component_name=COMPONENT,
        component_id=REPLICA.unique_id,
        component_type=ServeComponentType.REPLICA,
        logging_config=LoggingConfig(encoding="JSON", log_level=level, logs_dir=str(logs_dir)),
        max_bytes=1 << 20,
        backup_count=1,
    )


@pytest.fixture
def in_replica(monkeypatch: pytest.MonkeyPatch) -> None:
    """The replica context Serve sets before it calls the deployment's ``__init__``."""
    replica_context = serve_context.ReplicaContext(
        replica_id=REPLICA,
        servable_object=None,
        _deployment_config=DeploymentConfig(),
        rank=None,
        world_size=1,
    )
    monkeypatch.setattr(serve_context, "_INTERNAL_REPLICA_CONTEXT", replica_context)


def json_lines(logs_dir: Path) -> list[dict]:
    for handler in logging.getLogger(SERVE_LOGGER).handlers:
        handler.flush()
    (log_file,) = logs_dir.glob(f"replica_{COMPONENT}_{REPLICA.unique_id}.log")
    return [json.loads(line) for line in log_file.read_text().splitlines()]


def test_a_stage_record_is_a_json_line_with_the_request_id(serve_logger, in_replica, request_id):
    assert route_stage_logs() is True
    logging.getLogger("deployments.x").info("searched %d candidates", 50)
    (line,) = json_lines(serve_logger)
    assert line["message"] == "searched 50 candidates"
    assert line["levelname"] == "INFO"
    assert line["request_id"] == request_id
    assert line["route"] == "/v1/query"
    assert line["application"] == "rag"
    assert line["deployment"] == COMPONENT
    assert line["replica"] == REPLICA.unique_id


def test_every_deployments_logger_is_routed_once_however_often_it_is_called(
    serve_logger, in_replica, request_id
):
    early = logging.getLogger("deployments.common.store.milvus")  # made at import time
    assert route_stage_logs() and route_stage_logs()
    early.warning("waiting for Milvus")
    logging.getLogger("deployments.made.after").info("ready")
    logging.getLogger("elsewhere").warning("not a stage")
    lines = json_lines(serve_logger)
    assert [line["message"] for line in lines] == ["waiting for Milvus", "ready"]
    assert {line["request_id"] for line in lines} == {request_id}


def test_stage_records_follow_serve_level_and_a_reconfigured_logger(
    serve_logger, in_replica, tmp_path_factory
):
    route_stage_logs()
    logging.getLogger("deployments.x").debug("below INFO")
    assert json_lines(serve_logger) == []
    # A new logging_config: Serve refills the same logger (new file, new level).
    moved = tmp_path_factory.mktemp("reconfigured")
    configure(moved, "DEBUG")
    logging.getLogger("deployments.x").debug("now shown")
    assert [line["message"] for line in json_lines(moved)] == ["now shown"]
    assert "request_id" not in json_lines(moved)[0]  # outside a request


def test_outside_a_replica_nothing_changes(serve_logger, caplog):
    assert route_stage_logs() is False
    assert logging.getLogger(STAGE_LOGGER).parent is logging.root
    with caplog.at_level(logging.INFO, logger="deployments.x"):
        logging.getLogger("deployments.x").info("seen by caplog")
    assert "seen by caplog" in caplog.text
    assert json_lines(serve_logger) == []


# -- a library reconfiguring logging in the replica ---------------------------------------


def pymilvus_init_log() -> None:
    """What ``import pymilvus`` does (``pymilvus/settings.py``), as the Retriever, Reranker
    and Ingester do in ``__init__`` (their first ``MilvusStore``); the import itself does it
    when pymilvus was not imported yet in this process."""
    importlib.import_module("pymilvus.settings").init_log("WARNING")


def bare_dict_config() -> None:
    """Any non-incremental ``dictConfig``, ``disable_existing_loggers`` or not (vLLM's engine
    start, unless VLLM_CONFIGURE_LOGGING=0)."""
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})


def serve_file_handler() -> logging.handlers.MemoryHandler:
    """Serve's buffering handler in front of its log file (``configure_component_logger``)."""
    handlers = logging.getLogger(SERVE_LOGGER).handlers
    (memory,) = [h for h in handlers if isinstance(h, logging.handlers.MemoryHandler)]
    return memory


@pytest.fixture
def only_serve_handlers_closable(serve_logger, monkeypatch: pytest.MonkeyPatch) -> None:
    """``dictConfig`` closes every handler of the process (``logging._handlerList``): let it
    see Serve's only (console, buffer and file), so pytest's own handlers stay as they are."""
    handlers = logging.getLogger(SERVE_LOGGER).handlers
    mine = {h for h in handlers if type(h) is logging.StreamHandler}
    mine |= {serve_file_handler(), serve_file_handler().target}
    monkeypatch.setattr(logging, "_handlerList", [r for r in logging._handlerList if r() in mine])
    monkeypatch.setattr(logging, "_handlers", {})


@pytest.mark.parametrize("reconfigure", [pymilvus_init_log, bare_dict_config])
def test_without_the_guard_a_library_reconfiguring_logging_stops_serve_file(
    serve_logger, in_replica, only_serve_handlers_closable, reconfigure
):
    """The breakage: the console goes on, the file gets nothing more."""
    serve, memory = logging.getLogger(SERVE_LOGGER), serve_file_handler()
    serve.info("Started initializing replica.")
    reconfigure()
    serve.info("Reranker ready")
    assert memory in serve.handlers and memory.target is None  # closed, still attached
    assert memory.buffer[-1].getMessage() == "Reranker ready"  # kept in memory, never written
    assert [line["message"] for line in json_lines(serve_logger)] == [
        "Started initializing replica."
    ]


@pytest.mark.parametrize("reconfigure", [pymilvus_init_log, bare_dict_config])
def test_route_stage_logs_keeps_serve_file_written_after_a_library_reconfigures_logging(
    serve_logger, in_replica, only_serve_handlers_closable, request_id, reconfigure
):
    serve = logging.getLogger(SERVE_LOGGER)
    route_stage_logs()
    logging.getLogger("deployments.common.encoders.embedder").info("embedder loaded")
    reconfigure()  # MilvusStore(...): the first import of pymilvus
    logging.getLogger("deployments.common.store.schema").info("created Milvus collection")
    serve.info("CALL retrieve OK 41.2ms")  # Serve's own records too
    lines = json_lines(serve_logger)
    assert [line["message"] for line in lines] == [
        "embedder loaded",
        "created Milvus collection",
        "CALL retrieve OK 41.2ms",
    ]
    assert {line["request_id"] for line in lines} == {request_id}
    # ... and again if it happens twice (a second library).
    reconfigure()
    logging.getLogger("deployments.x").info("still written")
    assert json_lines(serve_logger)[-1]["message"] == "still written"


def test_the_guard_is_put_once_and_again_on_serve_new_handlers(
    serve_logger, in_replica, tmp_path_factory
):
    route_stage_logs()
    route_stage_logs()
    filters = serve_file_handler().filters
    assert [type(f) for f in filters].count(KeepFileTarget) == 1
    assert isinstance(filters[0], KeepFileTarget)  # before Serve's own
    configure(tmp_path_factory.mktemp("reconfigured"), "INFO")  # Serve's new handlers
    route_stage_logs()
    assert isinstance(serve_file_handler().filters[0], KeepFileTarget)


def test_outside_a_replica_no_guard_is_put(serve_logger):
    route_stage_logs()
    assert not any(isinstance(f, KeepFileTarget) for f in serve_file_handler().filters)


def test_vllm_is_told_not_to_reconfigure_logging_in_the_application():
    """The Generator (Ray's LLMServer) never calls route_stage_logs: vLLM's own dictConfig,
    when its engine starts, is switched off for every replica of the application."""
    config = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    (app,) = config["applications"]
    assert app["runtime_env"]["env_vars"]["VLLM_CONFIGURE_LOGGING"] == "0"
