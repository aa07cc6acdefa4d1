"""Reading the footprints CMR computes for orbit-only granules (legacy `.json`)."""

from __future__ import annotations

import json

import pytest

from stacbridge.providers.cmr import footprints
from tests.conftest import FIXTURES

ATL03_JSON = FIXTURES / "cmr" / "granules_json__ATL03_NSIDC_ECS__orbit.json"
ATL03_UMM = FIXTURES / "cmr" / "granules_umm_json__ATL03_NSIDC_ECS__orbit.json"


def test_the_recorded_atl03_footprint_is_a_polygon_in_lon_lat():
    body = json.loads(ATL03_JSON.read_text())
    found = footprints.footprints(body)
    entry = body["feed"]["entry"][0]
    shape = found[entry["id"]]
    assert shape.geometry["type"] == "Polygon"
    west, south, east, north = shape.bbox
    assert (round(west, 2), round(south, 2), round(east, 2), round(north, 2)) == (
        -153.36,
        62.59,
        -138.72,
        82.64,
    )


def test_only_the_orbit_only_granules_need_a_footprint():
    umm = json.loads(ATL03_UMM.read_text())["items"][0]["umm"]
    assert footprints.is_orbit_only(umm)
    located = {"SpatialExtent": {"HorizontalSpatialDomain": {"Orbit": {}, "Geometry": {"x": 1}}}}
    assert not footprints.is_orbit_only(located)
    assert not footprints.is_orbit_only({})


def test_holes_boxes_and_unreadable_entries():
    ring = "0 0 0 10 10 10 10 0 0 0"
    hole = "2 2 4 2 4 4 2 4 2 2"
    found = footprints.footprints(
        {
            "feed": {
                "entry": [
                    {"id": "G1-A", "polygons": [[ring, hole]]},
                    {"id": "G2-A", "boxes": ["-10 20 10 30"]},
                    {"id": "G3-A", "polygons": [["1 2 3"]]},  # odd count: unreadable, left out
                    {"id": "G4-A"},
                ]
            }
        }
    )
    assert set(found) == {"G1-A", "G2-A"}
    assert len(found["G1-A"].geometry["coordinates"]) == 2
    assert found["G2-A"].bbox == [20.0, -10.0, 30.0, 10.0]


def test_a_body_that_is_not_a_feed_is_refused():
    with pytest.raises(ValueError):
        footprints.footprints({"items": []})
