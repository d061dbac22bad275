"""Ingest the benchmark corpus into its collection (``python -m loadtests.prepare``).

Its own process, like every part of the benchmark, so its models and threads are gone
before the next part is measured. It runs the graph's own Ingester against the bench's
Milvus server. Documents already stored are skipped, so a second benchmark run reuses the
collection.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from deployments.types import Document
from graph.evaluation.pipeline import build_stages, ingest
from loadtests.spec import BenchSpec


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 3:
        print("usage: python -m loadtests.prepare SPEC.json DOCS.jsonl OUT.json", file=sys.stderr)
        return 2
    spec = BenchSpec.model_validate_json(Path(args[0]).read_text())
    with Path(args[1]).open(encoding="utf-8") as f:
        docs = [Document(**json.loads(line)) for line in f if line.strip()]
    stages = build_stages(spec.app_config(), uri=spec.milvus_uri, collection=spec.collection)
    t = time.perf_counter()
    try:
        stored = asyncio.run(ingest(stages, docs))
        chunks = stages.store.count()
    finally:
        stages.store.close()
    result = {**stored, "chunks": chunks, "seconds": round(time.perf_counter() - t, 1)}
    Path(args[2]).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
