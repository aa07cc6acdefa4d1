"""One search across CMR and M2M: asked at once, merged in one order, paged once, honest.

The query is the issue's (HLS and Landsat over the Great Plains) on a narrow window, so every
test pages a whole search to its end in a few upstream requests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import httpx
import pytest
from pystac_client import Client

from stacbridge.app import create_app
from stacbridge.sandbox.server import ServerThread

HLS = "HLSL30.v2.0"
L2 = "landsat_ot_c2_l2"
AREA = "-104,34,-96,42"
WINDOW = "2023-01-01T00:00:00Z/2023-01-03T23:59:59Z"
BOTH = {"collections": f"{HLS},{L2}", "bbox": AREA, "datetime": WINDOW}


def instant(item: dict) -> float:
    text = item["properties"]["datetime"]
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def pages(http: httpx.Client, params: dict) -> Iterator[httpx.Response]:
    """Every page of a GET search, following `next` links."""
    response = http.get("/search", params=params)
    while True:
        assert response.status_code == 200, response.text
        yield response
        nxt = [link for link in response.json()["links"] if link["rel"] == "next"]
        if not nxt:
            return
        response = http.get(nxt[0]["href"])


def every_item(http: httpx.Client, params: dict) -> list[dict]:
    return [f for page in pages(http, params) for f in page.json()["features"]]


def merged(*streams: list[dict]) -> list[str]:
    """The default order, independently: the earliest head first, ties to the earlier stream."""
    heads = [0] * len(streams)
    out = []
    while True:
        live = [i for i, s in enumerate(streams) if heads[i] < len(s)]
        if not live:
            return out
        best = min(live, key=lambda i: (instant(streams[i][heads[i]]), i))
        out.append(streams[best][heads[best]]["id"])
        heads[best] += 1


@pytest.fixture(scope="module")
def http(gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def alone(gateway) -> dict[str, list[dict]]:
    """Each provider's items for the query, searched alone (its own upstream order)."""
    with httpx.Client(base_url=gateway, timeout=60) as http:
        return {c: every_item(http, {**BOTH, "collections": c, "limit": 100}) for c in (HLS, L2)}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_pystac_client_pages_both_providers_once_in_one_order(gateway, alone, method):
    search = Client.open(gateway).search(
        collections=[HLS, L2], bbox=[-104, 34, -96, 42], datetime=WINDOW, limit=17, method=method
    )
    ids = [i["id"] for i in search.items_as_dicts()]
    assert len(alone[HLS]) > 17 and len(alone[L2]) > 17  # both span several pages
    assert len(ids) == len(set(ids)) == len(alone[HLS]) + len(alone[L2])
    # the order holds across page boundaries: exactly the merge of the two upstream orders
    assert ids == merged(alone[HLS], alone[L2])


def test_the_first_page_interleaves_both_providers(http, alone):
    page = http.get("/search", params={**BOTH, "limit": 40}).json()
    assert [f["id"] for f in page["features"]] == merged(alone[HLS], alone[L2])[:40]
    assert {f["collection"] for f in page["features"]} == {HLS, L2}
    assert page["numberMatched"] == len(alone[HLS]) + len(alone[L2])
    assert "stacbridge:missing_providers" not in page


@pytest.mark.parametrize("direction", ["+", "-"])
def test_sortby_datetime_across_cmr_and_m2m_is_exact(gateway, alone, direction):
    search = Client.open(gateway).search(
        **{k: v for k, v in BOTH.items() if k != "collections"},
        collections=[HLS, L2],
        sortby=f"{direction}datetime",
        limit=23,
        method="POST",
    )
    items = list(search.items_as_dicts())
    times = [instant(i) for i in items]
    assert times == sorted(times, reverse=direction == "-")
    assert sorted(i["id"] for i in items) == sorted(i["id"] for s in alone.values() for i in s)


def test_a_sort_key_one_provider_cannot_sort_by_is_refused_naming_it(http):
    response = http.get("/search", params={**BOTH, "sortby": "-end_datetime"})
    assert response.status_code == 400
    assert "m2m" in response.json()["description"]
    # CMR alone sorts by it upstream
    assert http.get("/search", params={**BOTH, "collections": HLS, "sortby": "-end_datetime"})


@pytest.fixture
def own_gateway(sandbox) -> Iterator[Callable[..., httpx.Client]]:
    """A gateway of the test's own, with settings the shared one must not have."""
    servers: list[ServerThread] = []

    def start(**settings) -> httpx.Client:
        server = ServerThread(create_app(sandbox.settings(secret_keys=["t"], **settings)))
        servers.append(server.__enter__())
        return httpx.Client(base_url=server.url, timeout=60)

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def scene_searches(m2m: httpx.Client) -> int:
    return len(
        [r for r in m2m.get("/_sandbox/requests").json() if r.get("endpoint") == "scene-search"]
    )


@pytest.mark.parametrize(
    ("fault", "why"),
    [
        ({"status": 503, "count": 50, "endpoint": "scene-search"}, "503"),
        ({"delay": 5.0, "count": 50, "endpoint": "scene-search"}, "no answer within the deadline"),
    ],
)
def test_a_failing_provider_is_named_and_the_next_page_picks_it_up(
    own_gateway, m2m, alone, fault, why
):
    http = own_gateway(provider_deadline=1.5, breaker_seconds=0)
    m2m.post("/_sandbox/faults", json=fault)
    first = http.get("/search", params={**BOTH, "limit": 30})
    assert first.status_code == 200, first.text
    assert first.headers["stacbridge-missing-providers"] == "m2m"
    body = first.json()
    assert why in body["stacbridge:missing_providers"]["m2m"]
    assert {f["collection"] for f in body["features"]} == {HLS}
    assert "numberMatched" not in body
    m2m.delete("/_sandbox/faults")
    ids = [f["id"] for f in body["features"]]
    nxt = next(link["href"] for link in body["links"] if link["rel"] == "next")
    second = http.get(nxt)
    assert "stacbridge-missing-providers" not in second.headers
    assert {f["collection"] for f in second.json()["features"]} == {HLS, L2}
    response = second
    while True:  # to the end: every item of both providers exactly once
        ids += [f["id"] for f in response.json()["features"]]
        nxt = [link for link in response.json()["links"] if link["rel"] == "next"]
        if not nxt:
            break
        response = http.get(nxt[0]["href"])
    assert len(ids) == len(set(ids))
    assert set(ids) == {i["id"] for s in alone.values() for i in s}


def test_only_when_every_provider_failed_is_the_search_an_error(own_gateway, m2m):
    http = own_gateway(breaker_seconds=0)
    m2m.post("/_sandbox/faults", json={"status": 503, "count": 50, "endpoint": "scene-search"})
    response = http.get("/search", params={**BOTH, "collections": L2})
    assert response.status_code in (502, 503), response.text
    assert "m2m" in response.json()["description"]


def test_a_sorted_search_with_a_missing_provider_is_an_error_not_a_partial_page(own_gateway, m2m):
    # the missing provider's items would come on later pages, before items already returned:
    # a sort that is not a sort, so the failure is the answer and the page can be asked again
    http = own_gateway(breaker_seconds=0)
    m2m.post("/_sandbox/faults", json={"status": 503, "count": 50, "endpoint": "scene-search"})
    response = http.get("/search", params={**BOTH, "limit": 30, "sortby": "-datetime"})
    m2m.delete("/_sandbox/faults")
    assert response.status_code in (502, 503), response.text
    assert "m2m" in response.json()["description"]
    assert http.get("/search", params={**BOTH, "limit": 30, "sortby": "-datetime"}).is_success


def test_the_circuit_breaker_skips_a_failing_provider_without_calling_it(own_gateway, m2m):
    http = own_gateway(breaker_seconds=60)
    m2m.post("/_sandbox/faults", json={"status": 503, "count": 50, "endpoint": "scene-search"})
    first = http.get("/search", params={**BOTH, "limit": 5})
    assert first.headers["stacbridge-missing-providers"] == "m2m"
    m2m.delete("/_sandbox/faults")
    m2m.delete("/_sandbox/requests")
    again = http.get("/search", params={**BOTH, "limit": 6})
    assert again.status_code == 200
    assert again.json()["stacbridge:missing_providers"]["m2m"].startswith("circuit open")
    assert scene_searches(m2m) == 0  # skipped at once, not asked
    listing = http.get("/collections")  # the listing honours the same breaker
    assert listing.headers["stacbridge-missing-providers"] == "m2m"
    assert listing.json()["stacbridge:missing_providers"]["m2m"].startswith("circuit open")
    alone = http.get("/search", params={**BOTH, "collections": L2})
    assert alone.status_code == 503 and "Retry-After" in alone.headers


def test_an_upstream_rejecting_the_listing_query_is_a_400_never_a_missing_provider(
    own_gateway, cmr
):
    http = own_gateway(breaker_seconds=60)
    cmr.post(
        "/_sandbox/faults",
        json={"status": 400, "count": 5, "path": "collections", "body": {"errors": ["no good"]}},
    )
    response = http.get("/collections", params={"q": "ocean"})
    assert response.status_code == 400, response.text
    assert response.json()["description"].startswith("cmr: ")
    cmr.delete("/_sandbox/faults")
    # a rejection says nothing of CMR's health: the circuit stays closed
    assert "stacbridge-missing-providers" not in http.get("/collections").headers


def test_the_listing_pages_every_collection_once_when_a_provider_comes_back(own_gateway, cmr):
    http = own_gateway(breaker_seconds=0)
    healthy = [
        c["id"] for c in http.get("/collections", params={"q": "landsat"}).json()["collections"]
    ]
    cmr.post("/_sandbox/faults", json={"status": 503, "count": 50, "path": "collections"})
    page = http.get("/collections", params={"q": "landsat", "limit": 1})
    assert page.headers["stacbridge-missing-providers"] == "cmr"
    cmr.delete("/_sandbox/faults")
    ids = []
    while True:
        body = page.json()
        ids += [c["id"] for c in body["collections"]]
        nxt = [link for link in body["links"] if link["rel"] == "next"]
        if not nxt:
            break
        page = http.get(nxt[0]["href"])
    assert sorted(ids) == sorted(healthy)


def test_a_filter_matching_nothing_costs_at_most_the_upstream_budget(own_gateway, cmr, m2m):
    """The fuzzed shape (limit=2000, a filter nothing can narrow or match) reads at most
    `search_max_upstream_items` items across both providers (here three 2,000-item pages),
    then refuses naming the term."""
    http = own_gateway(search_max_upstream_items=6000, search_max_seconds=600)
    cmr.delete("/_sandbox/requests")
    m2m.delete("/_sandbox/requests")
    response = http.get(
        "/search", params={"collections": f"{HLS},{L2}", "limit": 2000, "filter": "a=1"}
    )
    assert response.status_code == 400, response.text
    assert "a = 1" in response.json()["description"]
    granules = [
        r for r in cmr.get("/_sandbox/requests").json()["requests"] if "granules" in r["path"]
    ]
    assert len(granules) + scene_searches(m2m) <= 3


def test_a_filter_on_collection_is_one_stream_per_catalogue(http, cmr, m2m):
    """`collection <> 'x'` leaves every other collection: one upstream query per catalogue, not
    one per collection."""
    cmr.delete("/_sandbox/requests")
    m2m.delete("/_sandbox/requests")
    response = http.get("/search", params={"limit": 3, "filter": f"collection <> '{HLS}'"})
    assert response.status_code == 200, response.text
    assert HLS not in {f["collection"] for f in response.json()["features"]}
    granules = [
        r for r in cmr.get("/_sandbox/requests").json()["requests"] if "granules" in r["path"]
    ]
    assert len(granules) == 1 and scene_searches(m2m) == 1


def test_a_sorted_search_over_several_datasets_of_one_provider_is_exact(http):
    """M2M searches dataset after dataset: a sorted search reads one stream per collection, so
    the merge orders across them."""
    params = {
        "collections": "landsat_ot_c2_l1,landsat_ot_c2_l2",
        "bbox": AREA,
        "datetime": WINDOW,
        "sortby": "-datetime",
        "limit": 50,
    }
    items = every_item(http, params)
    assert {i["collection"] for i in items} == {"landsat_ot_c2_l1", L2}
    times = [instant(i) for i in items]
    assert times == sorted(times, reverse=True)
