"""Generated granules in sort order, addressed by rank, and the page a search returns.

The generated population is never materialised: a query's matches are a selection
over indices, merged with the recorded granules at page time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from stacbridge.sandbox.cmr.generator import CONCEPT_BASE, HLSGenerator
from stacbridge.sandbox.cmr.sorting import _Sort


class _GenRef:
    """Sort-value view of generated granule `i`."""

    __slots__ = ("end_ms", "i", "provider_lower", "seq", "start_ms")

    def __init__(self, gen: HLSGenerator, i: int) -> None:
        self.i = i
        self.provider_lower = "lpcloud"
        self.start_ms = self.end_ms = gen.time_ms(i)
        self.seq = CONCEPT_BASE + i


class _GeneratedStream:
    """The generated granules of one query in sort order, addressed by rank."""

    def __init__(self, gen: HLSGenerator, selection: Any, sort: _Sort, desc: bool) -> None:
        self.gen, self.sel, self.sort, self.desc = gen, selection, sort, desc
        self.n = len(selection)

    def index(self, rank: int) -> int:
        return self.sel.select(self.n - 1 - rank if self.desc else rank)

    def raw(self, rank: int) -> list:
        return self.sort.raw(_GenRef(self.gen, self.index(rank)))

    def key(self, rank: int) -> tuple:
        return self.sort.key(self.raw(rank))

    def count_before(self, key: tuple, inclusive: bool) -> int:
        lo, hi = 0, self.n
        while lo < hi:
            mid = (lo + hi) // 2
            k = self.key(mid)
            if k < key or (inclusive and k == key):
                lo = mid + 1
            else:
                hi = mid
        return lo

    def body(self, rank: int) -> bytes:
        return self.gen.render(self.index(rank)).encode()


class _ListSelection:
    """An explicit sorted list of generated indices with the Selection interface."""

    def __init__(self, indices: Iterable[int]) -> None:
        self.indices = sorted(set(indices))

    def __len__(self) -> int:
        return len(self.indices)

    def select(self, k: int) -> int:
        return self.indices[k]


@dataclass
class _Page:
    hits: int
    items: list[bytes]
    search_after: list | None
