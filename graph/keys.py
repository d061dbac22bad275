"""Manage the API keys file: ``python -m graph.keys create|list|revoke``.

python -m graph.keys create --file keys.yaml --id alice --scopes query
python -m graph.keys create --file keys.yaml --id loader --scopes ingest --requests-per-min 30
python -m graph.keys list --file keys.yaml
python -m graph.keys revoke --file keys.yaml --id alice

``create`` prints the new key once, alone on stdout (``KEY=$(python -m graph.keys create
...)``), and stores only its SHA-256; it cannot be shown again. Point the graph at the
file with ``ingress.security.api_keys`` (serve_config.yaml args; on Kubernetes, put it
in the ``rag-serve-api-keys`` Secret, see README). A running graph re-reads the file
within ``ingress.security.reload_interval_s``, so a revoked key stops working without a
restart.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from deployments.errors import ConfigError
from deployments.ingress.security.config import RateLimits
from deployments.ingress.security.keys import (
    SCOPES,
    KeyEntry,
    KeysFile,
    hash_key,
    new_key,
    read_keys_file,
    write_keys_file,
)

DEFAULT_FILE = "keys.yaml"


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _load(path: Path, *, missing_ok: bool = False) -> KeysFile:
    if missing_ok and not path.exists():
        return KeysFile()
    return read_keys_file(path)


def create(
    path: Path,
    key_id: str,
    scopes: list[str],
    requests_per_min: float | None = None,
    tokens_per_min: float | None = None,
) -> str:
    """Add a key to the file at ``path`` (made if missing); returns the plain key.

    Raises:
        ConfigError: the id is taken, a value is invalid, or the file is unusable.
    """
    keys = _load(path, missing_ok=True)
    if any(e.id == key_id for e in keys.keys):
        raise ConfigError(
            f"--id {key_id!r} is already in {path}; pick another id (revoked ids stay "
            "taken, so logs keep meaning one holder)",
            param="id",
        )
    key = new_key()
    try:
        limits = (
            RateLimits(requests_per_min=requests_per_min, tokens_per_min=tokens_per_min)
            if requests_per_min is not None or tokens_per_min is not None
            else None
        )
        entry = KeyEntry(
            id=key_id,
            sha256=hash_key(key),
            scopes=sorted(set(scopes), key=SCOPES.index),
            limits=limits,
            created=_now(),
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][-1]) if err["loc"] else "value"
        raise ConfigError(f"--{name.replace('_', '-')}: {err['msg']}", param=name) from None
    write_keys_file(path, KeysFile(keys=[*keys.keys, entry]))
    return key


def revoke(path: Path, key_id: str) -> KeyEntry:
    """Mark key ``key_id`` revoked (it stays listed, so its id is not reused)."""
    keys = _load(path)
    entries = list(keys.keys)
    for i, entry in enumerate(entries):
        if entry.id == key_id:
            if entry.revoked is not None:
                raise ConfigError(
                    f"key {key_id!r} was already revoked at {entry.revoked}", param="id"
                )
            entries[i] = entry.model_copy(update={"revoked": _now()})
            write_keys_file(path, KeysFile(keys=entries))
            return entries[i]
    known = ", ".join(e.id for e in entries) or "none"
    raise ConfigError(f"no key {key_id!r} in {path} (ids: {known})", param="id")


def describe(entry: KeyEntry) -> str:
    """One line of ``list``: id, state, scopes, limits, hash prefix.

    >>> describe(KeyEntry(id="a", sha256="0" * 64, scopes=["query"]))
    'a\\tactive\\tquery\\tdefault limits\\tsha256:00000000'
    """
    state = f"revoked {entry.revoked}" if entry.revoked else "active"
    if entry.limits is None:
        limits = "default limits"
    else:
        parts = [
            f"{name}={value:g}" if value is not None else f"{name}=unlimited"
            for name, value in entry.limits.model_dump().items()
        ]
        limits = ",".join(parts)
    return "\t".join(
        [entry.id, state, ",".join(entry.scopes), limits, f"sha256:{entry.sha256[:8]}"]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m graph.keys",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("create", "add a key; print it once"),
        ("list", "show every key (never the key itself)"),
        ("revoke", "stop a key from working"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument(
            "--file", type=Path, default=Path(DEFAULT_FILE), help="keys file (%(default)s)"
        )
        if name != "list":
            cmd.add_argument("--id", required=True, help="name of the key (who holds it)")
        if name == "create":
            cmd.add_argument(
                "--scopes", nargs="+", choices=SCOPES, required=True, help="admin implies all"
            )
            cmd.add_argument("--requests-per-min", type=float, help="default: the config's")
            cmd.add_argument("--tokens-per-min", type=float, help="default: the config's")
    args = parser.parse_args(argv)
    try:
        if args.command == "create":
            key = create(
                args.file, args.id, args.scopes, args.requests_per_min, args.tokens_per_min
            )
            print(key)
            print(
                f"created key {args.id!r} in {args.file}; the line above is the key: store it "
                "now, it is not kept (the file holds only its SHA-256)",
                file=sys.stderr,
            )
        elif args.command == "revoke":
            revoke(args.file, args.id)
            print(f"revoked key {args.id!r} in {args.file}", file=sys.stderr)
        else:
            for entry in _load(args.file).keys:
                print(describe(entry))
        return 0
    except ConfigError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
