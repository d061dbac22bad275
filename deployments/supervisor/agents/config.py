"""Typed, strict configuration of the agent supervisor: the registered agents and budgets.

An agent is registered by config: a ``name``, the ``kind`` of work it does (one of the
implementations in :mod:`deployments.supervisor.agents.kinds`), and the ``description``,
``examples`` and ``patterns`` the planner selects it by. Adding an agent (say a second
multi-hop agent with another description) touches no supervisor code.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

AgentKind = Literal["lookup", "multihop", "graph", "multihop_graph", "comparison", "summary"]


class AgentSpec(BaseModel):
    """One agent the planner may hand a question to."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="Unique agent name.")
    kind: AgentKind = Field(description="Which implementation runs it.")
    description: str = Field(min_length=1, description="What questions it is for.")
    examples: list[str] = Field(
        default_factory=list, description="Questions it is for; selection embeds them."
    )
    patterns: list[str] = Field(
        default_factory=list,
        description="Case-insensitive regular expressions; a question matching one gets "
        "agents.rule_bonus added to this agent's similarity.",
    )

    requires_rule: bool = Field(
        default=False,
        description="Chosen only when one of its patterns matches (for agents defined by "
        "the form of a question, such as comparisons, more than by its topic).",
    )

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, v: list[str]) -> list[str]:
        for pattern in v:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a regular expression: {exc}") from exc
        return v


def default_agents() -> list[AgentSpec]:
    """The shipped agents. Their examples are written for this project, not taken from any
    evaluation set."""
    return [
        AgentSpec(
            name="lookup",
            kind="lookup",
            description="A question or claim answered by one passage about one thing.",
            examples=[
                "What is the boiling point of water at sea level?",
                "When was the Eiffel Tower built?",
                "Aspirin reduces the risk of heart attack.",
                "How does a vector database index embeddings?",
            ],
        ),
        AgentSpec(
            name="multihop",
            kind="graph",
            description="A question about something identified only through another "
            "thing: find the first, read the name it leads to, then find that.",
            examples=[
                "In what year was the director of the film Heat born?",
                "Which river flows through the capital of the country that won the 1998 World Cup?",
                "The author of the novel Dune was born in which city?",
                "What is the nationality of the composer who wrote the opera Carmen?",
                "Who founded the company that makes the iPhone?",
            ],
            patterns=[
                r"\b(?:the|a|an) \w+(?: \w+)? (?:who|that|which|whose|where) \w+",
                r"\b(?:of|by|for|in|from) the \w+(?: \w+)? (?:who|that|which|whose)\b",
            ],
        ),
        AgentSpec(
            name="comparison",
            kind="comparison",
            description="A question comparing two or more named things on one attribute.",
            examples=[
                "Which is taller, the Eiffel Tower or the Statue of Liberty?",
                "Were Mozart and Beethoven both composers?",
                "Who was born first, Ada Lovelace or Charles Babbage?",
                "Is Lyon or Marseille the larger city?",
                "Do Python and Rust have the same license?",
            ],
            patterns=[
                r"\b(?:both|either|neither|same|different|more|less|fewer|first|earlier|later"
                r"|older|younger|\w+er than)\b.*\bor\b",
                r"\bor\b.*\b(?:first|earlier|later|older|younger|more|less|longer|larger"
                r"|higher|bigger|smaller)\b",
                r"^(?:are|were|is|was|do|does|did|have|has)\b[^?]*\band\b",
                r"\bboth\b|\b(?:compare|versus|vs)\b|\bbetween\b[^?]*\band\b",
                r",\s*(?:the\s+)?[^,?]+\s+or\s+(?:the\s+)?[^,?]+\?$",
                r"\bor\s+(?:the\s+)?(?-i:[A-Z0-9])",
            ],
            requires_rule=True,
        ),
        AgentSpec(
            name="summary",
            kind="summary",
            description="A request for an overview of a topic drawing on many passages.",
            examples=[
                "Summarize what the documents say about climate change.",
                "Give an overview of the history of the Roman Empire.",
                "What are the main approaches to approximate nearest neighbour search?",
            ],
            patterns=[r"^(?:summari[sz]e|give an overview|overview of|tell me everything)\b"],
            requires_rule=True,
        ),
    ]


class AgentsConfig(BaseModel):
    """How the planner selects agents, how much they may spend, and how answers are checked."""

    model_config = ConfigDict(extra="forbid")

    default: bool = Field(
        default=False,
        description="Answer with the agents when a request does not say (its `agents` "
        "field); false keeps the single-shot pipeline the default.",
    )
    agents: list[AgentSpec] = Field(default_factory=default_agents)
    rule_bonus: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Added to the similarity of an agent whose pattern matches the question.",
    )
    run_margin: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Also run every agent scoring within this of the best (0: the best one only).",
    )
    max_agents: int = Field(default=2, ge=1, le=5, description="Agents run per question.")
    max_hops: int = Field(
        default=2, ge=1, le=4, description="Retrieval rounds a multi-hop agent may spend."
    )
    bridge_passages: int = Field(
        default=3, ge=1, le=10, description="Best passages of a hop read for bridge entities."
    )
    max_bridges: int = Field(
        default=10, ge=1, le=16, description="Entities followed from one hop to the next."
    )
    hop_candidates: int = Field(
        default=30, ge=1, le=200, description="Candidates retrieved per follow-up query."
    )
    min_hop_s: float = Field(
        default=0.5,
        ge=0,
        description="A further hop starts only with this many seconds "
        "left before the request's deadline; otherwise the agent returns what it has.",
    )
    escalate: bool = Field(
        default=True,
        description="On reflection, hand a question whose evidence chain is "
        "incomplete to a link-following agent when none ran yet.",
    )
    validate_answers: bool = Field(
        default=True, description="Check every answer sentence against the passage it cites."
    )
    support_threshold: float = Field(
        default=0.6,
        ge=0,
        le=1,
        description="Share of a sentence's content words its cited "
        "passage must hold for the sentence to count as supported.",
    )
    abstain_below: float = Field(
        default=0.75,
        ge=0,
        le=1,
        description="Abstain when the evidence mentions less than this share of what the "
        "question names (quoted or capitalised names; 0: never abstain)...",
    )
    abstain_about_below: float = Field(
        default=0.5,
        ge=0,
        le=1.01,
        description="... and less than this share of those names has a passage about it "
        "(titled by the name) among the evidence (above 1: the first test alone decides).",
    )
    abstain_text: str = Field(
        default="The documents do not say.", min_length=1, description="The abstention."
    )

    @model_validator(mode="after")
    def _registry(self) -> AgentsConfig:
        names = [a.name for a in self.agents]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"agent names must be unique; {twice} appear more than once")
        if not any(a.kind == "lookup" for a in self.agents):
            raise ValueError(
                "agents needs one agent of kind 'lookup': it is the fallback when no other "
                "agent fits"
            )
        return self
