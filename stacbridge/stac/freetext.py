"""STAC free-text search (`q`) with one meaning across the federation.

The basic free-text extension: `q` is a list of terms (comma-separated in GET), any of which
must match (OR); "spaces have no special meaning", so a term of several words is a phrase.
What "match" means is left to the implementation; stacbridge takes NASA CMR's `keyword`
semantics, which the CMR provider cannot change, and applies them wherever the gateway
matches itself (M2M): case-insensitive, a term's words must appear as whole words,
contiguous, within one text field.

What no provider can express exactly is refused with a 400: `*` and `?` (CMR reads them as
wildcards; the extension defines none), quotes or backslashes inside a term (CMR's phrase and
escape characters), and more than `MAX_TERMS` terms (each term costs an upstream search).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from stacbridge.errors import BadRequest

#: terms one `q` may hold: each is one upstream collection search per CMR scope target.
MAX_TERMS = 10
#: the longest term accepted.
MAX_TERM_CHARS = 200
#: what separates words (whitespace and common punctuation; CMR documents "a space (or one of
#: special character delimiter CMR uses)" without listing them).
_DELIMITERS = re.compile(r"[\s,;:()\[\]{}<>/|=+]+")


def words(text: str) -> list[str]:
    """`text` as lower-cased words."""
    return [w for w in _DELIMITERS.split(text.lower()) if w]


def terms(q: Iterable[str]) -> list[str]:
    """The terms of a `q`, whitespace-normalised, without surrounding quotes; 400 if unusable.

    A term quoted as a whole (`"climate model"`) means what the bare phrase means.  Blank
    terms are dropped.
    """
    out: list[str] = []
    for raw in q:
        term = " ".join(str(raw).split())
        if len(term) >= 2 and term[0] == term[-1] == '"':
            term = " ".join(term[1:-1].split())
        if not term:
            continue
        if len(term) > MAX_TERM_CHARS:
            raise BadRequest(f"q: a term is longer than {MAX_TERM_CHARS} characters")
        for char, why in (("*", "a wildcard"), ("?", "a wildcard"), ('"', "a quote")):
            if char in term:
                raise BadRequest(
                    f"q: {term!r} contains {char!r}, which NASA CMR would read as {why}; free-text "
                    "terms are matched as plain words (use filter for patterns)"
                )
        if "\\" in term:
            raise BadRequest(f"q: {term!r} contains a backslash, which cannot be searched exactly")
        if not words(term):
            raise BadRequest(f"q: {term!r} holds no word to search for")
        if term.lower() not in (t.lower() for t in out):
            out.append(term)
    if len(out) > MAX_TERMS:
        raise BadRequest(f"q: at most {MAX_TERMS} terms per search ({len(out)} given)")
    return out


def matches(term: str, fields: Iterable[str]) -> bool:
    """Whether `term`'s words appear as whole words, contiguous, within one of `fields`."""
    wanted = words(term)
    n = len(wanted)
    for text in fields:
        have = words(text)
        for start in range(len(have) - n + 1):
            if have[start : start + n] == wanted:
                return True
    return False
