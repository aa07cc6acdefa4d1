"""Inputs that used to answer 500: constant CQL2 filters and POST bodies that are not objects.

Every bad input gets a 4xx STAC-style error that says what is wrong; a filter that is constant
(`true`, `false`) is answered exactly: everything, or an empty last page counted as 0.
"""

from __future__ import annotations

import httpx
import pytest

HLS = "HLSL30.v2.0"
L2 = "landsat_ot_c2_l2"
CLOUD_LT_50 = {"op": "<", "args": [{"property": "eo:cloud_cover"}, 50]}


def search(gateway: str, how: str, collection: str, expr) -> httpx.Response:
    """One search with filter `expr`, sent as GET text, POST text or POST CQL2-JSON."""
    if how == "get":
        return httpx.get(
            f"{gateway}/search",
            timeout=60,
            params={"collections": collection, "filter": expr, "limit": 3},
        )
    body = {
        "collections": [collection],
        "filter": expr,
        "limit": 3,
        "filter-lang": "cql2-text" if how == "post-text" else "cql2-json",
    }
    return httpx.post(f"{gateway}/search", json=body, timeout=60)


HOWS = ["get", "post-text", "post-json"]
TRUE = {"get": "true", "post-text": "true", "post-json": True}
FALSE = {"get": "false", "post-text": "false", "post-json": False}
CLOUDY_AND_TRUE = {
    "get": "eo:cloud_cover < 50 AND true",
    "post-text": "eo:cloud_cover < 50 AND true",
    "post-json": {"op": "and", "args": [CLOUD_LT_50, True]},
}
FALSE_AND_CLOUDY = {
    "get": "false AND eo:cloud_cover < 50",
    "post-text": "false AND eo:cloud_cover < 50",
    "post-json": {"op": "and", "args": [False, CLOUD_LT_50]},
}


@pytest.mark.parametrize("collection", [HLS, L2])
@pytest.mark.parametrize("how", HOWS)
def test_filter_true_matches_everything(gateway, how, collection):
    response = search(gateway, how, collection, TRUE[how])
    assert response.status_code == 200, response.text
    unfiltered = search(gateway, how, collection, None).json()
    page = response.json()
    assert [f["id"] for f in page["features"]] == [f["id"] for f in unfiltered["features"]]
    assert len(page["features"]) == 3
    assert page.get("numberMatched") == unfiltered.get("numberMatched")


@pytest.mark.parametrize("collection", [HLS, L2])
@pytest.mark.parametrize("how", HOWS)
def test_a_filter_anded_with_true_is_that_filter(gateway, how, collection):
    response = search(gateway, how, collection, CLOUDY_AND_TRUE[how])
    assert response.status_code == 200, response.text
    features = response.json()["features"]
    assert features
    assert all(f["properties"]["eo:cloud_cover"] < 50 for f in features)


@pytest.mark.parametrize("collection", [HLS, L2])
@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("table", [FALSE, FALSE_AND_CLOUDY], ids=["false", "false-and"])
def test_filter_false_matches_nothing_on_one_last_page(gateway, how, collection, table):
    response = search(gateway, how, collection, table[how])
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["features"] == []
    assert page["numberReturned"] == 0
    assert page["numberMatched"] == 0
    assert not [link for link in page["links"] if link["rel"] == "next"]


def test_filter_false_on_items_too(gateway):
    response = httpx.get(
        f"{gateway}/collections/{HLS}/items", params={"filter": "false"}, timeout=60
    )
    assert response.status_code == 200, response.text
    assert response.json()["numberMatched"] == 0


# -- POST bodies ---------------------------------------------------------------------------------


def post_routes(gateway: str) -> list[str]:
    """Every POST route the OpenAPI document lists (a new one is covered without a change)."""
    paths = httpx.get(f"{gateway}/api", timeout=60).json()["paths"]
    routes = [path for path, ops in paths.items() if "post" in ops]
    assert "/search" in routes
    return routes


NOT_OBJECTS = ["[null]", "0", "false", "[]", '"x"', "null", "1e999", "[{}]"]


@pytest.mark.parametrize("raw", NOT_OBJECTS)
def test_a_json_body_that_is_not_an_object_is_a_400(gateway, raw):
    for route in post_routes(gateway):
        response = httpx.post(
            f"{gateway}{route}",
            content=raw,
            timeout=60,
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 400, (route, raw, response.text)
        body = response.json()
        assert body["code"] == "BadRequest"
        assert "must be a JSON object" in body["description"], body


@pytest.mark.parametrize(
    ("raw", "content_type", "said"),
    [
        ("a=b", "application/x-www-form-urlencoded", "not JSON"),
        ("a=b", "text/plain", "not JSON"),
        ('{"collections": ', "application/json", "not valid JSON"),
        ("{bad", "application/json", "not valid JSON"),
        ("", "application/json", "missing"),
    ],
)
def test_a_body_that_is_not_json_is_a_400_saying_so(gateway, raw, content_type, said):
    for route in post_routes(gateway):
        response = httpx.post(
            f"{gateway}{route}", content=raw, timeout=60, headers={"content-type": content_type}
        )
        assert response.status_code == 400, (route, raw, response.text)
        body = response.json()
        assert body["code"] == "BadRequest"
        assert said in body["description"], body


def test_an_object_body_still_searches(gateway):
    response = httpx.post(f"{gateway}/search", json={"collections": [HLS], "limit": 1}, timeout=60)
    assert response.status_code == 200, response.text
    assert len(response.json()["features"]) == 1
