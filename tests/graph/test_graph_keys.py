"""``python -m graph.keys``: create (the key printed once, its hash stored), list, revoke."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deployments.ingress.security.config import RateLimits
from deployments.ingress.security.keys import KeyStore, hash_key, read_keys_file
from graph.app import resolve_paths
from graph.config import load_config
from graph.keys import main

ROOT = Path(__file__).resolve().parents[2]


def _create(capsys, path: Path, *args: str) -> str:
    assert main(["create", "--file", str(path), *args]) == 0
    out, err = capsys.readouterr()
    assert "store it now" in err
    return out.strip()


def test_create_prints_the_key_once_and_stores_only_its_hash(tmp_path: Path, capsys) -> None:
    path = tmp_path / "secrets" / "keys.yaml"
    key = _create(capsys, path, "--id", "alice", "--scopes", "query")
    assert key.startswith("rag_") and len(key) == 47
    text = path.read_text()
    assert key not in text and hash_key(key) in text
    assert path.stat().st_mode & 0o077 == 0  # owner only
    (entry,) = read_keys_file(path).keys
    assert (entry.id, entry.scopes, entry.limits, entry.revoked) == ("alice", ["query"], None, None)
    assert entry.created
    # The Ingress finds the key by its hash.
    store = KeyStore(path, RateLimits())
    assert store.lookup(key).key_id == "alice"


def test_create_appends_with_scopes_and_limits(tmp_path: Path, capsys) -> None:
    path = tmp_path / "keys.yaml"
    first = _create(capsys, path, "--id", "alice", "--scopes", "query")
    second = _create(
        capsys,
        path,
        "--id",
        "loader",
        "--scopes",
        "ingest",
        "query",
        "--requests-per-min",
        "30",
        "--tokens-per-min",
        "5000",
    )
    assert first != second
    entries = read_keys_file(path).keys
    assert [e.id for e in entries] == ["alice", "loader"]
    assert entries[1].scopes == ["query", "ingest"]
    assert entries[1].limits == RateLimits(requests_per_min=30, tokens_per_min=5000)
    raw = yaml.safe_load(path.read_text())
    assert "revoked" not in raw["keys"][0]  # unset fields are left out


def test_list_shows_entries_never_keys(tmp_path: Path, capsys) -> None:
    path = tmp_path / "keys.yaml"
    key = _create(capsys, path, "--id", "alice", "--scopes", "admin", "--requests-per-min", "60")
    assert main(["list", "--file", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("alice\tactive\tadmin\trequests_per_min=60,tokens_per_min=unlimited")
    assert key not in out and hash_key(key) not in out  # a hash prefix only


def test_revoke_marks_the_key_and_keeps_its_id_taken(tmp_path: Path, capsys) -> None:
    path = tmp_path / "keys.yaml"
    key = _create(capsys, path, "--id", "alice", "--scopes", "query")
    assert main(["revoke", "--file", str(path), "--id", "alice"]) == 0
    (entry,) = read_keys_file(path).keys
    assert entry.revoked is not None
    assert KeyStore(path, RateLimits()).lookup(key) is None
    main(["list", "--file", str(path)])
    assert "\trevoked " in capsys.readouterr().out
    assert main(["revoke", "--file", str(path), "--id", "alice"]) == 2
    assert "already revoked" in capsys.readouterr().err
    assert main(["create", "--file", str(path), "--id", "alice", "--scopes", "query"]) == 2
    assert "already in" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv,message",
    [
        (["revoke", "--id", "bob"], "no key 'bob'"),
        (["create", "--id", "bad id", "--scopes", "query"], "--id: String should match"),
        (
            ["create", "--id", "x", "--scopes", "query", "--requests-per-min", "0.5"],
            "--requests-per-min: Input should be greater than or equal to 1",
        ),
    ],
)
def test_errors_name_the_option(tmp_path: Path, capsys, argv, message) -> None:
    path = tmp_path / "keys.yaml"
    _create(capsys, path, "--id", "alice", "--scopes", "query")
    assert main([argv[0], "--file", str(path), *argv[1:]]) == 2
    assert message in capsys.readouterr().err


def test_a_malformed_file_is_not_overwritten(tmp_path: Path, capsys) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("keys: [oops")
    assert main(["create", "--file", str(path), "--id", "a", "--scopes", "query"]) == 2
    assert "cannot be read" in capsys.readouterr().err
    assert path.read_text() == "keys: [oops"


def test_json_files_are_written_as_json(tmp_path: Path, capsys) -> None:
    path = tmp_path / "keys.json"
    _create(capsys, path, "--id", "alice", "--scopes", "query")
    assert path.read_text().lstrip().startswith("{")
    assert read_keys_file(path).keys[0].id == "alice"


def test_the_module_runs_as_a_script(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "graph.keys", "create", "--file", str(path), "--id", "a"]
        + ["--scopes", "query"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert hash_key(done.stdout.strip()) == read_keys_file(path).keys[0].sha256


def test_a_relative_keys_path_is_made_absolute_where_the_graph_is_built(tmp_path: Path) -> None:
    cfg = load_config({"ingress": {"security": {"api_keys": "conf/keys.yaml"}}})
    resolved = resolve_paths(cfg, tmp_path)
    assert resolved.ingress.security.api_keys == str(tmp_path / "conf" / "keys.yaml")
    absolute = load_config({"ingress": {"security": {"api_keys": "/etc/rag/keys/keys.yaml"}}})
    assert resolve_paths(absolute, tmp_path).ingress.security.api_keys == "/etc/rag/keys/keys.yaml"
