"""The merge of several item streams, its token and the circuit breaker, on fake catalogues.

Each fake catalogue pages a fixed list in fixed-size pages with an integer cursor, the way
CMR's search-after and M2M's starting number do: the same cursor and size give the same page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from stacbridge.api.breaker import Breaker
from stacbridge.api.fanout import Unavailable, guarded
from stacbridge.api.merge import Budget, Merge, Order, Stream
from stacbridge.api.paging import PageState, StreamState
from stacbridge.errors import BadRequest
from stacbridge.protocols import ItemPage, ItemQuery, ProviderError, UpstreamRejected
from stacbridge.signing import Signer


def item(name: str, day: int, hour: int) -> dict:
    return {"id": name, "properties": {"datetime": f"2023-01-{day:02d}T{hour:02d}:00:00Z"}}


class Fake:
    """A catalogue over `items`, failing while `down` is set."""

    def __init__(self, name: str, items: list[dict]) -> None:
        self.name = name
        self.items = items
        self.down = False
        self.calls = 0

    async def search(self, query: ItemQuery, cursor: Any) -> ItemPage:
        self.calls += 1
        if self.down:
            raise ProviderError(self.name, "upstream error 503", status_code=503)
        start = cursor or 0
        page = self.items[start : start + query.limit]
        end = start + len(page)
        return ItemPage(page, end if end < len(self.items) else None, len(self.items))


A = [item(f"a{i}", 1 + i // 5, (i % 5) * 4) for i in range(23)]  # 5 a day, 00h..16h
B = [item(f"b{i}", 1 + i // 3, 2 + (i % 3) * 7) for i in range(17)]  # 3 a day, 02h, 09h, 16h


async def page_of(
    catalogs: list[Fake],
    token: PageState | None,
    limit: int,
    *,
    order: Order = Order(),
    size: int | Callable[[Stream], int] = 4,
    pages: int = 100,
) -> tuple[list[str], PageState | None, dict[str, str]]:
    """One page of the merged search, as the engine runs it."""
    states = token.streams if token else [StreamState() for _ in catalogs]
    streams = [Stream(c, ItemQuery(), s) for c, s in zip(catalogs, states, strict=True)]  # type: ignore[arg-type]
    breaker = Breaker(open_seconds=0)

    async def fetch(stream: Stream, n: int) -> ItemPage:
        call = stream.catalog.search(replace(stream.query, limit=n), stream.state.cursor)
        return await guarded(breaker, stream.catalog.name, 5.0, call)

    async def connected() -> bool:
        return False

    sizing = size if callable(size) else (lambda _: size)
    merge = Merge(streams, order, fetch, lambda s, i: True, page_size=sizing)
    outcome = await merge.run(limit, Budget(pages, 60.0), connected)
    settled = [s.settle() for s in streams]
    nxt = PageState("f", [c.name for c in catalogs], settled)
    missing = {s.catalog.name: s.missing for s in streams if s.missing is not None}
    done = all(s.done for s in settled)
    return [i["id"] for _, i in outcome.found], None if done else nxt, missing


def expected(order: Order, *streams: list[dict]) -> list[str]:
    keyed = [
        (order.key(it), n, pos, it["id"]) for n, s in enumerate(streams) for pos, it in enumerate(s)
    ]
    keyed.sort(key=lambda k: (k[0][1], k[1], k[2]))
    if order.descending:  # every stream sorted descending upstream
        keyed = sorted(keyed, key=lambda k: (-k[0][1], k[1], k[2]))
    return [k[3] for k in keyed]


async def run_all(catalogs, limit, **kwargs) -> list[list[str]]:
    signer = Signer(["k"])
    token, out = None, []
    while True:
        ids, token, _ = await page_of(catalogs, token, limit, **kwargs)
        out.append(ids)
        if token is None:
            return out
        token = PageState.open(signer, token.seal(signer), "f")  # through the wire form


@pytest.mark.parametrize(("limit", "size"), [(1, 1), (3, 4), (7, 4), (10, 25), (50, 10)])
def test_every_item_once_in_one_order_whatever_the_page_sizes(limit, size):
    pages = asyncio.run(run_all([Fake("a", A), Fake("b", B)], limit, size=size))
    flat = [i for p in pages for i in p]
    assert flat == expected(Order(), A, B)
    assert all(len(p) == limit for p in pages[:-1])  # only the last page is short


def test_fresh_pages_sized_by_each_streams_share_keep_every_item_once():
    """The engine sizes a stream's fresh pages by its share of the last page (`share` in the
    token); whatever the sizes, a page at a cursor is re-read with the size it had."""

    def by_share(stream: Stream) -> int:
        return max(1, stream.state.share + stream.state.share // 4) if stream.state.share else 9

    pages = asyncio.run(run_all([Fake("a", A), Fake("b", B)], 9, size=by_share))
    assert [i for p in pages for i in p] == expected(Order(), A, B)
    assert all(len(p) == 9 for p in pages[:-1])


def test_descending_streams_merge_descending():
    order = Order("datetime", descending=True)
    a, b = A[::-1], B[::-1]
    pages = asyncio.run(run_all([Fake("a", a), Fake("b", b)], 6, order=order))
    assert [i for p in pages for i in p] == expected(order, a, b)


def test_a_missing_stream_is_named_and_resumed_where_it_was():
    a, b = Fake("a", A), Fake("b", B)
    b.down = True
    first, token, missing = asyncio.run(page_of([a, b], None, 10))
    assert missing == {"b": "upstream error 503"}
    assert all(i.startswith("a") for i in first)
    assert token is not None and token.streams[1] == StreamState()  # b: from its start again
    b.down = False
    rest = asyncio.run(_drain([a, b], token, 10))
    assert sorted(first + rest) == sorted(i["id"] for i in A + B)
    assert len(first + rest) == len(A) + len(B)


async def _drain(catalogs, token, limit) -> list[str]:
    out: list[str] = []
    while token is not None:
        ids, token, _ = await page_of(catalogs, token, limit)
        out += ids
    return out


def test_the_page_budget_stops_the_scan_where_it_was():
    a, b = Fake("a", A), Fake("b", B)
    ids, token, _ = asyncio.run(page_of([a, b], None, 40, size=2, pages=3))
    assert len(ids) < 40 and token is not None
    assert a.calls + b.calls == 3  # the first round (one page each) and one more
    rest = asyncio.run(_drain([a, b], token, 40))
    assert ids + rest == expected(Order(), A, B)


def test_memory_is_one_page_per_stream():
    """A consumed upstream page is dropped before the next is fetched."""
    seen: list[int] = []

    class Counting(Fake):
        async def search(self, query, cursor):
            page = await super().search(query, cursor)
            seen.append(sum(1 for s in streams if s.items is not None))
            return page

    cats = [Counting("a", A), Counting("b", B)]
    streams = [Stream(c, ItemQuery(), StreamState()) for c in cats]  # type: ignore[arg-type]

    async def fetch(stream, n):
        return await stream.catalog.search(replace(stream.query, limit=n), stream.state.cursor)

    async def connected():
        return False

    merge = Merge(streams, Order(), fetch, lambda s, i: True, page_size=lambda _: 2)
    asyncio.run(merge.run(100, Budget(1000, 60), connected))
    assert max(seen) <= 2


def test_items_without_the_key_sort_last_and_mixed_types_do_not_raise():
    order = Order("eo:cloud_cover")
    assert order.first(order.key({"properties": {"eo:cloud_cover": 3}}), order.key({}))
    assert order.first((0, 1), (0, "x")) in (True, False)


def test_a_token_is_signed_bound_to_the_search_and_its_streams():
    signer = Signer(["k"])
    state = PageState(
        "fp", ["cmr", "m2m"], [StreamState({"sa": [1]}, 3, 40), StreamState(done=True)], 7
    )
    token = state.seal(signer)
    back = PageState.open(signer, token, "fp")
    assert back == state
    back.check(["cmr", "m2m"])
    with pytest.raises(BadRequest):
        back.check(["m2m", "cmr"])
    with pytest.raises(BadRequest):
        PageState.open(signer, token, "other search")
    with pytest.raises(BadRequest):
        PageState.open(signer, token[:-2] + "xx", "fp")
    forged = signer.sign("page", {"f": "fp", "p": ["cmr"], "s": [{"c": 1}, 0]})
    with pytest.raises(BadRequest):
        PageState.open(signer, forged, "fp")


def test_the_breaker_opens_on_failure_skips_then_half_opens():
    now = [100.0]
    breaker = Breaker(open_seconds=10, clock=lambda: now[0])
    fake = Fake("m2m", A)
    fake.down = True

    async def call() -> Any:
        return await guarded(breaker, "m2m", 5.0, fake.search(ItemQuery(), None))

    with pytest.raises(Unavailable, match="503"):
        asyncio.run(call())
    with pytest.raises(Unavailable) as skipped:
        asyncio.run(call())
    assert skipped.value.reason.startswith("circuit open")
    assert skipped.value.error.status_code == 503 and skipped.value.error.retry_after == 10
    assert fake.calls == 1  # the second call never reached the provider
    now[0] += 11
    fake.down = False
    assert asyncio.run(call()).items  # half-open: asked again, and it answered
    assert breaker.blocked("m2m") is None


def test_a_rejected_query_and_a_timeout_are_told_apart():
    breaker = Breaker(open_seconds=10)

    async def rejected() -> None:
        raise UpstreamRejected("cmr", "bad keyword")

    with pytest.raises(UpstreamRejected):
        asyncio.run(guarded(breaker, "cmr", 1.0, rejected()))
    assert breaker.blocked("cmr") is None  # the client's fault says nothing of CMR's health

    with pytest.raises(Unavailable, match="deadline") as late:
        asyncio.run(guarded(breaker, "cmr", 0.01, asyncio.sleep(1)))
    assert late.value.error.status_code == 504
    assert breaker.blocked("cmr") is not None
