"""The naive baseline: the same models and collection in one process, one request at a time.

What a user would write without this project: a loop that rewrites the query, embeds
it, searches Milvus, fetches the candidates' token vectors, reranks with MaxSim and asks
the LLM (vLLM's offline ``LLM``, the
same engine settings as the graph's), with no Serve, no batching and no overlap between
requests. It runs as its own process (``python -m loadtests.baseline SPEC OUT``) so its vLLM
engine is gone before the graph starts.

The offline engine does not stream, so the ``stream`` path measures what a stream would
show from separate generations of each prompt (see :meth:`VllmChat.token_times`).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployments.common.extractive import extractive_answer, extractive_sentences
from deployments.common.fusion import rrf_fuse
from deployments.common.prompt import build_messages
from deployments.generator.config import GeneratorConfig
from deployments.reranker import core as rerank_core
from deployments.rewriter.core import rewrite
from deployments.supervisor.graph import apply_verdicts
from deployments.types import Candidate, Hit
from graph.config import AppConfig
from graph.evaluation.pipeline import Stages, build_stages
from loadtests.spec import BenchSpec
from loadtests.stats import spread, stage_means, summarize

logger = logging.getLogger(__name__)

Generate = Callable[[str, Sequence[Hit]], str]
TokenTimes = Callable[[str, Sequence[Hit]], dict[str, float]]
"""Times one answer's generation as a stream would show it (milliseconds): ``first_token``
(until its first token), ``itl`` (per later token; absent where that means nothing), and
the generations it ran to find them."""


@dataclass
class NaivePipeline:
    """rewrite -> embed -> search -> rerank -> generate, sequentially, timing each step."""

    stages: Stages
    generate: Generate | None

    def run(self, query: str, top_k: int) -> dict[str, float]:
        """Answer one query; returns milliseconds per stage and in total."""
        start = time.perf_counter()
        hits, times = self.retrieve(query, top_k)
        if self.generate is not None:
            t = time.perf_counter()
            self.generate(query, hits)
            times["generate"] = _ms_since(t)
        times["total"] = _ms_since(start)
        return times

    def run_stream(self, query: str, top_k: int, token_times: TokenTimes) -> dict[str, float]:
        """One query as a stream would show it: the stages before generation, then
        ``token_times``; ``ttft`` is the stages' time plus the first token's, ``itl`` the
        time per later token (absent where ``token_times`` gives none)."""
        hits, times = self.retrieve(query, top_k)
        before = sum(times.values())
        tokens = token_times(query, hits)
        times.update(tokens)
        times["ttft"] = round(before + tokens["first_token"], 3)
        return times

    def retrieve(self, query: str, top_k: int) -> tuple[list[Hit], dict[str, float]]:
        """rewrite -> embed -> search -> rerank: the passages to answer from, and
        milliseconds per stage."""
        cfg = self.stages.cfg
        times: dict[str, float] = {}
        t = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal t
            now = time.perf_counter()
            times[stage] = round((now - t) * 1000.0, 3)
            t = now

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
        return hits, times


def _ms_since(t: float) -> float:
    return round((time.perf_counter() - t) * 1000.0, 3)


def inter_token_ms(full_ms: float, one_token_ms: float, max_tokens: int) -> float | None:
    """Time per token after the first: the difference of an answer of ``max_tokens``
    tokens and one of 1 token, generated from the same prompt in the same prefix-cache
    state (so their prefill cancels out), over the tokens between; None for 1 token.

    >>> inter_token_ms(330.0, 20.0, 32)
    10.0
    >>> inter_token_ms(20.0, 20.0, 1) is None
    True
    """
    if max_tokens < 2:
        return None
    return round((full_ms - one_token_ms) / (max_tokens - 1), 3)


class VllmChat:
    """vLLM's offline engine with the graph's generation settings: one chat per call.

    ``llm`` is a ``vllm.LLM`` and ``sampling_params`` its ``SamplingParams`` class
    (:meth:`load` builds both; tests pass fakes).
    """

    def __init__(self, llm: Any, gen: GeneratorConfig, sampling_params: Callable[..., Any]):
        self.llm, self.gen, self._params = llm, gen, sampling_params

    @classmethod
    def load(cls, cfg: AppConfig, model_source: str) -> VllmChat:
        """The engine on ``model_source`` with the graph's engine settings."""
        from vllm import LLM, SamplingParams

        return cls(
            LLM(model=model_source, **cfg.generator.engine_kwargs), cfg.generator, SamplingParams
        )

    def prefix_caching(self) -> bool | None:
        """Whether the engine caches prompt prefixes (None: could not tell)."""
        config = getattr(getattr(self.llm, "llm_engine", None), "vllm_config", None)
        return getattr(getattr(config, "cache_config", None), "enable_prefix_caching", None)

    def generate(self, query: str, hits: Sequence[Hit]) -> str:
        """A whole answer of at most ``max_tokens`` tokens."""
        return self._chat(self._messages(query, hits), self.gen.max_tokens)

    def token_times(self, query: str, hits: Sequence[Hit]) -> dict[str, float]:
        """What a stream of this answer would show, from three generations of its prompt.

        1. ``first_token``: building the prompt and a 1-token generation of it, which is
           prefill + first token. The prompt is new to the engine (the bench gives each
           request a query not used before), and only the instructions every prompt
           shares can be in vLLM's prefix cache: the state a new query meets in the graph.
        2. ``generate``: the whole ``max_tokens`` answer, then 3. ``first_token_cached``:
           1 token again. Both find the whole prompt cached by 1., so both skip the same
           prefill, and ``itl`` = (2. - 3.) / (max_tokens - 1) holds decode steps only.

        Why not two calls: with the 1-token call first, the full one finds its prompt
        cached and skips the prefill that (full - 1-token) subtracts, understating ITL by
        prefill / (max_tokens - 1); with the 1-token call after the full one, that call
        skips the prefill instead, understating TTFT by a whole prefill (and overstating
        ITL); turning prefix caching off for the 1-token call
        (``skip_reading_prefix_cache``) also drops the cached shared instructions that
        the graph's requests reuse, overstating TTFT a little. With prefix caching off in
        ``engine_kwargs`` every call prefills in full and the formula still holds.

        A prompt that repeats an earlier one (too few distinct queries) is cached at 1.,
        which understates the baseline's TTFT: that makes the graph look worse, not better.
        """
        t = time.perf_counter()
        messages = self._messages(query, hits)
        self._chat(messages, 1)
        times = {"first_token": _ms_since(t)}
        n = self.gen.max_tokens
        if n < 2:
            return times
        for name, max_tokens in (("generate", n), ("first_token_cached", 1)):
            t = time.perf_counter()
            self._chat(messages, max_tokens)
            times[name] = _ms_since(t)
        itl = inter_token_ms(times["generate"], times["first_token_cached"], n)
        if itl is not None:
            times["itl"] = itl
        return times

    def _messages(self, query: str, hits: Sequence[Hit]) -> list[dict[str, str]]:
        return build_messages(
            query,
            hits,
            max_chars=self.gen.max_passage_chars,
            max_prompt_tokens=self.gen.generation().max_prompt_tokens,
        )

    def _chat(self, messages: list[dict[str, str]], max_tokens: int) -> str:
        params = self._params(
            max_tokens=max_tokens, temperature=self.gen.temperature, ignore_eos=self.gen.ignore_eos
        )
        (out,) = self.llm.chat(messages, params, use_tqdm=False)
        return out.outputs[0].text


def extractive_token_times(query: str, hits: Sequence[Hit]) -> dict[str, float]:
    """The extractive answer's first piece: every sentence is picked at once, so the first
    is there when the pick is done; there is no per-token latency."""
    t = time.perf_counter()
    extractive_sentences(query, hits)
    return {"first_token": _ms_since(t)}


def run_baseline(spec: BenchSpec) -> dict[str, dict]:
    """Every path one request at a time: ``query`` (with generation), ``search``, and
    ``stream`` (time to first token and per later token, as a stream would show them).

    Each runs ``spec.baseline_requests`` queries after ``spec.warmup`` unmeasured ones;
    ``stream`` takes the queries after ``query``'s, so its prompts are new to the engine.
    """
    cfg = spec.app_config()
    stages = build_stages(cfg, uri=spec.milvus_uri, collection=spec.collection)
    try:
        if spec.generator_source is None:
            generate: Generate = lambda q, hits: extractive_answer(q, hits)  # noqa: E731
            token_times: TokenTimes = extractive_token_times
            about = {"generator": "extractive", "prefix_caching": None}
        else:
            chat = VllmChat.load(cfg, spec.generator_source)
            generate, token_times = chat.generate, chat.token_times
            about = {"generator": "vllm", "prefix_caching": chat.prefix_caching()}
        pipeline = NaivePipeline(stages, generate)
        return {
            "query": _timed(pipeline, spec),
            "search": _timed(NaivePipeline(stages, None), spec),
            "stream": {**_timed_stream(pipeline, token_times, spec), **about},
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


def _timed_stream(pipeline: NaivePipeline, token_times: TokenTimes, spec: BenchSpec) -> dict:
    """TTFT and ITL over ``spec.baseline_requests`` queries after ``spec.warmup`` ones, all
    after the ``query`` path's; ``prompt_repeats`` counts the measured ones that an earlier
    request of this process already sent (too few distinct queries: see
    :meth:`VllmChat.token_times` for what that does)."""
    n = spec.warmup + spec.baseline_requests
    seen = set(spec.query_cycle(n))
    timings, repeats = [], 0
    for i, q in enumerate(spec.query_cycle(n, start=n)):
        times = pipeline.run_stream(q, spec.top_k, token_times)
        if i >= spec.warmup:
            timings.append(times)
            repeats += q in seen
        seen.add(q)
    stages = [{k: v for k, v in t.items() if k not in ("ttft", "itl")} for t in timings]
    return {
        "requests": len(timings),
        "ttft_ms": spread([t["ttft"] for t in timings]),
        "itl_ms": spread([t["itl"] for t in timings if "itl" in t]),
        "stages_ms": stage_means(stages),
        "prompt_repeats": repeats,
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
