"""Answer-quality metrics: retrieval completeness, SQuAD/HotpotQA answer scores and more.

Every function here is pure (no models, no I/O), so reports can be recomputed from saved
per-query results.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_SPECIAL_ANSWERS = frozenset({"yes", "no", "noanswer"})


def complete_at(
    qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]], k: int
) -> float:
    """Share of judged queries whose every relevant document is in the run's top ``k``.

    ``run`` maps each query to ``{doc_id: score}`` (higher is better, as in pytrec_eval);
    equal scores are ranked by doc id so the cut is deterministic. A document is relevant
    when its grade is above 0; queries without a relevant document are skipped, and
    queries missing from ``run`` count as incomplete. Returns 0.0 when no query has a
    relevant document.

    >>> qrels = {"q1": {"a": 1, "b": 1}, "q2": {"c": 2, "x": 0}}
    >>> run = {"q1": {"a": 0.9, "z": 0.8, "b": 0.1}, "q2": {"c": 0.5}}
    >>> complete_at(qrels, run, 2), complete_at(qrels, run, 3)
    (0.5, 1.0)
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    judged = 0
    complete = 0
    for qid, grades in qrels.items():
        relevant = {doc for doc, grade in grades.items() if grade > 0}
        if not relevant:
            continue
        judged += 1
        ranked = sorted(run.get(qid, {}).items(), key=lambda kv: (-kv[1], kv[0]))
        top = {doc for doc, _ in ranked[:k]}
        complete += relevant <= top
    return complete / judged if judged else 0.0


def normalize_answer(s: str) -> str:
    """SQuAD normalisation: lowercase, drop punctuation and articles, collapse whitespace.

    >>> normalize_answer("  The Eiffel   Tower, in Paris!")
    'eiffel tower in paris'
    """
    s = "".join(ch for ch in s.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", s).split())


def exact_match(prediction: str, gold: str) -> float:
    """1.0 if the normalised prediction equals the normalised gold answer, else 0.0.

    >>> exact_match("The Beatles.", "beatles")
    1.0
    """
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1(prediction: str, gold: str) -> float:
    """SQuAD token F1 between normalised answers, with HotpotQA's yes/no rule.

    If either normalised answer is ``yes``, ``no`` or ``noanswer`` and they differ, the
    score is 0 (partial overlap with a yes/no answer earns nothing). If either answer is
    empty after normalisation, the score is 1.0 when both are empty and 0.0 otherwise
    (as in SQuAD v2).

    >>> f1("the Eiffel Tower", "Eiffel Tower in Paris")
    0.6666666666666666
    >>> f1("no", "no way")
    0.0
    """
    pred = normalize_answer(prediction)
    ref = normalize_answer(gold)
    if (pred in _SPECIAL_ANSWERS or ref in _SPECIAL_ANSWERS) and pred != ref:
        return 0.0
    pred_tokens = pred.split()
    ref_tokens = ref.split()
    if not pred_tokens or not ref_tokens:
        return float(pred_tokens == ref_tokens)
    same = sum((Counter(pred_tokens) & Counter(ref_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


def _golds(gold: str | Sequence[str]) -> list[str]:
    golds = [gold] if isinstance(gold, str) else list(gold)
    if not golds:
        raise ValueError("at least one gold answer is needed")
    return golds


def best_answer_scores(prediction: str, gold: str | Sequence[str]) -> dict[str, float]:
    """Exact match and F1 as ``{"em": ..., "f1": ...}``.

    ``gold`` may also be a non-empty sequence of accepted answers (aliases); each metric
    is then the best over them, as in the SQuAD evaluation script.

    >>> best_answer_scores("Paris", ["City of Paris", "paris"])
    {'em': 1.0, 'f1': 1.0}
    """
    golds = _golds(gold)
    return {
        "em": max(exact_match(prediction, g) for g in golds),
        "f1": max(f1(prediction, g) for g in golds),
    }


def _contains(prediction: str, gold: str) -> float:
    needle = normalize_answer(gold).split()
    haystack = normalize_answer(prediction).split()
    if not needle:
        return 0.0
    n = len(needle)
    return float(any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1)))


def answer_span_scores(prediction: str, gold: str | Sequence[str]) -> dict[str, float]:
    """:func:`best_answer_scores` plus ``"contains"``, for answers given as sentences.

    Extractive generators answer with whole sentences, which EM and F1 punish even when
    the answer is right. ``contains`` is 1.0 when the normalised gold answer occurs as a
    contiguous run of tokens in the normalised prediction (whole tokens only, so gold
    ``"art"`` is not found in ``"martian"``), and 0.0 when it does not or the gold answer
    normalises to nothing. With several gold answers, each metric is the best over them.

    >>> answer_span_scores("It was built by Gustave Eiffel in 1889.", "Gustave Eiffel")
    {'em': 0.0, 'f1': 0.4, 'contains': 1.0}
    """
    golds = _golds(gold)
    scores = best_answer_scores(prediction, golds)
    scores["contains"] = max(_contains(prediction, g) for g in golds)
    return scores


def _average(rows: Sequence[Mapping[str, float | None]]) -> dict[str, float]:
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for row in rows:
        for name, value in row.items():
            if value is None:
                continue
            sums[name] = sums.get(name, 0.0) + value
            counts[name] = counts.get(name, 0) + 1
    means: dict[str, float] = {name: sums[name] / counts[name] for name in sums}
    means["queries"] = len(rows)
    return means


def by_type(
    per_query: Mapping[str, Mapping[str, float | None]], types: Mapping[str, str]
) -> dict[str, dict[str, float]]:
    """Average per-query metrics over all queries and per question type.

    Returns ``{"all": {...}, "<type>": {...}, ...}`` (types sorted), where each group maps
    metric names to their mean over the group's queries and ``"queries"`` to the group's
    size. A metric missing or ``None`` for some queries is averaged over the others.
    Queries without an entry in ``types`` count only in ``"all"``; a type may not be
    called ``"all"``.

    >>> by_type({"q1": {"em": 1.0}, "q2": {"em": 0.0}, "q3": {"em": 0.0}},
    ...         {"q1": "bridge", "q2": "comparison"})  # doctest: +NORMALIZE_WHITESPACE
    {'all': {'em': 0.3333333333333333, 'queries': 3}, 'bridge': {'em': 1.0, 'queries': 1},
     'comparison': {'em': 0.0, 'queries': 1}}
    """
    groups: dict[str, list[Mapping[str, float | None]]] = {}
    for qid, metrics in per_query.items():
        qtype = types.get(qid)
        if qtype is None:
            continue
        if qtype == "all":
            raise ValueError(f"query {qid!r} has the reserved type 'all'")
        groups.setdefault(qtype, []).append(metrics)
    result = {"all": _average(list(per_query.values()))}
    for qtype in sorted(groups):
        result[qtype] = _average(groups[qtype])
    return result


def groundedness(sentences_supported: Sequence[Sequence[bool]]) -> float:
    """Share of answer sentences supported by the evidence, pooled over all answers.

    Each inner sequence holds one answer's per-sentence support flags, so long answers
    weigh more than short ones. With no sentences at all nothing unsupported was said
    and the result is 1.0.

    >>> groundedness([[True, False], [True], []])
    0.6666666666666666
    """
    flags = [bool(flag) for answer in sentences_supported for flag in answer]
    return sum(flags) / len(flags) if flags else 1.0


def abstention_scores(
    abstained_without_evidence: Sequence[bool], abstained_with_evidence: Sequence[bool]
) -> dict[str, float | None]:
    """How often the system declines to answer, with and without the evidence it needs.

    ``abstention`` is the share of abstentions among questions whose evidence was removed
    (higher is better); ``false_abstention`` the share among questions whose evidence
    was available (lower is better). Each is ``None`` when its list is empty.

    >>> abstention_scores([True, True, False, True], [False, False, True, False])
    {'abstention': 0.75, 'false_abstention': 0.25}
    """

    def share(flags: Sequence[bool]) -> float | None:
        return sum(map(bool, flags)) / len(flags) if flags else None

    return {
        "abstention": share(abstained_without_evidence),
        "false_abstention": share(abstained_with_evidence),
    }
