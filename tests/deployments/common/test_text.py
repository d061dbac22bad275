"""The one query normalisation and the characters that survive it."""

from __future__ import annotations

import re
import unicodedata

from deployments.common.text import SEARCHABLE, UNSEARCHABLE_RANGES, normalize, searchable

DROPPED = {"Cc", "Cf", "Cs", "Co"}


def _unsearchable(cp: int) -> bool:
    if 0xD800 <= cp <= 0xDFFF:
        return True
    ch = chr(cp)
    return ch.isspace() or unicodedata.category(ch) in DROPPED


def test_the_ranges_are_exactly_what_normalize_removes_in_this_python() -> None:
    ranges, start = [], None
    for cp in range(0x110000):
        bad = _unsearchable(cp)
        if bad and start is None:
            start = cp
        elif not bad and start is not None:
            ranges.append((start, cp - 1))
            start = None
    if start is not None:
        ranges.append((start, 0x10FFFF))
    assert tuple(ranges) == UNSEARCHABLE_RANGES


def test_a_character_outside_the_ranges_survives_normalize_on_its_own() -> None:
    for cp in range(0x110000):
        if not _unsearchable(cp):
            assert normalize(chr(cp)), hex(cp)


def test_the_pattern_and_the_check_agree() -> None:
    pattern = re.compile(SEARCHABLE)
    for text in ["tides", "\u008f", " \u200b\ufeff", "\U000f0001", "a\u008f", "\u00e9", "\t"]:
        assert bool(pattern.search(text)) == searchable(text), repr(text)
