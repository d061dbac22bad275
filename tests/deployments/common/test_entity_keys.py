"""Entity keys stored with each chunk: bounded, exact, and found where links need them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deployments.common.entity_keys import (
    ENTITIES_MAX_BYTES,
    MAX_ENTITIES,
    MAX_KEY_BYTES,
    entity_field,
    fold,
    passage_keys,
    title_key,
)


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("It stars Michael C. Hall, Ludacris and others.", "Michael C. Hall"),
        ("He is boxing champion Shane Mosley's cousin.", "Shane Mosley"),
        ("Her mother is Shirley Phelps-Roper, whose father was a pastor.", "Shirley Phelps-Roper"),
        ("A school in Rochester Hills, Michigan.", "Rochester Hills, Michigan"),
        ("A school in Rochester Hills, Michigan.", "Rochester Hills"),
        ("Gold in the 1970 Asian Games and more.", "1970 Asian Games"),
        ("Mountains made during the Taconic orogeny.", "Taconic orogeny"),
        (
            'Ego is played by Kurt Russell in "Guardians of the Galaxy Vol. 2".',
            "Guardians of the Galaxy Vol. 2",
        ),
        ('Her songs include "When the Levee Breaks" (1929).', "When the Levee Breaks"),
        ("Director of The Frost Place Advanced Seminar.", "The Frost Place"),
        ("A town near Zürich — by the lake.", "Zurich (city)"),
        ("Elected to the Lord of the Isles council.", "Lord of the Isles"),
    ],
)
def test_a_title_mentioned_in_the_text_is_among_its_keys(text: str, title: str) -> None:
    assert title_key(title) in passage_keys(text)


@pytest.mark.parametrize(
    ("text", "not_key"),
    [
        ("In Paris, he met her.", "in paris"),  # a sentence opener is not part of the name
        ("The game was in Bangkok at night.", "the"),
        ("They won in Bangkok in 1970.", "bangkok in 1970"),  # "in" joins no names
        ("He met Ann and then left.", "ann and"),  # a run never ends on a connector
    ],
)
def test_function_words_are_not_keys(text: str, not_key: str) -> None:
    assert not_key not in passage_keys(text)


def test_keys_are_folded_unique_and_in_order() -> None:
    keys = passage_keys("Zoë Saldaña met ZOË SALDAÑA, then Alan Turing.")
    assert keys[0] == "zoe saldana" and len(keys) == len(set(keys))
    assert keys.index("zoe saldana") < keys.index("alan turing")
    assert all(k == fold(k) for k in keys)


def test_a_name_heavy_text_is_cut_to_the_schema() -> None:
    text = ", ".join(f"Saint Name{i} Of Place{i} Hill{i}" for i in range(300))
    keys = passage_keys(text)
    assert len(keys) == MAX_ENTITIES
    assert len(entity_field(keys).encode()) <= ENTITIES_MAX_BYTES
    assert passage_keys(text, limit=5) == keys[:5]
    long_name = " ".join(["Wolfeschlegelsteinhausenbergerdorff"] * 6)
    assert all(len(k.encode()) <= MAX_KEY_BYTES for k in passage_keys(long_name))
    # Quoted titles count against the same bounds (each up to 120 characters, 3 bytes each).
    quoted = " ".join(f'"{"東京" * 58}{i}" "q{i} 東京"' for i in range(400)) + ' "!?" "" '
    keys = passage_keys(quoted)
    assert len(keys) == MAX_ENTITIES and "" not in keys
    assert keys[:2] == ["q0 東京", "q1 東京"]  # the long ones are over MAX_KEY_BYTES
    assert all(len(k.encode()) <= MAX_KEY_BYTES for k in keys)
    assert len(entity_field(keys).encode()) <= ENTITIES_MAX_BYTES


@given(st.text(max_size=400))
def test_any_text_gives_bounded_keys_that_can_be_written(text: str) -> None:
    keys = passage_keys(text)
    assert len(keys) <= MAX_ENTITIES
    assert all(k and len(k.encode()) <= MAX_KEY_BYTES and k == fold(k) for k in keys)
    # Never a delimiter or a `like` wildcard inside a key; the field fits the schema.
    assert not any(c in k for k in keys for c in "|%_\\")
    assert len(entity_field(keys).encode()) <= ENTITIES_MAX_BYTES
