"""Expression literals: hostile strings come back out of Milvus Lite's own parser intact."""

from __future__ import annotations

import pytest
from milvus_lite.search.filter.tokens import TokenKind, tokenize

from deployments.common.store.expr import field_equals, field_in, string_literal

HOSTILE = [
    "",
    "plain",
    "Tucker's Island, Bermuda",
    'a "quoted" word',
    "back\\slash and \\n not a newline",
    "trailing backslash\\",
    "new\nline\r\nand\ttab",
    "Zürich — 東京 — Ελληνικά — 🚀",
    "\\u00e9 written out",
    '"] or doc_id != ["',
    "' or 1 == 1 or '",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_milvus_lite_reads_back_exactly_the_value(value: str) -> None:
    (token, eof) = tokenize(string_literal(value))
    assert token.kind == TokenKind.STRING and eof.kind == TokenKind.EOF
    assert token.value == value


def test_in_list_is_one_expression_of_literals() -> None:
    expr = field_in("doc_id", HOSTILE)
    kinds = [t.kind for t in tokenize(expr)]
    assert kinds.count(TokenKind.STRING) == len(HOSTILE)
    assert [t.value for t in tokenize(expr) if t.kind == TokenKind.STRING] == HOSTILE
    assert field_in("doc_id", []) == "doc_id in []"


@pytest.mark.parametrize("bad", ["nul\x00", "bell\x07", "lone \ud800 surrogate"])
def test_unwritable_characters_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="cannot write"):
        string_literal(bad)


@pytest.mark.parametrize("field", ["doc id", "x]or[", "", "1abc"])
def test_field_names_are_checked(field: str) -> None:
    with pytest.raises(ValueError, match="not a field name"):
        field_in(field, ["a"])
    with pytest.raises(ValueError, match="not a field name"):
        field_equals(field, "a")
