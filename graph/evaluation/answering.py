"""Answer quality of the modes that generate (``full``, ``agents``), in process.

Each question is answered by ``Supervisor.answer`` with the extractive generator (what
the graph serves without an LLM). Scored:

- answer exact match, F1 and ``contains`` (the gold answer inside the answer's sentences)
  against ``metadata.answer`` (SQuAD normalisation);
- groundedness: the share of answer sentences that the passages they cite support (the
  validator's own test, :func:`~deployments.supervisor.agents.validate.judge`);
- abstention: the same questions asked again with their relevant documents filtered out
  of the search (``doc_id not in [...]``): the share answered with the abstention; and
  false abstention: the share abstained on with the evidence present;
- agent selection accuracy, for questions with a ``metadata.type`` the agents map to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from tqdm import tqdm

from deployments.common.store.expr import field_in
from deployments.supervisor.agents.validate import judge
from deployments.types import Answer
from graph.evaluation.answers import abstention_scores, answer_span_scores, by_type, groundedness
from graph.evaluation.beir import Dataset
from graph.evaluation.metrics import latency_summary
from graph.evaluation.pipeline import Stages

ANSWER_MODES = ("full", "agents")
TOP_K = 5
#: Which agent kinds are right for a question type of the datasets here.
EXPECTED_KINDS: dict[str, tuple[str, ...]] = {
    "bridge": ("multihop", "graph", "multihop_graph"),
    "comparison": ("comparison",),
}


def selection_accuracy(traces: Mapping[str, dict], types: Mapping[str, str]) -> dict[str, Any]:
    """Share of typed questions whose first chosen agent is of a kind right for the type,
    overall and per type, with the counts of what was chosen.

    >>> t = {"q1": {"chosen": ["multihop"], "agents": [{"agent": "multihop", "kind": "graph"}]}}
    >>> selection_accuracy(t, {"q1": "bridge"})["accuracy"]
    1.0
    """
    right: dict[str, list[bool]] = {}
    chosen: dict[str, dict[str, int]] = {}
    for qid, kind in types.items():
        trace = traces.get(qid)
        if trace is None or kind not in EXPECTED_KINDS or not trace.get("chosen"):
            continue
        first = trace["chosen"][0]
        agent_kind = next(a["kind"] for a in trace["agents"] if a["agent"] == first)
        right.setdefault(kind, []).append(agent_kind in EXPECTED_KINDS[kind])
        chosen.setdefault(kind, {}).setdefault(first, 0)
        chosen[kind][first] += 1
    pooled = [r for rs in right.values() for r in rs]
    return {
        "accuracy": sum(pooled) / len(pooled) if pooled else None,
        "by_type": {k: sum(v) / len(v) for k, v in sorted(right.items())},
        "chosen": chosen,
        "questions": len(pooled),
    }


def answer_modes(
    stages: Stages,
    data: Dataset,
    modes: Sequence[str],
    *,
    abstention_queries: int,
) -> dict[str, dict[str, Any]]:
    """Answer quality per generating mode (see the module docstring)."""
    return {
        mode: asyncio.run(_answer_mode(stages, data, mode, abstention_queries))
        for mode in modes
        if mode in ANSWER_MODES
    }


async def _answer_mode(
    stages: Stages, data: Dataset, mode: str, abstention_queries: int
) -> dict[str, Any]:
    supervisor = stages.supervisor(answers=True)
    agents = mode == "agents"
    abstain = stages.cfg.supervisor.agents.abstain_text
    threshold = stages.cfg.supervisor.agents.support_threshold
    gold = data.answers()
    per_query: dict[str, dict[str, float | None]] = {}
    supported: list[list[bool]] = []
    abstained_with: list[bool] = []
    latencies: list[float] = []
    for qid, question in tqdm(data.queries.items(), desc=f"{mode} answers", leave=False):
        answer: Answer = await supervisor.answer(question, TOP_K, agents=agents)
        latencies.append(answer.timings_ms["total"])
        said_nothing = answer.answer.strip() == abstain
        abstained_with.append(said_nothing)
        verdicts = [] if said_nothing else judge(answer.answer, answer.citations, threshold)
        supported.append([v.supported for v in verdicts])
        row: dict[str, float | None] = {"abstained": float(said_nothing)}
        if qid in gold:
            row.update(answer_span_scores(answer.answer, gold[qid]))
        per_query[qid] = row
    abstained_without = []
    for qid in list(data.queries)[:abstention_queries]:
        relevant = [d for d, grade in data.qrels[qid].items() if grade > 0]
        where = f"not ({field_in('doc_id', relevant)})"
        answer = await supervisor.answer(data.queries[qid], TOP_K, agents=agents, where=where)
        abstained_without.append(answer.answer.strip() == abstain)
    return {
        "top_k": TOP_K,
        "groundedness": groundedness(supported),
        **abstention_scores(abstained_without, abstained_with),
        "abstention_questions": len(abstained_without),
        "by_type": by_type(per_query, data.types()),
        **latency_summary(latencies),
    }
