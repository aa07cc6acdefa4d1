"""The STAC API surface over real HTTP: landing page, conformance, collections, errors."""

from __future__ import annotations

import httpx
import pytest

HLS = "HLSL30.v2.0"


@pytest.fixture(scope="module")
def http(gateway):
    with httpx.Client(base_url=gateway, timeout=60) as client:
        yield client


def test_landing_page_has_what_clients_look_for(http):
    page = http.get("/").json()
    conforms = page["conformsTo"]
    for uri in (
        "https://api.stacspec.org/v1.0.0/core",
        "https://api.stacspec.org/v1.0.0/item-search",
        "https://api.stacspec.org/v1.0.0/collections",
        "https://api.stacspec.org/v1.0.0/ogcapi-features",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    ):
        assert uri in conforms
    rels = {}
    for link in page["links"]:
        rels.setdefault(link["rel"], []).append(link)
        assert link.get("title"), link
    assert rels["data"][0]["href"].endswith("/collections")
    # provider catalogs are `related`: as `child` they made pystac-client meet each collection
    # twice (tests/integration/test_answers_browse.py)
    assert [c["href"].rsplit("/", 1)[-1] for c in rels["related"]] == ["cmr", "m2m"]
    assert {link.get("method", "GET") for link in rels["search"]} == {"GET", "POST"}
    assert http.get("/conformance").json()["conformsTo"] == conforms


def test_openapi_and_docs(http):
    spec = http.get("/api")
    assert spec.status_code == 200
    assert spec.json()["openapi"].startswith("3.")
    assert "/search" in spec.json()["paths"]
    assert http.get("/api.html").status_code == 200


def test_doubled_slash_is_tolerated(gateway):
    response = httpx.get(gateway + "//collections", timeout=60)
    assert response.status_code == 200
    assert response.json()["collections"]


def test_collections_have_items_links_and_page(http):
    first = http.get("/collections", params={"limit": 5}).json()
    assert first["numberReturned"] == 5
    assert first["numberMatched"] > 5
    for collection in first["collections"]:
        rels = {link["rel"]: link["href"] for link in collection["links"]}
        assert rels["items"].endswith(f"/collections/{collection['id']}/items")
        assert rels["self"].endswith(f"/collections/{collection['id']}")
    seen = [c["id"] for c in first["collections"]]
    page = first
    while nxt := next((link for link in page["links"] if link["rel"] == "next"), None):
        page = http.get(nxt["href"]).json()
        seen += [c["id"] for c in page["collections"]]
    assert len(seen) == len(set(seen)) == first["numberMatched"]
    assert HLS in seen


def test_collection_free_text_search(http):
    found = http.get("/collections", params={"q": "HLS"}).json()["collections"]
    assert HLS in [c["id"] for c in found]
    assert all(
        "HLS" in (c["id"] + c.get("title", "") + c.get("description", "")).upper()
        or any("HLS" in k.upper() for k in c.get("keywords", []))
        for c in found
    )


def test_provider_child_catalog(http):
    catalog = http.get("/catalogs/cmr").json()
    assert catalog["type"] == "Catalog"
    assert any(link["href"].endswith(f"/collections/{HLS}") for link in catalog["links"])
    assert http.get("/catalogs/nope").status_code == 404


def test_get_collection_and_item(http):
    collection = http.get(f"/collections/{HLS}").json()
    assert collection["id"] == HLS
    items = http.get(f"/collections/{HLS}/items", params={"limit": 3})
    assert items.headers["content-type"].startswith("application/geo+json")
    features = items.json()["features"]
    assert len(features) == 3
    one = http.get(f"/collections/{HLS}/items/{features[0]['id']}")
    assert one.status_code == 200
    assert one.headers["content-type"].startswith("application/geo+json")
    assert one.json()["id"] == features[0]["id"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"bbox": "1,2,3"}, "4 or 6"),
        ({"bbox": "0,91,1,92"}, "latitude"),
        ({"bbox": "0,10,1,5"}, "south"),
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"datetime": "not-a-date"}, ""),
        ({"datetime": "2024-02-01T00:00:00Z/2024-01-01T00:00:00Z"}, "datetime"),
        (
            {"bbox": "0,0,1,1", "intersects": '{"type":"Point","coordinates":[0,0]}'},
            "mutually exclusive",
        ),
        ({"limit": "0"}, "limit"),
        ({"limit": "-3"}, "limit"),
        ({"token": "garbage"}, "token"),
        ({"filter": "eo:cloud_cover <<< 3"}, "CQL2"),
        ({"sortby": "+grid:code", "collections": HLS}, "sort"),
    ],
)
def test_bad_search_input_is_a_400_that_says_why(http, params, fragment):
    params = {"collections": HLS, **params}
    response = http.get("/search", params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] and body["description"]
    assert fragment.lower() in body["description"].lower()


def test_post_search_bad_input(http):
    response = http.post("/search", json={"collections": [HLS], "bbox": [0, 0, 1], "limit": 1})
    assert response.status_code == 400
    response = http.post("/search", json={"collections": [HLS], "limit": 0})
    assert response.status_code == 400


def test_tampered_and_foreign_tokens(http):
    first = http.get("/search", params={"collections": HLS, "limit": 2}).json()
    next_href = next(link["href"] for link in first["links"] if link["rel"] == "next")
    token = httpx.URL(next_href).params["token"]
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    response = http.get("/search", params={"collections": HLS, "limit": 2, "token": tampered})
    assert response.status_code == 400
    foreign = http.get(
        "/search",
        params={
            "collections": HLS,
            "limit": 2,
            "token": token,
            "datetime": "2020-01-01T00:00:00Z/..",
        },
    )
    assert foreign.status_code == 400
    assert "different search" in foreign.json()["description"]


def test_unknown_collection_and_item_are_404(http):
    assert http.get("/collections/NOPE.v9").status_code == 404
    assert http.get("/collections/no_such_thing").status_code == 404
    assert http.get("/collections/NOPE.v9/items").status_code == 404
    assert http.get(f"/collections/{HLS}/items/NOT-A-GRANULE").status_code == 404
    response = http.get("/search", params={"collections": "NOPE.v9"})
    assert response.status_code == 404
    assert "NOPE.v9" in response.json()["description"]


def test_search_without_collections_uses_the_configured_scope(http):
    response = http.get("/search", params={"limit": 5})
    assert response.status_code == 200
    assert len(response.json()["features"]) == 5


def test_cors_allows_range_and_authorization(http):
    response = http.options(
        "/search",
        headers={
            "Origin": "https://radiantearth.github.io",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization,range",
        },
    )
    assert response.status_code == 200
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "range" in allowed
    simple = http.get("/collections", headers={"Origin": "https://example.org"})
    exposed = simple.headers["access-control-expose-headers"].lower()
    for header in ("content-range", "accept-ranges", "content-length", "etag"):
        assert header in exposed
