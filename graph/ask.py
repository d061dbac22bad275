"""Ask the running graph a question: ``python -m graph.ask "QUESTION" [--top-k N]``."""

from __future__ import annotations

import argparse
import json
import textwrap

from graph.client import DEFAULT_URL, ApiError, die, post, wait_ready


def render(reply: dict) -> str:
    """Human-readable answer, citations and stage timings."""
    lines = [
        f"route: {reply['route']}    generator: {reply['generator']}    "
        f"request: {reply['request_id']}",
        "",
        textwrap.fill(reply["answer"], width=100),
        "",
        "citations:",
    ]
    for n, c in enumerate(reply["citations"], start=1):
        snippet = " ".join(c["text"].split())[:160]
        name = c.get("title") or c["doc_id"][:40]
        lines.append(f"  [{n}] {name}  {c['chunk_id'][-5:]}  score={c['score']:.4f}")
        lines.append(f"      {snippet}")
    timings = "  ".join(f"{k}={v:.0f}ms" for k, v in reply["timings_ms"].items())
    lines += ["", f"timings: {timings}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m graph.ask", description=__doc__)
    parser.add_argument("query")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--url", default=DEFAULT_URL, help="graph URL (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the raw JSON reply")
    parser.add_argument("--wait", type=float, default=0, help="wait this long for readiness")
    args = parser.parse_args(argv)
    try:
        if args.wait:
            wait_ready(args.url, timeout_s=args.wait)
        reply = post(args.url, "/v1/query", {"query": args.query, "top_k": args.top_k})
    except ApiError as exc:
        die(str(exc))
    print(json.dumps(reply, indent=2) if args.json else render(reply))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
