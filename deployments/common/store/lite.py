"""``milvus-lite server`` as a child process: the local profile's Milvus.

A Milvus Lite data directory can be opened by one process only (it holds a ``LOCK``
file), so the graph runs one server on it and every stage connects by URI, as they would
to a Milvus cluster. The ``Milvus`` deployment owns the server in the graph; the
evaluation and benchmark tools start their own with :class:`LiteServer` as a context
manager.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from deployments.errors import ConfigError, StageUnavailableError

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec (Linux)
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # not glibc: the server then outlives a killed parent
        pass


def port_in_use(host: str, port: int) -> bool:
    """True when something already accepts connections on ``host:port``."""
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex((host, port)) == 0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class LiteServer:
    """One ``milvus-lite server`` process on ``data_dir``, listening on ``host:port``.

    The child is killed with its parent (``PR_SET_PDEATHSIG`` on Linux), so a replica
    that dies does not leave a server holding the data directory and the port.

    Args:
        data_dir: Milvus Lite data directory (created if missing).
        host: Bind address; loopback, since nothing else needs to reach it.
        port: Bind port.
        start_timeout_s: Longest wait for the server to accept connections.
    """

    def __init__(
        self, data_dir: Path, *, host: str = "127.0.0.1", port: int, start_timeout_s: float = 60
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host, self.port = host, port
        self.start_timeout_s = start_timeout_s
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.server.log"
        self._proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        """Start the server and wait until it accepts connections; returns its URI.

        Raises:
            ConfigError: The port is taken, or another process holds the data directory.
            StageUnavailableError: The server exited or did not come up in time.
        """
        if port_in_use(self.host, self.port):
            raise ConfigError(
                f"cannot start milvus-lite server on {self.uri}: the port is in use (another "
                "graph, Milvus or program). Pick a free port in milvus.uri",
                param="milvus.uri",
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "milvus_lite",
            "server",
            "--data-dir",
            str(self.data_dir),
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )
        logger.info(
            "milvus-lite server pid %d on %s, data %s", self._proc.pid, self.uri, self.data_dir
        )
        self._wait_ready()
        return self.uri

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise self._exit_error()
            if port_in_use(self.host, self.port):
                return
            time.sleep(0.2)
        self.stop()
        raise StageUnavailableError(
            f"milvus-lite server on {self.uri} did not accept connections within "
            f"{self.start_timeout_s}s; its log: {self.log_path}"
        )

    def _exit_error(self) -> Exception:
        tail = self.log_path.read_text(errors="replace").strip().splitlines()[-5:]
        text = " | ".join(tail)
        if "DataDirLockedError" in text:
            return ConfigError(
                f"milvus-lite server cannot open {self.data_dir}: another process holds it. "
                "One Milvus Lite server may use a data directory: the graph's Milvus "
                "deployment must run one replica, and no other graph or tool may use "
                "milvus.lite.data_dir at the same time",
                param="milvus.lite.data_dir",
            )
        return StageUnavailableError(
            f"milvus-lite server on {self.uri} exited with {self._proc.returncode}: {text}"
        )

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout_s: float = 20) -> None:
        """SIGINT (the server closes its collections and releases the data directory, as
        on Ctrl-C), then SIGKILL if it lingers."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> LiteServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
