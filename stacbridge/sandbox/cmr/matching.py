"""CMR string matching: case folding, ``*``/``?`` patterns and keyword words and phrases.

One matcher builder so that every string parameter honours the same options.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from stacbridge.sandbox.cmr.errors import MSG_KEYWORD_PHRASE, CmrError
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


#: what CMR splits indexed text into words on: "a space (or one of special character delimiter
#: CMR uses)" says its documentation; which special characters is a guess.
_WORD_DELIMITERS = re.compile(r"[\s,;:()\[\]{}<>/|=+]+")
#: a double quote that is not escaped: the boundary of a keyword phrase
_PHRASE_QUOTE = re.compile(r'(?<!\\)"')


def _words(text: str) -> list[str]:
    return [w for w in _WORD_DELIMITERS.split(text) if w]


def keyword_matcher(value: str) -> Callable[[str], bool] | None:
    """CMR's `keyword` over a collection's indexed text (fields joined by newlines).

    As CMR documents it: words separated by spaces must each be a whole word somewhere in the
    indexed fields (all of them, in any field); one phrase in double quotes must appear, its
    words contiguous, within one field; ``*``/``?`` are wildcards within a word; ``\\"`` is a
    literal quote.  A phrase mixed with words, two phrases, or an unpaired quote is refused.
    None when the value is blank.
    """
    text = value.strip().lower()
    if not text:
        return None
    quotes = [m.start() for m in _PHRASE_QUOTE.finditer(text)]
    if quotes and (len(quotes) != 2 or quotes != [0, len(text) - 1]):
        raise CmrError([MSG_KEYWORD_PHRASE])
    phrase = bool(quotes)
    if phrase:
        text = text[1:-1]
    patterns = [re.compile(_wildcard_regex(w.replace('\\"', '"'))) for w in _words(text)]
    if not patterns:
        return None

    if not phrase:

        def all_words(haystack: str) -> bool:
            words = _words(haystack)
            return all(any(rx.fullmatch(w) for w in words) for rx in patterns)

        return all_words

    def in_one_field(haystack: str) -> bool:
        n = len(patterns)
        for field_text in haystack.split("\n"):
            words = _words(field_text)
            for start in range(len(words) - n + 1):
                if all(rx.fullmatch(words[start + k]) for k, rx in enumerate(patterns)):
                    return True
        return False

    return in_one_field
