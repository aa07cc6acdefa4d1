"""A collection listing follows CMR's cursor only when it is the documented JSON array."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from stacbridge.protocols import ProviderError
from stacbridge.providers.cmr.client import CMRClient
from stacbridge.providers.cmr.config import CMRSettings


def listing(cursors: list[str]) -> CMRClient:
    """A CMR answering full one-item pages, each with the next of `cursors` as its cursor."""
    sent: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("cmr-search-after"))
        n = len(sent)
        headers = {"CMR-Hits": "10"}
        if n <= len(cursors):
            headers["CMR-Search-After"] = cursors[n - 1]
        body = {"items": [{"meta": {"concept-id": f"C{n}-P"}, "umm": {}}]}
        return httpx.Response(200, content=orjson.dumps(body), headers=headers)

    settings = CMRSettings(url="http://cmr.test/search", http={"retries": 0}, max_page_size=1)
    return CMRClient(settings, httpx.AsyncClient(transport=httpx.MockTransport(answer)))


def test_a_listing_follows_cmrs_cursor_to_the_end():
    records = asyncio.run(listing(['["a",1]', '["b",2]']).search_all("collections", []))
    assert [r["meta"]["concept-id"] for r in records] == ["C1-P", "C2-P", "C3-P"]


@pytest.mark.parametrize("garbage", ["garbage", "{}", "[]"])
def test_a_cursor_that_is_not_a_json_array_is_cmrs_fault(garbage):
    with pytest.raises(ProviderError, match="CMR-Search-After"):
        asyncio.run(listing(['["a",1]', garbage]).search_all("collections", []))
