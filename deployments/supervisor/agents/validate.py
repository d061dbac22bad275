"""The validator: is each answer sentence supported by the passage it cites, and is there
evidence to answer from at all (pure).

A sentence is *supported* when the passages it cites (``[n]`` markers) hold at least
``support_threshold`` of its content words. Unsupported sentences are dropped; an answer
left with none is answered with the abstention instead. Before generating, the
supervisor abstains when the evidence neither mentions most of what the question names
(:func:`coverage`) nor holds a passage about it (:func:`aboutness`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from deployments.common.entity_keys import fold, title_key
from deployments.common.words import FUNCTION_WORDS
from deployments.supervisor.agents.links import question_entities
from deployments.types import Hit

_CITED = re.compile(r"\s*\[(\d{1,3})\]")
_PIECE = re.compile(r"[^\[]+?(?:\s*\[\d{1,3}\])+[.!?]?|[^\[]+$")
_STOP = FUNCTION_WORDS | {"can", "will"}


@dataclass(frozen=True)
class Verdict:
    """One answer sentence, the passages it cites, and whether they support it."""

    sentence: str
    cited: tuple[int, ...]
    support: float
    supported: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "sentence": self.sentence,
            "cited": list(self.cited),
            "support": round(self.support, 3),
            "supported": self.supported,
        }


def terms(text: str) -> set[str]:
    """Content words, folded.

    >>> sorted(terms("The Moon causes the tides."))
    ['causes', 'moon', 'tides']
    """
    return {w for w in fold(text).split() if w not in _STOP}


def cited_sentences(answer: str) -> list[tuple[str, tuple[int, ...]]]:
    """The answer cut after each run of citation markers: (text, cited passage numbers).

    >>> cited_sentences("Tides come from the Moon. [1] The Sun helps [2][3]. Odd.")
    [('Tides come from the Moon.', (1,)), ('The Sun helps.', (2, 3)), ('Odd.', ())]
    """
    out = []
    for piece in _PIECE.findall(answer):
        numbers = tuple(int(n) for n in _CITED.findall(piece))
        text = _CITED.sub("", piece).strip()
        if text:
            out.append((text, numbers))
    return out


def support(sentence: str, passages: Sequence[str]) -> float:
    """Share of the sentence's content words found in the passages (1.0 without any).

    >>> support("The Moon causes tides", ["Tides are caused by the Moon."])
    0.6666666666666666
    """
    words = terms(sentence)
    if not words:
        return 1.0
    held = set().union(*(terms(p) for p in passages)) if passages else set()
    return len(words & held) / len(words)


def judge(answer: str, hits: Sequence[Hit], threshold: float) -> list[Verdict]:
    """A verdict per answer sentence against the passages it cites (none cited: unsupported)."""
    verdicts = []
    for sentence, cited in cited_sentences(answer):
        texts = [f"{hits[n - 1].title} {hits[n - 1].text}" for n in cited if 0 < n <= len(hits)]
        share = support(sentence, texts) if texts else 0.0
        verdicts.append(Verdict(sentence, cited, share, bool(texts) and share >= threshold))
    return verdicts


def kept_answer(verdicts: Sequence[Verdict]) -> str:
    """The supported sentences with their citation markers, in order."""
    return " ".join(
        v.sentence + "".join(f" [{n}]" for n in v.cited) for v in verdicts if v.supported
    )


def aboutness(question: str, hits: Sequence[Hit]) -> float:
    """Share of the question's named things that one of the passages is about (titled by
    that name); 1.0 for a question naming nothing.

    >>> h = Hit("a#0", "a", "Pepper Keenan", "Pepper Keenan is a guitarist.", 1.0)
    >>> aboutness("Was Pepper Keenan or Rob Parissi born first?", [h])
    0.5
    """
    things = {fold(t) for t in question_entities(question)}
    if not things:
        return 1.0
    titles = {title_key(h.title) for h in hits}
    return sum(t in titles for t in things) / len(things)


def coverage(question: str, hits: Sequence[Hit]) -> float:
    """Share of the question's named things (or, naming none, of its content words) that
    the passages mention.

    >>> h = Hit("a#0", "a", "Pepper Keenan", "Pepper Keenan is a guitarist.", 1.0)
    >>> coverage("Was Pepper Keenan or Rob Parissi born first?", [h])
    0.5
    """
    things = [fold(t) for t in question_entities(question)]
    held = f" {' '.join(fold(f'{h.title} {h.text}') for h in hits)} "
    if things:
        return sum(f" {t} " in held for t in things) / len(things)
    words = terms(question)
    return len(words & set(held.split())) / len(words) if words else 1.0
