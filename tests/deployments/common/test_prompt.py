from __future__ import annotations

from deployments.common.prompt import SYSTEM_PROMPT, build_messages, format_passages
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
