"""Ratios, targets and the markdown tables of a benchmark report (pure functions)."""

from __future__ import annotations

from typing import Any

from loadtests.stats import ratio


def ratios(report: dict[str, Any]) -> dict[str, float | None]:
    """Graph/baseline ratios of the first graph variant, micro-benchmark ratios, and each
    other variant's throughput relative to the first.

    >>> r = ratios({
    ...     "baseline": {"query": {"rps": 2.0, "p50_ms": 500.0}, "search": {"rps": 10.0}},
    ...     "graph": {"default": {"levels": {"c1": {"rps": 1.8, "p50_ms": 550.0},
    ...                                      "c32": {"rps": 7.0, "p50_ms": 4000.0}},
    ...                           "search": {"c8": {"rps": 20.0}}}},
    ... })
    >>> r["throughput_ratio_c32"], r["p50_ratio_c1"], r["search_throughput_ratio_c8"]
    (3.5, 1.1, 2.0)
    """
    out: dict[str, float | None] = {}
    base = report["baseline"]
    variants = list(report["graph"])
    if variants:
        first = report["graph"][variants[0]]
        for level, run in first["levels"].items():
            out[f"throughput_ratio_{level}"] = ratio(run["rps"], base["query"]["rps"])
            out[f"p50_ratio_{level}"] = ratio(run["p50_ms"], base["query"]["p50_ms"])
        for level, run in first.get("search", {}).items():
            out[f"search_throughput_ratio_{level}"] = ratio(run["rps"], base["search"]["rps"])
        out.update(stream_ratios(first, base.get("stream")))
        for name in variants[1:]:
            for level, run in report["graph"][name]["levels"].items():
                out[f"{name}_vs_{variants[0]}_throughput_ratio_{level}"] = ratio(
                    run["rps"], first["levels"][level]["rps"]
                )
    out.update(report.get("micro", {}).get("ratios", {}))
    return out


def stream_ratios(graph: dict[str, Any], base: dict[str, Any] | None) -> dict[str, float | None]:
    """The streamed levels of one graph run against the baseline's stream measurement.

    ``ttft_delta_ms_c1``: graph TTFT p50 at 1 client minus the baseline's (ms; what HTTP,
    Serve and the SSE path add to the first token); ``ttft_ratio_<level>`` and
    ``itl_ratio_<level>``: graph p50 / baseline p50; ``stream_throughput_cost_<level>``:
    streamed req/s / ``/v1/query`` req/s at the same level (below 1: what streaming costs).
    Nothing when the run has no streamed levels.

    >>> graph = {"levels": {"c1": {"rps": 2.0}, "c8": {"rps": 8.0}},
    ...          "stream": {"c1": {"rps": 1.9, "ttft_ms": {"p50": 160.0},
    ...                            "itl_ms": {"p50": 12.0}},
    ...                     "c8": {"rps": 6.0, "ttft_ms": {"p50": 400.0},
    ...                            "itl_ms": {"p50": 30.0}}}}
    >>> base = {"ttft_ms": {"p50": 100.0}, "itl_ms": {"p50": 10.0}}
    >>> r = stream_ratios(graph, base)
    >>> r["ttft_delta_ms_c1"], r["ttft_ratio_c8"], r["itl_ratio_c1"]
    (60.0, 4.0, 1.2)
    >>> r["stream_throughput_cost_c1"], r["stream_throughput_cost_c8"]
    (0.95, 0.75)
    >>> stream_ratios({"levels": {}}, None)
    {}
    """
    stream = graph.get("stream") or {}
    if not stream:
        return {}
    base_ttft = _p50(base, "ttft_ms")
    graph_ttft = _p50(stream.get("c1"), "ttft_ms")
    delta = None if graph_ttft is None or base_ttft is None else graph_ttft - base_ttft
    out: dict[str, float | None] = {"ttft_delta_ms_c1": None if delta is None else round(delta, 1)}
    for level, run in stream.items():
        out[f"ttft_ratio_{level}"] = ratio(_p50(run, "ttft_ms"), base_ttft)
        out[f"itl_ratio_{level}"] = ratio(_p50(run, "itl_ms"), _p50(base, "itl_ms"))
        plain = graph["levels"].get(level, {}).get("rps")
        out[f"stream_throughput_cost_{level}"] = ratio(run["rps"], plain)
    return out


def _p50(run: dict[str, Any] | None, key: str) -> float | None:
    return ((run or {}).get(key) or {}).get("p50")


_CHECKS = {
    ">=": lambda value, bar: value >= bar,
    "<=": lambda value, bar: value <= bar,
    "<": lambda value, bar: value < bar,
}


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 4's targets: what was measured, and whether it met the bar."""
    r = report["ratios"]
    first = next(iter(report["graph"].values()), {})
    search_p95 = next(iter(first.get("search", {}).values()), {}).get("p95_ms")
    rows = [
        ("graph throughput at c32 / baseline", r.get("throughput_ratio_c32"), ">=", 3.0),
        ("graph p50 at c1 / baseline", r.get("p50_ratio_c1"), "<=", 1.3),
        (
            "reranker, Serve batching / batch size 1, passages/s",
            r.get("rerank_batching_ratio"),
            ">=",
            2.0,
        ),
        ("retrieval path p95 at c8 (ms, /v1/search)", search_p95, "<", 200.0),
        ("graph TTFT p50 at c1 - baseline (ms, streamed)", r.get("ttft_delta_ms_c1"), "<=", 100.0),
    ]
    return [
        {
            "target": f"{name} {op} {bar:g}",
            "value": value,
            "met": None if value is None else _CHECKS[op](value, bar),
        }
        for name, value, op, bar in rows
    ]


def markdown(report: dict[str, Any]) -> str:
    """The report's tables: targets, baseline vs graph per level, streamed levels, stages,
    micro-benchmarks."""
    base = report["baseline"]
    lines = ["## Targets", "", "| target | measured | met |", "|---|---:|:---:|"]
    for t in targets(report):
        met = "n/a" if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(f"| {t['target']} | {_fmt(t['value'])} | {met} |")
    lines += [
        "",
        "## Throughput and latency",
        "",
        "| run | path | clients | requests | errors | req/s | p50 ms | p95 ms | p99 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for path in ("query", "search"):
        b = base[path]
        lines.append(_row("baseline", path, 1, b))
    for name, graph in report["graph"].items():
        for level, run in graph["levels"].items():
            lines.append(_row(f"graph ({name})", "query", level[1:], run))
        for level, run in graph.get("search", {}).items():
            lines.append(_row(f"graph ({name})", "search", level[1:], run))
    lines += _stream_section(report)
    lines += ["", "## Mean time per stage (ms)", ""]
    stage_rows = [("baseline", "query", base["query"]), ("baseline", "search", base["search"])]
    for name, graph in report["graph"].items():
        stage_rows += [
            (f"graph ({name}) {lvl}", "query", run) for lvl, run in graph["levels"].items()
        ]
        stage_rows += [
            (f"graph ({name}) {lvl}", "search", run) for lvl, run in graph.get("search", {}).items()
        ]
    stages = list(dict.fromkeys(k for _, _, run in stage_rows for k in run["stages_ms"]))
    lines += ["| run | path | " + " | ".join(stages) + " |", "|---|---|" + "---:|" * len(stages)]
    for label, path, run in stage_rows:
        cells = " | ".join(_fmt(run["stages_ms"].get(s)) for s in stages)
        lines.append(f"| {label} | {path} | {cells} |")
    micro = report.get("micro")
    if micro:
        lines += ["", "## Batching micro-benchmarks", ""]
        lines += ["| stage | way | throughput |", "|---|---|---:|"]
        units = (("rerank", "passages/s"), ("embed", "queries/s"), ("retrieve", "queries/s"))
        for stage, unit in units:
            for key, value in micro[stage].items():
                way = key.rsplit("_" + unit.split("/")[0], 1)[0]
                lines.append(f"| {stage} | {way} | {_fmt(value)} {unit} |")
        search = micro.get("search_ms_per_query", {})
        if search:
            lines += ["", "## Milvus per query (ms)", "", "| call | ms |", "|---|---:|"]
            lines += [f"| {k.removesuffix('_ms')} | {_fmt(v)} |" for k, v in search.items()]
    lines += ["", "## Ratios", "", "| ratio | value |", "|---|---:|"]
    lines += [f"| `{k}` | {_fmt(v)} |" for k, v in report["ratios"].items()]
    return "\n".join(lines) + "\n"


def _stream_section(report: dict[str, Any]) -> list[str]:
    """Per streamed level: TTFT, ITL, and req/s streamed vs ``/v1/query``; then how the
    baseline's figures were measured. Nothing for a report without streamed levels."""
    base = report["baseline"].get("stream")
    runs = [(name, g) for name, g in report["graph"].items() if g.get("stream")]
    if base is None and not runs:
        return []
    lines = [
        "",
        "## Streaming: time to first token (TTFT) and inter-token latency (ITL)",
        "",
        "| run | clients | requests | errors | TTFT p50 ms | TTFT p95 ms | ITL p50 ms | "
        "ITL p95 ms | chunks/answer | req/s streamed | req/s /v1/query | streamed / query |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    if base is not None:
        plain = report["baseline"]["query"]["rps"]
        lines.append(_stream_row("baseline", 1, base, None, plain))
    for name, graph in runs:
        for level, run in graph["stream"].items():
            plain = graph["levels"].get(level, {}).get("rps")
            lines.append(_stream_row(f"graph ({name})", level[1:], run, run["rps"], plain))
    if base is not None:
        lines += ["", _baseline_stream_note(base, report.get("spec", {}).get("app", {}))]
    return lines


def _stream_row(label: str, clients: Any, run: dict, rps: Any, plain_rps: Any) -> str:
    ttft, itl = run.get("ttft_ms", {}), run.get("itl_ms", {})
    cost = ratio(rps, plain_rps) if rps is not None else None
    cells = [
        label,
        clients,
        run.get("requests"),
        run.get("errors", 0),
        ttft.get("p50"),
        ttft.get("p95"),
        itl.get("p50"),
        itl.get("p95"),
        run.get("chunks_per_answer"),
        rps,
        plain_rps,
        cost,
    ]
    return "| " + " | ".join(_fmt(c) for c in cells) + " |"


def _baseline_stream_note(base: dict[str, Any], app: dict[str, Any]) -> str:
    """How the baseline's TTFT and ITL were measured, and which way their caveats lean.

    >>> _baseline_stream_note({"generator": "extractive", "prompt_repeats": 0}, {})[:40]
    'Baseline (no streaming): TTFT = its stag'
    """
    head = "Baseline (no streaming): TTFT = its stages before generation + "
    if base.get("generator") != "vllm":
        return head + (
            "picking the extractive answer's sentences (all at once, so the first is there "
            "when the pick is done; ITL n/a)."
        )
    n = app.get("generator", {}).get("max_tokens", "max_tokens")
    caching = {True: "on", False: "off"}.get(base.get("prefix_caching"), "unknown")
    return head + (
        "a 1-token generation of a prompt new to the engine (prefill + first token; only "
        "the instructions every prompt shares can be in vLLM's prefix cache, as in the "
        f"graph); ITL = ({n}-token generation - 1-token generation) / ({n} - 1), both run "
        f"after it with the whole prompt cached (prefix caching: {caching}), so their "
        "prefill cancels out. No HTTP, Serve or SSE on its way: the TTFT delta is what "
        "those add. Without streaming it pays no per-token transport, so its ITL is a "
        f"floor. Repeated prompts: {base.get('prompt_repeats', 'n/a')} (a repeated "
        "prompt is cached, which lowers the baseline's TTFT: it makes the graph look "
        "worse, not better)."
    )


def _row(label: str, path: str, clients: Any, run: dict) -> str:
    return (
        f"| {label} | {path} | {clients} | {run['requests']} | {run['errors']} | "
        f"{_fmt(run['rps'])} | {_fmt(run['p50_ms'])} | {_fmt(run['p95_ms'])} | "
        f"{_fmt(run['p99_ms'])} |"
    )


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)
