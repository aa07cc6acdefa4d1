"""Hostile requests against the running gateway: refused with a 4xx, and the process lives on.

Each of these killed or starved the worker before (issue 10): deep CQL2 crashed the cql2
extension (segfault, allocation abort), and request bodies had no size limit.
"""

from __future__ import annotations

import httpx
import pytest

HLS = "HLSL30.v2.0"

HOSTILE_FILTERS = [
    ("text", "(" * 2000 + "a = 1" + ")" * 2000),
    ("text", "NOT " * 300 + "a = 1"),
    ("text", "a = 1 AND (" * 1000 + "a = 1" + ")" * 1000),
]


@pytest.fixture(scope="module")
def http(gateway):
    with httpx.Client(base_url=gateway, timeout=60) as client:
        yield client


def _alive(http: httpx.Client) -> None:
    assert http.get("/healthz").status_code == 200


@pytest.mark.parametrize(("lang", "expr"), HOSTILE_FILTERS, ids=["parens", "not", "and"])
def test_deep_cql2_text_is_a_400_that_names_the_limit(http, lang, expr):
    response = http.get(
        "/search", params={"collections": HLS, "filter": expr, "filter-lang": "cql2-text"}
    )
    assert response.status_code == 400, response.text
    assert "filter too complex" in response.json()["description"]
    _alive(http)


def test_deep_cql2_json_in_a_post_body_is_a_400(http):
    expr: dict = {"op": "=", "args": [{"property": "a"}, 1]}
    for _ in range(400):
        expr = {"op": "not", "args": [expr]}
    response = http.post(
        "/search", json={"collections": [HLS], "filter": expr, "filter-lang": "cql2-json"}
    )
    assert response.status_code == 400, response.text
    assert "filter too complex" in response.json()["description"]
    _alive(http)


def test_a_realistic_filter_still_works(http):
    response = http.get(
        "/search",
        params={
            "collections": HLS,
            "limit": 3,
            "filter-lang": "cql2-text",
            "filter": "eo:cloud_cover < 30 AND datetime >= TIMESTAMP('2024-01-01T00:00:00Z')",
        },
    )
    assert response.status_code == 200, response.text


def test_an_oversized_body_is_a_413_without_reading_it(http):
    response = http.post(
        "/search",
        content=b"{" + b" " * (50 << 20) + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "PayloadTooLarge"
    _alive(http)
