"""The shared material beside the checkout (``../shared``): found, or the test fails."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"


def shared_file(relative: str) -> Path:
    """``../shared/<relative>``; the test that needs it FAILS when it is missing."""
    path = SHARED / relative
    if not path.is_file():
        pytest.fail(
            f"{path} is missing: this test needs the shared material beside the checkout "
            f"(../shared/{relative})",
            pytrace=False,
        )
    return path


def shared_dataset(name: str) -> Path:
    """``../shared/datasets/<name>``; a test that needs it FAILS when it is missing (a skip
    would let CI pass without running it)."""
    path = SHARED / "datasets" / name
    if not (path / "corpus.jsonl").is_file():
        pytest.fail(
            f"{path} is missing: this test needs the shared dataset {name!r} beside the "
            "checkout (../shared/datasets/). Put the shared material there, or deselect the "
            "test explicitly (-m 'not slow')",
            pytrace=False,
        )
    return path
