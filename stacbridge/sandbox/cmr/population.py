"""Conditions on the generated HLS populations, answered without iterating over them.

The generator's granule ``i`` is a function of ``i``, so each descriptive condition is turned into
index arithmetic where the value is arithmetic (platform: a date switch and ``(i // K) % 2``;
revision and production dates: sensing time plus a bounded lag), into a tile set where the value
depends on the tile only, and into a short exact scan where neither holds (the few indices on a
date boundary, the (tile, day) groups a granule-name pattern can still match).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from stacbridge.sandbox.cmr.conditions import GranuleConditions
from stacbridge.sandbox.cmr.errors import MSG_NOT_EMULATED, CmrError
from stacbridge.sandbox.cmr.generator import HLSGenerator, Selection, _day_strings
from stacbridge.sandbox.cmr.pages import _UnionSelection
from stacbridge.sandbox.cmr.records import _granule_facts, _GranuleFacts
from stacbridge.sandbox.cmr.temporal import _TimeRange

#: the most generated granules one query may have checked one by one (rendered and parsed)
SCAN_LIMIT = 20_000
#: revision-date and production-date lags behind the sensing time, in ms (see `render`)
REVISION_LAG = (280_109_376, 340_110_373)
PRODUCTION_LAG = (279_999_000, 340_000_000)
#: attributes whose value depends on the tile only (the rest of the template's are constant)
TILE_ATTRIBUTES = ("MGRS_TILE_ID", "ULX", "ULY", "HORIZONTAL_CS_NAME")
PER_GRANULE_ATTRIBUTES = (
    "CLOUD_COVERAGE", "LANDSAT_PRODUCT_ID", "PRODUCT_URI", "HLS_PROCESSING_TIME", "SENSING_TIME",
)  # fmt: skip

Intervals = list[tuple[int, int]]


# --------------------------------------------------------------------------- interval algebra


def normalise(ivs: Iterable[tuple[int, int]]) -> Intervals:
    out: Intervals = []
    for lo, hi in sorted(iv for iv in ivs if iv[1] > iv[0]):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def intersect(a: Intervals, b: Intervals) -> Intervals:
    out = []
    for alo, ahi in a:
        for blo, bhi in b:
            lo, hi = max(alo, blo), min(ahi, bhi)
            if hi > lo:
                out.append((lo, hi))
    return normalise(out)


def subtract(a: Intervals, b: Intervals) -> Intervals:
    out = []
    for lo, hi in a:
        cur = lo
        for blo, bhi in normalise(b):
            if bhi <= cur or blo >= hi:
                continue
            if blo > cur:
                out.append((cur, blo))
            cur = max(cur, bhi)
        if cur < hi:
            out.append((cur, hi))
    return normalise(out)


# --------------------------------------------------------------------------- facts


class GeneratedFacts:
    """The facts of a generator's granules: the constant ones once, the rest per index."""

    def __init__(self, gen: HLSGenerator) -> None:
        self.gen = gen
        first = gen.item(0) if gen.n else None
        self.constant = _granule_facts(first["meta"], first["umm"]) if first else None

    def of(self, i: int) -> _GranuleFacts:
        item = self.gen.item(i)
        return _granule_facts(item["meta"], item["umm"])

    def tile_attributes(self, s: int) -> dict[str, list[str]]:
        tile = self.gen.tiles[s]
        return {
            "MGRS_TILE_ID": [tile.tile_id],
            "ULX": [f"{tile.ulx:.1f}"],
            "ULY": [f"{tile.uly:.1f}"],
            "HORIZONTAL_CS_NAME": [f"UTM, WGS84, UTM ZONE {tile.zone}"],
        }


# --------------------------------------------------------------------------- platform


def platform_split(gen: HLSGenerator, sel: Selection, matches: Callable) -> Any:
    """`sel` restricted to the granules whose platform `matches`: before the switch date every
    granule has the first platform; after it, ``(i // K) % 2`` picks one of two, which is a
    residue class modulo ``2 × period`` (the period is a multiple of K by an odd factor)."""
    switch = gen.switch_index
    before = intersect(sel.intervals, [(0, switch)])
    after = intersect(sel.intervals, [(switch, gen.n)])
    parts: list[Any] = []
    if before and matches(gen.product.first_platform):
        parts.append(Selection(before, sel.period, sel.offsets))
    if after:
        wanted = [matches(p) for p in gen.product.alternate_platforms]
        offsets = sorted(
            o + j * sel.period
            for o in sel.offsets
            for j in (0, 1)
            if wanted[((o + j * sel.period) // gen.k) % 2]
        )
        if offsets:
            parts.append(Selection(after, 2 * sel.period, offsets))
    return _UnionSelection(parts)


# --------------------------------------------------------------------------- dates


def lag_windows(
    gen: HLSGenerator, ranges: Sequence[_TimeRange], lag: tuple[int, int]
) -> tuple[Intervals, Intervals]:
    """(candidate, sure) index intervals for a date that lies in [sensing + lag0, sensing +
    lag1] being in one of `ranges`: outside `candidate` no granule matches, inside `sure`
    every one does; only the difference needs checking."""
    candidate, sure = [], []
    for r in ranges:
        lo = None if r.start is None else r.start - lag[1]
        hi = None if r.end is None else r.end - lag[0]
        candidate.append(gen.index_interval(lo, hi))
        lo = None if r.start is None else r.start - lag[0]
        hi = None if r.end is None else r.end - lag[1]
        if lo is None or hi is None or lo <= hi:
            sure.append(gen.index_interval(lo, hi))
    return normalise(candidate), normalise(sure)


def date_windows(gen: HLSGenerator, gc: GranuleConditions) -> tuple[Intervals, Intervals]:
    """(candidate, sure) index intervals of every date condition together (AND)."""
    everything: Intervals = [(0, gen.n)]
    candidate, sure = everything, everything
    for ranges, lag in (
        (gc.revision, REVISION_LAG),
        (gc.production, PRODUCTION_LAG),
        ([_TimeRange(gc.since, None)] if gc.since is not None else [], REVISION_LAG),
    ):
        if ranges:
            c, s = lag_windows(gen, ranges, lag)
            candidate, sure = intersect(candidate, c), intersect(sure, s)
    return candidate, sure


# --------------------------------------------------------------------------- name patterns


def _glob_tokens(pattern: str) -> tuple[str, ...]:
    return tuple(pattern.lower())


def _closure(tokens: tuple[str, ...], states: Iterable[int]) -> frozenset[int]:
    out = set()
    stack = list(states)
    while stack:
        st = stack.pop()
        if st in out:
            continue
        out.add(st)
        if st < len(tokens) and tokens[st] == "*":
            stack.append(st + 1)
    return frozenset(out)


def _step(tokens: tuple[str, ...], states: frozenset[int], ch: str) -> frozenset[int]:
    """One character (or ``"#"``: any digit) through the glob's NFA."""
    nxt = []
    for st in states:
        if st >= len(tokens):
            continue
        tok = tokens[st]
        if tok == "*":
            nxt.append(st)
        elif tok == "?" or tok == ch or (ch == "#" and tok.isdigit()):
            nxt.append(st + 1)
    return _closure(tokens, nxt)


def _run(tokens: tuple[str, ...], states: frozenset[int], text: str) -> frozenset[int]:
    for ch in text:
        if not states:
            break
        states = _step(tokens, states, ch)
    return states


@functools.lru_cache(maxsize=65_536)
def _suffix_possible(tokens: tuple[str, ...], states: frozenset[int], forms: str) -> bool:
    """Whether the glob can still accept after the name's six time digits and, for `forms`
    ``"ur"``, ``".v2.0"`` (``"producer"``: nothing more; ``"either"``: one of the two)."""
    after = _run(tokens, states, "######")
    end = len(tokens)
    if forms in ("producer", "either") and end in after:
        return True
    return forms in ("ur", "either") and end in _run(tokens, after, ".v2.0")


def pattern_indices(
    gen: HLSGenerator,
    patterns: Sequence[str],
    forms: str,
    within: Any,
    exact: Callable[[int], bool],
) -> list[int]:
    """The indices of `within` whose name matches one of the glob `patterns`.

    Names are ``HLS.<code>.T<tile>.<YYYYDDD>T<HHMMSS>[.v2.0]``: the glob runs over the tile
    prefix once per tile and over the date once per (prefix state, day), and a (tile, day) group
    is checked granule by granule (`exact`) only if the glob can still accept after it.
    """
    if len(within) == 0:
        return []
    first, last = within.select(0), within.select(len(within) - 1)
    first_day = gen.time_ms(first) // 86_400_000
    last_day = gen.time_ms(last) // 86_400_000
    day_ok: dict[tuple[tuple[str, ...], frozenset[int], int], bool] = {}
    found: set[int] = set()
    code = gen.product.code.lower()
    for pattern in patterns:
        tokens = _glob_tokens(pattern)
        start = _closure(tokens, [0])
        for s, tile in enumerate(gen.tiles):
            after_tile = _run(tokens, start, f"hls.{code}.t{tile.tile_id.lower()}.")
            if not after_tile:
                continue
            for day in range(first_day, last_day + 1):
                key = (tokens, after_tile, day)
                ok = day_ok.get(key)
                if ok is None:
                    after_day = _run(tokens, after_tile, _day_strings(day)[1] + "t")
                    ok = bool(after_day) and _suffix_possible(tokens, after_day, forms)
                    day_ok[key] = ok
                if not ok:
                    continue
                lo, hi = gen.index_interval(day * 86_400_000, (day + 1) * 86_400_000 - 1)
                i = lo + (s - lo) % gen.k
                while i < hi:
                    if i not in found and i in within and exact(i):
                        found.add(i)
                    i += gen.k
    return sorted(found)


def scan(within: Any, keep: Callable[[int], bool], what: str) -> list[int]:
    """The indices of `within` that `keep` accepts, checked one by one (at most SCAN_LIMIT)."""
    if len(within) > SCAN_LIMIT:
        raise CmrError(
            [
                MSG_NOT_EMULATED.format(
                    what=f"{what} over more than {SCAN_LIMIT} generated granules at once "
                    "(narrow the temporal range)"
                )
            ]
        )
    return [i for i in within if keep(i)]
