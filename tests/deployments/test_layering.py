"""The house rule: a stage package imports only the ground floor, never another stage.

The ground floor is the top-level modules of ``deployments`` (types, errors, metrics,
cache, devices, batching), ``deployments.common`` and ``deployments.observability``; every
other package under ``deployments`` is a stage. Checked on the source (every import
statement, including the ones inside functions), so it holds whatever is imported lazily.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "deployments"
GROUND = ("common", "observability")
STAGES = sorted(
    p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file() and p.name not in GROUND
)


def imported_modules(path: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` in ``path`` names (absolute)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = path.relative_to(ROOT).with_suffix("").parts[: -node.level]
                found.add(".".join([*base, node.module or ""]).rstrip("."))
            elif node.module:
                found.add(node.module)
    return found


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 2 and parts[0] == "deployments" and parts[1] in STAGES:
        return parts[1]
    return None


def test_the_stages_are_the_deployments() -> None:
    assert STAGES == [
        "generator",
        "ingester",
        "ingress",
        "milvus",
        "quota",
        "reranker",
        "retriever",
        "rewriter",
        "supervisor",
    ]


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_imports_no_other_stage(stage: str) -> None:
    crossings = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sorted((PACKAGE / stage).rglob("*.py"))
        for module in sorted(imported_modules(path))
        if stage_of(module) not in (None, stage)
    ]
    assert crossings == [], "move what they share to deployments/common:\n" + "\n".join(crossings)


def test_the_ground_floor_imports_no_stage() -> None:
    ground = [p for p in PACKAGE.glob("*.py")] + sorted(
        p for package in GROUND for p in (PACKAGE / package).rglob("*.py")
    )
    crossings = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in ground
        for module in sorted(imported_modules(path))
        if stage_of(module) is not None
    ]
    assert crossings == []


def test_the_check_sees_a_crossing(tmp_path: Path) -> None:
    source = tmp_path / "x.py"
    source.write_text("def f():\n    from deployments.retriever.core import search_batch\n")
    assert {stage_of(m) for m in imported_modules(source)} == {"retriever"}
