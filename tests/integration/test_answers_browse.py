"""Sorting that is a sort, fields as the extension says, queryables and a walk of the catalog."""

from __future__ import annotations

import httpx
import pystac
import pytest
from pystac_client import Client

HLS = "HLSL30.v2.0"
L2 = "landsat_ot_c2_l2"
OGC_QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"


@pytest.fixture(scope="module")
def client(gateway):
    return Client.open(gateway)


@pytest.fixture
def http(gateway):
    with httpx.Client(base_url=gateway, timeout=120) as c:
        yield c


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_m2m_sort_by_datetime_is_exact_across_pages(client, method, direction):
    """M2M orders by acquisition day only; the gateway orders each whole day itself."""
    search = client.search(
        collections=[L2],
        sortby=[{"field": "properties.datetime", "direction": direction}],
        limit=70,
        max_items=300,
        method=method,
    )
    times = [i["properties"]["datetime"] for i in search.items_as_dicts()]
    assert len(times) == 300
    assert times == sorted(times, reverse=direction == "desc")
    ids = [i["id"] for i in search.items_as_dicts()]
    assert len(set(ids)) == 300


def test_m2m_sorted_walk_holds_the_same_items_as_the_unsorted_one(client):
    window = "2020-03-01T00:00:00Z/2020-03-04T00:00:00Z"
    plain = {i["id"] for i in client.search(collections=[L2], datetime=window).items_as_dicts()}
    ordered = client.search(collections=[L2], datetime=window, sortby="-properties.datetime")
    assert {i["id"] for i in ordered.items_as_dicts()} == plain


def test_fields_with_pystac_client_and_null_fields(client, http):
    search = client.search(
        collections=[HLS], max_items=3, fields=["-properties", "+properties.eo:cloud_cover"]
    )
    for item in search.items_as_dicts():
        assert set(item["properties"]) == {"eo:cloud_cover"}
        assert "geometry" not in item
    assert http.post("/search", json={"fields": None}).status_code == 400
    default = http.get("/search", params={"collections": HLS, "limit": 1, "fields": ""}).json()
    (item,) = default["features"]
    assert set(item["properties"]) <= {"datetime", "start_datetime", "end_datetime"}
    assert item["geometry"] and item["assets"]


def test_queryables_links_and_shared_fields(http):
    landing = http.get("/").json()
    rels = {link["rel"]: link["href"] for link in landing["links"]}
    assert rels[OGC_QUERYABLES] == rels["queryables"]
    collection = http.get(f"/collections/{L2}").json()
    assert any(link["rel"] == OGC_QUERYABLES for link in collection["links"])
    everything = http.get("/queryables").json()["properties"]
    for name in ("id", "datetime", "eo:cloud_cover"):
        assert name in everything
    assert "Landsat" not in everything["id"].get("title", "")
    cmr = http.get(f"/collections/{HLS}/queryables").json()["properties"]
    m2m = http.get(f"/collections/{L2}/queryables").json()["properties"]
    for name in ("datetime", "eo:cloud_cover"):
        assert cmr[name] == m2m[name] == everything[name]


def test_pystac_client_meets_each_collection_once(client, http):
    listed = [
        c["id"] for c in http.get("/collections", params={"limit": 1000}).json()["collections"]
    ]
    walked = [c.id for c in client.get_all_collections()]
    assert sorted(walked) == sorted(listed)
    assert len(walked) == len(set(walked))


def test_each_provider_catalog_is_browsable_alone(gateway):
    root = pystac.Catalog.from_file(gateway)
    related = [link for link in root.links if link.rel == "related"]
    assert [link.href.rsplit("/", 1)[-1] for link in related] == ["cmr", "m2m"]
    cmr = pystac.Catalog.from_file(related[0].href)
    ids = [c.id for c in cmr.get_collections()]
    assert HLS in ids and L2 not in ids and len(ids) == len(set(ids))


def test_items_have_titles(http):
    for cid in (HLS, L2):
        (item,) = http.get(f"/collections/{cid}/items", params={"limit": 1}).json()["features"]
        assert item["properties"]["title"]
