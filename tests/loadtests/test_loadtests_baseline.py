"""The baseline's stream measurement with a scripted engine and clock (no vLLM, no Milvus).

The fake engine charges a prefill for the part of a prompt it has not cached and one step
per generated token, on a clock the baseline reads, so what each measurement recovers is
known exactly.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from deployments.generator.config import GeneratorConfig
from deployments.types import Hit
from loadtests import baseline
from loadtests.baseline import NaivePipeline, VllmChat, _timed_stream, extractive_token_times
from loadtests.spec import BenchSpec

PREFILL_MS, STEP_MS, SHARED_MS = 300.0, 20.0, 40.0
HITS = [Hit("c1", "d1", "", "Milvus stores vectors. Cats purr.", 1.0)]


class Clock:
    def __init__(self) -> None:
        self.ms = 0.0

    def perf_counter(self) -> float:
        return self.ms / 1000.0


class FakeLLM:
    """Prefill costs ``PREFILL_MS`` for a new prompt, of which ``SHARED_MS`` (the shared
    instructions) is skipped once any prompt ran, and nothing for a cached prompt; then
    ``STEP_MS`` per token (the first comes out of the prefill's step)."""

    def __init__(self, clock: Clock, *, prefix_caching: bool = True) -> None:
        self.clock, self.caching = clock, prefix_caching
        self.calls: list[tuple[str, int]] = []
        self.cached: set[str] = set()
        cache = SimpleNamespace(enable_prefix_caching=prefix_caching)
        self.llm_engine = SimpleNamespace(vllm_config=SimpleNamespace(cache_config=cache))

    def chat(self, messages, params, use_tqdm):
        prompt = json.dumps(messages)
        if not self.caching:
            prefill = PREFILL_MS
        elif prompt in self.cached:
            prefill = 0.0
        else:
            prefill = PREFILL_MS - (SHARED_MS if self.cached else 0.0)
        self.cached.add(prompt)
        self.calls.append((prompt, params["max_tokens"]))
        self.clock.ms += prefill + STEP_MS * params["max_tokens"]
        return [SimpleNamespace(outputs=[SimpleNamespace(text="x")])]


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(baseline, "time", clock)
    return clock


def _chat(llm: FakeLLM, max_tokens: int = 32) -> VllmChat:
    gen = GeneratorConfig(max_tokens=max_tokens, ignore_eos=True, temperature=0.0)
    return VllmChat(llm, gen, lambda **params: params)


def test_ttft_is_a_new_prompts_prefill_and_itl_one_decode_step(clock) -> None:
    llm = FakeLLM(clock)
    chat = _chat(llm)
    chat.generate("warm the shared instructions", HITS)
    times = chat.token_times("Where are vectors stored?", HITS)
    # The graph's request would pay the prefill minus the shared instructions, + 1 step.
    assert times["first_token"] == PREFILL_MS - SHARED_MS + STEP_MS
    assert times["itl"] == STEP_MS
    assert times["generate"] == 32 * STEP_MS  # its prompt was cached by the first call
    assert times["first_token_cached"] == STEP_MS
    prompts = {p for p, _ in llm.calls[1:]}
    assert len(prompts) == 1 and [n for _, n in llm.calls[1:]] == [1, 32, 1]
    assert chat.prefix_caching() is True


def test_itl_holds_without_prefix_caching(clock) -> None:
    chat = _chat(FakeLLM(clock, prefix_caching=False))
    times = chat.token_times("Where are vectors stored?", HITS)
    assert times["first_token"] == PREFILL_MS + STEP_MS
    assert times["itl"] == STEP_MS
    assert chat.prefix_caching() is False


def test_one_token_answers_have_no_itl(clock) -> None:
    llm = FakeLLM(clock)
    times = _chat(llm, max_tokens=1).token_times("Where are vectors stored?", HITS)
    assert set(times) == {"first_token"} and len(llm.calls) == 1


def test_generate_asks_for_the_configured_answer(clock) -> None:
    llm = FakeLLM(clock)
    params = []
    chat = VllmChat(
        llm, GeneratorConfig(max_tokens=8, ignore_eos=True), lambda **p: params.append(p) or p
    )
    assert chat.generate("q", HITS) == "x"
    assert params == [{"max_tokens": 8, "temperature": 0.0, "ignore_eos": True}]


def test_run_stream_adds_the_stages_before_generation_to_the_first_token(clock) -> None:
    pipeline = NaivePipeline(stages=None, generate=None)  # type: ignore[arg-type]
    pipeline.retrieve = lambda q, k: (HITS, {"rewrite": 1.0, "search": 30.0, "rerank": 9.0})
    times = pipeline.run_stream("q", 3, lambda q, hits: {"first_token": 60.0, "itl": 5.0})
    assert times["ttft"] == 100.0 and times["itl"] == 5.0 and times["search"] == 30.0


def test_extractive_first_token_has_no_itl(clock) -> None:
    assert set(extractive_token_times("Where are vectors stored?", HITS)) == {"first_token"}


def test_stream_path_takes_new_queries_and_counts_repeats() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.queries: list[str] = []

        def run_stream(self, query, top_k, token_times):
            self.queries.append(query)
            itl = {"itl": 10.0} if token_times is not None else {}
            return {"search": 5.0, "first_token": 50.0, "ttft": 55.0, **itl}

    def spec(n_queries: int) -> BenchSpec:
        queries = [f"q{i}" for i in range(n_queries)]
        return BenchSpec(
            milvus_uri="http://h:1", collection="c", queries=queries, warmup=1, baseline_requests=3
        )

    pipeline = Recorder()
    result = _timed_stream(pipeline, object(), spec(8))  # type: ignore[arg-type]
    assert pipeline.queries == ["q4", "q5", "q6", "q7"]  # after the query path's q0-q3
    assert result["requests"] == 3 and result["prompt_repeats"] == 0
    assert result["ttft_ms"] == {"p50": 55.0, "p95": 55.0, "mean": 55.0}
    assert result["itl_ms"]["p50"] == 10.0
    assert result["stages_ms"] == {"search": 5.0, "first_token": 50.0}
    # Five distinct queries: the stream path's q4, q0, q1, q2 (q0-q2 measured, all repeats).
    assert _timed_stream(Recorder(), None, spec(5))["prompt_repeats"] == 3  # type: ignore[arg-type]
