"""CMR string matching: case folding, ``*``/``?`` patterns and keyword terms.

One matcher builder so that every string parameter honours the same options.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from stacbridge.sandbox.cmr.params import _Params


def _string_matcher(params: _Params, name: str, always_exact: bool = False) -> Callable | None:
    """A predicate over a record's value(s) for string parameter `name`, or None if absent."""
    values = params.get(name)
    if not values:
        return None
    ignore_case = not always_exact and params.opt(name, "ignore_case") != "false"
    pattern = not always_exact and params.opt(name, "pattern") == "true"
    use_and = params.opt(name, "and") == "true"
    flags = re.IGNORECASE if ignore_case else 0
    if pattern:
        regexes = {v: re.compile(_wildcard_regex(v) + r"\Z", flags) for v in values}

        def one(v: str, candidate: str) -> bool:
            return bool(regexes[v].match(candidate))
    elif ignore_case:
        lowered = {v: v.lower() for v in values}

        def one(v: str, candidate: str) -> bool:
            return lowered[v] == candidate.lower()
    else:

        def one(v: str, candidate: str) -> bool:
            return v == candidate

    def matches(*candidates: str | None) -> bool:
        cands = [c for c in candidates if c is not None]
        test = all if use_and else any
        return test(any(one(v, c) for c in cands) for v in values)

    return matches


def _wildcard_regex(text: str) -> str:
    """CMR's pattern syntax: ``*`` any run of characters, ``?`` one character."""
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)


def _keyword_regexes(text: str) -> list[re.Pattern]:
    return [re.compile(_wildcard_regex(term)) for term in text.lower().split()]
