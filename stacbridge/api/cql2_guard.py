"""Refuse CQL2 filters that would cost the `cql2` extension far more than they are worth.

Why this exists
---------------
`cql2.Expr(...)` and `Expr.validate()` run in Rust.  A hostile filter does not raise there.
It takes the whole worker process down, along with every other request in flight.  Measured
with cql2 0.6.0 on the 2-core CI machine, each in its own subprocess
(`bench/cql2_guard.py` repeats the measurements):

* CQL2 text `((((...a = 1...))))`: 1,000 levels parse.  2,000 levels (4 KB) **segfault** in
  the parser (stack overflow, exit 139).  Deep `a = 1 AND (a = 1 AND (...))` and long runs of
  unary minus (`a = ----...1`, 5,000 of them) also segfault.
* `NOT NOT NOT ... a = 1`: parsing is cheap.  `validate()` costs about 8-15 ms and 10 MB per
  NOT *level*: 10 levels take 0.15 s and 87 MB, 100 take 3-7 s and 1.7 GB, 200 take 15 s and
  5 GB.  500 levels (2 KB of text) abort the process on a failed allocation (exit 134).  A
  CQL2-JSON `not` chain 400 deep does the same after 6 s.
* The cost grows with the nesting of expressions in general, not only with NOT.  Function
  calls (`f(f(f(...)))`) add about 20 MB and 20-40 ms per level, so 100 levels take 6 s and
  4.3 GB and 400 abort.  Nested array literals cost about the same.  Alternating
  `and`/`or` adds 10-30 ms per level, and `+ - * /` and `CASEI` add a few ms per level.
  Arithmetic is left-associative, so even the flat text `a = 1 + 1 + ... + 1` nests.  100
  terms take 0.26 s and 260 MB, 400 take 1.7 s and 2.4 GB, and 2,000 abort.
* `validate()` has a floor of about 17 ms even for `a = 1`.  It seems to rebuild its JSON
  Schema validator on every call.  Width is cheap: 5,000 ORed comparisons, `IN` lists of
  5,000 items, 5,000-vertex polygons and 5,000-character strings all stay under 60 ms and
  30 MB.

So the guard bounds two different things:

1. **Size and structure**: text length, bracket nesting, token and JSON node counts, string
   length.  These keep the parser's recursion (what segfaults) and the work per request
   bounded.
2. **Expression depth**: the deepest chain of nested operations, weighted by what each level
   costs in `validate()`.  NOT, calls of functions other than CASEI/ACCENTI, and array
   literals (other than the list of an IN) count `HEAVY_WEIGHT` (2); every other operation
   counts 1.  Here "operation" means
   comparison, predicate, `and`/`or`, arithmetic, CASEI or ACCENTI.  Geometry literals,
   property references, TIMESTAMP/DATE/INTERVAL and BBOX literals count 0.  With
   `MAX_EXPRESSION_DEPTH` = 5, these filters pass: `a = 1 AND (b = 2 OR NOT c LIKE 'x%')`
   (5); `(a = 1 OR b = 2) AND c = 3` (3); `CASEI(c) = CASEI('x')` (2); `a NOT IN ('x', 'y')`
   (4); `A_CONTAINS(x, ('a', 'b'))` (3); `eo:cloud_cover < 10 AND S_INTERSECTS(geometry,
   POLYGON(...))` (2).  `NOT NOT NOT a = 1` (7) is refused, `f(g(h(a))) = 1` (7) is refused,
   and so is and/or alternating more than 4 deep.

Cost at the limits (`bench/cql2_guard.py`): the worst filters that still pass take
`cql2.Expr(...)` plus `.validate()` 70-100 ms and at most 40 MB.  Those worst filters are
`f(g(a)) = 1`, `A_EQUALS(a, ((1, 2), 3))`, and/or alternating 4 deep, and
`a = 1 AND (NOT a = 1 OR a = 2)`.  The widest are a 20 KB text of 1,700 ORed comparisons
(50 ms, 6 MB) and 1,100 ANDed NOT comparisons in 10,000 JSON values (90 ms, 20 MB).  A
3,000-vertex polygon takes 17-30 ms.  Timings on this 2-core machine vary by about 30%.
The floor of 17 ms and the 10-20 ms per level are cql2's own costs.  Compare that with whole
seconds and gigabytes without the guard.  Lower `MAX_EXPRESSION_DEPTH` to 4 for about 70 ms
at most, at the price of refusing `a AND (b OR NOT c = 1)`.  Nesting of 20 and expression
depth of 5 sit 100 times below where cql2 crashes (about 2,000 brackets, about 400-500
NOTs).

For CQL2 text the depth is estimated from a single linear scan over tokens, never parsed.
The estimate is an upper bound: where the tokens are ambiguous (a bare `(...)` could group or
could be a one-element array) the scan counts the costlier reading.  String literals `'...'`
(with `''` escapes) and quoted identifiers `"..."` are skipped as whole tokens, so brackets
and keywords inside them count for nothing.  For CQL2-JSON the walk is iterative, not
recursive, and exact.  Nothing here calls `cql2`, and the time it takes is linear in the
input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = [
    "HEAVY_WEIGHT",
    "MAX_EXPRESSION_DEPTH",
    "MAX_JSON_TEXT_LENGTH",
    "MAX_NESTING_DEPTH",
    "MAX_NODES",
    "MAX_STRING_LENGTH",
    "MAX_TEXT_LENGTH",
    "FilterTooComplex",
    "check_filter",
    "check_json",
    "check_text",
]

#: Longest CQL2 text (characters) or JSON-encoded CQL2 string we look at.  A 900-vertex WKT
#: polygon fits; a GET URL carrying more than this is refused by most proxies anyway.
MAX_TEXT_LENGTH = 20_000
#: Longest CQL2-JSON given as a string (GET ?filter-lang=cql2-json): MAX_NODES values with
#: room for long coordinates.  orjson decodes it in well under a millisecond per 100 KB.
MAX_JSON_TEXT_LENGTH = 400_000
#: Deepest nesting of ( ) / [ ] in text, or of JSON objects and arrays.  A realistic filter
#: needs at most about 8 (a MULTIPOLYGON inside a predicate inside NOT(...)); 15 in JSON,
#: which spends two levels ({"op", "args": [...]}) per operation.
MAX_NESTING_DEPTH = 20
#: Most tokens (text) or JSON values (objects, arrays, scalars, including geometry
#: coordinates) in one filter: a 3,000-vertex polygon is about 9,000 JSON values.
MAX_NODES = 10_000
#: Longest single string (a literal, a property name, an object key).
MAX_STRING_LENGTH = 2_000
#: Deepest weighted chain of nested operations (see the module docstring).
MAX_EXPRESSION_DEPTH = 5
#: What one level of NOT, of a function call or of an array literal counts.
HEAVY_WEIGHT = 2


class FilterTooComplex(ValueError):
    """A filter exceeds one of the limits here; the message names the limit and its value.

    `limit` is the name of the module constant that was exceeded and `value` its value, so a
    caller can report or log them without parsing the message.
    """

    def __init__(self, what: str, limit: str, value: int) -> None:
        super().__init__(f"filter {what} exceeds {value}")
        self.limit = limit
        self.value = value


# ---------------------------------------------------------------------------------------------
# Shared vocabulary


# Operations whose level in `validate()` costs about as much as a comparison.
_LIGHT_FUNCTIONS = frozenset({"casei", "accenti"})
# Built-in operators and predicates of CQL2 (lower case, as in CQL2-JSON).
_KNOWN_OPS = frozenset(
    {
        "and", "or", "not", "=", "<>", "<", "<=", ">", ">=", "like", "between", "in",
        "isnull", "+", "-", "*", "/", "%", "^", "div",
        "s_intersects", "s_equals", "s_disjoint", "s_touches", "s_within", "s_overlaps",
        "s_crosses", "s_contains",
        "t_after", "t_before", "t_contains", "t_disjoint", "t_during", "t_equals",
        "t_finishedby", "t_finishes", "t_intersects", "t_meets", "t_metby",
        "t_overlappedby", "t_overlaps", "t_startedby", "t_starts",
        "a_equals", "a_contains", "a_containedby", "a_overlaps",
    }
)  # fmt: skip
_PREDICATES = frozenset(op for op in _KNOWN_OPS if op[:2] in ("s_", "t_", "a_"))
_WKT = frozenset(
    {
        "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
        "geometrycollection", "envelope",
    }
)  # fmt: skip
# Literal constructors: {"timestamp": ...}, {"interval": [...]}, {"bbox": [...]} in JSON.
_LITERALS = frozenset({"timestamp", "date", "interval", "bbox"})
_COMPARISON_WORDS = frozenset({"like", "in", "is", "between"})
_ARITH_WORDS = frozenset({"div"})


def _weight(op: str) -> tuple[int, bool]:
    """Expression weight of one operation, and whether it is a heavy one."""
    if op == "not" or (op not in _KNOWN_OPS and op not in _LIGHT_FUNCTIONS):
        return HEAVY_WEIGHT, True
    return 1, False


def check_filter(expr: Any, lang: str | None = None) -> None:
    """Check a filter the way `parse_filter` would read it: JSON objects and JSON text as
    CQL2-JSON, other strings as CQL2 text.  Raises `FilterTooComplex`; returns None if fine.

    JSON text that does not decode is left alone; cql2 and the caller report that.
    """
    if expr is None or expr == "":
        return
    if isinstance(expr, Mapping | list):
        check_json(expr)
        return
    if not isinstance(expr, str):
        return
    if lang == "cql2-json" or expr.lstrip().startswith("{"):
        if len(expr) > MAX_JSON_TEXT_LENGTH:
            raise FilterTooComplex("length", "MAX_JSON_TEXT_LENGTH", MAX_JSON_TEXT_LENGTH)
        try:
            # orjson refuses nesting beyond 1024 levels by itself; no recursion risk here.
            data = orjson.loads(expr)
        except orjson.JSONDecodeError:
            return
        check_json(data)
        return
    check_text(expr)


# ---------------------------------------------------------------------------------------------
# CQL2-JSON


def check_json(data: Any) -> None:
    """Walk a CQL2-JSON value iteratively; raise `FilterTooComplex` past any limit.

    Each stack entry carries the container depth and the weighted expression depth of the
    path leading to it, so the walk never recurses and touches each value once.
    """
    nodes = 0
    # (value, container depth, expression depth, counts as an expression)
    stack: list[tuple[Any, int, int, bool]] = [(data, 0, 0, True)]
    while stack:
        value, depth, expression, in_expression = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise FilterTooComplex("size in JSON values", "MAX_NODES", MAX_NODES)
        if isinstance(value, str):
            if len(value) > MAX_STRING_LENGTH:
                raise FilterTooComplex("string length", "MAX_STRING_LENGTH", MAX_STRING_LENGTH)
            continue
        if not isinstance(value, Mapping | list):
            continue
        depth += 1
        if depth > MAX_NESTING_DEPTH:
            raise FilterTooComplex("nesting depth", "MAX_NESTING_DEPTH", MAX_NESTING_DEPTH)
        if isinstance(value, list):
            if in_expression:  # an array literal (not the args list of an operation)
                expression += HEAVY_WEIGHT
                _check_expression(expression)
            for item in value:
                stack.append((item, depth, expression, in_expression))
            continue
        op = value.get("op")
        children_in_expression = in_expression
        if in_expression and isinstance(op, str):
            weight, _heavy = _weight(op.lower())
            expression += weight
            _check_expression(expression)
        elif "type" in value or any(key in value for key in _LITERALS) or "property" in value:
            # GeoJSON geometries, {"timestamp": ...}, {"interval": [...]}, {"bbox": [...]},
            # {"property": ...}: literals whose inner arrays are not CQL2 array literals.  An
            # interval may hold expressions, but then they are again objects with "op".
            children_in_expression = False
        for key, item in value.items():
            if isinstance(key, str) and len(key) > MAX_STRING_LENGTH:
                raise FilterTooComplex("string length", "MAX_STRING_LENGTH", MAX_STRING_LENGTH)
            if key == "args" and isinstance(item, list):
                # The operands of an operation: the list itself is syntax, not an array.
                nodes += 1
                if depth + 1 > MAX_NESTING_DEPTH:
                    raise FilterTooComplex("nesting depth", "MAX_NESTING_DEPTH", MAX_NESTING_DEPTH)
                # The list of an IN is an array of scalars, cheap to validate: it counts 1.
                in_list = isinstance(op, str) and op.lower() == "in"
                for index, arg in enumerate(item):
                    if in_list and index == 1 and isinstance(arg, list):
                        nodes += 1
                        light = expression + 1
                        _check_expression(light)
                        if depth + 2 > MAX_NESTING_DEPTH:
                            raise FilterTooComplex(
                                "nesting depth", "MAX_NESTING_DEPTH", MAX_NESTING_DEPTH
                            )
                        stack.extend((scalar, depth + 2, light, True) for scalar in arg)
                    else:
                        stack.append((arg, depth + 1, expression, True))
            elif children_in_expression or not isinstance(item, Mapping):
                stack.append((item, depth, expression, children_in_expression))
            else:
                # an object inside a literal (an operation inside an interval) is an expression
                stack.append((item, depth, expression, True))


def _check_expression(expression: int) -> None:
    if expression > MAX_EXPRESSION_DEPTH:
        raise FilterTooComplex(
            "expression depth (NOT, functions and arrays count double)",
            "MAX_EXPRESSION_DEPTH",
            MAX_EXPRESSION_DEPTH,
        )


# ---------------------------------------------------------------------------------------------
# CQL2 text


@dataclass
class _Segment:
    """One operand between AND/OR/',' at one bracket level, and what it nests."""

    nots: int = 0  # NOTs at this level: a NOT's scope ends where the segment ends
    arith: int = 0  # arithmetic operators at this level (left-associative: they nest)
    comparison: bool = False  # a comparison or predicate keyword at this level
    between: int = 0  # BETWEENs whose "AND" is still to come
    inner: int = 0  # deepest expression among the brackets closed inside this segment
    boolean_inner: bool = False  # a bracket closed here held a boolean (so it groups)

    def depth(self) -> int:
        return (1 if self.comparison else 0) + HEAVY_WEIGHT * self.nots + self.arith + self.inner


@dataclass
class _Frame:
    """An open bracket: what opened it and the segments seen inside it so far."""

    kind: str  # "root", "group", "function", "light", "predicate", "in", "literal", "wkt"
    closer: str
    commas: bool = False
    connectives: set[str] = field(default_factory=set)
    best: int = 0  # deepest closed segment
    predicates: bool = False  # a closed segment held a comparison, predicate or NOT
    segment: _Segment = field(default_factory=_Segment)

    def close_segment(self) -> None:
        segment = self.segment
        self.best = max(self.best, segment.depth())
        self.predicates |= segment.comparison or segment.nots > 0 or segment.boolean_inner
        self.segment = _Segment()

    def depth(self) -> int:
        """Weighted expression depth of the whole bracket, its own operation included."""
        self.close_segment()
        if self.kind == "wkt":
            return 0
        # AND/OR at this level: cql2 flattens a run of one connective; mixing both nests two.
        inner = self.best + len(self.connectives)
        if self.kind == "function":
            return inner + HEAVY_WEIGHT
        if self.kind in ("light", "predicate", "in"):
            return inner + 1
        if self.kind == "group":
            # (a, b) is an array; so may be (1), a one-element array.  ((a = 1) OR b) or
            # (a = 1) is grouping, which cql2 drops.  Count the array when in doubt.
            if self.commas or not (self.connectives or self.predicates):
                return inner + HEAVY_WEIGHT
            return inner
        return inner  # root, literal

    def boolean(self) -> bool:
        """Whether the closed bracket held a condition, so that brackets around it group."""
        if self.kind == "predicate":
            return True
        return (
            self.kind == "group" and not self.commas and bool(self.connectives or self.predicates)
        )


_OPEN = {"(": ")", "[": "]"}
_CLOSE = frozenset(")]")
_COMPARISON_CHARS = frozenset("=<>!")
_ARITH_CHARS = frozenset("+-*/%^")
_IDENT_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:")
_IDENT_PART = _IDENT_START | frozenset("0123456789.")
_DIGITS = frozenset("0123456789")
_NUMBER_PART = _DIGITS | frozenset(".eE")


def _frame_kind(word: str | None) -> str:
    """What a bracket means, from the identifier right before it (None: none)."""
    if word is None:
        return "group"
    if word in _WKT:
        return "wkt"
    if word in _LITERALS:
        return "literal"
    if word == "in":
        return "in"
    if word in _PREDICATES:
        return "predicate"
    if word in _LIGHT_FUNCTIONS:
        return "light"
    if word in ("and", "or", "not", "like", "is", "between", "div"):
        return "group"
    return "function"


def check_text(text: str) -> None:
    """Scan CQL2 text once, left to right; raise `FilterTooComplex` past any limit.

    It is a tokenizer with a stack of open brackets, not a parser.  The stack never gets
    deeper than `MAX_NESTING_DEPTH`, each character is looked at a bounded number of times,
    and malformed text is not an error here.  cql2 reports that later, now that it can no
    longer be made to crash.
    """
    if len(text) > MAX_TEXT_LENGTH:
        raise FilterTooComplex("length", "MAX_TEXT_LENGTH", MAX_TEXT_LENGTH)
    frames = [_Frame("root", "")]
    tokens = 0
    # What came before: "value" (literal, property, closing bracket), "word" (identifier
    # that may name a function), or "operator" (start, bracket, comma, operator, keyword).
    previous = "operator"
    previous_word: str | None = None
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        tokens += 1
        if tokens > MAX_NODES:
            raise FilterTooComplex("size in tokens", "MAX_NODES", MAX_NODES)
        frame = frames[-1]
        segment = frame.segment
        if c == "'" or c == '"':
            # a string literal or a quoted identifier; a doubled quote is an escaped quote
            start = i
            i += 1
            while i < n:
                if text[i] == c:
                    if i + 1 < n and text[i + 1] == c:
                        i += 2
                        continue
                    break
                i += 1
            i += 1  # past the closing quote (or the end of an unterminated literal)
            if i - start - 2 > MAX_STRING_LENGTH:
                raise FilterTooComplex("string length", "MAX_STRING_LENGTH", MAX_STRING_LENGTH)
            previous, previous_word = ("value", None) if c == "'" else ("word", None)
            continue
        if c in _DIGITS or (c == "." and i + 1 < n and text[i + 1] in _DIGITS):
            i += 1
            while i < n and (text[i] in _NUMBER_PART or (text[i] in "+-" and text[i - 1] in "eE")):
                i += 1
            previous, previous_word = "value", None
            continue
        if c in _IDENT_START:
            start = i
            while i < n and text[i] in _IDENT_PART:
                i += 1
            if i - start > MAX_STRING_LENGTH:
                raise FilterTooComplex("string length", "MAX_STRING_LENGTH", MAX_STRING_LENGTH)
            word = text[start:i].lower()
            if word in ("and", "or"):
                if word == "and" and segment.between:
                    segment.between -= 1  # the AND of BETWEEN x AND y
                else:
                    frame.close_segment()
                    frame.connectives.add(word)
                previous, previous_word = "operator", None
            elif word == "not":
                segment.nots += 1
                previous, previous_word = "operator", None
            elif word in _COMPARISON_WORDS:
                segment.comparison = True
                if word == "between":
                    segment.between += 1
                previous, previous_word = "operator", word
            elif word in _ARITH_WORDS:
                segment.arith += 1
                previous, previous_word = "operator", word
            else:
                previous, previous_word = "word", word
            continue
        i += 1
        if c in _OPEN:
            kind = "group" if previous != "word" else _frame_kind(previous_word)
            if previous == "operator" and previous_word == "in":
                kind = "in"
            if frame.kind == "wkt":
                kind = "wkt"  # rings and points inside a geometry literal
            if len(frames) > MAX_NESTING_DEPTH:
                raise FilterTooComplex("nesting depth", "MAX_NESTING_DEPTH", MAX_NESTING_DEPTH)
            frames.append(_Frame(kind, _OPEN[c]))
            previous, previous_word = "operator", None
        elif c in _CLOSE:
            if len(frames) > 1:
                popped = frames.pop()
                closed = popped.depth()
                outer = frames[-1].segment
                outer.inner = max(outer.inner, closed)
                outer.boolean_inner |= popped.boolean()
                _check_expression(max(closed, frames[-1].segment.depth()))
            previous, previous_word = "value", None
        elif c == ",":
            frame.close_segment()
            frame.commas = True
            previous, previous_word = "operator", None
        elif c in _COMPARISON_CHARS:
            segment.comparison = True
            previous, previous_word = "operator", None
        elif c in _ARITH_CHARS:
            # A sign directly on a number literal is folded into it by cql2 ("-1" is -1.0),
            # but a run of signs ("- - 1") or a sign on anything else nests.
            j = i
            while j < n and text[j].isspace():
                j += 1
            sign_on_number = (
                c in "+-" and previous == "operator" and j < n and text[j] in _NUMBER_PART
            )
            if not sign_on_number:
                segment.arith += 1
            previous, previous_word = "operator", None
        else:
            previous, previous_word = "operator", None
    while len(frames) > 1:  # unclosed brackets: count them as if closed at the end
        closed = frames.pop().depth()
        frames[-1].segment.inner = max(frames[-1].segment.inner, closed)
    _check_expression(frames[0].depth())
