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
        for name in variants[1:]:
            for level, run in report["graph"][name]["levels"].items():
                out[f"{name}_vs_{variants[0]}_throughput_ratio_{level}"] = ratio(
                    run["rps"], first["levels"][level]["rps"]
                )
    out.update(report.get("micro", {}).get("ratios", {}))
    return out


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
    """The report's tables: targets, baseline vs graph per level, stages, micro-benchmarks."""
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
