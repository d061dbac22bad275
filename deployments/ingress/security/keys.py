"""API keys: the keys file (hashes only), its loading, and the per-request lookup.

A key is ``rag_`` + 43 URL-safe characters (32 random bytes, 256 bits). The file holds
its SHA-256, never the key. Unsalted SHA-256 is the right hash here: salts and slow
hashes (bcrypt, argon2) protect *low-entropy* passwords from dictionary attacks, and a
256-bit random key has no dictionary; a fast hash keeps verification at a microsecond
and one dict lookup per request (a salted hash would need the key's id in the token
or a scan of every entry), and a leaked file still gives no usable key. A pepper (an
HMAC secret kept apart from the file) would add nothing a 256-bit key lacks.

The file (YAML, or JSON, which YAML reads too)::

    keys:
    - id: alice
      sha256: 9f86d0...            # hashlib.sha256(key.encode()).hexdigest()
      scopes: [query]              # query, ingest, admin (admin implies the others)
      limits: {requests_per_min: 60, tokens_per_min: 20000}   # optional
      created: '2025-01-01T00:00:00+00:00'
      revoked: null                # a timestamp: the key no longer works
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from deployments.errors import ConfigError
from deployments.ingress.security.config import RateLimits

logger = logging.getLogger(__name__)

Scope = Literal["query", "ingest", "admin"]
"""``query``: /v1/query and /v1/search; ``ingest``: POST /v1/documents; ``admin``: all."""
SCOPES: tuple[Scope, ...] = ("query", "ingest", "admin")
PREFIX = "rag_"


def new_key() -> str:
    """A fresh API key: ``rag_`` and 256 random bits, URL-safe.

    >>> k = new_key(); k.startswith("rag_"), len(k)
    (True, 47)
    """
    return PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The SHA-256 (hex) the keys file stores for ``key``.

    >>> hash_key("test")[:16]
    '9f86d081884c7d65'
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyEntry(BaseModel):
    """One key in the keys file."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$",
        description="Name of the key (who holds it); logged and used for its quota.",
    )
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the key, hex.")
    scopes: list[Scope] = Field(min_length=1, description="What the key may call.")
    limits: RateLimits | None = Field(
        default=None,
        description="This key's budgets, replacing security.default_limits as a whole; "
        "omit for the defaults.",
    )
    created: str | None = Field(default=None, description="When it was created (ISO 8601).")
    revoked: str | None = Field(
        default=None, description="When it was revoked (ISO 8601); a revoked key is refused."
    )


class KeysFile(BaseModel):
    """The keys file: a list of entries with unique ids and hashes."""

    model_config = ConfigDict(extra="forbid")

    keys: list[KeyEntry] = Field(default_factory=list, description="Every key, revoked ones too.")

    @model_validator(mode="after")
    def _unique(self) -> KeysFile:
        for field in ("id", "sha256"):
            seen: set[str] = set()
            for entry in self.keys:
                value = getattr(entry, field)
                if value in seen:
                    shown = value if field == "id" else value[:12] + "…"
                    raise ValueError(f"two keys share {field} {shown!r}; remove one")
                seen.add(value)
        return self


def read_keys_file(path: str | Path) -> KeysFile:
    """Parse and validate the keys file at ``path``.

    Raises:
        ConfigError: the file is missing, unreadable, not YAML/JSON, or not a keys file;
            the message names the file and says how to fix it.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"ingress.security.api_keys={str(path)!r}: no such file; create it with "
            f"`python -m graph.keys create --file {path} --id NAME --scopes query`, or set "
            "api_keys: null for an open API",
            param="ingress.security.api_keys",
        ) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"ingress.security.api_keys={str(path)!r} cannot be read as YAML/JSON: {exc}",
            param="ingress.security.api_keys",
        ) from None
    try:
        return KeysFile.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(
            f"ingress.security.api_keys={str(path)!r} is not a valid keys file ({problems}); "
            "fix it, or rewrite it with `python -m graph.keys`",
            param="ingress.security.api_keys",
        ) from None


def write_keys_file(path: str | Path, keys: KeysFile) -> None:
    """Write ``keys`` to ``path`` atomically, readable by its owner only (JSON for a
    ``.json`` path, else YAML)."""
    path = Path(path)
    data = keys.model_dump(exclude_none=True)
    if path.suffix == ".json":
        text = json.dumps(data, indent=2) + "\n"
    else:
        text = "# API keys of rag-serve: hashes only; manage with `python -m graph.keys`.\n"
        text += yaml.safe_dump(data, sort_keys=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Caller:
    """Who sent a request (``request.state.caller``): the key's id, scopes and budgets.
    ``key_id`` is None when the API is open."""

    key_id: str | None
    scopes: frozenset[str]
    limits: RateLimits

    def allows(self, scope: Scope) -> bool:
        """Whether the key may call a route needing ``scope`` (``admin`` may call all).

        >>> Caller("a", frozenset({"admin"}), RateLimits()).allows("ingest")
        True
        """
        return scope in self.scopes or "admin" in self.scopes


def callers(keys: KeysFile, default_limits: RateLimits) -> dict[str, Caller]:
    """SHA-256 -> caller, for every key not revoked."""
    return {
        e.sha256: Caller(e.id, frozenset(e.scopes), e.limits or default_limits)
        for e in keys.keys
        if e.revoked is None
    }


class KeyStore:
    """The keys of one keys file, looked up by hash; re-read when the file changes.

    The file's (mtime, size, inode) is checked at most every ``reload_interval_s``
    seconds, so an edit (``python -m graph.keys revoke``, a rotated Kubernetes Secret)
    takes effect without a restart. A bad edit keeps the last good keys and logs an
    error; a bad file at start raises (see :func:`read_keys_file`).
    """

    def __init__(
        self,
        path: str | Path,
        default_limits: RateLimits,
        reload_interval_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self._defaults = default_limits
        self._interval = reload_interval_s
        self._clock = clock
        self._stamp = self._file_stamp()
        self._callers = callers(read_keys_file(self.path), default_limits)
        self._checked = clock()

    def __len__(self) -> int:
        return len(self._callers)

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def _maybe_reload(self) -> None:
        now = self._clock()
        if now - self._checked < self._interval:
            return
        self._checked = now
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return
        try:
            self._callers = callers(read_keys_file(self.path), self._defaults)
        except ConfigError as exc:
            logger.error("keys file changed but is unusable; keeping the last keys: %s", exc)
        else:
            logger.info("reloaded %d API key(s) from %s", len(self._callers), self.path)
        self._stamp = stamp

    def lookup(self, key: str) -> Caller | None:
        """The caller holding ``key``, or None if it is unknown or revoked."""
        self._maybe_reload()
        return self._callers.get(hash_key(key))
