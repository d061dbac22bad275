r"""Multi-turn query rewriting by rules: make a chat's last message a standalone search query.

A follow-up such as "what about its side effects?" cannot be searched on its own; this
module rewrites it from the conversation's earlier turns, with no model call.

How it works:

1. The window is the last ``max_context_turns`` user/assistant turns (system turns are
   ignored), each read up to :data:`MAX_TURN_CHARS` characters; the user turns in it are
   resolved oldest first, so a chain of follow-ups ("And X?", then "And Y?") keeps its frame.
2. Each resolved user turn sets the *frame* (the last full question) and usually the
   *subject*: its first named entity (a quoted span or a run of capitalised words such as
   "Pepper Keenan" or "Lord of the Rings", or the object of a final "about X"); with no
   capitalised entity, the last run of content words ("metformin" in "what is metformin
   used for?").
3. The message is then rewritten by the first rule that applies:

   - **Ellipsis** ("and X?", "what about X?", "how about X?", "what of X?", "same for X?"):
     X naming something new (an entity, a number, a bare noun) takes the place of the
     frame's subject: after "When was Pepper Keenan born?", "And Rob Parissi?" becomes
     "When was Rob Parissi born?". X starting with an article ("the dosage") is an aspect of
     the subject: "what about metformin's dosage?".
   - **Short fragment** (at most four words ending in "?", no question word or verb lead):
     an entity fragment ("Rob Parissi?") is an ellipsis as above; any other fragment is an
     aspect of the subject: "side effects?" becomes "metformin side effects?".
   - **Pronouns** (it, they, he, she, him, her, them, contractions such as "it's";
     demonstratives used as pronouns; possessives its, his, her, their) are replaced by the
     subject ("its side effects" -> "metformin's side effects"). Only the first pronoun's
     family (it/its/this, he/him/his, she/her, they/them/their) is replaced: "He played for
     a team that made its debut" keeps "its". A pronoun is left alone when it opens a clause
     of its own after the message named an entity ("Where was Obama born and when did he
     graduate?"); the message is left alone when the subject already appears in it, or its
     only "it" is an expletive ("is it true that ...") and it names an entity of its own.
   - Otherwise the message stands alone and is returned as given.

Assistant turns: answers are long and name many things, so they are **not** a source of
the subject, with two exceptions where they are the only sensible antecedent: (a) the
previous user turn asked "who ..." and the message uses a personal pronoun (he, she, they,
his...): the pronoun means the person the assistant answered with, its first entity not
already in the question; (b) no user turn in the window yields any subject at all.

Bounds: the message is returned unchanged when it is empty after normalisation or longer
than :data:`MAX_MESSAGE_WORDS` words (a message that long carries its own context); all
regular expressions are linear, so hostile input costs time proportional to its length
and never raises.

Entity, topic and pronoun detection lives in :mod:`deployments.common.mentions`.

Example:
    >>> history = [("user", "When was Pepper Keenan born?"), ("assistant", "In 1967.")]
    >>> standalone_question(history, "And Rob Parissi?")
    'When was Rob Parissi born?'
    >>> earlier = [("user", "What is metformin used for?")]
    >>> standalone_question(earlier, "what about its side effects?")
    "what about metformin's side effects?"
    >>> standalone_question(history, "Where was Phil Anselmo born?")  # stands alone
    'Where was Phil Anselmo born?'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from deployments.common.mentions import (
    CONTRACTIONS,
    PERSONAL,
    PREPOSITIONS,
    TOKEN,
    Span,
    anaphor_kind,
    anaphors,
    entities,
    main_subject,
    pronoun_family,
    starts_own_clause,
    subject_span,
)
from deployments.common.text import normalize
from deployments.common.words import AUX, IMPERATIVES, WH

#: Default number of earlier user/assistant turns looked at (three exchanges).
DEFAULT_CONTEXT_TURNS = 6
#: Characters of each earlier turn that are read; the rest of a long answer is ignored.
MAX_TURN_CHARS = 2000
#: Messages longer than this (in words, or in characters) are returned unchanged.
MAX_MESSAGE_WORDS = 64
MAX_MESSAGE_CHARS = 2000

_INTERJECTIONS = frozenset(
    "yes no ok okay sure really thanks thank cool great nice wow hmm why".split()
)
_ARTICLES = frozenset({"the", "a", "an"})

_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\w.])")
_MARKER = re.compile(
    r"^(?:(?:(?:and|but|so|also|or|then)\s+)?(?:(?:what|how)\s+about|what\s+of"
    r"|(?:the\s+)?same\s+(?:question\s+|thing\s+)?(?:for|about|with))"
    r"|(?:and|or|also|plus)(?:\s+for)?)\s+",
    re.IGNORECASE,
)
_EXPLETIVE_IT = re.compile(
    r"\bit(?:\s+(?:is|was|seems|seemed)|'s)\s+(?:\w+\s+){0,2}?(?:that|to|whether)\b"
    r"|\b(?:is|was|isn't|wasn't)\s+it\s+\w+\s+(?:to|that|whether|if)\b",
    re.IGNORECASE,
)


@dataclass
class _Context:
    frame: str | None = None  # the last resolved user question
    subject: str | None = None  # what pronouns and aspects refer to
    person: str | None = None  # the answer to a "who" question, for he/she/they


def standalone_question(
    history: Sequence[tuple[str, str]],
    message: str,
    *,
    max_context_turns: int = DEFAULT_CONTEXT_TURNS,
) -> str:
    """Rewrite the last user message of a chat into a standalone search query.

    Args:
        history: Earlier ``(role, content)`` turns, oldest first; roles ``"user"``,
            ``"assistant"`` or ``"system"`` (ignored, as are malformed entries).
        message: The last user message.
        max_context_turns: How many of the latest user/assistant turns are looked at
            (``0``: none, the message is returned as given).

    Returns:
        ``message`` itself when there is no user turn in the window or it stands alone;
        otherwise the rewritten, normalised query (see the module docstring for the rules).

    Raises:
        ValueError: ``max_context_turns`` is negative.

    Example:
        >>> standalone_question([], "And Rob Parissi?")
        'And Rob Parissi?'
        >>> chat = [("user", "Who founded Microsoft?"), ("assistant", "Bill Gates and Paul Allen.")]
        >>> standalone_question(chat, "When was he born?")
        'When was Bill Gates born?'
        >>> standalone_question([("user", "Tell me about metformin")], "side effects?")
        'metformin side effects?'
    """
    if max_context_turns < 0:
        raise ValueError(
            f"max_context_turns must be >= 0, got {max_context_turns!r}; "
            "use 0 to ignore the history"
        )
    if not isinstance(message, str) or len(message) > MAX_MESSAGE_CHARS:
        return message
    turns = _window(history, max_context_turns)
    if not any(role == "user" for role, _ in turns):
        return message
    text = normalize(message)
    if not text or len(TOKEN.findall(text)) > MAX_MESSAGE_WORDS:
        return message
    ctx = _Context()
    for i, (role, content) in enumerate(turns):
        if role == "user":
            reply = turns[i + 1] if i + 1 < len(turns) else ("", "")
            _advance(ctx, content, reply[1] if reply[0] == "assistant" else None)
    if ctx.subject is None:  # exception (b): only the assistant names anything
        answers = [content for role, content in turns if role == "assistant"]
        ctx.subject = _first(entities(answers[-1])) if answers else None
    rewritten = _resolve(text, ctx)[0]
    return message if rewritten == text else " ".join(rewritten.split())


def _window(history: Sequence[tuple[str, str]], size: int) -> list[tuple[str, str]]:
    turns: list[tuple[str, str]] = []
    for entry in reversed(history or ()):
        if len(turns) == size:
            break
        if not (isinstance(entry, tuple | list) and len(entry) == 2):
            continue
        role, content = entry
        if isinstance(role, str) and isinstance(content, str):
            role = role.strip().lower()
            text = normalize(content[:MAX_TURN_CHARS])
            if role in ("user", "assistant") and text:
                turns.append((role, text))
    return turns[::-1]


def _advance(ctx: _Context, content: str, reply: str | None) -> None:
    """Resolve one earlier user turn and make it the frame (``reply``: the next turn)."""
    resolved, subject = _resolve(content, ctx)
    ctx.frame, ctx.subject = resolved, subject or ctx.subject
    ctx.person = None
    if reply is not None and _words(resolved)[:1] in (["who"], ["whom"]):
        asked = resolved.lower()
        named = [e for e in entities(reply) if e.text.lower() not in asked]
        ctx.person = named[0].text if named else None


def _resolve(text: str, ctx: _Context) -> tuple[str, str | None]:
    """``text`` made standalone from ``ctx``, and the subject it leaves the conversation."""
    if len(TOKEN.findall(text)) > MAX_MESSAGE_WORDS:
        return text, main_subject(text)
    marker = _MARKER.match(text)
    body = text[marker.end() :] if marker else text
    x = body.rstrip(" ?!.")
    words = _words(x)
    if marker and 0 < len(words) <= 8 and not _starts_clause(words) and not anaphors(x):
        return _ellipsis(text, text[: marker.end()], x, ctx, bare=False)
    if (
        not marker
        and text.endswith("?")
        and 0 < len(words) <= 4
        and not _starts_clause(words)
        and words[0] not in _INTERJECTIONS
        and not anaphors(x)
    ):
        return _ellipsis(text, "", x, ctx, bare=True)
    return _pronouns(text, ctx)


def _ellipsis(
    text: str, prefix: str, x: str, ctx: _Context, *, bare: bool
) -> tuple[str, str | None]:
    """Rule for "and X?", "what about X?" and short fragments (see the module docstring)."""
    words = _words(x)
    named = entities(x)
    lead, _, core = x.partition(" ")
    led = bool(core) and lead.lower() in PREPOSITIONS  # "and in 2010?", "what about for X?"
    numeric = _NUMBER.fullmatch((core if led else x).strip()) is not None
    if bare:
        is_aspect = not (named or numeric)
    else:
        is_aspect = words[0] in _ARTICLES and not named and not numeric
    if is_aspect:
        if ctx.subject is None:
            return text, None
        if bare:
            return f"{ctx.subject} {x}?", ctx.subject
        rest = x.split(None, 1)[1] if len(words) > 1 else x
        return f"{prefix}{_possessive(ctx.subject)} {rest}?", ctx.subject
    if ctx.frame is None:
        return text, _first(named) or x
    if led and not numeric:  # a new condition on the same question
        return f"{ctx.frame.rstrip(' ?!.')} {x}?", ctx.subject
    slot = _slot(ctx.frame, ctx.subject, numeric=numeric)
    if slot is None:
        joined = f"{x} {ctx.subject}" if ctx.subject else x
        return f"{prefix}{joined}?", _first(named) or x
    head = ctx.frame[: slot.start]
    if led and _words(head)[-1:] == [lead.lower()]:
        x = core  # "and in 2010?" against "... in 2000?"
    return head + x + ctx.frame[slot.end :], _first(named) or x


def _pronouns(text: str, ctx: _Context) -> tuple[str, str | None]:
    """Replace the anaphoric pronouns of ``text`` (of the first one's family) by their
    antecedent: the "who" answer for he/she/they, else the subject."""
    own = entities(text)
    tokens = list(TOKEN.finditer(text))
    found = [
        (m, kind)
        for i, m in enumerate(tokens)
        if (kind := anaphor_kind(tokens, i, text))
        and not (own and own[0].start < m.start() and starts_own_clause(tokens, i, text))
    ]
    if own and found and _EXPLETIVE_IT.search(text):
        if all(m.group().lower() in ("it", "it's") for m, _ in found):
            found = []
    if not found:
        return text, main_subject(text)
    family = pronoun_family(found[0][0].group())
    found = [(m, k) for m, k in found if pronoun_family(m.group()) == family]
    antecedent = ctx.person if family != "it" and ctx.person else ctx.subject
    if antecedent is None or _find(text, antecedent):
        return text, main_subject(text) or antecedent
    out, last = [], 0
    for m, kind in found:
        out.append(text[last : m.start()])
        if kind == "possessive":
            out.append(_possessive(antecedent))
        elif kind == "contraction":
            out.append(f"{antecedent} {CONTRACTIONS[m.group().split(chr(39))[1].lower()]}")
        else:
            out.append(antecedent)
        last = m.end()
    return "".join(out) + text[last:], antecedent


def _slot(frame: str, subject: str | None, *, numeric: bool) -> Span | None:
    """Where an elliptical follow-up's X goes in the frame question."""
    if numeric and (number := _NUMBER.search(frame)):
        return Span(number.start(), number.end(), number.group())
    if subject and (found := _find(frame, subject)):
        return Span(found.start(), found.end(), found.group())
    return subject_span(frame)


def _first(spans: list[Span]) -> str | None:
    return spans[0].text if spans else None


def _words(text: str) -> list[str]:
    return [w.lower() for w in TOKEN.findall(text)]


def _starts_clause(words: list[str]) -> bool:
    return (
        words[0] in WH
        or words[0] in AUX
        or words[0] in IMPERATIVES
        or words[0] in PERSONAL | {"i", "we", "you", "it"}
    )


def _possessive(name: str) -> str:
    """``"metformin's"``, ``"The Beatles'"``."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _find(text: str, phrase: str) -> re.Match[str] | None:
    """``phrase`` in ``text`` as whole words, ignoring case."""
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text, re.IGNORECASE)
