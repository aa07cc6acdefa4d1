"""AppEEARS translation on the recorded responses: collections, time steps, tasks, bundles."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from stacbridge.providers.appeears import translate
from stacbridge.stac.geometry import box
from tests.conftest import FIXTURES, validate_stac

RECORDED = FIXTURES / "appeears"


def linked(obj: dict) -> dict:
    """The object with the links the gateway adds (an Item naming its collection needs one)."""
    rels = [("self", "http://gateway.test/self"), ("root", "http://gateway.test/")]
    if obj.get("collection"):
        rels.append(("collection", "http://gateway.test/collection"))
    return {**obj, "links": [{"rel": r, "href": h} for r, h in rels]}


def load(name: str):
    return json.loads((RECORDED / name).read_text())


def test_a_recorded_product_becomes_a_valid_collection_with_raster_item_assets():
    product = load("nasa-2025_product-list-entry_MCD15A3H.061.json")
    layer = load("nasa-2025_product_MOD11A2.061_layer-LST_Day_1km.json")
    collection = translate.product_collection(product, {"LST_Day_1km": layer})
    validate_stac(collection)
    assert collection["id"] == "MCD15A3H.061"
    assert collection["sci:doi"] == "10.5067/MODIS/MCD15A3H.061"
    assert collection["summaries"] == {"platform": ["Combined MODIS"], "gsd": [500.0]}
    assert collection["extent"]["temporal"]["interval"] == [["2002-07-04T00:00:00Z", None]]
    assert collection["appeears:temporal_granularity"] == "4 day"
    band = collection["item_assets"]["LST_Day_1km"]["raster:bands"][0]
    assert band == {
        "data_type": "uint16",
        "nodata": 0,
        "scale": 0.02,
        "offset": 0.0,
        "unit": "Kelvin",
        "appeears:valid_range": [7500.0, 65535.0],
    }
    assert translate.RASTER in collection["stac_extensions"]


def test_eight_day_composites_restart_on_the_first_of_january():
    steps = translate.time_steps(
        "8 day", dt.date(2024, 6, 1), dt.date(2024, 8, 31), dt.date(2000, 2, 18), None
    )
    assert steps is not None
    assert [translate.doy(a) for a, _ in steps] == [f"2024{d}" for d in range(153, 242, 8)]
    last_of_year = translate.time_steps(
        "8 day", dt.date(2023, 12, 28), dt.date(2024, 1, 2), None, None
    )
    assert last_of_year == [
        (dt.date(2023, 12, 27), dt.date(2023, 12, 31)),
        (dt.date(2024, 1, 1), dt.date(2024, 1, 8)),
    ]
    assert (
        translate.time_steps("Static", dt.date(2024, 1, 1), dt.date(2024, 2, 1), None, None) is None
    )
    assert translate.step_days("Monthly") == "month"


def test_the_recorded_bundle_file_names_parse_into_layer_and_date():
    names = [f["file_name"] for f in load("nasa-2025_bundle_area.json")["files"]]
    parsed = [translate.parse_file_name(n) for n in names]
    assert ("MOD11A2.061", "LST_Day_1km", "2017177") in parsed
    assert ("MCD15A3H.061", "FparExtra_QC", "2017181") in parsed
    assert translate.parse_file_name("README.md") is None


@pytest.mark.parametrize("bundle", ["nasa-2025_bundle_area.json", "eriita-2020_bundle_point.json"])
def test_a_done_task_is_an_item_with_checksummed_bundle_assets(bundle):
    recorded = load(bundle)
    task = {
        "task_id": recorded["task_id"],
        "status": "done",
        "created": recorded["created"],
        "task_name": "t",
        "params": {"dates": [{"startDate": "06-28-2017", "endDate": "07-31-2017"}]},
    }
    item = translate.task_item(task, "appeears-tasks", recorded, lambda fid: f"https://x/{fid}")
    validate_stac(linked(item))
    assert len(item["assets"]) == len(recorded["files"])
    first = recorded["files"][0]
    asset = next(a for a in item["assets"].values() if a["title"] == first["file_name"])
    assert asset["file:checksum"] == "1220" + first["sha256"]
    assert asset["file:size"] == first["file_size"]
    assert item["properties"]["order:status"] == "succeeded"


def test_the_recorded_task_list_translates_and_validates():
    for task in load("eriita-2020_task-list_limit2.json"):
        item = translate.task_item(task, "appeears-tasks", None, str)
        validate_stac(linked(item))
        assert item["assets"] == {}
        assert item["properties"]["appeears:status"] == task["status"]
        assert item["properties"]["start_datetime"].startswith("2017-0")


def test_an_extraction_reference_round_trips_and_its_key_ignores_layer_and_date():
    shape = box(-105.3, 40.0, -105.1, 40.2)
    spec = translate.task_spec(
        "MOD11A2.061",
        ["QC_Day", "LST_Day_1km"],
        shape.geometry,
        dt.date(2024, 6, 1),
        dt.date(2024, 8, 31),
        "geotiff",
        "native",
    )
    ref = translate.extract_ref(spec, "QC_Day", "2024153")
    assert translate.parse_extract_ref(ref) == (spec, "QC_Day", "2024153")
    assert translate.parse_extract_ref("appeears:extract:{not json") is None
    body = translate.task_request(spec, "n")
    assert body["params"]["dates"] == [{"startDate": "06-01-2024", "endDate": "08-31-2024"}]
    assert [x["layer"] for x in body["params"]["layers"]] == ["LST_Day_1km", "QC_Day"]
