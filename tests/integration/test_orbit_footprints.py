"""Orbit-only CMR granules (ICESat-2) in spatial searches.

CMR matches such a granule by its orbit and stores no footprint in UMM-G; its legacy `.json`
answer carries the footprint CMR computed.  A bbox over the orbit must find the granule, with
that footprint as its geometry; a bbox the orbit never crosses must not.
"""

from __future__ import annotations

import httpx
from pystac_client import Client

ATL03 = "ATL03.v005"
WHEN = "2022-10-12T16:00:00Z/2022-10-12T17:00:00Z"


def test_a_bbox_over_the_orbit_finds_the_granule_with_its_footprint(gateway):
    items = list(
        Client.open(gateway)
        .search(collections=[ATL03], bbox=[-150, 70, -145, 75], datetime=WHEN)
        .items_as_dicts()
    )
    assert [i["id"] for i in items] == ["SC:ATL03.005:256325263"]
    geometry, bbox = items[0]["geometry"], items[0]["bbox"]
    assert geometry["type"] == "Polygon"
    assert -153.5 < bbox[0] < -152.5 and 82.5 < bbox[3] < 82.7  # CMR's computed footprint


def test_a_bbox_the_orbit_never_crosses_finds_nothing(gateway):
    found = Client.open(gateway).search(collections=[ATL03], bbox=[0, 0, 1, 1], datetime=WHEN)
    assert list(found.items_as_dicts()) == []


def test_an_intersects_search_over_the_orbit_finds_it(gateway):
    ring = [[-151, 71], [-146, 71], [-146, 74], [-151, 74], [-151, 71]]
    found = Client.open(gateway).search(
        collections=[ATL03], intersects={"type": "Polygon", "coordinates": [ring]}, datetime=WHEN
    )
    assert len(list(found.items_as_dicts())) == 1


def test_one_footprint_request_per_page_and_none_for_located_granules(gateway, sandbox):
    with httpx.Client(base_url=sandbox.cmr.url, timeout=30) as cmr:
        cmr.delete("/_sandbox/requests")
        Client.open(gateway).search(collections=["HLSL30.v2.0"], max_items=5).item_collection()
        assert not [r for r in log(cmr) if r["path"].endswith("granules.json")]
        httpx.get(f"{gateway}/search", params={"collections": ATL03, "datetime": WHEN})
        asked = [r for r in log(cmr) if r["path"].endswith("granules.json")]
        assert len(asked) == 1 and "concept_id" in asked[0]["form"]


def test_cmr_failing_the_footprint_request_is_a_502_naming_cmr(gateway, sandbox):
    with httpx.Client(base_url=sandbox.cmr.url, timeout=30) as cmr:
        cmr.post("/_sandbox/faults", json={"status": 500, "count": 5, "path": "granules.json"})
        try:
            answer = httpx.get(
                f"{gateway}/search", params={"collections": ATL03, "bbox": "-150,70,-145,75"}
            )
        finally:
            cmr.delete("/_sandbox/faults")
    assert answer.status_code == 502, answer.text
    assert answer.json()["provider"] == "cmr"


def log(cmr: httpx.Client) -> list[dict]:
    return cmr.get("/_sandbox/requests").json()["requests"]
