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

import math
from collections.abc import Iterator
from typing import Any

JSON = dict[str, Any]

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
