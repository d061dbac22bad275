"""Where every stage finds Milvus, and whether the graph runs Milvus Lite itself."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from deployments.errors import ConfigError

_SERVER_SCHEMES = ("http", "https", "tcp")
_LOOPBACK = ("127.0.0.1", "localhost")


class LiteServerConfig(BaseModel):
    """``milvus-lite server`` run by the graph itself (its ``Milvus`` deployment)."""

    model_config = ConfigDict(extra="forbid")

    data_dir: str = Field(
        default="./data/milvus",
        min_length=1,
        description="Directory of the Milvus Lite data (created if missing; relative paths are "
        "resolved where `serve run` starts). One server process may use it at a time.",
    )
    start_timeout_s: float = Field(
        default=60.0, gt=0, le=600, description="Longest wait for the server to accept calls."
    )

    def resolved_data_dir(self, base: Path | None = None) -> Path:
        path = Path(self.data_dir).expanduser()
        return path if path.is_absolute() else (base or Path.cwd()) / path


class MilvusConfig(BaseModel):
    """The store every stage reaches by URI: a Milvus server, or Milvus Lite run as a server.

    Example:
        >>> MilvusConfig().lite_address
        ('127.0.0.1', 19530)
        >>> MilvusConfig(uri="./data/milvus.db")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        pydantic_core._pydantic_core.ValidationError: 1 validation error for MilvusConfig
        uri
          Value error, milvus.uri='./data/milvus.db' is a Milvus Lite file, which one process ...
    """

    model_config = ConfigDict(extra="forbid")

    uri: str = Field(
        default="http://127.0.0.1:19530",
        description="Milvus server URI every stage connects to, e.g. http://milvus:19530. With "
        "`lite` set it is where the graph's own milvus-lite server listens (a loopback address "
        "with a port).",
    )
    lite: LiteServerConfig | None = Field(
        default_factory=LiteServerConfig,
        description="Run `milvus-lite server` on this data directory as the graph's `Milvus` "
        "deployment (the local profile); null when `uri` is a Milvus you run (Kubernetes).",
    )
    token_env: str = Field(
        default="MILVUS_TOKEN",
        description="Environment variable holding the Milvus token ('user:password'), if any.",
    )
    token_file: str | None = Field(
        default=None,
        description="File holding the Milvus token (a Kubernetes Secret mounted as a file, "
        "which unlike an environment variable is not shown by `kubectl describe` nor "
        "inherited by every child process); read instead of `token_env` when set.",
    )
    collection: str = Field(
        default="rag_chunks",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,200}$",
        description="Chunk collection; passage token vectors go to '<collection>_tokens', the "
        "document library to '<collection>_docs', ingestion jobs to '<collection>_state'.",
    )
    timeout_s: float = Field(default=30.0, gt=0, description="Timeout of one Milvus call.")
    connect_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="How long a stage starting up waits for Milvus to accept connections.",
    )

    @field_validator("uri")
    @classmethod
    def _server_uri(cls, uri: str) -> str:
        parts = urlsplit(uri)
        if parts.scheme in _SERVER_SCHEMES and parts.hostname:
            return uri
        if uri.endswith(".db") or "://" not in uri:
            raise ValueError(
                f"milvus.uri={uri!r} is a Milvus Lite file, which one process can open, but the "
                "Retriever, Reranker and Ingester replicas each connect to the store. Let the "
                "graph run Milvus Lite as a server instead: milvus.uri: http://127.0.0.1:19530 "
                "with milvus.lite.data_dir: ./data/milvus"
            )
        raise ValueError(
            f"milvus.uri={uri!r} is not a Milvus server URI; use http://host:port, "
            "e.g. http://milvus:19530"
        )

    @model_validator(mode="after")
    def _lite_listens_on_loopback(self) -> MilvusConfig:
        if self.lite is not None:
            parts = urlsplit(self.uri)
            if parts.scheme != "http" or parts.hostname not in _LOOPBACK or parts.port is None:
                raise ValueError(
                    f"milvus.lite runs a local server, so milvus.uri must be where it listens: "
                    f"http://127.0.0.1:<port>, got {self.uri!r}; or set milvus.lite to null "
                    "to use the Milvus server at that URI"
                )
        return self

    @property
    def tokens_collection(self) -> str:
        """The collection of passage token vectors, beside the chunks."""
        return f"{self.collection}_tokens"

    @property
    def docs_collection(self) -> str:
        """The document library: one row per stored document."""
        return f"{self.collection}_docs"

    @property
    def state_collection(self) -> str:
        """Ingestion jobs, their inputs and the corpus stamp."""
        return f"{self.collection}_state"

    @property
    def lite_address(self) -> tuple[str, int]:
        """(host, port) the Lite server binds: those of ``uri``."""
        parts = urlsplit(self.uri)
        return parts.hostname or "127.0.0.1", parts.port or 19530

    def token(self) -> str:
        """The Milvus token: ``token_file``'s text (stripped) when set, else ``token_env``.

        Raises:
            ConfigError: ``token_file`` is set but cannot be read.
        """
        if self.token_file is None:
            return os.environ.get(self.token_env, "")
        try:
            return Path(self.token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the Milvus token from milvus.token_file={self.token_file!r} "
                f"({exc.strerror}); on Kubernetes, check that the secret is mounted there",
                param="milvus.token_file",
            ) from None
