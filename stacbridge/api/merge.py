"""Merging several upstream streams of items into one order, one page at a time.

Each stream (`Stream`) reads its catalogue's pages in the catalogue's own order.  The merge
holds at most one upstream page per stream, compares the streams' next items by `Order` and
consumes the first, until the page the client asked for is full; a page is dropped as soon as
its last item is consumed, so memory does not grow with the pages read.

`Order` is the requested sort key when every stream's catalogue sorts by it upstream (so each
stream is already sorted and a k-way merge gives the exact total order), or the default, the
item's `datetime` ascending, which is the order upstreams deliver by default: items interleave
by time, each stream's own order is kept, and ties go to the earlier stream, so a page boundary
never changes which item comes next.

Fetching is the caller's (`Fetch`): it raises `Unavailable` for a provider that failed, and the
stream is then left where it was — named missing for this page, retried by the next.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from stacbridge.api.fanout import Unavailable
from stacbridge.api.paging import StreamState
from stacbridge.protocols import JSON, Catalog, ItemPage, ItemQuery

#: item fields whose values are compared as instants (ISO 8601 text on the wire).
_TIME_FIELDS = frozenset({"datetime", "start_datetime", "end_datetime", "created", "updated"})


@dataclass(frozen=True, slots=True)
class Order:
    """How the merge compares items: one property, ascending or descending."""

    field: str = "datetime"
    descending: bool = False

    def key(self, item: JSON) -> tuple[int, Any]:
        """A comparable key; items without the field sort after those with it."""
        name = self.field.removeprefix("properties.")
        if name in ("id", "collection"):
            value: Any = item.get(name)
        else:
            props = item.get("properties") or {}
            value = props.get(name)
            if value is None and name == "datetime":
                value = props.get("start_datetime")
        if value is None:
            return (1, 0)
        if name in _TIME_FIELDS and isinstance(value, str):
            value = _instant(value)
            if value is None:
                return (1, 0)
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            value = str(value)
        return (0, value)

    def first(self, a: tuple[int, Any], b: tuple[int, Any]) -> bool:
        """Whether key `a` goes strictly before key `b` (ties keep the earlier stream)."""
        if a[0] != b[0]:
            return a[0] < b[0]
        try:
            return bool(a[1] > b[1]) if self.descending else bool(a[1] < b[1])
        except TypeError:  # a number against text: compare as text, still deterministic
            sa, sb = str(a[1]), str(b[1])
            return sa > sb if self.descending else sa < sb


def _instant(text: str) -> float | None:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


@dataclass(slots=True)
class Stream:
    """One target of a search while a request reads it: its position and its page in hand."""

    catalog: Catalog
    query: ItemQuery
    state: StreamState
    #: the upstream page in hand (None: not fetched yet, or dropped once consumed).
    items: list[JSON] | None = None
    position: int = 0
    next_cursor: Any = None
    size: int = 0
    #: the head item's key, computed once per item.
    head: tuple[int, Any] | None = None
    #: why the stream's provider is missing from this answer (None: it answered).
    missing: str | None = None
    failure: Unavailable | None = None
    #: the upstream count of the stream's first page, when it was fetched by this request.
    first_count: int | None = None
    first_fetched: bool = False
    #: items of this stream the request consumed (returned or dropped).
    consumed: int = 0

    @property
    def live(self) -> bool:
        return not self.state.done and self.missing is None

    def settle(self) -> StreamState:
        """Where this stream goes on next time."""
        if self.items is None or self.missing is not None:
            if self.consumed and not self.state.done:
                return replace(self.state, share=self.consumed)
            return self.state
        share = self.consumed or self.state.share
        if self.position < len(self.items):
            return StreamState(self.state.cursor, self.position, self.size, share=share)
        if self.next_cursor is None:
            return StreamState(done=True)
        return StreamState(self.next_cursor, share=share)


#: fetch one upstream page for a stream with `size` items (raises `Unavailable`).
Fetch = Callable[[Stream, int], Awaitable[ItemPage]]
#: whether the gateway's own checks keep an item.
Accept = Callable[[Stream, JSON], bool]


@dataclass(slots=True)
class Budget:
    """What one request may spend upstream (across every provider) before it answers.

    `pages` bounds the upstream pages read once something was found (the request then answers
    with a next link where it stopped); `items` bounds the upstream items read in any case,
    and `seconds` the time after which no further page is started — a scan that found nothing
    by then is refused by the caller, since an empty page that is not the last reads as the
    end.  The first page of every stream is always read.
    """

    pages: int
    seconds: float
    items: int = 1 << 62
    started: float = field(default_factory=time.monotonic)
    used: int = 0
    read: int = 0

    def allows(self, more: int, found: bool) -> bool:
        """Whether `more` upstream pages may still be read."""
        if self.used == 0:
            return True
        if found and self.used + more > self.pages:
            return False
        return self.read < self.items and time.monotonic() - self.started < self.seconds


@dataclass(slots=True)
class Outcome:
    """What a merge collected, and why it stopped."""

    found: list[tuple[Stream, JSON]]
    dropped: int
    #: the upstream budget stopped the merge before the page was full.
    exhausted: bool = False
    disconnected: bool = False


class Merge:
    """Fill one page from `streams`, in `order`, within `budget`."""

    def __init__(
        self,
        streams: list[Stream],
        order: Order,
        fetch: Fetch,
        accept: Accept,
        *,
        page_size: Callable[[Stream], int],
        max_page: int = 0,
        concurrency: int = 8,
    ) -> None:
        self.streams = streams
        self.order = order
        self.fetch = fetch
        self.accept = accept
        self.page_size = page_size
        #: while nothing is found, each next page of a stream doubles, up to this (0: never)
        self.max_page = max_page
        self.found_any = False
        self._budget: Budget | None = None
        self._slots = asyncio.Semaphore(concurrency)

    async def _load(self, stream: Stream) -> None:
        size = stream.state.fetch or self.page_size(stream)
        if not stream.state.fetch and stream.size and not self.found_any:
            # a selective filter: read further ahead per round trip while nothing matches
            size = max(size, min(stream.size * 2, self.max_page))
        async with self._slots:
            try:
                page = await self.fetch(stream, size)
            except Unavailable as exc:
                stream.missing, stream.failure = exc.reason, exc
                return
        if stream.state.cursor is None and not stream.first_fetched:
            stream.first_fetched = True
            stream.first_count = page.number_matched
        stream.items, stream.size = page.items, size
        if self._budget is not None:
            self._budget.read += len(page.items)
        stream.position = min(stream.state.skip, len(page.items))
        stream.next_cursor = page.next_cursor
        stream.head = None

    def _advance(self, stream: Stream) -> None:
        """A stream whose page is consumed moves to its next page (or is done)."""
        assert stream.items is not None
        stream.items = None  # drop the page: memory stays one page per stream
        if stream.next_cursor is None:
            stream.state = StreamState(done=True)
        else:
            stream.state = StreamState(stream.next_cursor, share=stream.state.share)

    async def run(
        self, limit: int, budget: Budget, disconnected: Callable[[], Awaitable[bool]]
    ) -> Outcome:
        found: list[tuple[Stream, JSON]] = []
        dropped = 0
        order, accept = self.order, self.accept
        self._budget = budget
        while len(found) < limit:
            for stream in self.streams:
                if (
                    stream.live
                    and stream.items is not None
                    and stream.position >= len(stream.items)
                ):
                    self._advance(stream)
            need = [s for s in self.streams if s.live and s.items is None]
            if need:
                if not budget.allows(len(need), bool(found)):
                    return Outcome(found, dropped, exhausted=True)
                if budget.used and await disconnected():
                    return Outcome(found, dropped, disconnected=True)
                budget.used += len(need)
                await asyncio.gather(*(self._load(s) for s in need))
                continue
            best: Stream | None = None
            for stream in self.streams:
                if not stream.live or stream.items is None:
                    continue
                if stream.head is None:
                    stream.head = order.key(stream.items[stream.position])
                if best is None or order.first(stream.head, best.head):  # type: ignore[arg-type]
                    best = stream
            if best is None:
                break  # every stream is done or missing
            assert best.items is not None
            item = best.items[best.position]
            best.position += 1
            best.consumed += 1
            best.head = None
            if accept(best, item):
                found.append((best, item))
                self.found_any = True
            else:
                dropped += 1
        return Outcome(found, dropped)
