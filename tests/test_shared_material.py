"""Tests that need ../shared fail, never skip, when it is missing."""

from __future__ import annotations

import pytest

from tests.support.shared import shared_dataset, shared_file


def test_a_missing_dataset_fails_the_test_that_needs_it() -> None:
    with pytest.raises(pytest.fail.Exception, match="no-such-dataset.*is missing"):
        shared_dataset("no-such-dataset")
    with pytest.raises(pytest.fail.Exception, match="is missing"):
        shared_file("k8s-schemas/no-such-crd.yaml")


def test_the_shared_material_this_checkout_uses_is_there() -> None:
    assert (shared_dataset("scifact") / "queries.jsonl").is_file()
    assert (shared_dataset("hotpotqa") / "qrels" / "dev.tsv").is_file()
    assert shared_file("k8s-schemas/ray.io_rayservices.yaml").stat().st_size > 0
