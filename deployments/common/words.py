"""Word classes of English text, shared by the rewriter's rules, mention detection, entity
keys and the agents."""

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
#: Lowercase words inside a name ("Lord of the Rings", "Ludwig van Beethoven").
NAME_CONNECTORS = frozenset(
    "of the de da di del della des du la le van von der den y al el bin".split()
)
#: Words that carry no topic: left out when texts are compared by their content words.
FUNCTION_WORDS = frozenset(
    "a an and are as at be by did do does for from had has have he her his how in is it its "
    "of on or she that the their they this to was were what when where which who whom why "
    "with".split()
)
