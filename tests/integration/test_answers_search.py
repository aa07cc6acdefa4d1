"""No silent wrong answers from search: push-down, scan bounds, query, POST paging, counts.

Each test runs the client users run (pystac-client) where one exists.
"""

from __future__ import annotations

import json
import warnings

import httpx
import pytest
from pystac_client import Client

from stacbridge.app import create_app
from stacbridge.sandbox.server import ServerThread

HLS = "HLSL30.v2.0"
L2 = "landsat_ot_c2_l2"
KANSAS = "POLYGON((-97 39.5, -96 39.5, -96 40.5, -97 40.5, -97 39.5))"
KANSAS_JSON = {
    "type": "Polygon",
    "coordinates": [[[-97.0, 39.5], [-96.0, 39.5], [-96.0, 40.5], [-97.0, 40.5], [-97.0, 39.5]]],
}


@pytest.fixture(scope="module")
def client(gateway):
    return Client.open(gateway)


@pytest.fixture
def http(gateway):
    with httpx.Client(base_url=gateway, timeout=120) as c:
        yield c


def test_filter_on_ids_is_pushed_down_and_pystac_client_gets_them(client, http):
    wanted = [
        f["id"]
        for f in http.get(
            f"/collections/{HLS}/items",
            params={"datetime": "2024-01-01T00:00:00Z/2024-01-02T00:00:00Z", "limit": 2},
        ).json()["features"]
    ]
    text = "id IN (" + ", ".join(f"'{i}'" for i in wanted) + ")"
    for method in ("GET", "POST"):
        found = client.search(
            collections=[HLS], filter=text, filter_lang="cql2-text", method=method
        )
        assert sorted(i["id"] for i in found.items_as_dicts()) == sorted(wanted)


def test_spatial_and_temporal_filter_finds_what_the_parameters_find(client):
    by_parameters = client.search(
        collections=[L2], intersects=KANSAS_JSON, datetime="2024-01-01T00:00:00Z/.."
    )
    expected = sorted(i["id"] for i in by_parameters.items_as_dicts())
    assert len(expected) > 100
    by_filter = client.search(
        collections=[L2],
        filter=f"S_INTERSECTS(geometry, {KANSAS})"
        " AND datetime >= TIMESTAMP('2024-01-01T00:00:00Z')",
        filter_lang="cql2-text",
    )
    assert sorted(i["id"] for i in by_filter.items_as_dicts()) == expected


@pytest.mark.parametrize("budget", [4, 100])
def test_a_page_with_a_next_link_is_never_empty(http, sandbox, budget):
    """The upstream budget stops a filtered scan: with a match found it answers it and a next
    link; with none found it refuses (pystac-client stops at an empty page, so an empty page
    with `next` would silently end the user's results)."""
    first = [
        f["id"]
        for f in http.get(f"/collections/{HLS}/items", params={"limit": 12}).json()["features"]
    ]
    skip = "NOT (id IN (" + ", ".join(f"'{i}'" for i in first[:10]) + "))"
    settings = sandbox.settings(secret_keys=["k"], search_max_upstream_items=budget)
    with ServerThread(create_app(settings)) as server:
        response = httpx.get(
            f"{server.url}/search",
            params={"collections": HLS, "filter": skip, "limit": 1},
            timeout=60,
        )  # a 4-item upstream page holds no match; the next (8 items) holds first[10]
    if budget == 4:
        assert response.status_code == 400
        assert "too selective" in response.json()["description"]
        return
    page = response.json()
    assert [f["id"] for f in page["features"]] == [first[10]]
    assert any(link["rel"] == "next" for link in page["links"])


def test_a_filter_nobody_can_narrow_is_refused_naming_the_term(http):
    response = http.get(
        "/search",
        params={
            "collections": HLS,
            "filter": "platform = 'no-such-platform' AND eo:cloud_cover < 50",
        },
    )
    assert response.status_code == 400, response.text
    description = response.json()["description"]
    assert "too selective" in description
    assert "platform = 'no-such-platform'" in description
    assert "cloud_cover" not in description  # CMR narrows that one itself


def test_query_extension_with_pystac_client(client):
    assert client.conforms_to("QUERY")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DoesNotConformTo
        for method in ("GET", "POST"):
            search = client.search(
                collections=[L2],
                intersects=KANSAS_JSON,
                datetime="2023-01-01T00:00:00Z/..",
                query={"eo:cloud_cover": {"lt": 20}},
                method=method,
            )
            clouds = [i["properties"]["eo:cloud_cover"] for i in search.items_as_dicts()]
            assert clouds and max(clouds) < 20
    as_filter = client.search(
        collections=[L2],
        intersects=KANSAS_JSON,
        datetime="2023-01-01T00:00:00Z/..",
        filter="eo:cloud_cover < 20",
        filter_lang="cql2-text",
    )
    assert len(list(as_filter.items_as_dicts())) == len(clouds)


def test_query_is_anded_with_filter_and_refuses_what_it_cannot_do(http):
    page = http.post(
        "/search",
        json={
            "collections": [HLS],
            "limit": 20,
            "query": {"platform": {"eq": "landsat-8"}},
            "filter": "eo:cloud_cover <= 10",
        },
    ).json()
    assert page["features"]
    for f in page["features"]:
        assert f["properties"]["platform"] == "landsat-8"
        assert f["properties"]["eo:cloud_cover"] <= 10
    bad = http.get(
        "/search", params={"collections": HLS, "query": json.dumps({"eo:cloud_cover": {"xx": 1}})}
    )
    assert bad.status_code == 400 and "xx" in bad.json()["description"]


def test_post_next_body_is_the_whole_search(http):
    body = {"collections": [HLS], "datetime": "2024-01-01T00:00:00Z/2024-01-05T00:00:00Z"}
    first = http.post("/search", json={**body, "limit": 5}).json()
    (link,) = [x for x in first["links"] if x["rel"] == "next"]
    assert link["merge"] is True and link["body"]["collections"] == [HLS]
    second = http.post(link["href"], json=link["body"])  # sent as given, not merged
    assert second.status_code == 200, second.text
    ids = {f["id"] for f in first["features"]}
    assert ids and not ids & {f["id"] for f in second.json()["features"]}


@pytest.mark.parametrize(
    "params",
    [
        {"collections": HLS, "datetime": "2024-01-01T00:00:00Z/2024-01-02T00:00:00Z"},
        {"collections": L2, "datetime": "2024-01-01T00:00:00Z/.."},  # M2M: totalHits exact
    ],
)
def test_number_matched_on_every_page(http, params):
    page = http.get("/search", params={**params, "limit": 3}).json()
    total = page["numberMatched"]
    assert total > 6
    for _ in range(2):
        (link,) = [x for x in page["links"] if x["rel"] == "next"]
        page = http.get(link["href"]).json()
        assert page["numberMatched"] == total


def test_pystac_client_matched_and_walk_agree(client):
    search = client.search(
        collections=[HLS], datetime="2024-01-01T00:00:00Z/2024-01-02T00:00:00Z", limit=100
    )
    assert search.matched() == len(list(search.items_as_dicts()))
