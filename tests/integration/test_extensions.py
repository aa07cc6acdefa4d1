"""Filter (CQL2), sort, fields, queryables and intersects, over real HTTP."""

from __future__ import annotations

import httpx
import pytest
from shapely.geometry import shape

HLS = "HLSL30.v2.0"
WINDOW = "2016-01-01T00:00:00Z/2016-03-01T00:00:00Z"


@pytest.fixture(scope="module")
def http(gateway):
    with httpx.Client(base_url=gateway, timeout=60) as client:
        yield client


def cloud(feature: dict) -> float:
    return feature["properties"]["eo:cloud_cover"]


def test_cql2_text_filter_is_applied(http, sandbox):
    httpx.delete(f"{sandbox.cmr.url}/_sandbox/requests")
    response = http.get(
        "/search",
        params={
            "collections": HLS,
            "datetime": WINDOW,
            "limit": 50,
            "filter": "eo:cloud_cover < 20",
            "filter-lang": "cql2-text",
        },
    )
    assert response.status_code == 200, response.text
    features = response.json()["features"]
    assert len(features) == 50
    assert all(cloud(f) < 20 for f in features)
    sent = httpx.get(f"{sandbox.cmr.url}/_sandbox/requests").json()["requests"]
    assert any("cloud_cover=%2C20" in r["form"] or "cloud_cover=,20" in r["form"] for r in sent), (
        "the cloud-cover bound is pushed down to CMR"
    )


def test_cql2_json_filter_by_post_with_gateway_side_terms(http):
    body = {
        "collections": [HLS],
        "datetime": WINDOW,
        "limit": 20,
        "filter-lang": "cql2-json",
        "filter": {
            "op": "and",
            "args": [
                {"op": ">=", "args": [{"property": "eo:cloud_cover"}, 50]},
                {"op": "like", "args": [{"property": "grid:code"}, "MGRS-1%"]},
            ],
        },
    }
    response = http.post("/search", json=body)
    assert response.status_code == 200, response.text
    features = response.json()["features"]
    assert features
    assert all(
        cloud(f) >= 50 and f["properties"]["grid:code"].startswith("MGRS-1") for f in features
    )
    assert "numberMatched" not in response.json()  # the gateway filtered: no upstream count


def test_filter_paging_visits_each_match_once(http):
    params = {
        "collections": HLS,
        "datetime": WINDOW,
        "limit": 25,
        "filter": "eo:cloud_cover > 80 AND platform = 'landsat-8'",
    }
    page = http.get("/search", params=params).json()
    seen = []
    for _ in range(4):
        seen += [f["id"] for f in page["features"]]
        assert all(cloud(f) > 80 for f in page["features"])
        nxt = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
        if not nxt:
            break
        page = http.get(nxt).json()
    assert len(seen) == len(set(seen)) >= 75


def test_sortby_datetime_descending(http):
    response = http.get(
        "/search",
        params={"collections": HLS, "datetime": WINDOW, "sortby": "-datetime", "limit": 30},
    )
    times = [f["properties"]["datetime"] for f in response.json()["features"]]
    assert len(times) == 30
    assert times == sorted(times, reverse=True)
    post = http.post(
        "/search",
        json={
            "collections": [HLS],
            "datetime": WINDOW,
            "limit": 30,
            "sortby": [{"field": "properties.datetime", "direction": "desc"}],
        },
    )
    assert [f["properties"]["datetime"] for f in post.json()["features"]] == times


def test_fields_include_and_exclude(http):
    only = http.get(
        "/search", params={"collections": HLS, "limit": 3, "fields": "id,properties.eo:cloud_cover"}
    ).json()
    for feature in only["features"]:
        assert set(feature["properties"]) <= {"datetime", "eo:cloud_cover"}
        assert "eo:cloud_cover" in feature["properties"]
    without = http.post(
        "/search",
        json={
            "collections": [HLS],
            "limit": 3,
            "fields": {"exclude": ["assets", "properties.gsd"]},
        },
    )
    for feature in without.json()["features"]:
        assert "assets" not in feature
        assert "gsd" not in feature["properties"]
        assert "geometry" in feature


def test_intersects_results_really_intersect(http):
    geometry = {"type": "Polygon", "coordinates": [[[-100, 35], [-95, 35], [-97, 40], [-100, 35]]]}
    response = http.post(
        "/search", json={"collections": [HLS], "intersects": geometry, "limit": 100}
    )
    features = response.json()["features"]
    assert features
    query = shape(geometry)
    assert all(shape(f["geometry"]).intersects(query) for f in features)


def test_ids_and_bbox_both_apply(http):
    first = http.get("/search", params={"collections": HLS, "limit": 1}).json()["features"][0]
    far_away = "20,20,21,21"
    response = http.get(
        "/search", params={"ids": first["id"], "bbox": far_away, "collections": HLS}
    )
    assert response.json()["features"] == []
    response = http.get("/search", params={"ids": first["id"], "collections": HLS})
    assert [f["id"] for f in response.json()["features"]] == [first["id"]]


def test_queryables_are_json_schema_with_their_own_id(http, gateway):
    for path in ("/queryables", f"/collections/{HLS}/queryables"):
        response = http.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/schema+json")
        schema = response.json()
        assert schema["$id"] == f"{gateway}{path}"
        assert schema["$schema"] in (
            "http://json-schema.org/draft-07/schema#",
            "https://json-schema.org/draft/2019-09/schema",
        )
        assert "eo:cloud_cover" in schema["properties"]
    assert http.get("/collections/NOPE.v1/queryables").status_code == 404


def test_a_filter_matching_nothing_never_scans_the_whole_collection(http, sandbox):
    # an empty page with a next link reads as the end to pystac-client: after a bounded scan
    # the gateway refuses instead, naming the term it could not push down
    httpx.delete(f"{sandbox.cmr.url}/_sandbox/requests")
    response = http.get(
        "/search", params={"collections": HLS, "limit": 10, "filter": "platform = 'nope'"}
    )
    assert response.status_code == 400
    assert "platform = 'nope'" in response.json()["description"]
    sent = httpx.get(f"{sandbox.cmr.url}/_sandbox/requests").json()["requests"]
    # at most the default search_max_upstream_items (16,000), the pages doubling to 500 items
    assert len([r for r in sent if r["path"].endswith("granules.umm_json")]) <= 36


def test_counts_are_only_given_when_every_provider_was_counted(http):
    both = http.get("/search", params={"collections": f"{HLS},landsat_ot_c2_l2", "limit": 2})
    assert both.status_code == 200
    assert "numberMatched" not in both.json()
    one = http.get("/search", params={"collections": HLS, "limit": 2})
    assert one.json()["numberMatched"] >= 1_000_000


def test_a_token_is_bound_to_the_collection_order(http):
    first = http.get(
        "/search", params={"collections": f"{HLS},landsat_ot_c2_l2", "limit": 2}
    ).json()
    token = httpx.URL(
        next(link["href"] for link in first["links"] if link["rel"] == "next")
    ).params["token"]
    swapped = http.get(
        "/search", params={"collections": f"landsat_ot_c2_l2,{HLS}", "limit": 2, "token": token}
    )
    assert swapped.status_code == 400


def test_sorting_across_providers_is_refused_not_faked(http):
    # every provider sorts by datetime (merged in order: test_federated_search.py); M2M
    # cannot sort by end_datetime, so a sort by it across both is refused, naming M2M
    response = http.get(
        "/search", params={"collections": f"{HLS},landsat_ot_c2_l2", "sortby": "-end_datetime"}
    )
    assert response.status_code == 400
    assert "m2m does not support it" in response.json()["description"]
    two_keys = http.get("/search", params={"collections": HLS, "sortby": "-datetime,+end_datetime"})
    assert two_keys.status_code == 400


def test_limit_is_capped(http):
    response = http.get(
        "/search", params={"collections": HLS, "limit": 5000, "fields": "id,-assets"}
    )
    assert response.status_code == 200
    assert response.json()["numberReturned"] == 2000


def test_links_follow_forwarded_headers(http):
    response = http.get(
        "/search",
        params={"collections": HLS, "limit": 1},
        headers={"Forwarded": "proto=https;host=stac.example.org"},
    )
    hrefs = [link["href"] for link in response.json()["links"]]
    assert all(h.startswith("https://stac.example.org/") for h in hrefs), hrefs
    item = response.json()["features"][0]
    assert item["assets"]["B04"]["href"].startswith("https://stac.example.org/assets/")
