"""Upstream faults and CMR's own rules, seen through the gateway."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx
import pytest

from stacbridge.app import create_app
from stacbridge.config import HttpSettings
from stacbridge.sandbox.server import ServerThread

HLS = "HLSL30.v2.0"


@pytest.fixture
def cmr(sandbox) -> Iterator[httpx.Client]:
    """A client for the CMR emulator's controls; faults and the log are cleared around a test."""
    with httpx.Client(base_url=sandbox.cmr.url, timeout=30) as client:
        client.delete("/_sandbox/faults")
        client.delete("/_sandbox/requests")
        yield client
        client.delete("/_sandbox/faults")


@contextlib.contextmanager
def gateway_with(sandbox, http: HttpSettings) -> Iterator[str]:
    settings = sandbox.settings(secret_keys=["k"], cmr=sandbox.cmr_settings(http=http))
    with ServerThread(create_app(settings)) as server:
        yield server.url


def granule_requests(cmr: httpx.Client) -> list[dict]:
    return [
        r
        for r in cmr.get("/_sandbox/requests").json()["requests"]
        if r["path"].endswith("granules.umm_json")
    ]


def test_transient_503s_are_retried_honouring_retry_after(cmr, gateway):
    cmr.post(
        "/_sandbox/faults", json={"status": 503, "count": 2, "retry_after": 0, "path": "granules"}
    )
    response = httpx.get(f"{gateway}/search", params={"collections": HLS, "limit": 2}, timeout=60)
    assert response.status_code == 200
    assert len(response.json()["features"]) == 2
    assert [r["status"] for r in granule_requests(cmr)] == [503, 503, 200]


def test_persistent_5xx_is_a_502_naming_cmr(cmr, gateway):
    cmr.post("/_sandbox/faults", json={"status": 500, "count": 10, "path": "granules"})
    response = httpx.get(f"{gateway}/search", params={"collections": HLS}, timeout=60)
    assert response.status_code == 502
    body = response.json()
    assert body["provider"] == "cmr"
    assert "cmr" in body["description"].lower()
    assert len(granule_requests(cmr)) == 3  # the first try and two retries: bounded


def test_persistent_503_is_a_503_with_retry_after(cmr, gateway):
    cmr.post(
        "/_sandbox/faults", json={"status": 503, "count": 10, "retry_after": 0, "path": "granules"}
    )
    response = httpx.get(f"{gateway}/search", params={"collections": HLS}, timeout=60)
    assert response.status_code == 503
    assert "retry-after" in response.headers


def test_timeouts_are_a_504(sandbox, cmr):
    http = HttpSettings(timeout=0.3, retries=1, backoff=0.01, max_backoff=0.05)
    with gateway_with(sandbox, http) as gateway:
        httpx.get(f"{gateway}/collections/{HLS}", timeout=30)  # warm the collection lookup
        cmr.post("/_sandbox/faults", json={"delay": 1.0, "count": 2, "path": "granules"})
        response = httpx.get(f"{gateway}/collections/{HLS}/items", timeout=30)
        assert response.status_code == 504
        assert response.json()["provider"] == "cmr"


def test_cmr_4xx_is_a_400_quoting_cmr(cmr, gateway):
    cmr.post(
        "/_sandbox/faults",
        json={
            "status": 400,
            "count": 1,
            "path": "granules",
            "errors": ["Parameter [foo] was not recognized."],
        },
    )
    response = httpx.get(f"{gateway}/search", params={"collections": HLS}, timeout=60)
    assert response.status_code == 400
    assert "Parameter [foo] was not recognized." in response.json()["description"]


def test_one_failing_provider_never_breaks_the_collections_list(cmr, gateway):
    # the collection listing is cached; a granule outage does not touch it
    cmr.post("/_sandbox/faults", json={"status": 500, "count": 10, "path": "granules"})
    response = httpx.get(f"{gateway}/collections", timeout=60)
    assert response.status_code == 200
    assert response.json()["collections"]


def test_deep_paging_uses_search_after_and_big_pages(cmr, gateway):
    """2,000-granule upstream pages, CMR-Search-After on every later page, never page_num."""
    params = {"collections": HLS, "limit": 2000, "datetime": "2016-01-01T00:00:00Z/.."}
    url = f"{gateway}/search"
    ids: list[str] = []
    with httpx.Client(timeout=120) as client:
        page = client.get(url, params=params).json()
        for _ in range(3):
            ids += [f["id"] for f in page["features"]]
            nxt = next(link["href"] for link in page["links"] if link["rel"] == "next")
            page = client.get(nxt).json()
    assert len(ids) == len(set(ids)) == 6000
    sent = granule_requests(cmr)
    # the 4 pages asked for, and perhaps page 5 read ahead (the CMR client's read-ahead)
    assert len(sent) in (4, 5)
    assert all("page_num" not in (r["form"] + r["query"]) for r in sent)
    assert all("page_size=2000" in r["form"] for r in sent)
    assert sent[0]["cmr_search_after"] is None
    assert all(r["cmr_search_after"] for r in sent[1:])


def test_a_hanging_cmr_costs_the_collection_listing_nothing_but_its_own_part(sandbox, cmr):
    """Providers are asked concurrently, each within `provider_deadline`; the late one is left
    out and named, and the listing then claims no count (it is not the count)."""
    settings = sandbox.settings(secret_keys=["k"], provider_deadline=1.0, breaker_seconds=0)
    with ServerThread(create_app(settings)) as server:
        # a keyword search goes to CMR every time (no cached listing to fall back on)
        cmr.post("/_sandbox/faults", json={"delay": 5.0, "count": 20, "path": "collections"})
        response = httpx.get(f"{server.url}/collections", params={"q": "landsat"}, timeout=30)
        assert response.status_code == 200, response.text
        assert response.headers["stacbridge-missing-providers"] == "cmr"
        body = response.json()
        assert body["stacbridge:missing_providers"] == {"cmr": "no answer within the deadline"}
        assert "numberMatched" not in body
        assert {c["id"] for c in body["collections"]} >= {"landsat_ot_c2_l2"}
        cmr.delete("/_sandbox/faults")
        healthy = httpx.get(f"{server.url}/collections", params={"q": "landsat"}, timeout=30)
        assert "stacbridge-missing-providers" not in healthy.headers
        assert "numberMatched" in healthy.json()
