"""Reading a BEIR-format dataset: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from deployments.types import Document


@dataclass(frozen=True)
class Dataset:
    """Documents, queries and relevance judgments (``qrels[qid][doc_id] = grade``)."""

    name: str
    documents: list[Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    meta: dict[str, dict] = field(default_factory=dict)
    """Each query's ``metadata`` (e.g. HotpotQA's ``answer`` and ``type``), when it has any."""

    def types(self) -> dict[str, str]:
        """Query id -> its ``metadata.type``, for the queries that have one."""
        return {q: m["type"] for q, m in self.meta.items() if isinstance(m.get("type"), str)}

    def answers(self) -> dict[str, str]:
        """Query id -> its ``metadata.answer``, for the queries that have one."""
        return {q: m["answer"] for q, m in self.meta.items() if isinstance(m.get("answer"), str)}


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing; a BEIR dataset has corpus.jsonl, "
            "queries.jsonl and qrels/<split>.tsv"
        )
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``query-id  corpus-id  score`` rows (tab-separated, one header line)."""
    if not path.is_file():
        splits = sorted(p.stem for p in path.parent.glob("*.tsv"))
        raise FileNotFoundError(f"{path} is missing; splits here: {', '.join(splits) or 'none'}")
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as f:
        rows = csv.reader(f, delimiter="\t")
        next(rows, None)
        for qid, doc_id, score, *_ in rows:
            qrels.setdefault(qid, {})[doc_id] = int(score)
    return qrels


def load_dataset(
    root: Path, split: str, *, max_queries: int | None = None, max_docs: int | None = None
) -> Dataset:
    """Load a dataset, optionally a deterministic subset for quick runs.

    The subset keeps the first ``max_queries`` judged queries (file order), every
    document judged for them, then fills up to ``max_docs`` with other documents in
    file order, so each kept query has its relevant documents among distractors.
    """
    qrels = read_qrels(root / "qrels" / f"{split}.tsv")
    rows = [q for q in _read_jsonl(root / "queries.jsonl") if q["_id"] in qrels]
    queries = {q["_id"]: q["text"] for q in rows}
    qids = list(queries)[:max_queries] if max_queries else list(queries)
    queries = {qid: queries[qid] for qid in qids}
    qrels = {qid: qrels[qid] for qid in qids}
    corpus = _read_jsonl(root / "corpus.jsonl")
    if max_docs:
        needed = {d for rels in qrels.values() for d in rels}
        kept = [d for d in corpus if d["_id"] in needed]
        kept += [d for d in corpus if d["_id"] not in needed][: max(0, max_docs - len(kept))]
        corpus = kept
    documents = [
        Document(doc_id=d["_id"], text=d.get("text", ""), title=d.get("title", ""))
        for d in corpus
        if d.get("text", "").strip()
    ]
    meta = {q["_id"]: q["metadata"] for q in rows if q["_id"] in queries and q.get("metadata")}
    return Dataset(root.name, documents, queries, qrels, meta)
