r"""A request's metadata filter, as a Milvus boolean expression over the ``metadata`` field.

The filter is the JSON object of a request. Keys and strings reach the expression only
through :func:`~deployments.common.store.expr.string_literal`, numbers and booleans as
literals written here, so a filter is data and never expression text.

Grammar::

    filter  := {clause, ...}                 all clauses hold
    clause  := "$and": [filter, ...]         every filter holds (a non-empty list)
             | "$or": [filter, ...]          at least one filter holds (a non-empty list)
             | "$not": filter                the filter does not hold
             | key: scalar                   same as {"$eq": scalar}
             | key: [scalar, ...]            same as {"$in": [...]}
             | key: {op: operand, ...}       all operators hold
    op      := "$eq" | "$ne": scalar
             | "$gt" | "$gte" | "$lt" | "$lte": a number or a string
             | "$in" | "$nin": [scalar, ...] (1 to 100 of them)
             | "$contains": scalar           the value is an array holding the scalar
             | "$exists": true | false
    scalar  := string | integer (|n| < 2**63) | finite float | true | false
    key     := a top-level metadata key ("a.b" is the key "a.b"): 1 to 256 UTF-8 bytes,
               no control character, none of  " \\ [ ]  (a Milvus server reads
               those in a JSON path differently from Milvus Lite), not starting with "$"

At most 8 filters deep and 64 conditions (leaf operators) in all. ``$ne`` and ``$nin``
are the complements of ``$eq`` and ``$in``, so they match chunks without the key too; on
Milvus Lite a key holding null counts as missing. How values of different JSON types
compare is up to Milvus (``1 == 1.0``; on Milvus Lite, as in Python, ``true == 1``);
keep one type per key.

Milvus Lite 3.2 takes ``in [...]`` only after a plain field, so ``$in`` is written as
``==`` terms joined by ``or``. Milvus Lite gives a comparison with a missing key the value
unknown (and ``not unknown`` is unknown) where Milvus says false, so under ``$not`` each
comparison is guarded by ``exists`` and both agree, except on a value that cannot be
ordered against the bound (``"abc" > 5``), which Milvus Lite leaves out under ``$not``
too. ``not`` always takes parentheses: in Milvus' grammar it binds tighter than ``==``.

Example:
    >>> print(metadata_expression({"lang": "de", "year": {"$gte": 2020, "$lt": 2024}}))
    (metadata["lang"] == "de" and (metadata["year"] >= 2020 and metadata["year"] < 2024))
    >>> print(metadata_expression({"$or": [{"tags": {"$contains": "a"}}, {"lang": ["en", "fr"]}]}))
    (json_contains(metadata["tags"], "a") or (metadata["lang"] == "en" or metadata["lang"] == "fr"))
    >>> print(metadata_expression({"$not": {"draft": True}}))
    not ((exists metadata["draft"] and metadata["draft"] == true))
"""

from __future__ import annotations

import math
import reprlib
import unicodedata
from typing import Any

from deployments.common.store.expr import string_literal
from deployments.errors import InvalidRequestError

MAX_DEPTH = 8
MAX_CONDITIONS = 64
MAX_VALUES = 100
MAX_KEY_BYTES = 256
_PATH_CHARS = ('"', "\\", "[", "]")
_INT_MAX = 2**63 - 1  # and -_INT_MAX: Milvus parses -2**63 as -(2**63), which overflows
_ORDER = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_OPERATORS = ("$eq", "$ne", *_ORDER, "$in", "$nin", "$contains", "$exists")
_FIX_SCALAR = "send a string, a number or true/false"
_REPR = reprlib.Repr()  # bad values are shown cut short: a filter can be large
_REPR.maxstring = _REPR.maxother = 80


def metadata_expression(spec: dict[str, Any] | None) -> str | None:
    r"""The Milvus expression selecting the chunks whose ``metadata`` matches ``spec``.

    Args:
        spec: The request's filter (see the module docstring); None or ``{}`` for none.

    Returns:
        The expression, or None when there is nothing to filter on.

    Raises:
        InvalidRequestError: ``param="filter"``; the message names the place in the
            filter (``filter.year.$gt``), shows the bad value and says the fix.

    Example:
        >>> print(metadata_expression({"city": 'x" or 1==1 or "'}))
        metadata["city"] == "x\" or 1==1 or \""
        >>> metadata_expression({}) is None
        True
    """
    if spec is None or (isinstance(spec, dict) and not spec):
        return None
    return _Translator().filter(spec, "filter", 1, guard=False)


def and_expressions(*exprs: str | None) -> str | None:
    """``exprs`` joined by ``and``, each in parentheses; None and empty ones are skipped.

    Example:
        >>> print(and_expressions('doc_id == "a"', None, 'metadata["n"] == 1'))
        (doc_id == "a") and (metadata["n"] == 1)
        >>> print(and_expressions(None, 'doc_id == "a"'))
        doc_id == "a"
        >>> and_expressions(None, "") is None
        True
    """
    parts = [e for e in exprs if e]
    if len(parts) <= 1:
        return parts[0] if parts else None
    return " and ".join(f"({p})" for p in parts)


def _error(path: str, problem: str, fix: str) -> InvalidRequestError:
    return InvalidRequestError(f"{path}: {problem}; {fix}", param="filter")


def _show(value: Any) -> str:
    return _REPR.repr(value)


def _join(op: str, parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else "(" + f" {op} ".join(parts) + ")"


class _Translator:
    """One filter's translation; counts its conditions."""

    def __init__(self) -> None:
        self.conditions = 0

    def filter(self, spec: Any, path: str, depth: int, *, guard: bool) -> str:
        if not isinstance(spec, dict) or not spec:
            raise _error(
                path,
                f"expected a non-empty JSON object, got {_show(spec)}",
                'send e.g. {"lang": "en"}',
            )
        if depth > MAX_DEPTH:
            raise _error(path, f"filters nest more than {MAX_DEPTH} deep", "flatten the filter")
        parts = []
        for key, value in spec.items():
            sub = f"{path}.{key}"
            if key in ("$and", "$or"):
                if not isinstance(value, list) or not value:
                    raise _error(
                        sub,
                        f"expected a non-empty list of filters, got {_show(value)}",
                        'send e.g. [{"lang": "en"}]',
                    )
                terms = [
                    self.filter(f, f"{sub}[{i}]", depth + 1, guard=guard)
                    for i, f in enumerate(value)
                ]
                parts.append(_join(key[1:], terms))
            elif key == "$not":
                parts.append(f"not ({self.filter(value, sub, depth + 1, guard=True)})")
            elif isinstance(key, str) and key.startswith("$"):
                raise _error(
                    sub, f"unknown operator {_show(key)}", "use $and, $or, $not or a metadata key"
                )
            else:
                parts.append(self.key(key, value, path, guard))
        return _join("and", parts)

    def key(self, key: Any, value: Any, path: str, guard: bool) -> str:
        if not isinstance(key, str) or not key:
            raise _error(path, f"metadata key {_show(key)} is not a non-empty string", "name a key")
        if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in key):
            raise _error(path, f"metadata key {_show(key)} holds a control character", "remove it")
        if any(ch in _PATH_CHARS for ch in key):
            raise _error(
                path,
                f"metadata key {_show(key)} holds one of {' '.join(_PATH_CHARS)}, which "
                "Milvus servers read differently in a JSON path",
                "rename the key in your documents' metadata",
            )
        if len(key.encode()) > MAX_KEY_BYTES:
            raise _error(
                path,
                f"metadata key {_show(key)} is over {MAX_KEY_BYTES} UTF-8 bytes",
                "use a shorter key",
            )
        ref, path = f"metadata[{string_literal(key)}]", f"{path}.{key}"
        if not isinstance(value, dict):
            return self.condition(
                ref, "$in" if isinstance(value, list) else "$eq", value, path, guard
            )
        if not value:
            raise _error(path, "empty operator object {}", f"use some of {', '.join(_OPERATORS)}")
        ops = [self.condition(ref, op, v, f"{path}.{op}", guard) for op, v in value.items()]
        return _join("and", ops)

    def condition(self, ref: str, op: str, value: Any, path: str, guard: bool) -> str:
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise _error(path, f"more than {MAX_CONDITIONS} conditions", "send a smaller filter")
        if op == "$exists":
            if not isinstance(value, bool):
                raise _error(path, f"expected true or false, got {_show(value)}", "send a boolean")
            return f"exists {ref}" if value else f"not (exists {ref})"
        if op == "$contains":
            return f"json_contains({ref}, {_literal(value, path)})"
        if op in ("$in", "$nin"):
            if not isinstance(value, list) or not 1 <= len(value) <= MAX_VALUES:
                raise _error(
                    path,
                    f"expected a list of 1 to {MAX_VALUES} values, got {_show(value)}",
                    _FIX_SCALAR,
                )
            test = _join(
                "or", [f"{ref} == {_literal(v, f'{path}[{i}]')}" for i, v in enumerate(value)]
            )
        elif op in ("$eq", "$ne"):
            test = f"{ref} == {_literal(value, path)}"
        elif op in _ORDER:
            literal = _literal(value, path)
            if isinstance(value, bool):
                raise _error(path, f"cannot order by {_show(value)}", "send a number or a string")
            test = f"{ref} {_ORDER[op]} {literal}"
        else:
            raise _error(
                path, f"unknown operator {_show(op)}", f"use one of {', '.join(_OPERATORS)}"
            )
        if op in ("$ne", "$nin"):
            return f"not (exists {ref} and {test})"
        return f"(exists {ref} and {test})" if guard else test


def _literal(value: Any, path: str) -> str:
    """``value`` as a Milvus literal: a string literal, ``true``/``false`` or a number."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if abs(value) > _INT_MAX:
            raise _error(
                path, f"{_show(value)} is outside the signed 64-bit range", "send a smaller integer"
            )
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _error(path, f"{_show(value)} is not a finite number", "send a finite number")
        return repr(value)
    if isinstance(value, str):
        try:
            return string_literal(value)
        except ValueError as e:
            raise _error(path, str(e), "remove control characters") from None
    if value is None:
        raise _error(
            path, "null is not a filterable value", 'to match a missing key use {"$exists": false}'
        )
    raise _error(path, f"expected a scalar, got {_show(value)}", _FIX_SCALAR)
