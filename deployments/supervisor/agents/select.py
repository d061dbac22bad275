"""Which agents take a question: similarity to each agent's description and examples,
plus its rules (pure, given the embeddings).

Each agent is represented by the unit vectors of its description and examples; its
similarity to a question is the best cosine among them, plus ``rule_bonus`` when one of
its patterns matches the question. The best agent is chosen; agents within
``run_margin`` of it run too (up to ``max_agents``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from deployments.supervisor.agents.config import AgentsConfig, AgentSpec


@dataclass(frozen=True)
class Choice:
    """One agent's standing for a question."""

    agent: AgentSpec
    score: float
    similarity: float
    rule: str | None  # the pattern that matched, if any

    def why(self) -> dict[str, object]:
        return {
            "agent": self.agent.name,
            "kind": self.agent.kind,
            "score": round(self.score, 4),
            "similarity": round(self.similarity, 4),
            "rule": self.rule,
        }


def agent_texts(agent: AgentSpec) -> list[str]:
    """The texts an agent is represented by: its description, then its examples."""
    return [agent.description, *agent.examples]


def _unit(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    return m / np.where(norms == 0, 1.0, norms)


class Selector:
    """Scores agents for questions.

    Args:
        cfg: The registered agents and selection settings.
        vectors: Embeddings of every agent's texts (:func:`agent_texts`), in the order of
            ``cfg.agents``, concatenated.
    """

    def __init__(self, cfg: AgentsConfig, vectors: np.ndarray) -> None:
        self.cfg = cfg
        sizes = [len(agent_texts(a)) for a in cfg.agents]
        if len(vectors) != sum(sizes):
            raise ValueError(f"expected {sum(sizes)} agent text vectors, got {len(vectors)}")
        bounds = np.cumsum([0, *sizes])
        unit = _unit(vectors)
        self._groups = [unit[bounds[i] : bounds[i + 1]] for i in range(len(sizes))]
        self._patterns = [[re.compile(p, re.IGNORECASE) for p in a.patterns] for a in cfg.agents]

    def rank(self, question: str, vector: np.ndarray) -> list[Choice]:
        """Every agent's standing, best first."""
        q = _unit(vector)
        choices = []
        for agent, group, patterns in zip(
            self.cfg.agents, self._groups, self._patterns, strict=True
        ):
            similarity = float(np.max(group @ q))
            rule = next((p.pattern for p in patterns if p.search(question)), None)
            bonus = self.cfg.rule_bonus if rule else 0.0
            choices.append(Choice(agent, similarity + bonus, similarity, rule))
        return sorted(choices, key=lambda c: -c.score)

    def choose(self, ranked: list[Choice]) -> list[Choice]:
        """The agents to run: the best eligible one (an agent that ``requires_rule`` is
        eligible only when a pattern matched), and those within ``run_margin`` of it."""
        eligible = [c for c in ranked if c.rule or not c.agent.requires_rule]
        best = eligible[0].score
        close = [c for c in eligible if best - c.score <= self.cfg.run_margin]
        return close[: self.cfg.max_agents]
