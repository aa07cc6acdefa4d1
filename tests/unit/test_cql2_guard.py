"""cql2_guard: hostile filters are refused before cql2 sees them, realistic ones pass.

The subprocess tests at the end show what the raw `cql2` call does with the same hostile
inputs.  Those crashes are the reason the guard exists.
"""

from __future__ import annotations

import contextlib
import random
import resource
import subprocess
import sys
import time
from typing import Any

import cql2
import pytest

from stacbridge.api import cql2_guard
from stacbridge.api.cql2_guard import (
    MAX_EXPRESSION_DEPTH,
    MAX_NESTING_DEPTH,
    MAX_NODES,
    MAX_STRING_LENGTH,
    MAX_TEXT_LENGTH,
    FilterTooComplex,
    check_filter,
    check_json,
    check_text,
)

EQ: dict[str, Any] = {"op": "=", "args": [{"property": "a"}, 1]}
POLYGON = "POLYGON((-91.7 47.7, -90.9 47.7, -90.9 48.3, -91.7 48.3, -91.7 47.7))"
GEOJSON_POLYGON = {
    "type": "Polygon",
    "coordinates": [[[-91.7, 47.7], [-90.9, 47.7], [-90.9, 48.3], [-91.7, 48.3], [-91.7, 47.7]]],
}


def not_chain(n: int) -> dict[str, Any]:
    out = EQ
    for _ in range(n):
        out = {"op": "not", "args": [out]}
    return out


def deep_array(n: int) -> dict[str, Any]:
    value: Any = [1]
    for _ in range(n - 1):
        value = [value]
    return {"op": "a_equals", "args": [{"property": "a"}, value]}


HOSTILE: dict[str, tuple[Any, str]] = {
    # issue 10: 2,000 nested parentheses in a 4 KB GET filter segfault the worker
    "2,000 parens": (
        "(" * 2000 + "a = 1" + ")" * 2000,
        f"nesting depth exceeds {MAX_NESTING_DEPTH}",
    ),
    # issue 10: NOT repeated 300 times (1.2 KB) costs ~14 MB each, then aborts
    "300 x NOT": ("NOT " * 300 + "a = 1", f"expression depth .* exceeds {MAX_EXPRESSION_DEPTH}"),
    "NOT (NOT (...)) 300": (
        "NOT (" * 300 + "a = 1" + ")" * 300,
        f"nesting depth exceeds {MAX_NESTING_DEPTH}",
    ),
    # issue 10: CQL2-JSON nested 400 deep in not aborts after 6 s
    "JSON not 400 deep": (not_chain(400), "(expression|nesting) depth .*exceeds"),
    "JSON not 4 deep": (not_chain(4), f"expression depth .* exceeds {MAX_EXPRESSION_DEPTH}"),
    "a AND (b AND (...)) 2,000": (
        "a = 1 AND (" * 2000 + "a = 1" + ")" * 2000,
        f"length exceeds {MAX_TEXT_LENGTH}",
    ),
    "a AND (b AND (...)) 100": (
        "a = 1 AND (" * 100 + "a = 1" + ")" * 100,
        f"nesting depth exceeds {MAX_NESTING_DEPTH}",
    ),
    "JSON [[[[...]]]] 30 deep": (deep_array(30), "(expression|nesting) depth .*exceeds"),
    "JSON [[[1]]]": (deep_array(3), f"expression depth .* exceeds {MAX_EXPRESSION_DEPTH}"),
    "text ((((1, 2), 2), 2), 2)": (
        "A_EQUALS(a, ((((1, 2), 2), 2), 2))",
        f"expression depth .* exceeds {MAX_EXPRESSION_DEPTH}",
    ),
    "IN list of 5,000 (text)": (
        "id IN (" + ",".join(f"'granule-{i}'" for i in range(5000)) + ")",
        f"length exceeds {MAX_TEXT_LENGTH}",
    ),
    "IN list of 20,000 (JSON)": (
        {"op": "in", "args": [{"property": "id"}, [f"g{i}" for i in range(20_000)]]},
        f"size in JSON values exceeds {MAX_NODES}",
    ),
    "a = 1 + 1 + ... (100 terms)": (
        "a = " + " + ".join(["1"] * 100),
        f"expression depth .* exceeds {MAX_EXPRESSION_DEPTH}",
    ),
    "a = ----...1 (5,000)": ("a = " + "-" * 5000 + "1", "expression depth"),
    "f(f(f(1))) = 1": ("f(f(f(1))) = 1", f"expression depth .* exceeds {MAX_EXPRESSION_DEPTH}"),
    "JSON string of 10,000 chars": (
        {"op": "=", "args": [{"property": "a"}, "x" * 10_000]},
        f"string length exceeds {MAX_STRING_LENGTH}",
    ),
    "text string of 10,000 chars": ("a = '" + "x" * 10_000 + "'", "string length"),
    "JSON text 400 deep in not": (
        __import__("json").dumps(not_chain(400)),
        "(expression|nesting) depth .*exceeds",
    ),
}

REALISTIC_TEXT = [
    "eo:cloud_cover < 10",
    f"eo:cloud_cover < 10 AND S_INTERSECTS(geometry, {POLYGON})",
    "datetime >= TIMESTAMP('2024-01-01T00:00:00Z')",
    "id IN ('a','b')",
    "id IN (" + ",".join(f"'HLS.L30.T15TWN.2024{i:03}T170000.v2.0'" for i in range(100)) + ")",
    "collection = 'landsat_ot_c2_l2' AND eo:cloud_cover BETWEEN 0 AND 20",
    "T_INTERSECTS(datetime, INTERVAL('2024-02-01T00:00:00Z', '2024-03-01T00:00:00Z'))",
    "S_INTERSECTS(geometry, BBOX(-91.7, 47.7, -90.9, 48.3))",
    f"S_WITHIN(geometry, MULTIPOLYGON((({POLYGON[9:-2]})), (({POLYGON[9:-2]}))))",
    "CASEI(platform) = CASEI('Landsat-9')",
    "ACCENTI(CASEI(title)) LIKE 'riviere%'",
    "(platform = 'landsat-8' OR platform = 'landsat-9') AND NOT eo:cloud_cover > 50",
    "a = 1 AND (b = 2 OR NOT c LIKE 'x%')",
    "sat:orbit_state IS NOT NULL AND sat:relative_orbit NOT IN (1, 2, 3)",
    "A_CONTAINS(layer:ids, ('layers-ca', 'layers-us'))",
    '"eo:cloud_cover" <= 10.5 AND view:sun_elevation > -5',
    "landsat:wrs_path = 27 AND landsat:wrs_row = 26 AND landsat:collection_number = '02'",
]

REALISTIC_JSON = [
    {
        "op": "and",
        "args": [
            {"op": "<", "args": [{"property": "eo:cloud_cover"}, 10]},
            {"op": "s_intersects", "args": [{"property": "geometry"}, GEOJSON_POLYGON]},
        ],
    },
    {"op": ">=", "args": [{"property": "datetime"}, {"timestamp": "2024-01-01T00:00:00Z"}]},
    {"op": "in", "args": [{"property": "id"}, ["a", "b"]]},
    {
        "op": "t_intersects",
        "args": [{"property": "datetime"}, {"interval": ["2024-02-01", "2024-03-01"]}],
    },
    {
        "op": "and",
        "args": [
            {"op": "=", "args": [{"op": "casei", "args": [{"property": "platform"}]}, "x"]},
            {"op": "not", "args": [{"op": "like", "args": [{"property": "title"}, "a%"]}]},
        ],
    },
    {
        "op": "s_intersects",  # a 2,000-vertex area of interest from a GIS tool
        "args": [
            {"property": "geometry"},
            {
                "type": "Polygon",
                "coordinates": [[[i / 1000, (i % 7) / 10] for i in range(1999)] + [[0, 0]]],
            },
        ],
    },
]


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_shapes_are_refused_with_the_limit_named(name: str) -> None:
    expr, message = HOSTILE[name]
    with pytest.raises(FilterTooComplex, match=message) as info:
        check_filter(expr)
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith("filter ")
    assert str(info.value.value) in str(info.value)
    assert getattr(cql2_guard, info.value.limit) == info.value.value


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_shapes_never_reach_cql2(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The wiring the gateway uses: the guard first, cql2 only if the guard passes."""
    calls: list[Any] = []

    def spy(*args: Any) -> None:
        calls.append(args)
        raise AssertionError("cql2.Expr was called")

    monkeypatch.setattr(cql2, "Expr", spy)

    def guarded_parse(expr: Any) -> Any:
        check_filter(expr)
        return cql2.Expr(expr)

    with pytest.raises(FilterTooComplex):
        guarded_parse(HOSTILE[name][0])
    assert calls == []


def test_the_guard_does_not_use_cql2_at_all() -> None:
    assert "cql2" not in vars(cql2_guard)


@pytest.mark.parametrize("text", REALISTIC_TEXT)
def test_realistic_text_filters_pass_and_cql2_accepts_them(text: str) -> None:
    check_filter(text)
    parsed = cql2.Expr(text)
    parsed.validate()
    # the exact JSON walk agrees on what cql2 made of it
    check_json(parsed.to_json())


@pytest.mark.parametrize("data", REALISTIC_JSON)
def test_realistic_json_filters_pass_and_cql2_accepts_them(data: dict[str, Any]) -> None:
    check_filter(data)
    check_filter(__import__("json").dumps(data), "cql2-json")
    cql2.Expr(data).validate()


def test_brackets_and_keywords_inside_string_literals_are_not_counted() -> None:
    parens = "(" * 1500 + ")" * 300
    check_text(f"title = '{parens}'")
    check_text(f"title = 'it''s {parens}' AND b = '))''((' AND c = 'NOT NOT NOT NOT'")
    check_text(f'"odd(((name" = 1 AND "it""s(((" = \'{parens}\'')
    assert cql2.Expr(f"title = 'it''s {parens[:50]}'").to_json()["args"][1].startswith("it's (")
    # the same brackets outside a literal are counted
    with pytest.raises(FilterTooComplex, match="nesting depth"):
        check_text(f"title = {parens}")
    # an escaped quote does not end the literal early: what follows is still inside it
    with pytest.raises(FilterTooComplex, match="nesting depth"):
        check_text("title = 'it''s' AND " + "(" * 30 + "a = 1" + ")" * 30)


def test_limits_are_exact_at_the_boundary() -> None:
    at = "(" * MAX_NESTING_DEPTH + "a = 1" + ")" * MAX_NESTING_DEPTH
    check_text(at)
    with pytest.raises(FilterTooComplex, match=f"nesting depth exceeds {MAX_NESTING_DEPTH}"):
        check_text("(" + at + ")")
    check_text("a = '" + "x" * MAX_STRING_LENGTH + "'")
    at_length = ("a = 1 OR " * MAX_TEXT_LENGTH)[: MAX_TEXT_LENGTH - 5] + "a = 1"
    check_text(at_length)
    with pytest.raises(FilterTooComplex, match=f"length exceeds {MAX_TEXT_LENGTH}"):
        check_text(" " + at_length)
    check_json(not_chain(2))  # not (2) + not (2) + = (1) = 5
    with pytest.raises(FilterTooComplex, match="expression depth"):
        check_json(not_chain(3))
    check_filter("NOT NOT a = 1")
    with pytest.raises(FilterTooComplex, match="expression depth"):
        check_filter("NOT NOT NOT a = 1")


def test_text_estimate_is_never_below_the_exact_json_depth() -> None:
    """The text scan must not under-count: compare it with the walk of cql2's own parse."""
    rng = random.Random(10)
    prop = ("a", "b", "eo:cloud_cover")

    def scalar(d: int) -> Any:
        r = rng.random()
        if d <= 0 or r < 0.4:
            return rng.choice([1, 2.5, -3, "x", "it's (", {"property": rng.choice(prop)}])
        if r < 0.6:
            return {"op": rng.choice("+-*/"), "args": [scalar(d - 1), scalar(d - 1)]}
        return {"op": rng.choice(["casei", "f"]), "args": [scalar(d - 1)]}

    def boolean(d: int) -> Any:
        r = rng.random()
        p = {"property": rng.choice(prop)}
        if d <= 0 or r < 0.3:
            return {"op": rng.choice(["=", "<", ">="]), "args": [p, scalar(d - 1)]}
        if r < 0.45:
            return {"op": "not", "args": [boolean(d - 1)]}
        if r < 0.7:
            ops = [boolean(d - 1) for _ in range(rng.randint(2, 3))]
            return {"op": rng.choice(["and", "or"]), "args": ops}
        if r < 0.8:
            return {"op": "in", "args": [p, ["a", 1, "b"]]}
        if r < 0.9:
            return {"op": "a_contains", "args": [p, rng.choice([[1, [2, 3]], [1, 2]])]}
        return {"op": "between", "args": [p, scalar(d - 1), scalar(d - 1)]}

    def depth(check: Any, value: Any, monkeypatch: pytest.MonkeyPatch) -> int:
        for limit in range(60):
            monkeypatch.setattr(cql2_guard, "MAX_EXPRESSION_DEPTH", limit)
            try:
                check(value)
            except FilterTooComplex:
                continue
            return limit
        raise AssertionError(value)

    with pytest.MonkeyPatch.context() as mp:
        compared = 0
        for _ in range(400):
            try:
                text = cql2.Expr(boolean(rng.randint(1, 5))).to_text()
                exact = cql2.Expr(text).to_json()
            except Exception:  # noqa: BLE001 - a random mix that cql2 cannot print or re-read
                continue
            compared += 1
            assert depth(check_text, text, mp) >= depth(check_json, exact, mp), text
        assert compared > 300


def test_checking_is_linear_and_cheap_at_the_size_limits() -> None:
    worst_text = ("a = (1, 'x''y', \"q\") AND " * 1000)[:MAX_TEXT_LENGTH]
    worst_json = {
        "op": "or",
        "args": [{"op": "=", "args": [{"property": "a"}, i]} for i in range(MAX_NODES // 6)],
    }
    for check, value in ((check_text, worst_text), (check_json, worst_json)):
        t0 = time.perf_counter()
        for _ in range(5):
            with contextlib.suppress(FilterTooComplex):
                check(value)
        assert (time.perf_counter() - t0) / 5 < 0.1


# ---------------------------------------------------------------------------------------------
# What raw cql2 does with the hostile shapes (each in a child process, so this one survives)

RAW = {
    "2,000 parens, cql2.Expr(text)": "cql2.Expr('(' * 2000 + 'a = 1' + ')' * 2000)",
    "300 x NOT, validate()": "cql2.Expr('NOT ' * 300 + 'a = 1').validate()",
    "JSON not 400 deep, validate()": (
        "e = {'op': '=', 'args': [{'property': 'a'}, 1]}\n"
        "for _ in range(400): e = {'op': 'not', 'args': [e]}\n"
        "cql2.Expr(e).validate()"
    ),
}


def _cap_memory() -> None:
    # 768 MB of address space: the NOT shapes hit it within about a second instead of
    # eating gigabytes for several; the crash is the same allocation abort.
    resource.setrlimit(resource.RLIMIT_AS, (768 << 20, 768 << 20))


@pytest.mark.parametrize("name", list(RAW))
def test_raw_cql2_dies_on_the_shapes_the_guard_refuses(name: str) -> None:
    code = "import cql2\n" + RAW[name] + "\nprint('survived')"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=8,
            preexec_fn=_cap_memory,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("raw cql2 took more than 8 s here; not worth waiting for the crash")
    if proc.returncode == 0:
        pytest.skip(f"this cql2 ({cql2.__version__}) survives {name}: the guard is belt only")
    # a signal (segfault -11, abort -6), not a Python exception
    assert proc.returncode < 0, proc.stderr[-500:]
    assert "Traceback" not in proc.stderr
