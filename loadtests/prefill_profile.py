"""Prefill vs decode time of the benchmark's generator, on the benchmark's own prompts.

    python -m loadtests.prefill_profile data/bench/report.work/spec.json

Reads the spec a ``loadtests.bench`` run wrote, builds prompts for some of its queries
exactly as the generator does (top hits of the collection, ``build_messages``), and times
vLLM's offline engine with the same settings: one prompt for 1 token (prefill), one prompt
for the bench's answer length (prefill + decode), and 8 distinct prompts for 1 token each
(does prefill batch?). Prints one JSON line per case.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: python -m loadtests.prefill_profile SPEC.json", file=sys.stderr)
        return 2
    from vllm import LLM, SamplingParams

    from deployments.common.prompt import build_messages
    from graph.evaluation.pipeline import build_stages, milvus_at
    from loadtests.spec import BenchSpec

    spec = BenchSpec.model_validate_json(Path(args[0]).read_text())
    if spec.generator_source is None:
        print("the spec's run used the extractive generator; nothing to profile", file=sys.stderr)
        return 2
    cfg = spec.app_config()
    queries = list(dict.fromkeys(spec.queries))[-11:]  # ones the graph runs used last, if at all
    with milvus_at(None, Path(spec.milvus_dir)) as uri:
        stages = build_stages(cfg, uri=uri, collection=spec.collection)
        vectors = stages.embedder.embed(queries)
        hits = stages.store.search(queries, vectors, mode=cfg.retriever.mode, limit=spec.top_k)
        stages.store.close()
    prompts = [
        build_messages(q, h, max_chars=cfg.generator.max_passage_chars)
        for q, h in zip(queries, hits, strict=True)
    ]
    llm = LLM(model=spec.generator_source, **cfg.generator.engine_kwargs)
    answer = cfg.generator.max_tokens
    cases = [
        (prompts[:1], 2, "warm-up"),
        (prompts[1:2], 1, "prefill"),
        (prompts[2:3], answer, "prefill+decode"),
        (prompts[3:11], 1, "prefill x8"),
    ]
    for batch, max_tokens, label in cases:
        params = SamplingParams(max_tokens=max_tokens, ignore_eos=True, temperature=0.0)
        t = time.perf_counter()
        out = llm.chat(batch, params, use_tqdm=False)
        seconds = time.perf_counter() - t
        if label != "warm-up":
            print(
                json.dumps(
                    {
                        "case": label,
                        "requests": len(batch),
                        "output_tokens": max_tokens,
                        "prompt_tokens": [len(o.prompt_token_ids) for o in out],
                        "seconds": round(seconds, 2),
                    }
                )
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
