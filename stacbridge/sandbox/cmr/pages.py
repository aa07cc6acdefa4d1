"""Generated granules in sort order, addressed by rank, and the page a search returns.

The generated population is never materialised: a query's matches are a selection
over indices, merged with the recorded granules at page time.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from stacbridge.sandbox.cmr.generator import HLSGenerator
from stacbridge.sandbox.cmr.sorting import _Sort


class _GenRef:
    """Sort-value view of generated granule `i`."""

    __slots__ = ("end_ms", "i", "provider_lower", "seq", "start_ms")

    def __init__(self, gen: HLSGenerator, i: int) -> None:
        self.i = i
        self.provider_lower = "lpcloud"
        self.start_ms = self.end_ms = gen.time_ms(i)
        self.seq = gen.concept_number(i)


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

    def count_below(self, x: int) -> int:
        return bisect.bisect_left(self.indices, x)

    def __contains__(self, i: int) -> bool:
        j = bisect.bisect_left(self.indices, i)
        return j < len(self.indices) and self.indices[j] == i

    def __iter__(self) -> Any:
        return iter(self.indices)


class _UnionSelection:
    """Disjoint selections (``Selection`` or `_ListSelection`) as one, in index order: what a
    condition that splits the population (a platform switch, a date boundary) leaves."""

    def __init__(self, parts: Iterable[Any]) -> None:
        self.parts = [part for part in parts if len(part)]
        self.count = sum(len(part) for part in self.parts)

    def __len__(self) -> int:
        return self.count

    def count_below(self, x: int) -> int:
        return sum(part.count_below(x) for part in self.parts)

    def select(self, k: int) -> int:
        if not 0 <= k < self.count:
            raise IndexError(k)
        if len(self.parts) == 1:
            return int(self.parts[0].select(k))
        lo = min(part.select(0) for part in self.parts)
        hi = max(part.select(len(part) - 1) for part in self.parts)
        while lo < hi:  # the smallest x with k + 1 members <= x
            mid = (lo + hi) // 2
            if self.count_below(mid + 1) > k:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def __contains__(self, i: int) -> bool:
        return any(i in part for part in self.parts)

    def __iter__(self) -> Any:
        return heapq.merge(*(iter(part) for part in self.parts))


class _RecordStream:
    """Recorded records of one query, sorted, with the stream interface."""

    def __init__(self, records: list[Any], sort: _Sort) -> None:
        keyed = sorted(((sort.key(sort.raw(r)), r) for r in records), key=lambda kr: kr[0])
        self.keys = [k for k, _ in keyed]
        self.records = [r for _, r in keyed]
        self.sort = sort
        self.n = len(self.records)

    def key(self, rank: int) -> tuple:
        return self.keys[rank]

    def raw(self, rank: int) -> list:
        return self.sort.raw(self.records[rank])

    def count_before(self, key: tuple, inclusive: bool) -> int:
        if inclusive:
            return bisect.bisect_right(self.keys, key)
        return bisect.bisect_left(self.keys, key)

    def body(self, rank: int) -> bytes:
        return self.records[rank].body


def merged_page(
    streams: list[Any], size: int, offset: int, sa_key: tuple | None
) -> tuple[int, list[bytes], list | None]:
    """(hits, items, last item's sort values) of one page of the merge of sorted `streams`
    (keys are unique across them: every sort ends on the concept sequence number)."""
    streams = [s for s in streams if s.n]
    hits = sum(s.n for s in streams)
    if sa_key is not None:
        starts = [s.count_before(sa_key, inclusive=True) for s in streams]
    else:
        starts = []
        for s in streams:
            others = [t for t in streams if t is not s]

            def rank(j: int, s: Any = s, others: list[Any] = others) -> int:
                key = s.key(j)
                return j + sum(t.count_before(key, inclusive=False) for t in others)

            lo, hi = 0, s.n  # how many of s's members sit before overall position `offset`
            while lo < hi:
                mid = (lo + hi) // 2
                if rank(mid) < offset:
                    lo = mid + 1
                else:
                    hi = mid
            starts.append(lo)
    pairs = enumerate(zip(streams, starts, strict=True))
    heap = [(s.key(j), n, j) for n, (s, j) in pairs if j < s.n]
    heapq.heapify(heap)
    items: list[bytes] = []
    last = None
    while heap and len(items) < size:
        _, n, j = heapq.heappop(heap)
        s = streams[n]
        items.append(s.body(j))
        last = s.raw(j)
        if j + 1 < s.n:
            heapq.heappush(heap, (s.key(j + 1), n, j + 1))
    return hits, items, last if items else None


@dataclass
class _Page:
    hits: int
    items: list[bytes]
    search_after: list | None
