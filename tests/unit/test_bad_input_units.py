"""Unit checks for inputs that used to escape as 500s: constant CQL2 filters, odd redirects."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from stacbridge.api.request import parse_filter
from stacbridge.assets.fetch import AllowListedFetcher
from stacbridge.config import HttpSettings
from stacbridge.protocols import ItemQuery, ProviderError
from stacbridge.providers.cmr.provider import filter_params
from stacbridge.providers.m2m.provider import _split_filter, scene_filter

CLOUD_LT_50 = {"op": "<", "args": [{"property": "eo:cloud_cover"}, 50]}


# -- constant filters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "lang"),
    [
        ("true", None),
        (True, "cql2-json"),
        ("true OR eo:cloud_cover < 5", None),
        ("NOT false", None),
        ("1 = 1", None),
    ],
)
def test_a_filter_that_matches_everything_is_no_filter(expr, lang):
    assert parse_filter(expr, lang) is None


@pytest.mark.parametrize(
    ("expr", "lang"),
    [
        ("false", None),
        (False, "cql2-json"),
        ("false AND eo:cloud_cover < 5", None),
        ("NOT true", None),
        ({"op": "and", "args": [False, CLOUD_LT_50]}, "cql2-json"),
    ],
)
def test_a_filter_that_matches_nothing_is_false(expr, lang):
    assert parse_filter(expr, lang) is False


def test_a_filter_that_depends_on_the_item_is_kept_as_sent():
    expr = {"op": "and", "args": [True, CLOUD_LT_50]}
    assert parse_filter(expr, "cql2-json") == expr


@pytest.mark.parametrize(
    "expr",
    [
        True,
        False,
        None,
        {"op": "and", "args": [True, CLOUD_LT_50]},
        {"op": "and", "args": [False, None, 3, "x", CLOUD_LT_50]},
        {"op": "and"},
        {"op": "and", "args": None},
    ],
)
def test_filter_pushdown_never_crashes_on_literal_terms(expr):
    """Literals (top level or among the conjuncts) narrow nothing; the comparison still does."""
    params = filter_params(expr)
    low, high, metadata = _split_filter(expr, [])
    if isinstance(expr, dict) and CLOUD_LT_50 in (expr.get("args") or []):
        assert params == [("cloud_cover", ",50")]
        assert (low, high, metadata) == (None, 50, [])
    else:
        assert params == []
        assert (low, high, metadata) == (None, None, [])


def test_m2m_scene_filter_with_a_literal_filter_is_the_unfiltered_one():
    assert scene_filter(ItemQuery(filter=True), []) == {}
    assert scene_filter(ItemQuery(filter=False), []) == {}


# -- redirects httpx cannot follow ---------------------------------------------------------------


def _follow(location: str) -> object:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/file":
            return httpx.Response(302, headers={"location": location})
        return httpx.Response(200, content=b"bytes")

    async def run() -> object:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            fetcher = AllowListedFetcher(client, "cmr", HttpSettings(retries=0), [".example.com"])
            return await fetcher.follow(
                "https://data.example.com/file", "GET", {}, {"authorization": "Bearer secret"}
            )

    return asyncio.run(run())


@pytest.mark.parametrize(
    "location",
    [
        "javascript:alert(1)",
        "javascript://x/%0Aalert(1)",
        "http://[invalid",
        "http://[invalid/x",
        "data:text/html,hello",
        "file:///etc/passwd",
        "mailto:a@b.c",
    ],
)
def test_a_redirect_to_an_unusable_location_is_a_502_naming_the_provider(location):
    with pytest.raises(ProviderError) as caught:
        _follow(location)
    assert caught.value.provider == "cmr"
    assert caught.value.status_code == 502


def test_a_redirect_to_a_presigned_url_still_reaches_the_client():
    outcome = _follow("https://bucket.s3.example.org/key?X-Amz-Signature=abc")
    assert getattr(outcome, "url", "").startswith("https://bucket.s3.example.org/")
