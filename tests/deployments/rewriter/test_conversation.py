"""Unit tests of the rule-based multi-turn rewriting (``standalone_question``)."""

from __future__ import annotations

import time

import pytest

from deployments.rewriter.conversation import (
    MAX_MESSAGE_CHARS,
    MAX_MESSAGE_WORDS,
    standalone_question,
)

KEENAN = [
    ("user", "When was Pepper Keenan born?"),
    ("assistant", "Pepper Keenan was born in 1967."),
]
METFORMIN = [
    ("user", "What is metformin used for?"),
    ("assistant", "Metformin treats Type 2 diabetes."),
]


# --- no context -----------------------------------------------------------------------------


@pytest.mark.parametrize("history", [[], (), [("system", "You are a helpful assistant.")]])
def test_no_user_history_returns_the_message_itself(history):
    message = "And Rob Parissi?"
    assert standalone_question(history, message) is message


def test_assistant_only_history_is_not_user_history():
    history = [("assistant", "Hi! Ask me about Ray Serve.")]
    assert standalone_question(history, "how do I scale it?") == "how do I scale it?"


def test_zero_context_turns_ignores_the_history():
    assert standalone_question(KEENAN, "And Rob Parissi?", max_context_turns=0) == (
        "And Rob Parissi?"
    )


def test_negative_context_turns_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"max_context_turns must be >= 0, got -1; use 0"):
        standalone_question(KEENAN, "And Rob Parissi?", max_context_turns=-1)


# --- standalone messages are left alone -----------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "Where was Phil Anselmo born?",
        "What is the capital of France?",
        "Is it true that Paris is the capital of France?",  # expletive "it", own entity
        "Where was Obama born and when did he graduate?",  # "he" is Obama
        "thanks!",
        "Really?",
        "Why?",
    ],
)
def test_standalone_message_unchanged(message):
    assert standalone_question(KEENAN, message) is message


def test_message_that_names_the_subject_itself_is_unchanged():
    message = "Did Pepper Keenan play in Down, and when did he join?"
    assert standalone_question(KEENAN, message) is message


# --- pronouns and possessives ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Which band did he found?", "Which band did Pepper Keenan found?"),
        ("Did Phil Anselmo play with him?", "Did Phil Anselmo play with Pepper Keenan?"),
        (
            "Who was born first, he or Rob Parissi?",
            "Who was born first, Pepper Keenan or Rob Parissi?",
        ),
    ],
)
def test_personal_pronoun_resolves_to_the_user_subject(message, expected):
    assert standalone_question(KEENAN, message) == expected


def test_neuter_pronoun_and_contraction():
    history = [("user", "Tell me about the Eiffel Tower.")]
    assert standalone_question(history, "How tall is it?") == "How tall is Eiffel Tower?"
    assert standalone_question(history, "It's made of what?") == "Eiffel Tower is made of what?"
    assert standalone_question(history, "When was this built?") == "When was Eiffel Tower built?"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("what about its side effects?", "what about metformin's side effects?"),
        ("How common are its side effects?", "How common are metformin's side effects?"),
    ],
)
def test_possessive_pronoun(message, expected):
    assert standalone_question(METFORMIN, message) == expected


def test_possessive_her_versus_object_her():
    history = [("user", "Where was Marie Curie born?")]
    assert standalone_question(history, "Where did her husband work?") == (
        "Where did Marie Curie's husband work?"
    )
    assert standalone_question(history, "Who taught her?") == "Who taught Marie Curie?"


def test_only_the_first_pronouns_family_is_replaced():
    # "its" is the team's, not Sadok Sassi's: a different pronoun family.
    history = [("user", "Tell me about Sadok Sassi.")]
    message = "He played for a team that made its World Cup debut in what year?"
    assert standalone_question(history, message) == (
        "Sadok Sassi played for a team that made its World Cup debut in what year?"
    )


def test_plural_pronoun_and_lowercase_topic():
    history = [("user", "what are the side effects of statins")]
    assert standalone_question(history, "how common are they?") == "how common are statins?"


# --- ellipsis: "and X?", "what about X?", fragments -----------------------------------------


def test_and_x_replaces_the_subject_of_the_previous_question():
    assert standalone_question(KEENAN, "And Rob Parissi?") == "When was Rob Parissi born?"


def test_chained_ellipsis_keeps_the_frame():
    history = [*KEENAN, ("user", "And Rob Parissi?"), ("assistant", "In 1950.")]
    assert standalone_question(history, "and Phil Anselmo?") == "When was Phil Anselmo born?"


def test_what_about_a_new_entity_versus_a_pronoun():
    history = [("user", "What was the population of Paris in 2000?")]
    assert standalone_question(history, "What about Lyon?") == (
        "What was the population of Lyon in 2000?"
    )
    assert standalone_question(history, "what about its area?") == "what about Paris' area?"


def test_how_about_a_number_replaces_the_number():
    history = [("user", "What was the population of Paris in 2000?")]
    assert (
        standalone_question(history, "And in 2010?") == "What was the population of Paris in 2010?"
    )
    assert standalone_question(history, "how about 2010?") == (
        "What was the population of Paris in 2010?"
    )


def test_what_about_a_lowercase_new_item_and_an_aspect():
    assert standalone_question(METFORMIN, "and aspirin?") == "What is aspirin used for?"
    assert standalone_question(METFORMIN, "and the dosage?") == "and metformin's dosage?"


def test_what_about_a_new_condition_extends_the_question():
    history = [("user", "Is BM25 better than dense retrieval?")]
    assert standalone_question(history, "What about for long documents?") == (
        "Is BM25 better than dense retrieval for long documents?"
    )


def test_short_fragments():
    history = [("user", "Tell me about metformin")]
    assert standalone_question(history, "side effects?") == "metformin side effects?"
    assert standalone_question(KEENAN, "Rob Parissi?") == "When was Rob Parissi born?"


# --- assistant turns ------------------------------------------------------------------------


def test_assistant_answer_is_not_the_subject_source_by_default():
    # The answer names "Type 2 diabetes", but "its" still means metformin.
    assert "Type 2" not in standalone_question(METFORMIN, "what about its side effects?")


def test_who_question_answer_is_the_referent_of_a_personal_pronoun():
    history = [
        ("user", "Who founded Microsoft?"),
        ("assistant", "Bill Gates and Paul Allen founded it in 1975."),
    ]
    assert standalone_question(history, "Where did he study?") == "Where did Bill Gates study?"
    # A neuter pronoun still means the question's own subject.
    assert standalone_question(history, "When was it founded?") == "When was Microsoft founded?"


def test_assistant_is_the_fallback_when_no_user_turn_names_anything():
    history = [("user", "hello"), ("assistant", "Ray Serve is a model serving library.")]
    assert standalone_question(history, "how do I scale it?") == "how do I scale Ray Serve?"


def test_system_turns_are_ignored():
    history = [("system", "Tell me about Paris."), *KEENAN, ("system", "Be brief about Lyon.")]
    assert standalone_question(history, "And Rob Parissi?") == "When was Rob Parissi born?"


# --- bounds and hostile input ---------------------------------------------------------------


def test_only_the_latest_turns_are_read():
    old = [("user", "Tell me about Lyon."), ("assistant", "A city.")]
    filler = [("user", "hello"), ("assistant", "hi")] * 3
    recent = [("user", "Tell me about Paris.")]
    assert standalone_question(old + recent, "How big is it?") == "How big is Paris?"
    assert standalone_question(old + filler, "How big is it?", max_context_turns=6) == (
        "How big is it?"  # Lyon is out of the window; "hello"/"hi" name nothing
    )


def test_very_long_history_is_bounded():
    history = [("user", "Tell me about Lyon."), ("assistant", "x " * 100_000)] * 50_000
    history.append(("user", "Tell me about Zürich."))
    start = time.perf_counter()
    assert standalone_question(history, "how big is it?") == "how big is Zürich?"
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    "message",
    [
        "",
        "   ",
        "\u200b\x00\ufeff",
        "?" * 100_000,
        "and " * 50_000,
        "a" * 1_000_000,
        "it " * (MAX_MESSAGE_WORDS + 1),
        "x" * (MAX_MESSAGE_CHARS + 1),
        '"' * 1999,
        "'s?",
        "and",
        "\U0001f600?",
        "它是什么？",
        "Что это?",
        "and \ud800?",  # lone surrogate
    ],
)
def test_hostile_messages_never_raise(message):
    start = time.perf_counter()
    out = standalone_question(KEENAN, message)
    assert isinstance(out, str)
    assert time.perf_counter() - start < 1.0


def test_empty_or_oversized_message_is_returned_as_given():
    for message in ("", "  \u200b ", "a" * (MAX_MESSAGE_CHARS + 1), "it " * 65):
        assert standalone_question(KEENAN, message) is message


@pytest.mark.parametrize(
    "history",
    [
        [None, 1, ("user",), ("user", None), ("user", "a", "b"), "user: hi"],
        [("USER", "Tell me about Kyiv"), ["assistant", "ok"], ("robot", "Tell me about Paris")],
        [("user", "\x00" * 10_000), ("user", "\U0001f600" * 3000)],
        [("user", "and " + "A" * 1990 + "?")] * 6,
    ],
)
def test_hostile_history_never_raises(history):
    assert isinstance(standalone_question(history, "how old is it?"), str)


def test_malformed_entries_are_skipped_and_roles_are_case_insensitive():
    history = [None, ("USER", "Tell me about Kyiv"), ("robot", "Tell me about Paris")]
    assert standalone_question(history, "how old is it?") == "how old is Kyiv?"


def test_unicode_entities_survive():
    history = [("user", "Tell me about Mikael Åkerfeldt.")]
    assert standalone_question(history, "Which band did he found?") == (
        "Which band did Mikael Åkerfeldt found?"
    )
    assert standalone_question(history, "And Ünïcödé Straße?") == "Tell me about Ünïcödé Straße."
