"""Rule-based query rewriter stage: normalise, expand abbreviations, route, decompose."""

from deployments.rewriter.config import DEFAULT_ABBREVIATIONS, RewriterConfig
from deployments.rewriter.core import classify, expand, normalize, rewrite, sub_questions

__all__ = [
    "DEFAULT_ABBREVIATIONS",
    "RewriterConfig",
    "classify",
    "expand",
    "normalize",
    "rewrite",
    "sub_questions",
]
