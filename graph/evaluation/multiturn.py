r"""Multi-turn retrieval on HotpotQA: does rule-based rewriting recover a follow-up's meaning?

    python -m graph.evaluation.multiturn --dataset ../shared/datasets/hotpotqa --split dev \
        --limit 300 --output docs/evaluation/multiturn.json

Every question of the split is turned into a two-turn conversation by one mechanical
transformation (:func:`build_conversation`), never edited by hand:

1. The *entity* is the gold paragraph whose title (without a trailing "(disambiguation)")
   is mentioned earliest in the question, as whole words, ignoring case. Questions that
   mention neither gold title are skipped and counted.
2. Turn 1 (user): ``"Tell me about <entity>."``; turn 1 (assistant): the first sentence of
   the entity's gold paragraph, as a chat answer would give it.
3. Turn 2 (the follow-up): the original question with every mention of the entity replaced
   by a pronoun, chosen by :func:`choose_pronoun` from the entity's own paragraph ("he",
   "she", "they" or "it", whichever family that paragraph uses most; "it" on ties) and
   declined by position: possessive before "'s", object after a preposition, subject
   otherwise. Quotes around the mention and a "the" just before it go with it.

So the comparison question 'Who was born first, Pepper Keenan or Rob Parissi?' becomes
"Tell me about Pepper Keenan." then "Who was born first, he or Rob Parissi?". (Elliptical
follow-ups such as "And Rob Parissi?" have no mechanical counterpart that keeps a HotpotQA
question's meaning; the unit tests cover them.)

Three queries per conversation go through the project's retrieval, in process
(:mod:`graph.evaluation.pipeline`, ``--modes``; ``full`` is what ``POST /v1/search`` runs):
the follow-up alone, ``standalone_question(history, follow_up)`` (the rules) and the
original question (the upper bound). Metrics over the two gold paragraphs: recall@10 and
complete@10 (both in the top 10 documents), overall and per question type.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from deployments.rewriter.conversation import standalone_question
from deployments.types import Hit

Pronoun = Literal["it", "they", "he", "she"]
Variant = Literal["follow_up", "rules", "original"]
VARIANTS: tuple[Variant, ...] = ("follow_up", "rules", "original")
TOP_K = 10

#: Subject, object and possessive forms of each pronoun.
FORMS: dict[Pronoun, tuple[str, str, str]] = {
    "it": ("it", "it", "its"),
    "they": ("they", "them", "their"),
    "he": ("he", "him", "his"),
    "she": ("she", "her", "her"),
}
_FAMILIES: dict[Pronoun, re.Pattern[str]] = {
    "it": re.compile(r"\b(?:it|its|itself)\b", re.IGNORECASE),
    "they": re.compile(r"\b(?:they|them|their|theirs|themselves)\b", re.IGNORECASE),
    "he": re.compile(r"\b(?:he|him|his|himself)\b", re.IGNORECASE),
    "she": re.compile(r"\b(?:she|her|hers|herself)\b", re.IGNORECASE),
}
_PREPOSITIONS = frozenset(
    "of in on at to for from by with about after before during since into onto over under "
    "between among through than as against without within like near".split()
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


@dataclass(frozen=True)
class Conversation:
    """One mechanically built two-turn conversation and what it is scored against."""

    qid: str
    type: str
    entity: str
    pronoun: Pronoun
    history: tuple[tuple[str, str], ...]
    follow_up: str
    original: str
    gold: tuple[str, ...]

    def queries(self) -> dict[Variant, str]:
        """The three searched queries: follow-up alone, rule rewrite, original question."""
        return {
            "follow_up": self.follow_up,
            "rules": standalone_question(self.history, self.follow_up),
            "original": self.original,
        }


def display_name(title: str) -> str:
    """A Wikipedia title as text mentions it: without a trailing "(...)" disambiguation.

    >>> display_name("Tinted Windows (band)"), display_name("Poleconomy")
    ('Tinted Windows', 'Poleconomy')
    """
    return re.sub(r"\s*\([^()]*\)\s*$", "", title).strip() or title.strip()


def choose_pronoun(paragraph: str) -> Pronoun:
    """The pronoun family the entity's own paragraph uses most ("it" on ties or none).

    >>> choose_pronoun("Pepper Keenan is a musician. He founded a band; his band toured.")
    'he'
    >>> choose_pronoun("Poleconomy is a board game. It was released in 1983.")
    'it'
    """
    counts = {p: len(pattern.findall(paragraph)) for p, pattern in _FAMILIES.items()}
    best = max(counts.values())
    return "it" if counts["it"] == best else max(counts, key=lambda p: counts[p])


def mention_pattern(name: str) -> re.Pattern[str]:
    """Whole-word mentions of ``name``, optionally quoted, after an optional "the", with a
    possessive tail.

    >>> bool(mention_pattern("Poleconomy").search('came first, "Poleconomy" or X'))
    True
    """
    return re.compile(
        rf"(?P<the>\bthe\s+)?(?P<q>\")?(?<!\w){re.escape(name)}(?!\w)(?P=q)?"
        rf"(?P<poss>'s(?!\w)|'(?!\w))?",
        re.IGNORECASE,
    )


def pronominalise(question: str, name: str, pronoun: Pronoun) -> str:
    """``question`` with every mention of ``name`` replaced by a form of ``pronoun``.

    >>> pronominalise("Who was born first, Pepper Keenan or Rob Parissi?", "Pepper Keenan", "he")
    'Who was born first, he or Rob Parissi?'
    >>> pronominalise("What is Tinted Windows's label?", "Tinted Windows", "they")
    'What is their label?'
    >>> pronominalise("Which member of the Beatles sang?", "Beatles", "they")
    'Which member of them sang?'
    """
    subject, obj, possessive = FORMS[pronoun]

    def replace(match: re.Match[str]) -> str:
        if match["poss"]:
            form = possessive
        else:
            before = re.findall(r"\w+", question[: match.start()])[-1:]
            form = obj if before and before[0].lower() in _PREPOSITIONS else subject
        at_start = not question[: match.start()].strip()
        return form.capitalize() if at_start else form

    return mention_pattern(name).sub(replace, question)


def first_sentence(paragraph: str, *, max_chars: int = 300) -> str:
    """The paragraph's first sentence, at most ``max_chars`` characters.

    >>> first_sentence("Poleconomy is a game. It was released in 1983.")
    'Poleconomy is a game.'
    """
    return _SENTENCE_END.split(paragraph.strip(), maxsplit=1)[0][:max_chars]


def build_conversation(
    qid: str,
    question: str,
    gold: Sequence[str],
    paragraphs: Mapping[str, str],
    *,
    type: str = "",
) -> Conversation | None:
    """The two-turn conversation of one question (see the module docstring), or ``None``
    when the question mentions no gold title.

    Args:
        qid: The question id.
        question: The original question.
        gold: The gold paragraph titles (document ids).
        paragraphs: Title -> paragraph text (at least the gold ones).
        type: The question type, "bridge" or "comparison", carried into the report.

    Example:
        >>> conv = build_conversation(
        ...     "q1", "Which band was founded by Pepper Keenan?", ["Pepper Keenan", "Down (band)"],
        ...     {"Pepper Keenan": "Pepper Keenan is a guitarist. He plays in Down."})
        >>> conv.history[0], conv.follow_up
        (('user', 'Tell me about Pepper Keenan.'), 'Which band was founded by him?')
    """
    found = []
    for title in gold:
        name = display_name(title)
        match = mention_pattern(name).search(question) if name else None
        if match:
            found.append((match.start(), title, name))
    if not found:
        return None
    _, title, name = min(found)
    paragraph = paragraphs.get(title, "")
    pronoun = choose_pronoun(paragraph)
    history = (("user", f"Tell me about {name}."), ("assistant", first_sentence(paragraph)))
    return Conversation(
        qid=qid,
        type=type,
        entity=name,
        pronoun=pronoun,
        history=history,
        follow_up=pronominalise(question, name, pronoun),
        original=question,
        gold=tuple(gold),
    )


def score(gold: Sequence[str], hits: Sequence[Hit], *, k: int = TOP_K) -> tuple[float, bool]:
    """Recall of the gold documents in the top ``k`` distinct documents, and whether all are.

    >>> hits = [Hit("a#0", "a", "", "", 3.0), Hit("a#1", "a", "", "", 2.0),
    ...         Hit("b#0", "b", "", "", 1.0)]
    >>> score(["a", "c"], hits), score(["a", "b"], hits, k=2)
    ((0.5, False), (1.0, True))
    """
    top: list[str] = []
    for hit in hits:
        if hit.doc_id not in top:
            top.append(hit.doc_id)
            if len(top) == k:
                break
    found = sum(1 for doc in set(gold) if doc in top)
    return found / max(1, len(set(gold))), found == len(set(gold))


def summarise(rows: Sequence[Mapping[str, Any]]) -> dict[str, float | int]:
    """Mean recall@10 and complete@10 over per-conversation ``{"recall", "complete"}`` rows.

    >>> summarise([{"recall": 1.0, "complete": True}, {"recall": 0.5, "complete": False}])
    {'n': 2, 'recall@10': 0.75, 'complete@10': 0.5}
    """
    n = len(rows)
    return {
        "n": n,
        "recall@10": round(sum(r["recall"] for r in rows) / n, 4) if n else 0.0,
        "complete@10": round(sum(bool(r["complete"]) for r in rows) / n, 4) if n else 0.0,
    }


def markdown(report: Mapping[str, Any]) -> str:
    """The report's tables: one row per (mode, query variant)."""
    types = sorted({t for m in report["modes"].values() for t in m["rules"]["by_type"]})
    head = ["mode", "query", "recall@10", "complete@10", *(f"complete@10 {t}" for t in types)]
    lines = [
        f"Multi-turn retrieval, {report['dataset']}/{report['split']}: "
        f"{report['conversations']} conversations ({report['skipped']} questions skipped: "
        "no gold title mentioned). Queries: the follow-up alone, the rule rewrite "
        "(`standalone_question`), the original question (upper bound); top 10 documents.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + " --- |" * len(head),
    ]
    for mode, variants in report["modes"].items():
        for variant, m in variants.items():
            cells = [f"{m['recall@10']:.3f}", f"{m['complete@10']:.3f}"]
            cells += [f"{m['by_type'].get(t, {}).get('complete@10', 0.0):.3f}" for t in types]
            lines.append(f"| {mode} | {variant} | " + " | ".join(cells) + " |")
    rw = report["rewrites"]
    lines += [
        "",
        f"Rule rewrites: {rw['changed']} of {report['conversations']} follow-ups changed; "
        f"{rw['equal_original']} equal the original question (case and spacing ignored).",
        "",
        'Caveat: turn 1 names the entity plainly ("Tell me about <entity>."), so this '
        "measures pronoun resolution given a clean subject, not finding the subject in "
        "arbitrary earlier questions; elliptical follow-ups are covered by unit tests only.",
        "",
        f"Command: `{report['command']}`",
    ]
    return "\n".join(lines) + "\n"


def load_conversations(
    root: Path, split: str, *, limit: int | None
) -> tuple[list[Conversation], int, Any]:
    """The split's first ``limit`` questions as conversations, the number skipped, and the
    loaded :class:`~graph.evaluation.beir.Dataset` (whole corpus)."""
    from graph.evaluation.beir import load_dataset

    data = load_dataset(root, split)
    types = {}
    with (root / "queries.jsonl").open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                q = json.loads(line)
                types[q["_id"]] = q.get("metadata", {}).get("type", "")
    paragraphs = {d.doc_id: d.text for d in data.documents}
    qids = list(data.queries)[:limit] if limit else list(data.queries)
    built = [
        build_conversation(
            qid, data.queries[qid], list(data.qrels[qid]), paragraphs, type=types.get(qid, "")
        )
        for qid in qids
    ]
    conversations = [c for c in built if c is not None]
    return conversations, len(built) - len(conversations), data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m graph.evaluation.multiturn",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dataset", type=Path, required=True, help="HotpotQA (BEIR) folder")
    parser.add_argument("--split", default="dev", help="qrels/<split>.tsv (default dev)")
    parser.add_argument("--limit", type=int, help="first N questions of the split only")
    parser.add_argument("--output", type=Path, required=True, help="JSON report path")
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["hybrid", "full"],
        help="pipeline modes to retrieve with (default: hybrid full)",
    )
    from graph.evaluate import add_config_options, add_milvus_options

    add_config_options(parser)
    add_milvus_options(parser, Path("data/eval/milvus"))
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be >= 1, got {args.limit!r}; omit it for the whole split")

    from graph.config import load_config
    from graph.evaluate import app_args, collection_name
    from graph.evaluation.pipeline import MODES, build_stages, ingest, milvus_at, run_mode

    unknown = [m for m in args.modes if m not in MODES]
    if unknown:
        parser.error(f"--modes {unknown!r}: choose from {', '.join(MODES)}")
    cfg = load_config(app_args(args.config, args.set))
    conversations, skipped, data = load_conversations(args.dataset, args.split, limit=args.limit)
    print(
        f"{data.name}/{args.split}: {len(conversations)} conversations ({skipped} skipped), "
        f"{len(data.documents)} docs",
        file=sys.stderr,
    )
    queries = {c.qid: c.queries() for c in conversations}
    # Same collection as `python -m graph.evaluate` on the whole split: indexed once.
    collection = collection_name(cfg, data.name, (args.split, None, None))
    report: dict[str, Any] = {
        "dataset": data.name,
        "split": args.split,
        "limit": args.limit,
        "conversations": len(conversations),
        "skipped": skipped,
        "documents": len(data.documents),
        "collection": collection,
        "top_k": TOP_K,
        "command": " ".join(["python -m graph.evaluation.multiturn", *(argv or sys.argv[1:])]),
        "construction": "Every question"
        + __doc__.split("Every question", 1)[1].split("Three queries")[0].rstrip(),
        "rewrites": {
            "changed": sum(q["rules"] != q["follow_up"] for q in queries.values()),
            "equal_original": sum(
                _canon(q["rules"]) == _canon(q["original"]) for q in queries.values()
            ),
        },
        "modes": {},
    }
    with milvus_at(args.milvus_uri, args.milvus_dir.resolve()) as uri:
        import asyncio

        stages = build_stages(cfg, uri=uri, collection=collection)
        t = time.perf_counter()
        report["ingest"] = {
            **asyncio.run(ingest(stages, data.documents)),
            "seconds": round(time.perf_counter() - t, 1),
        }
        per_query: dict[str, dict[str, Any]] = {c.qid: {} for c in conversations}
        for mode in args.modes:
            report["modes"][mode] = {}
            for variant in VARIANTS:
                texts = {qid: q[variant] for qid, q in queries.items()}
                hits, latencies = run_mode(stages, mode, texts)
                rows = []
                for c in conversations:
                    recall, complete = score(c.gold, hits[c.qid])
                    rows.append({"type": c.type, "recall": recall, "complete": complete})
                    per_query[c.qid].setdefault(mode, {})[variant] = [recall, complete]
                by_type = {
                    t: summarise([r for r in rows if r["type"] == t])
                    for t in sorted({r["type"] for r in rows})
                }
                report["modes"][mode][variant] = {**summarise(rows), "by_type": by_type}
                print(f"{mode:>14} {variant:>9}: {summarise(rows)}", file=sys.stderr)
        stages.store.close()
    report["examples"] = [
        {**asdict(c), "queries": queries[c.qid], "scores": per_query[c.qid]} for c in conversations
    ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    table = markdown(report)
    args.output.with_suffix(".md").write_text(table)
    print(table)
    return 0


def _canon(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


if __name__ == "__main__":
    raise SystemExit(main())
