"""``Milvus`` deployment: runs ``milvus-lite server`` on the local profile.

Every stage reaches the store by ``milvus.uri``, exactly as on Kubernetes with a Milvus
cluster; this deployment only owns the server process. Serve health-checks it and
restarts the replica (and so the server, on the same data directory) if the server
dies. It must run one replica: a second server on the same data directory is refused by
Milvus Lite's lock, and the error says so.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ray import serve

from deployments.common.store.config import MilvusConfig
from deployments.common.store.lite import LiteServer, port_in_use
from deployments.errors import ConfigError, StageUnavailableError
from deployments.observability.logs import route_stage_logs

logger = logging.getLogger(__name__)

DEPLOYMENT_NAME = "Milvus"


# Health checks every 3 s (Serve's default is 10): a dead server is replaced within ~10 s.
@serve.deployment(
    name=DEPLOYMENT_NAME,
    num_replicas=1,
    health_check_period_s=3,
    ray_actor_options={"num_cpus": 0.1},
)
class MilvusLite:
    """Owns one ``milvus-lite server`` process.

    Args:
        config: The application's ``MilvusConfig`` (or its dict form) with ``lite`` set
            and ``lite.data_dir`` already absolute.
    """

    def __init__(self, config: dict[str, Any] | MilvusConfig) -> None:
        route_stage_logs()  # this replica's deployments.* logs through Serve's logger
        cfg = MilvusConfig.model_validate(config)
        if cfg.lite is None:
            raise ConfigError(
                "the Milvus deployment runs Milvus Lite, but milvus.lite is null",
                param="milvus.lite",
            )
        host, port = cfg.lite_address
        self._server = LiteServer(
            Path(cfg.lite.data_dir),
            host=host,
            port=port,
            start_timeout_s=cfg.lite.start_timeout_s,
        )
        self.uri = self._server.start()
        logger.info("Milvus Lite serving %s on %s", cfg.lite.data_dir, self.uri)

    def check_health(self) -> None:
        """Unhealthy when the server died or stopped listening: Serve then restarts this
        replica, which restarts the server on the same data (its WAL replays)."""
        if not self._server.alive():
            raise StageUnavailableError(f"milvus-lite server on {self.uri} exited")
        if not port_in_use(self._server.host, self._server.port):
            raise StageUnavailableError(f"milvus-lite server on {self.uri} stopped listening")

    def __del__(self) -> None:
        server = getattr(self, "_server", None)
        if server is not None:
            server.stop()


def build_milvus_deployment(cfg: MilvusConfig) -> serve.Application:
    """The one-replica Milvus Lite deployment (``cfg.lite`` must be set)."""
    if cfg.lite is None:
        raise ConfigError("milvus.lite is null: the graph does not run Milvus", param="milvus.lite")
    return MilvusLite.bind(cfg.model_dump())
