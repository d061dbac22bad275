"""Metadata filters: the expressions written, every refusal, and what a real Milvus Lite
server selects with them, checked against a plain-Python evaluation of the same filter."""

from __future__ import annotations

import math
import operator
from typing import Any

import pytest
from milvus_lite.search.filter.ast import CmpOp, FieldRef, PathAccess, StringLit
from milvus_lite.search.filter.parser import parse_expr

from deployments.common.store.filters import and_expressions, metadata_expression
from deployments.errors import InvalidRequestError

COLLECTION = "filters_test"
HOSTILE_KEY = 'a"] or 1==1 or metadata["b'
HOSTILE_KEY_2 = 'x" or chunk_id != "'
METADATA: list[dict[str, Any]] = [
    {"lang": "en", "year": 2021, "score": 0.5, "draft": False, "tags": ["a", "b"]},
    {"lang": "en", "year": 1999, "score": -1.5, "draft": True, "tags": ["b"], "city": "Zürich"},
    {"lang": "de", "year": 2015, "score": 3.0, "draft": False, "city": "Tucker's Island"},
    {"lang": "de", "year": 2010, "score": 1e-06, "tags": [1, 2], "city": 'say "hi"'},
    {"lang": "fr", "year": -7, "draft": True, "tags": ["Zürich"], "city": "back\\slash\\"},
    {"lang": "fr", "score": 2.5, "tags": [], "city": "new\nline"},
    {"lang": None, "year": 2024, "draft": False, "city": "tab\there"},
    {"year": 2000, "score": 10, "tags": ["a"], "city": "東京"},
    {"lang": "en", "mixed": "abc", "big": 2**62},
    {"lang": "it", "mixed": 5, "big": -(2**63 - 1), "city": "Zagreb"},
    {"mixed": "5", "big": 2**63 - 1, "draft": True},
    {"mixed": [1, "a"], "tags": "a", "city": "Amsterdam"},
    {"mixed": {"x": 1}, "lang": "de", "year": 2019},
    {"mixed": 2.5, "Zürich": "schön", "a.b": 1},
    {HOSTILE_KEY: "h", "lang": "en"},
    {HOSTILE_KEY_2: 1, "lang": "de"},
    {"lang": 'x" or chunk_id != "', "year": 2022},
    {"lang": "' or 1 == 1 or '", "tags": ["' or 1 == 1 or '"]},
    {},
    {"lang": "es", "year": 2023, "score": -0.0, "draft": False, "tags": ["b", "c"]},
]
ROWS = {f"r{i:02d}": md for i, md in enumerate(METADATA)}

# Each selects some rows but not all, and avoids the two places where Milvus Lite and the
# reference part ways by design (true == 1; an unorderable value under $not).
FILTERS: list[dict[str, Any]] = [
    {"lang": "en"},
    {"lang": "de", "draft": False},
    {"lang": ["en", "fr"]},
    {"lang": {"$in": ["de"]}},
    {"lang": {"$eq": "fr"}},
    {"lang": {"$ne": "en"}},
    {"lang": {"$nin": ["en", "de"]}},
    {"lang": {"$exists": True}},
    {"lang": {"$exists": False}},
    {"year": {"$gt": 2010}},
    {"year": {"$gte": 2010, "$lt": 2020}},
    {"year": {"$lte": -5}},
    {"year": [1999, 2000, 2024]},
    {"big": 2**62},
    {"big": {"$lt": -(2**62)}},
    {"big": {"$gte": 2**63 - 1}},
    {"score": {"$gt": 1e-05}},
    {"score": {"$lt": -1.25}},
    {"score": 3},
    {"score": 10.0},
    {"score": {"$gte": 0.0, "$lte": 0.5}},
    {"draft": True},
    {"draft": {"$ne": True}},
    {"city": "Zürich"},
    {"city": "Tucker's Island"},
    {"city": 'say "hi"'},
    {"city": "back\\slash\\"},
    {"city": "new\nline"},
    {"city": "tab\there"},
    {"city": {"$gt": "Z"}},
    {"city": {"$lt": "B"}},
    {"tags": {"$contains": "b"}},
    {"tags": {"$contains": 1}},
    {"tags": {"$contains": "Zürich"}},
    {"tags": {"$contains": "a"}, "lang": {"$exists": False}},
    {"mixed": 5},
    {"mixed": "abc"},
    {"mixed": {"$gt": 1}},
    {"mixed": {"$lt": "b"}},
    {"Zürich": "schön"},
    {"a.b": 1},
    {"$or": [{"lang": "en"}, {"year": {"$lt": 2000}}]},
    {"$and": [{"lang": {"$ne": "de"}}, {"$or": [{"draft": True}, {"tags": {"$contains": "a"}}]}]},
    {"$not": {"lang": "en"}},
    {"$not": {"year": {"$gt": 2010}}},
    {"$not": {"$or": [{"lang": "en"}, {"draft": True}]}},
    {"$not": {"$and": [{"lang": "de"}, {"year": {"$gte": 2015}}]}},
    {"$not": {"$not": {"lang": "en"}}},
    {"$not": {"tags": {"$contains": "b"}}},
    {"$not": {"lang": {"$exists": True}}},
    {"$not": {"lang": {"$nin": ["en"]}}},
    {"$or": [{"$not": {"lang": ["en", "de"]}}, {"score": {"$gt": 2}}]},
    {"$and": [{"$or": [{"lang": "en"}, {"lang": "de"}]}, {"$not": {"draft": False}}]},
]
# Hostile keys and values: each matches exactly the rows that hold them as data.
HOSTILE: list[tuple[dict[str, Any], set[str]]] = [
    ({"lang": 'x" or chunk_id != "'}, {"r16"}),
    ({"lang": "' or 1 == 1 or '"}, {"r17"}),
    ({"city": "' or 1 == 1 or '"}, set()),
    ({"lang": {"$in": ['en" or 1==1 or "', "it"]}}, {"r09"}),
    ({"tags": {"$contains": "' or 1 == 1 or '"}}, {"r17"}),
    ({"chunk_id": {"$exists": True}}, set()),
]

_ORDER = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _orderable(a: Any, b: Any) -> bool:
    def number(x: Any) -> bool:
        return isinstance(x, int | float) and not isinstance(x, bool)

    return (number(a) and number(b)) or (isinstance(a, str) and isinstance(b, str))


def _condition(op: str, want: Any, have: Any) -> bool:
    """One operator on a stored value (None: the key is missing or null)."""
    if op == "$exists":
        return (have is not None) == want
    if op in ("$ne", "$nin"):
        return not _condition({"$ne": "$eq", "$nin": "$in"}[op], want, have)
    if have is None:
        return False
    if op == "$eq":
        return _same(have, want)
    if op == "$in":
        return any(_same(have, w) for w in want)
    if op == "$contains":
        return isinstance(have, list) and any(_same(e, want) for e in have)
    return _orderable(have, want) and _ORDER[op](have, want)


def holds(spec: dict[str, Any], md: dict[str, Any]) -> bool:
    """The reference: does a chunk with metadata ``md`` pass ``spec``?"""
    for key, value in spec.items():
        if key == "$and":
            ok = all(holds(f, md) for f in value)
        elif key == "$or":
            ok = any(holds(f, md) for f in value)
        elif key == "$not":
            ok = not holds(value, md)
        elif isinstance(value, dict):
            ok = all(_condition(op, v, md.get(key)) for op, v in value.items())
        else:
            ok = _condition("$in" if isinstance(value, list) else "$eq", value, md.get(key))
        if not ok:
            return False
    return True


def expected(spec: dict[str, Any]) -> set[str]:
    return {cid for cid, md in ROWS.items() if holds(spec, md)}


# ---------------------------------------------------------------------------------------
# The expressions written
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expr"),
    [
        ({"lang": "en"}, 'metadata["lang"] == "en"'),
        (
            {"n": 3, "f": -2.5e-07, "b": False},
            '(metadata["n"] == 3 and metadata["f"] == -2.5e-07 and metadata["b"] == false)',
        ),
        ({"n": {"$gt": 1, "$lte": 1e16}}, '(metadata["n"] > 1 and metadata["n"] <= 1e+16)'),
        ({"n": 2**63 - 1}, 'metadata["n"] == 9223372036854775807'),
        ({"n": -(2**63 - 1)}, 'metadata["n"] == -9223372036854775807'),
        ({"k": ["a", 1]}, '(metadata["k"] == "a" or metadata["k"] == 1)'),
        ({"k": {"$in": ["a"]}}, 'metadata["k"] == "a"'),
        ({"k": {"$ne": "a"}}, 'not (exists metadata["k"] and metadata["k"] == "a")'),
        (
            {"k": {"$nin": ["a", "b"]}},
            'not (exists metadata["k"] and (metadata["k"] == "a" or metadata["k"] == "b"))',
        ),
        ({"k": {"$contains": "a"}}, 'json_contains(metadata["k"], "a")'),
        ({"k": {"$exists": True}}, 'exists metadata["k"]'),
        ({"k": {"$exists": False}}, 'not (exists metadata["k"])'),
        ({"$and": [{"a": 1}, {"b": 2}]}, '(metadata["a"] == 1 and metadata["b"] == 2)'),
        ({"$or": [{"a": 1}]}, 'metadata["a"] == 1'),
        ({"$not": {"a": {"$lt": 1}}}, 'not ((exists metadata["a"] and metadata["a"] < 1))'),
        ({"$not": {"a": {"$ne": 1}}}, 'not (not (exists metadata["a"] and metadata["a"] == 1))'),
        (
            {"$not": {"$or": [{"a": [1, 2]}, {"b": {"$contains": 3}}]}},
            'not (((exists metadata["a"] and (metadata["a"] == 1 or metadata["a"] == 2)) or '
            'json_contains(metadata["b"], 3)))',
        ),
        ({"city": 'Tucker\'s "Isle"\\\n'}, 'metadata["city"] == "Tucker\'s \\"Isle\\"\\\\\\n"'),
        ({"Zürich": "東京"}, 'metadata["Zürich"] == "東京"'),
    ],
)
def test_expression_text(spec: dict[str, Any], expr: str) -> None:
    assert metadata_expression(spec) == expr


@pytest.mark.parametrize("spec", [None, {}])
def test_no_filter(spec: dict | None) -> None:
    assert metadata_expression(spec) is None


def test_and_expressions() -> None:
    assert and_expressions() is None
    assert and_expressions(None, "", None) is None
    assert and_expressions("a == 1") == "a == 1"
    assert and_expressions("a == 1 or b == 2", None, "c == 3") == "(a == 1 or b == 2) and (c == 3)"
    combined = and_expressions('doc_id == "x"', metadata_expression({"$or": [{"a": 1}, {"b": 2}]}))
    assert combined == '(doc_id == "x") and ((metadata["a"] == 1 or metadata["b"] == 2))'


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("k", 'a"] or 1==1 or metadata["b'),
        ("k2", 'x" or chunk_id != "'),
        ("k", "' or 1 == 1 or '"),
        ("slash/key", "back\\slash\\ new\nline\r\ttab"),
        ("Zürich 東京 🚀", 'say "hi"'),
    ],
)
def test_hostile_strings_parse_back_as_one_key_and_one_value(key: str, value: str) -> None:
    tree = parse_expr(metadata_expression({key: value}))
    assert isinstance(tree, CmpOp) and tree.op == "=="
    assert isinstance(tree.left, PathAccess) and tree.left.path == (key,)
    assert tree.left.base == FieldRef(name="metadata", pos=0)
    assert isinstance(tree.right, StringLit) and tree.right.value == value


@pytest.mark.parametrize("key", [HOSTILE_KEY, HOSTILE_KEY_2, "back\\slash", 'b"]) or (1==1'])
def test_keys_a_milvus_server_reads_differently_are_refused(key: str) -> None:
    with pytest.raises(InvalidRequestError, match="rename the key") as info:
        metadata_expression({key: "x"})
    assert info.value.param == "filter"


def test_limits_at_their_edges_are_accepted() -> None:
    deep: dict[str, Any] = {"a": 1}
    for _ in range(7):  # the outermost filter is level 1: eight levels in all
        deep = {"$not": deep}
    assert metadata_expression(deep).count("not (") == 7
    many = {"$or": [{"k": i} for i in range(64)]}
    assert metadata_expression(many).count("==") == 64
    assert metadata_expression({"k": list(range(100))}).count("==") == 100
    assert metadata_expression({"é" * 128: 1}) == f'metadata["{"é" * 128}"] == 1'


def _nested(levels: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"a": 1}
    for _ in range(levels - 1):
        spec = {"$and": [spec]}
    return spec


@pytest.mark.parametrize(
    ("spec", "path", "says"),
    [
        ([{"a": 1}], "filter", "expected a non-empty JSON object, got [{'a': 1}]"),
        ("lang == 'en'", "filter", "expected a non-empty JSON object"),
        ({"$and": []}, "filter.$and", "expected a non-empty list of filters, got []"),
        ({"$or": {"a": 1}}, "filter.$or", "expected a non-empty list of filters"),
        ({"$or": [{"a": 1}, {}]}, "filter.$or[1]", "expected a non-empty JSON object, got {}"),
        ({"$not": {}}, "filter.$not", "expected a non-empty JSON object"),
        ({"$not": [{"a": 1}]}, "filter.$not", "expected a non-empty JSON object"),
        ({"$where": "1 == 1"}, "filter.$where", "unknown operator '$where'"),
        ({"$and": [{"$nor": []}]}, "filter.$and[0].$nor", "unknown operator '$nor'"),
        ({"year": {"$regex": "^2"}}, "filter.year.$regex", "unknown operator '$regex'"),
        ({"year": {"sub": 1}}, "filter.year.sub", "unknown operator 'sub'"),
        ({"year": {}}, "filter.year", "empty operator object"),
        ({"lang": None}, "filter.lang", "null is not a filterable value"),
        ({"lang": {"$ne": None}}, "filter.lang.$ne", "null is not a filterable value"),
        ({"lang": {"$in": ["a", None]}}, "filter.lang.$in[1]", "null is not a filterable value"),
        ({"n": {"$gt": None}}, "filter.n.$gt", "null is not a filterable value"),
        ({"lang": ["a", ["b"]]}, "filter.lang[1]", "expected a scalar, got ['b']"),
        ({"lang": {"$eq": {"a": 1}}}, "filter.lang.$eq", "expected a scalar, got {'a': 1}"),
        ({"lang": {"$eq": ["a"]}}, "filter.lang.$eq", "expected a scalar, got ['a']"),
        ({"tags": {"$contains": ["a"]}}, "filter.tags.$contains", "expected a scalar"),
        ({"n": math.nan}, "filter.n", "nan is not a finite number"),
        ({"n": {"$lt": -math.inf}}, "filter.n.$lt", "-inf is not a finite number"),
        ({"n": 2**63}, "filter.n", "9223372036854775808 is outside the signed 64-bit range"),
        ({"n": -(2**63)}, "filter.n", "-9223372036854775808 is outside"),
        ({"n": {"$in": [1, 2**64]}}, "filter.n.$in[1]", "outside the signed 64-bit range"),
        ({"n": {"$gt": True}}, "filter.n.$gt", "cannot order by True"),
        ({"n": {"$lte": [1]}}, "filter.n.$lte", "expected a scalar, got [1]"),
        ({"n": []}, "filter.n", "expected a list of 1 to 100 values, got []"),
        ({"n": {"$in": []}}, "filter.n.$in", "expected a list of 1 to 100 values"),
        ({"n": {"$nin": "ab"}}, "filter.n.$nin", "expected a list of 1 to 100 values, got 'ab'"),
        ({"n": list(range(101))}, "filter.n", "expected a list of 1 to 100 values"),
        ({"n": {"$exists": 1}}, "filter.n.$exists", "expected true or false, got 1"),
        ({"": 1}, "filter", "metadata key '' is not a non-empty string"),
        ({1: 1}, "filter", "metadata key 1 is not a non-empty string"),
        ({"a\nb": 1}, "filter", "metadata key 'a\\nb' holds a control character"),
        ({"$and": [{"a\x00": 1}]}, "filter.$and[0]", "metadata key 'a\\x00' holds a control"),
        ({"k" * 257: 1}, "filter", "is over 256 UTF-8 bytes"),
        ({"é" * 129: 1}, "filter", "is over 256 UTF-8 bytes"),
        ({"lang": "bell\x07"}, "filter.lang", "'bell\\x07'"),
        ({"lang": {"$in": ["ok", "lone \ud800"]}}, "filter.lang.$in[1]", "cannot write"),
        (_nested(9), "filter" + ".$and[0]" * 8, "filters nest more than 8 deep"),
        ({"$or": [{"k": i} for i in range(65)]}, "filter.$or[64].k", "more than 64 conditions"),
        (
            {
                "k": {op: 1 for op in ("$eq", "$gt", "$gte", "$lt", "$lte")},
                **{f"k{i}": {"$gt": 0, "$lt": 9} for i in range(30)},
            },
            "filter.k29.$lt",
            "more than 64",
        ),
    ],
)
def test_refusals_name_the_place_show_the_value_and_say_the_fix(
    spec: Any, path: str, says: str
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        metadata_expression(spec)
    err = info.value
    assert err.param == "filter" and err.status_code == 400
    assert err.message.startswith(f"{path}: "), err.message
    assert says in err.message
    assert "; " in err.message.removeprefix(f"{path}: ")  # ...; the fix


def test_large_bad_values_are_shown_cut_short() -> None:
    with pytest.raises(InvalidRequestError) as info:
        metadata_expression({"n": {"$in": list(range(10_000))}})
    assert "[0, 1, 2, 3, 4, 5, ...]" in info.value.message and len(info.value.message) < 200


# ---------------------------------------------------------------------------------------
# Against a real Milvus Lite server
# ---------------------------------------------------------------------------------------


def _vector(i: int) -> list[float]:
    return [1.0, 0.05 * i, 0.5, (-1.0) ** i * 0.1]


@pytest.fixture(scope="module")
def client(milvus_uri: str):
    """A client on a collection holding ROWS, with a tiny dense vector each."""
    from pymilvus import DataType, MilvusClient

    client = MilvusClient(milvus_uri)
    if client.has_collection(COLLECTION):
        client.drop_collection(COLLECTION)
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("chunk_id", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field("metadata", DataType.JSON)
    index = client.prepare_index_params()
    index.add_index("dense", index_type="AUTOINDEX", metric_type="COSINE")
    client.create_collection(COLLECTION, schema=schema, index_params=index)
    rows = [
        {"chunk_id": cid, "dense": _vector(i), "metadata": md}
        for i, (cid, md) in enumerate(ROWS.items())
    ]
    client.insert(COLLECTION, rows)
    client.flush(COLLECTION)
    client.load_collection(COLLECTION)
    yield client
    client.drop_collection(COLLECTION)
    client.close()


def _query(client, expr: str) -> set[str]:
    hits = client.query(COLLECTION, filter=expr, output_fields=["chunk_id"], limit=1000)
    return {h["chunk_id"] for h in hits}


def test_the_rows_went_in_as_written(client) -> None:
    stored = client.query(COLLECTION, filter='chunk_id != ""', output_fields=["*"], limit=1000)
    assert {r["chunk_id"]: r["metadata"] for r in stored} == ROWS


@pytest.mark.parametrize("spec", FILTERS, ids=[str(f) for f in FILTERS])
def test_milvus_lite_selects_what_the_reference_selects(client, spec: dict[str, Any]) -> None:
    want = expected(spec)
    assert 0 < len(want) < len(ROWS), "each filter must tell rows apart"
    assert _query(client, metadata_expression(spec)) == want


@pytest.mark.parametrize(("spec", "want"), HOSTILE, ids=[str(f) for f, _ in HOSTILE])
def test_hostile_keys_and_values_are_data(client, spec: dict[str, Any], want: set[str]) -> None:
    assert expected(spec) == want
    assert _query(client, metadata_expression(spec)) == want


def test_largest_filter_runs(client) -> None:
    spec = {
        "$or": [{"year": y} for y in range(1990, 2053)] + [{"lang": {"$in": ["it"] * 100}}],
    }
    for _ in range(2):  # three levels each: eight in all with the $or and its members
        spec = {"$and": [{"$not": {"$not": spec}}]}
    assert _query(client, metadata_expression(spec)) == expected(spec) != set()


def test_filtered_search(client) -> None:
    spec = {"$or": [{"lang": "de"}, {"tags": {"$contains": "a"}}], "draft": {"$ne": True}}
    expr = metadata_expression(spec)
    want = expected(spec)
    assert 0 < len(want) < len(ROWS)
    (unfiltered,) = client.search(
        COLLECTION, data=[_vector(3)], anns_field="dense", limit=len(ROWS), output_fields=[]
    )
    assert len(unfiltered) == len(ROWS)
    (hits,) = client.search(
        COLLECTION,
        data=[_vector(3)],
        anns_field="dense",
        filter=and_expressions(expr, 'chunk_id != "r00"'),
        limit=len(ROWS),
        output_fields=["chunk_id"],
    )
    assert {h["entity"]["chunk_id"] for h in hits} == want - {"r00"}
    assert hits[0]["entity"]["chunk_id"] == "r03"  # the query vector is r03's own


def test_not_over_an_unorderable_value_leaves_the_row_out_on_milvus_lite(client) -> None:
    """The one documented difference: Milvus Lite cannot order "abc" against 1, so the
    row is left out of both the filter and its $not (Milvus proper would keep it there)."""
    inside = _query(client, metadata_expression({"mixed": {"$gt": 1}}))
    outside = _query(client, metadata_expression({"$not": {"mixed": {"$gt": 1}}}))
    assert inside == {"r09", "r13"}
    assert "r08" not in inside | outside  # mixed == "abc"
    assert "r18" in outside  # no "mixed" at all: the exists guard keeps it
