"""Malformed upstream answers, crafted by the emulators' fault injection, seen through the gateway.

The rule: whatever an upstream gets wrong is a 502 naming the provider — never a 500 — when the
answer as a whole is unusable (its envelope has the wrong shape, a count is not a number); one
malformed *record* inside a good answer is skipped with a logged reason and the page goes on.
"""

from __future__ import annotations

import copy
import json
import logging

import httpx
import pytest

from tests.conftest import FIXTURES

HLS = "HLSL30.v2.0"
L2 = "landsat_ot_c2_l2"


def assert_502_naming(response: httpx.Response, provider: str) -> dict:
    assert response.status_code == 502, response.text
    body = response.json()
    assert body["provider"] == provider
    assert body["description"].startswith(f"{provider}: ")
    return body


def hls_records() -> list[dict]:
    path = FIXTURES / "cmr" / "granules_umm_json__HLSL30_LPCLOUD__2hits.json"
    return json.loads(path.read_text())["items"]


# -- CMR -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ({"hits": 1, "took": 1, "items": {"meta": {}}}, "not a list"),
        ({"hits": 1, "took": 1, "items": "granules"}, "not a list"),
        ({"hits": 2, "took": 1, "items": [1, "x"]}, "not only objects"),
        ({"hits": 1, "took": 1, "items": [None]}, "not only objects"),
        ({"hits": "many", "took": 1, "items": []}, "not a count"),
    ],
    ids=["items-object", "items-string", "items-numbers", "items-null", "hits-string"],
)
def test_a_cmr_page_of_the_wrong_shape_is_a_502_naming_cmr(cmr, gateway, body, what):
    cmr.post("/_sandbox/faults", json={"path": "granules", "body": body})
    response = httpx.get(f"{gateway}/search", params={"collections": HLS}, timeout=60)
    assert what in assert_502_naming(response, "cmr")["description"]


@pytest.mark.parametrize("hits", ["lots", "-1", "1.5", "", "12 granules"])
def test_a_cmr_hits_header_that_is_not_a_count_is_a_502_naming_cmr(cmr, gateway, hits):
    cmr.post("/_sandbox/faults", json={"path": "granules", "headers": {"CMR-Hits": hits}})
    response = httpx.get(f"{gateway}/search", params={"collections": HLS}, timeout=60)
    assert "CMR-Hits" in assert_502_naming(response, "cmr")["description"]


def test_a_malformed_cmr_granule_is_skipped_and_logged_not_the_page(cmr, gateway, caplog):
    good = hls_records()
    broken = copy.deepcopy(good[0])
    broken["umm"]["GranuleUR"] = "broken-granule"
    broken["umm"]["TemporalExtent"] = None  # no time at all: not a valid STAC Item
    junk = {"meta": "not an object", "umm": ["neither"]}
    items = [good[0], broken, junk, good[1]]
    cmr.post(
        "/_sandbox/faults",
        json={"path": "granules", "body": {"hits": 4, "took": 1, "items": items}},
    )
    with caplog.at_level(logging.WARNING, logger="stacbridge"):
        response = httpx.get(
            f"{gateway}/search", params={"collections": HLS, "limit": 10}, timeout=60
        )
    assert response.status_code == 200, response.text
    ids = [f["id"] for f in response.json()["features"]]
    assert ids == [good[0]["umm"]["GranuleUR"], good[1]["umm"]["GranuleUR"]]
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert any("no datetime" in m for m in skipped), skipped
    assert len(skipped) >= 2


# -- M2M -----------------------------------------------------------------------------------------


def envelope(data) -> dict:
    return {
        "requestId": 1,
        "version": "stable",
        "sessionId": 1,
        "data": data,
        "errorCode": None,
        "errorMessage": None,
    }


def recorded_scene() -> dict:
    path = FIXTURES / "m2m" / "kapadia-usgs_scene-search_LANDSAT_8_C1_summary_1hit.json"
    return json.loads(path.read_text())["data"]["results"][0]


@pytest.mark.parametrize(
    ("endpoint", "data", "what"),
    [
        ("scene-search", [], "not an object"),
        ("scene-search", {"results": {"a": 1}, "totalHits": 1}, "results is an object"),
        ("scene-search", {"results": ["LC08"], "totalHits": 1}, "not only objects"),
        ("scene-search", {"results": [], "totalHits": "plenty"}, "totalHits is not a count"),
        ("scene-search", {"results": [], "totalHits": True}, "totalHits is not a count"),
        (
            "scene-search",
            {"results": [], "totalHits": 0, "recordsReturned": [1]},
            "recordsReturned is not a count",
        ),
        ("download-options", {"entityId": "x"}, "download-options: data is an object"),
    ],
    ids=[
        "data-list",
        "results-object",
        "results-strings",
        "total-string",
        "total-bool",
        "returned-list",
        "options-object",
    ],
)
def test_an_m2m_answer_of_the_wrong_shape_is_a_502_naming_m2m(m2m, gateway, endpoint, data, what):
    m2m.post("/_sandbox/faults", json={"endpoint": endpoint, "body": envelope(data)})
    response = httpx.get(f"{gateway}/collections/{L2}/items", params={"limit": 2}, timeout=60)
    assert what in assert_502_naming(response, "m2m")["description"]


def test_a_malformed_m2m_scene_is_skipped_and_logged_not_the_page(m2m, gateway, caplog):
    good = recorded_scene()
    broken = copy.deepcopy(good)
    broken["entityId"] = "LC80000002016255LGN01"
    broken["displayId"] = "broken-scene"
    broken["temporalCoverage"] = None
    broken.pop("publishDate", None)
    broken["metadata"] = [{"fieldName": "Acquisition Date", "value": None}]
    data = {
        "results": [good, broken],
        "recordsReturned": 2,
        "totalHits": 2,
        "startingNumber": 1,
        "nextRecord": 3,
    }
    m2m.post("/_sandbox/faults", json={"endpoint": "scene-search", "body": envelope(data)})
    with caplog.at_level(logging.WARNING, logger="stacbridge"):
        response = httpx.get(f"{gateway}/collections/{L2}/items", params={"limit": 5}, timeout=60)
    assert response.status_code == 200, response.text
    ids = [f["id"] for f in response.json()["features"]]
    assert ids == [good["displayId"]]
    assert any("skipped" in r.getMessage() and "m2m" in r.getMessage() for r in caplog.records)
