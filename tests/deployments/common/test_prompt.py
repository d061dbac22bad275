from __future__ import annotations

import pytest

from deployments.common.prompt import (
    NO_PASSAGES,
    SYSTEM_PROMPT,
    build_messages,
    estimate_tokens,
    fit_passages,
    format_passages,
)
from deployments.errors import InvalidRequestError
from deployments.types import Hit


def _hit(n: int, text: str, title: str = "") -> Hit:
    return Hit(f"c{n}", f"d{n}", title, text, 1.0)


def test_passages_are_numbered_from_one_in_order() -> None:
    out = format_passages([_hit(1, "First.", "Alpha"), _hit(2, "Second.", "Beta")], max_chars=100)
    assert out == "[1] Alpha\nFirst.\n\n[2] Beta\nSecond."


def test_untitled_passage_has_a_bare_number() -> None:
    assert format_passages([_hit(1, "Text.")], max_chars=100) == "[1]\nText."


def test_long_passage_is_cut_to_max_chars_with_an_ellipsis() -> None:
    text = "x" * 120
    out = format_passages([_hit(1, text)], max_chars=50)
    body = out.split("\n", 1)[1]
    assert len(body) == 50
    assert body == "x" * 49 + "…"


def test_passage_of_exactly_max_chars_is_kept_whole() -> None:
    out = format_passages([_hit(1, "y" * 50)], max_chars=50)
    assert out.endswith("\n" + "y" * 50)


def test_messages_hold_system_rules_question_and_passages() -> None:
    msgs = build_messages("What is RRF?", [_hit(1, "RRF fuses rankings.", "RRF")], max_chars=100)
    assert msgs[0] == {"role": "system", "content": SYSTEM_PROMPT}
    user = msgs[1]["content"]
    assert msgs[1]["role"] == "user"
    assert "[1] RRF\nRRF fuses rankings." in user
    assert user.rstrip().endswith("Question: What is RRF?\nAnswer with citations:")
    assert user.index("[1] RRF") < user.index("Question:")


def test_no_passages_is_said_explicitly() -> None:
    user = build_messages("Why?", [], max_chars=100)[1]["content"]
    assert "(no passages were found)" in user


# --- The prompt fits the model's context window (issue 11) ---


def _hits(n: int, words: int = 30) -> list[Hit]:
    return [_hit(i, "word " * words, f"T{i}") for i in range(1, n + 1)]


def _prompt_tokens(msgs: list[dict[str, str]]) -> int:
    return sum(estimate_tokens(m["content"]) for m in msgs)


def test_estimate_counts_words_digits_punctuation_and_bytes() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("a bcdefg") == 1 + 2
    assert estimate_tokens("2024") == 4  # digits one by one, as Qwen2.5 splits them
    assert estimate_tokens("a\n\nb") == 3
    assert estimate_tokens("東京") == 6  # at most one token per UTF-8 byte


def test_estimate_is_additive_over_the_blocks_of_a_prompt() -> None:
    hits = _hits(3)
    whole = build_messages("Why?", hits, max_chars=1500)
    empty = build_messages("Why?", [], max_chars=1500)
    blocks = [estimate_tokens(format_passages([h], max_chars=1500)) for h in hits]
    assert _prompt_tokens(whole) == (
        _prompt_tokens(empty) - estimate_tokens(NO_PASSAGES) + sum(blocks) + len(blocks) - 1
    )


def test_every_passage_is_kept_when_the_prompt_fits() -> None:
    hits = _hits(5)
    assert fit_passages("Why?", hits, max_chars=1500, max_prompt_tokens=2000) == hits
    assert build_messages("Why?", hits, max_chars=1500, max_prompt_tokens=2000) == (
        build_messages("Why?", hits, max_chars=1500)
    )


@pytest.mark.parametrize("budget", [200, 300, 420, 550])
def test_the_lowest_ranked_passages_are_dropped_first_to_fit(budget: int) -> None:
    hits = _hits(8)
    kept = fit_passages("Why?", hits, max_chars=1500, max_prompt_tokens=budget)
    assert kept == hits[: len(kept)] and 1 <= len(kept) < 8
    msgs = build_messages("Why?", hits, max_chars=1500, max_prompt_tokens=budget)
    assert _prompt_tokens(msgs) <= budget
    one_more = build_messages("Why?", hits[: len(kept) + 1], max_chars=1500)
    assert _prompt_tokens(one_more) > budget  # dropped only what did not fit


def test_a_single_passage_too_long_is_cut_to_fit() -> None:
    (hit,) = fit_passages("Why?", _hits(3, words=400), max_chars=20000, max_prompt_tokens=200)
    assert hit.chunk_id == "c1" and hit.text.endswith("…") and len(hit.text) < 400 * 5
    msgs = build_messages("Why?", [hit], max_chars=20000)
    assert 190 < _prompt_tokens(msgs) <= 200


def test_passages_are_cut_to_max_chars_before_they_are_counted() -> None:
    hits = _hits(3, words=400)  # 2000 characters each, cut to 100
    assert len(fit_passages("Why?", hits, max_chars=100, max_prompt_tokens=300)) == 3


def test_a_question_too_long_for_the_context_is_a_400_naming_it() -> None:
    with pytest.raises(InvalidRequestError, match="shorten it") as err:
        fit_passages("why " * 400, _hits(2), max_chars=1500, max_prompt_tokens=300)
    assert err.value.param == "query"
