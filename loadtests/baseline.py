"""The naive baseline: the same models and collection in one process, one request at a time.

What a user would write without this project: a loop that rewrites the query, embeds
it, searches Milvus, fetches the candidates' token vectors, reranks with MaxSim and asks
the LLM (vLLM's offline ``LLM``, the
same engine settings as the graph's), with no Serve, no batching and no overlap between
requests. It runs as its own process (``python -m loadtests.baseline SPEC OUT``) so its vLLM
engine is gone before the graph starts.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from deployments.common.extractive import extractive_answer
from deployments.common.fusion import rrf_fuse
from deployments.common.prompt import build_messages
from deployments.reranker import core as rerank_core
from deployments.rewriter.core import rewrite
from deployments.supervisor.graph import apply_verdicts
from deployments.types import Candidate, Hit
from graph.config import AppConfig
from graph.evaluation.pipeline import Stages, build_stages
from loadtests.spec import BenchSpec
from loadtests.stats import stage_means, summarize

logger = logging.getLogger(__name__)

Generate = Callable[[str, Sequence[Hit]], str]


@dataclass
class NaivePipeline:
    """rewrite -> embed -> search -> rerank -> generate, sequentially, timing each step."""

    stages: Stages
    generate: Generate | None

    def run(self, query: str, top_k: int) -> dict[str, float]:
        """Answer one query; returns milliseconds per stage and in total."""
        cfg = self.stages.cfg
        times: dict[str, float] = {}
        t = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal t
            now = time.perf_counter()
            times[stage] = round((now - t) * 1000.0, 3)
            t = now

        start = t
        rw = rewrite(query, cfg.rewriter)
        queries = list(rw.search_queries) if rw.fans_out else [rw.query]
        lap("rewrite")
        vectors = self.stages.embedder.embed(queries)
        lap("embed")
        lists = self.stages.store.search(
            queries,
            vectors,
            mode=cfg.retriever.mode,
            limit=cfg.retriever.candidates,
            rrf_k=cfg.retriever.rrf_k,
        )
        hits = lists[0] if len(lists) == 1 else rrf_fuse(lists, k=cfg.supervisor.fusion_k)
        head = hits[: cfg.supervisor.rerank_depth]
        blobs = self.stages.store.fetch_tokens([h.chunk_id for h in head])
        lap("search")
        (query_vecs,) = self.stages.encoder.encode_queries([rw.query])
        verdicts = rerank_core.rerank(
            query_vecs,
            [Candidate(h.chunk_id, h.score) for h in head],
            blobs,
            top_k,
            first_stage_weight=cfg.reranker.first_stage_weight,
            fusion_k=cfg.reranker.fusion_k,
        )
        hits = apply_verdicts(hits, verdicts)[:top_k]
        lap("rerank")
        if self.generate is not None:
            self.generate(query, hits)
            lap("generate")
        times["total"] = round((time.perf_counter() - start) * 1000.0, 3)
        return times


def vllm_generate(cfg: AppConfig, model_source: str) -> Generate:
    """vLLM's offline engine with the graph's engine settings; one chat per call."""
    from vllm import LLM, SamplingParams

    gen = cfg.generator
    llm = LLM(model=model_source, **gen.engine_kwargs)
    params = SamplingParams(
        max_tokens=gen.max_tokens, temperature=gen.temperature, ignore_eos=gen.ignore_eos
    )

    def generate(query: str, hits: Sequence[Hit]) -> str:
        messages = build_messages(
            query,
            hits,
            max_chars=gen.max_passage_chars,
            max_prompt_tokens=gen.generation().max_prompt_tokens,
        )
        (out,) = llm.chat(messages, params, use_tqdm=False)
        return out.outputs[0].text

    return generate


def run_baseline(spec: BenchSpec) -> dict[str, dict]:
    """Both paths one request at a time: ``query`` (with generation) and ``search``.

    Each runs ``spec.baseline_requests`` queries after ``spec.warmup`` unmeasured ones.
    """
    cfg = spec.app_config()
    stages = build_stages(cfg, uri=spec.milvus_uri, collection=spec.collection)
    try:
        if spec.generator_source is None:
            generate: Generate = lambda q, hits: extractive_answer(q, hits)  # noqa: E731
        else:
            generate = vllm_generate(cfg, spec.generator_source)
        return {
            "query": _timed(NaivePipeline(stages, generate), spec),
            "search": _timed(NaivePipeline(stages, None), spec),
        }
    finally:
        stages.store.close()


def _timed(pipeline: NaivePipeline, spec: BenchSpec) -> dict:
    queries = spec.query_cycle(spec.warmup + spec.baseline_requests)
    for q in queries[: spec.warmup]:
        pipeline.run(q, spec.top_k)
    timings = []
    began = time.perf_counter()
    for q in queries[spec.warmup :]:
        timings.append(pipeline.run(q, spec.top_k))
    wall = time.perf_counter() - began
    return {
        **summarize([t["total"] for t in timings], wall),
        "stages_ms": stage_means(timings),
    }


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 2:
        print("usage: python -m loadtests.baseline SPEC.json OUT.json", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    spec = BenchSpec.model_validate_json(Path(args[0]).read_text())
    Path(args[1]).write_text(json.dumps(run_baseline(spec), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
