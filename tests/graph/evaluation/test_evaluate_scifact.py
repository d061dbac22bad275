"""The CI-sized quality run: a SciFact subset through the real retrieval code, compared
against the committed baseline report, so a change that costs quality fails CI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph.evaluate import main
from tests.support.shared import shared_dataset

ROOT = Path(__file__).resolve().parents[3]
BASELINE = ROOT / "docs" / "quality" / "scifact-train-ci.json"

pytestmark = pytest.mark.slow


def test_scifact_subset_holds_the_baseline(tmp_path):
    output = tmp_path / "report.json"
    code = main(
        [
            "--dataset",
            str(shared_dataset("scifact")),
            "--split",
            "train",
            "--max-queries",
            "100",
            "--max-docs",
            "400",
            "--output",
            str(output),
            "--milvus-dir",
            str(tmp_path / "milvus"),
            "--baseline",
            str(BASELINE),
            "--tolerance",
            "0.01",
        ]
    )
    report = json.loads(output.read_text())
    assert code == 0, json.dumps(report["modes"], indent=1)
    modes = report["modes"]
    assert modes["hybrid"]["ndcg@10"] > 0.5
    assert output.with_suffix(".md").read_text().count("\n") == len(modes) + 2
