"""Pure CQL2-JSON helpers for pushing part of a filter down to an upstream query.

A provider narrows what it asks upstream for (CMR's `cloud_cover=min,max`, M2M's
`cloudCoverFilter` and `metadataFilter`) from the parts of a filter its upstream can answer,
and the gateway still evaluates the whole filter on what comes back.  So push-down only ever
has to be a *superset*: a term a helper does not understand is skipped, never guessed at, and
bounds are inclusive even for `<` / `>` (upstreams take closed ranges).

Filters arrive as parsed JSON, so anything may be anywhere: CQL2 allows the boolean literals
`true` / `false` as a whole filter or as an `and` argument, and malformed input must not crash
the request (`filter=true` used to raise on `.get` of a bool).  Every helper accepts any value.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from typing import Any

JSON = dict[str, Any]

#: queryables every catalogue shares, defined once so that a provider's own wording ("Landsat
#: Product Identifier L2") never leaks into another's, and the merged global `/queryables`
#: (which keeps only fields all providers define alike) keeps them.
SHARED_QUERYABLES: dict[str, JSON] = {
    "id": {"title": "Item id", "description": "The item's identifier", "type": "string"},
    "datetime": {
        "title": "Acquisition time",
        "description": "The item's nominal acquisition time (UTC)",
        "type": "string",
        "format": "date-time",
    },
    "eo:cloud_cover": {
        "title": "Cloud cover",
        "description": "Estimate of cloud cover, in %",
        "type": "number",
        "minimum": 0,
        "maximum": 100,
    },
}

#: comparison operator → the operator that holds with its operands swapped (`5 < x` ⇔ `x > 5`)
_FLIPPED = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _terms(expr: Any) -> Iterator[Any]:
    """The operands of the top-level (possibly nested) `and`s, literals included."""
    if isinstance(expr, dict) and expr.get("op") == "and":
        args = expr.get("args")
        if isinstance(args, list):
            for arg in args:
                yield from _terms(arg)
        return
    yield expr


def conjuncts(expr: Any) -> list[JSON]:
    """The top-level AND terms of a CQL2-JSON filter, as dicts.

    Nested `and`s are flattened (`a and (b and c)` → `[a, b, c]`); any other expression
    (`or`, `not`, a comparison…) is one term.  Boolean literals and other non-dict values are
    dropped: `true` constrains nothing, and `false` cannot be pushed down as a term (ask
    `is_false` for that).  `None`, `true`, `false` and other non-objects give `[]`.
    """
    return [t for t in _terms(expr) if isinstance(t, dict)]


def is_false(expr: Any) -> bool:
    """Whether the filter is the literal `false` or an `and` with `false` among its terms.

    Such a filter matches nothing: a provider may answer with an empty page without asking
    upstream.  Only literals are recognised (`x < 5 and x > 10` is false too: see
    `numeric_bounds`).
    """
    return any(t is False for t in _terms(expr))


def comparison(term: Any) -> tuple[str, str, Any] | None:
    """`(property, op, literal)` of a binary comparison between a property and a literal.

    `op` is one of `= < <= > >=`, normalised so that the property comes first:
    `{"op": "<", "args": [5, {"property": "x"}]}` → `("x", ">", 5)`.  The literal is returned
    as written (any JSON value except an object).  None for every other term (`<>`, `like`,
    `not`, property-to-property comparisons, functions, wrong arity, non-dicts).
    """
    if not isinstance(term, dict):
        return None
    op = term.get("op")
    args = term.get("args")
    if (
        not isinstance(op, str)
        or op not in _FLIPPED
        or not isinstance(args, list)
        or len(args) != 2
    ):
        return None
    left, right = args
    name = _property(left)
    if name is not None and not isinstance(right, dict):
        return name, op, right
    name = _property(right)
    if name is not None and not isinstance(left, dict):
        return name, _FLIPPED[op], left
    return None


def numeric_bounds(expr: Any, prop: str) -> tuple[float | None, float | None]:
    """`(low, high)`: inclusive bounds on `prop` implied by the filter's top-level AND terms.

    Read from comparisons `= < <= > >=` (either operand order) and `between` (CQL2-JSON
    `{"op": "between", "args": [{"property": p}, low, high]}`) of the property with numeric
    literals; the terms are intersected (the largest low, the smallest high).  Strict `<` / `>`
    give the same bound as `<=` / `>=`: a superset, which the gateway's own evaluation trims.
    Non-numeric literals (strings, booleans, NaN, ±inf), other properties, and terms under
    `or` / `not` are ignored.  A side nothing bounds is None; `(None, None)` means "no bound
    found".  The literals come back as written (an int stays an int), so a caller can format
    them as the user did.  `low > high` means no value satisfies the filter.
    """
    low: float | None = None
    high: float | None = None
    for term in conjuncts(expr):
        if term.get("op") == "between":
            args = term.get("args")
            if not isinstance(args, list) or len(args) != 3 or _property(args[0]) != prop:
                continue
            lo, hi = args[1], args[2]
            if not (_is_number(lo) and _is_number(hi)):
                continue
            low = lo if low is None else max(low, lo)
            high = hi if high is None else min(high, hi)
            continue
        cmp = comparison(term)
        if cmp is None or cmp[0] != prop or not _is_number(cmp[2]):
            continue
        _, op, value = cmp
        if op != "<" and op != "<=":  # =, >, >=
            low = value if low is None else max(low, value)
        if op != ">" and op != ">=":  # =, <, <=
            high = value if high is None else min(high, value)
    return low, high


def id_values(term: Any, prop: str = "id") -> frozenset[str] | None:
    """The values `prop` may take by one term: `id = 'x'` (either order) or `id IN ('x', ...)`.

    None for any other term (including `id IN` with a non-string member: it is not guessed at).
    """
    cmp = comparison(term)
    if cmp is not None:
        name, op, value = cmp
        if name == prop and op == "=" and isinstance(value, str):
            return frozenset((value,))
        return None
    if not isinstance(term, dict) or term.get("op") != "in":
        return None
    args = term.get("args")
    if not isinstance(args, list) or len(args) != 2 or _property(args[0]) != prop:
        return None
    values = args[1]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return None
    return frozenset(values)


def allowed_ids(expr: Any, prop: str = "id") -> frozenset[str] | None:
    """The ids a filter allows at most: the intersection of its top-level id terms.

    None when no top-level term restricts `prop`; an empty set when the terms contradict
    (`id = 'a' AND id = 'b'`): the filter matches nothing.
    """
    out: frozenset[str] | None = None
    for term in conjuncts(expr):
        values = id_values(term, prop)
        if values is not None:
            out = values if out is None else out & values
    return out


#: spatial predicates whose truth implies that the operands intersect, so an upstream's
#: "intersects this geometry" is a superset of what they select (`s_disjoint` is not one).
_INTERSECTING = frozenset(
    ("s_intersects", "s_within", "s_contains", "s_equals", "s_overlaps", "s_touches", "s_crosses")
)


def spatial_geometry(term: Any, prop: str = "geometry") -> JSON | None:
    """The GeoJSON geometry literal of one spatial term on `prop`, e.g. `S_INTERSECTS(geometry,
    POLYGON(...))`; a `BBOX(...)` literal comes back as its Polygon.

    Only predicates that imply intersection are read (see `_INTERSECTING`), in either operand
    order.  None for anything else (property-to-property predicates, `s_disjoint`, `or`...).
    """
    if not isinstance(term, dict) or term.get("op") not in _INTERSECTING:
        return None
    args = term.get("args")
    if not isinstance(args, list) or len(args) != 2:
        return None
    if _property(args[0]) == prop:
        literal = args[1]
    elif _property(args[1]) == prop:
        literal = args[0]
    else:
        return None
    if not isinstance(literal, dict):
        return None
    if "bbox" in literal:
        box = literal["bbox"]
        if not isinstance(box, list) or len(box) not in (4, 6) or not all(map(_is_number, box)):
            return None
        west, south, east, north = (box[0], box[1], box[3], box[4]) if len(box) == 6 else box
        ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
        return {"type": "Polygon", "coordinates": [ring]}
    if isinstance(literal.get("type"), str) and "coordinates" in literal:
        return literal
    return None


def intersecting_geometry(expr: Any, prop: str = "geometry") -> JSON | None:
    """A geometry every match of the filter intersects: its first top-level spatial term's.

    Any one of several such terms is a superset of their conjunction, so the first is taken.
    """
    for term in conjuncts(expr):
        geometry = spatial_geometry(term, prop)
        if geometry is not None:
            return geometry
    return None


def _instant(literal: Any, *, upper: bool) -> dt.datetime | None:
    """A `{"timestamp": ...}` / `{"date": ...}` literal as an aware datetime.

    A date is a whole day: as an upper bound it is the day's last instant, so the bound stays
    a superset whatever a date compared with a timestamp is taken to mean.
    """
    if not isinstance(literal, dict) or len(literal) != 1:
        return None
    try:
        if isinstance(literal.get("timestamp"), str):
            value = dt.datetime.fromisoformat(literal["timestamp"].replace("Z", "+00:00"))
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        if isinstance(literal.get("date"), str):
            day = dt.date.fromisoformat(literal["date"])
            start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            return start + dt.timedelta(days=1, microseconds=-1) if upper else start
    except ValueError:
        return None
    return None


Instant = dt.datetime | None


def time_range(term: Any, prop: str = "datetime") -> tuple[Instant, Instant] | None:
    """`(start, end)`, inclusive, that one term confines `prop` to; None if it does not.

    Read: comparisons `= < <= > >=` with a timestamp or date literal (either order; strict
    bounds are taken as inclusive), `between` two such literals, and `t_intersects` with an
    instant or an `interval` literal (`".."` is open).  Either side may be None (open).
    """
    if not isinstance(term, dict):
        return None
    op, args = term.get("op"), term.get("args")
    if not isinstance(args, list):
        return None
    if op == "between" and len(args) == 3 and _property(args[0]) == prop:
        low, high = _instant(args[1], upper=False), _instant(args[2], upper=True)
        return (low, high) if low is not None and high is not None else None
    if op == "t_intersects" and len(args) == 2:
        literal = args[1] if _property(args[0]) == prop else None
        if literal is None and _property(args[1]) == prop:
            literal = args[0]
        if isinstance(literal, dict) and isinstance(literal.get("interval"), list):
            ends = literal["interval"]
            if len(ends) != 2:
                return None
            bounds: list[Instant] = []
            for end, upper in zip(ends, (False, True), strict=True):
                if end == "..":
                    bounds.append(None)
                    continue
                wrapped = {"date" if len(str(end)) == 10 else "timestamp": end}
                value = _instant(wrapped, upper=upper)
                if value is None:
                    return None
                bounds.append(value)
            return bounds[0], bounds[1]
        low, high = _instant(literal, upper=False), _instant(literal, upper=True)
        return (low, high) if low is not None and high is not None else None
    if op not in _FLIPPED or len(args) != 2:
        return None
    if _property(args[0]) == prop:
        flipped, literal = False, args[1]
    elif _property(args[1]) == prop:
        flipped, literal = True, args[0]
    else:
        return None
    direction = _FLIPPED[op] if flipped else op
    low, high = _instant(literal, upper=False), _instant(literal, upper=True)
    if low is None or high is None:
        return None
    if direction == "=":
        return low, high
    return (None, high) if direction in ("<", "<=") else (low, None)


def time_bounds(expr: Any, prop: str = "datetime") -> tuple[Instant, Instant]:
    """Inclusive `(start, end)` on `prop` implied by the filter's top-level AND terms.

    The terms' ranges are intersected; `(None, None)` means no bound.  `start > end` means the
    filter matches nothing.
    """
    start: Instant = None
    end: Instant = None
    for term in conjuncts(expr):
        found = time_range(term, prop)
        if found is None:
            continue
        low, high = found
        if low is not None and (start is None or low > start):
            start = low
        if high is not None and (end is None or high < end):
            end = high
    return start, end


def bounded_property(term: Any) -> str | None:
    """The property a term bounds with a numeric literal (`= < <= > >=`, `between`), else None.

    What a provider that narrows numeric ranges upstream (CMR's `cloud_cover`) can take.
    """
    cmp = comparison(term)
    if cmp is not None:
        return cmp[0] if _is_number(cmp[2]) else None
    if isinstance(term, dict) and term.get("op") == "between":
        args = term.get("args")
        if isinstance(args, list) and len(args) == 3 and all(map(_is_number, args[1:])):
            return _property(args[0])
    return None


def references(expr: Any, prop: str) -> bool:
    """Whether the filter names `prop` anywhere (`{"property": prop}` at any depth)."""
    if isinstance(expr, dict):
        return _property(expr) == prop or any(references(v, prop) for v in expr.values())
    if isinstance(expr, list):
        return any(references(v, prop) for v in expr)
    return False


def substitute(expr: Any, prop: str, value: Any) -> Any:
    """The filter with every reference to `prop` replaced by the literal `value` (a copy).

    With the value a search target fixes (its one collection), the filter can be reduced to
    what it still asks of that target's items — `false` when the target cannot match at all.
    """
    if isinstance(expr, dict):
        if _property(expr) == prop:
            return value
        return {k: substitute(v, prop, value) for k, v in expr.items()}
    if isinstance(expr, list):
        return [substitute(v, prop, value) for v in expr]
    return expr


def simplify(expr: Any) -> Any:
    """Boolean literals folded out of `and` / `or` / `not` (`a OR false` → `a`), recursively.

    cql2's own reduction evaluates literal comparisons but leaves `a OR false` as it is; this
    finishes the job so that the other helpers see the terms that remain.
    """
    if not isinstance(expr, dict):
        return expr
    op, args = expr.get("op"), expr.get("args")
    if op not in ("and", "or", "not") or not isinstance(args, list):
        return expr
    parts = [simplify(a) for a in args]
    if op == "not":
        return (
            (not parts[0])
            if len(parts) == 1 and isinstance(parts[0], bool)
            else {**expr, "args": parts}
        )
    absorbing, neutral = (False, True) if op == "and" else (True, False)
    if any(p is absorbing for p in parts):
        return absorbing
    parts = [p for p in parts if p is not neutral]
    if not parts:
        return neutral
    return parts[0] if len(parts) == 1 else {"op": op, "args": parts}


def _property(arg: Any) -> str | None:
    """The name in a property reference `{"property": name}`, else None."""
    if isinstance(arg, dict) and len(arg) == 1:
        name = arg.get("property")
        if isinstance(name, str):
            return name
    return None


def _is_number(value: Any) -> bool:
    """A finite JSON number (booleans are not numbers here, whatever Python thinks)."""
    cls = value.__class__
    return cls is int or (cls is float and math.isfinite(value))
