"""Word classes of English questions, shared by the rewriter's rules and mention detection."""

from __future__ import annotations

WH = frozenset("what why how which who whom whose where when".split())
AUX = frozenset(
    "is are was were do does did can could should would will has have had may might must "
    "shall".split()
)
IMPERATIVES = frozenset(
    "explain describe list show give tell compare contrast summarize summarise define find "
    "outline name identify".split()
)
