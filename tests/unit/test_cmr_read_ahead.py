"""The CMR client reads the next granule page ahead while a paging client works on this one.

Against an `httpx.MockTransport` CMR that answers deterministic pages and records each request:
no timing, only which requests reach CMR and what each caller gets back.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

import httpx
import orjson
import pytest

from stacbridge.protocols import ProviderError
from stacbridge.providers.cmr import client as cmr_client
from stacbridge.providers.cmr.client import CMRClient
from stacbridge.providers.cmr.config import CMRSettings

PAGE = 3
PARAMS = [("collection_concept_id", "C1-LP")]


class FakeCMR:
    """Pages of `PAGE` granules; the search-after value is the next offset, per query."""

    def __init__(self, total: int = 4 * PAGE) -> None:
        self.total = total
        self.requests: list[tuple[str, str | None]] = []
        self.fail_after: set[str] = set()
        self.gate = asyncio.Event()
        self.held: set[str] = set()  # search-after values whose answers wait for `gate`

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        after = request.headers.get("cmr-search-after")
        query = form["collection_concept_id"][0]
        self.requests.append((query, after))
        if after in self.held:
            await self.gate.wait()
        if after in self.fail_after:
            return httpx.Response(500, json={"errors": ["boom"]})
        start = int(after or 0)
        size = int(form["page_size"][0])
        items = [
            {"meta": {"concept-id": f"G{i}-{query}"}, "umm": {}}
            for i in range(start, min(start + size, self.total))
        ]
        headers = {"CMR-Hits": str(self.total)}
        if items:
            headers["CMR-Search-After"] = str(start + len(items))
        return httpx.Response(200, content=orjson.dumps({"items": items}), headers=headers)


def make(fake: FakeCMR, **kwargs) -> CMRClient:
    settings = CMRSettings(url="http://cmr.test/search", http={"retries": 0})
    transport = httpx.MockTransport(fake)
    return CMRClient(settings, httpx.AsyncClient(transport=transport), **kwargs)


def ids(page) -> list[str]:
    return [g["meta"]["concept-id"] for g in page.items]


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_a_continued_search_reads_the_next_page_ahead_and_hands_it_over():
    async def go():
        fake = FakeCMR()
        cmr = make(fake)
        first = await cmr.search("granules", PARAMS, page_size=PAGE)
        await settle()
        assert fake.requests == [("C1-LP", None)]  # a first page never reads ahead
        second = await cmr.search(
            "granules", PARAMS, page_size=PAGE, search_after=first.search_after
        )
        await settle()
        assert fake.requests[-1] == ("C1-LP", "6")  # page 3, read ahead
        third = await cmr.search(
            "granules", PARAMS, page_size=PAGE, search_after=second.search_after
        )
        await settle()
        # page 3 came from the read-ahead (no second request for it); page 4 is read ahead
        assert fake.requests == [("C1-LP", None), ("C1-LP", "3"), ("C1-LP", "6"), ("C1-LP", "9")]
        assert ids(third) == ["G6-C1-LP", "G7-C1-LP", "G8-C1-LP"]
        assert third.hits == 4 * PAGE and third.search_after == "9"
        await cmr.aclose()

    asyncio.run(go())


def test_a_read_ahead_is_never_handed_to_another_query_or_page_size():
    async def go():
        fake = FakeCMR()
        cmr = make(fake)
        await cmr.search("granules", PARAMS, page_size=PAGE, search_after="3")
        await settle()
        assert ("C1-LP", "6") in fake.requests
        other = await cmr.search(
            "granules", [("collection_concept_id", "C2-LP")], page_size=PAGE, search_after="6"
        )
        assert ids(other)[0] == "G6-C2-LP"
        bigger = await cmr.search("granules", PARAMS, page_size=PAGE + 1, search_after="6")
        assert len(bigger.items) == PAGE + 1
        assert fake.requests.count(("C1-LP", "6")) == 2  # asked for itself, not handed over
        await cmr.aclose()

    asyncio.run(go())


def test_two_callers_of_the_same_page_get_the_same_answer_and_one_takes_the_read_ahead():
    async def go():
        fake = FakeCMR()
        cmr = make(fake)
        await cmr.search("granules", PARAMS, page_size=PAGE, search_after="3")
        a, b = await asyncio.gather(
            *(cmr.search("granules", PARAMS, page_size=PAGE, search_after="6") for _ in range(2))
        )
        assert ids(a) == ids(b) == ["G6-C1-LP", "G7-C1-LP", "G8-C1-LP"]
        await cmr.aclose()

    asyncio.run(go())


def test_a_failed_read_ahead_is_forgotten_and_the_page_asked_for_again():
    async def go():
        fake = FakeCMR()
        fake.fail_after.add("6")
        cmr = make(fake)
        await cmr.search("granules", PARAMS, page_size=PAGE, search_after="3")
        await settle()
        fake.fail_after.clear()
        page = await cmr.search("granules", PARAMS, page_size=PAGE, search_after="6")
        assert ids(page)[0] == "G6-C1-LP"
        assert fake.requests.count(("C1-LP", "6")) == 2
        # and a real failure of the asked-for page is still the caller's error
        fake.fail_after.add("9")
        cmr._ahead.clear()
        with pytest.raises(ProviderError):
            await cmr.search("granules", PARAMS, page_size=PAGE, search_after="9")
        await cmr.aclose()

    asyncio.run(go())


def test_read_aheads_are_bounded_expire_and_are_cancelled_on_close():
    async def go():
        fake = FakeCMR(total=100)
        fake.held.add("6")  # CMR holds the answers to page 3: the read-aheads stay in flight
        cmr = make(fake)
        for n in range(5):
            query = [("collection_concept_id", f"C{n}")]
            await cmr.search("granules", query, page_size=PAGE, search_after="3")
        await settle()
        assert len(cmr._ahead) == cmr_client.PREFETCH_SLOTS  # not one per search
        assert len(fake.requests) == 5 + cmr_client.PREFETCH_SLOTS
        key, (task, _timer) = next(iter(cmr._ahead.items()))
        cmr._expire(key, task)  # what the TTL timer does
        await settle()
        assert key not in cmr._ahead and task.cancelled()
        held = [t for t, _ in cmr._ahead.values()]
        assert held and not any(t.done() for t in held)
        await cmr.aclose()
        await settle()
        assert cmr._ahead == {} and all(t.cancelled() for t in held)

    asyncio.run(go())


def test_read_ahead_can_be_switched_off():
    async def go():
        fake = FakeCMR()
        cmr = make(fake, prefetch=False)
        await cmr.search("granules", PARAMS, page_size=PAGE, search_after="3")
        await settle()
        assert fake.requests == [("C1-LP", "3")]
        await cmr.aclose()

    asyncio.run(go())
