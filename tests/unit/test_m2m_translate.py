"""USGS M2M JSON → STAC, on the recorded M2M responses in `stacbridge/sandbox/fixtures/m2m/`.

The recordings are Landsat Collection 1 from 2021 (SOURCES.md).  Where no recording has the
case, records below are synthetic and say so: a Collection 2 `download-options` entry with
`secondaryDownloads` (shaped like the official reference sample for `download-options`), and
footprints over the antimeridian.
"""

from __future__ import annotations

import copy
import json
from functools import cache

import jsonschema
import pytest

from stacbridge.providers.m2m import translate as t
from stacbridge.stac import extensions as ext
from stacbridge.stac import geometry as geo
from stacbridge.stac import media
from tests.conftest import FIXTURES, STAC_OFFLINE, validate_stac

M2M = FIXTURES / "m2m"
SUMMARY = "kapadia-usgs_scene-search_LANDSAT_8_C1_summary_1hit.json"
FULL = "kapadia-usgs_scene-metadata_LANDSAT_8_C1_full.json"
FILTERS = "kapadia-usgs_dataset-filters_LANDSAT_8_C1.json"
OPTIONS = "kapadia-usgs_download-options_LANDSAT_8_C1.json"
DATASETS = "kapadia-usgs_dataset-search_SUBSET-9-of-1163.json"


@cache
def _load(name: str) -> dict:
    return json.loads((M2M / name).read_text())


def data(name: str):
    return copy.deepcopy(_load(name)["data"])


def summary_scene() -> dict:
    return data(SUMMARY)["results"][0]


def full_scene() -> dict:
    return data(FULL)


def datasets() -> dict[str, dict]:
    return {d["datasetAlias"]: d for d in data(DATASETS)}


def as_served(obj: dict) -> dict:
    """The object with the links the gateway adds (STAC 1.0.0 requires a `collection` link
    whenever an Item names its collection)."""
    out = dict(obj)
    links = list(obj.get("links", []))
    links.append({"rel": "self", "href": "http://gateway.test/self"})
    links.append({"rel": "root", "href": "http://gateway.test/"})
    if obj.get("type") == "Feature" and "collection" in obj:
        links.append({"rel": "collection", "href": "http://gateway.test/collection"})
        links.append({"rel": "parent", "href": "http://gateway.test/collection"})
    out["links"] = links
    return out


_EXTENSION_MARKERS = {
    ext.EO: '"eo:',
    ext.VIEW: '"view:',
    ext.LANDSAT: '"landsat:',
    ext.GRID: '"grid:',
    ext.PROJECTION: '"proj:',
    ext.FILE: '"file:',
    ext.ORDER: '"order:',
    ext.SCIENTIFIC: '"sci:',
    ext.ITEM_ASSETS: '"item_assets"',
}


@cache
def _landsat_fields_schema() -> dict:
    # landsat v2.0.0 `$ref`s its field definitions without a `properties` wrapper, so the
    # validator never checks the values (a path "1" passes): check them here ourselves.
    path = STAC_OFFLINE / "schemas/stac-extensions.github.io/landsat/v2.0.0/schema.json"
    fields = json.loads(path.read_text())["definitions"]["fields"]
    return {"type": "object", "properties": fields}


def assert_valid(obj: dict) -> None:
    validate_stac(as_served(obj))
    if ext.LANDSAT in obj["stac_extensions"]:
        jsonschema.validate(obj["properties"], _landsat_fields_schema())
    # the extensions listed are exactly the ones used
    blob = json.dumps({k: v for k, v in obj.items() if k != "stac_extensions"})
    for url, marker in _EXTENSION_MARKERS.items():
        assert (url in obj["stac_extensions"]) == (marker in blob), url
    assert len(set(obj["stac_extensions"])) == len(obj["stac_extensions"])


# -- identifiers ----------------------------------------------------------------------------------
def test_parse_display_id():
    p = t.parse_display_id("LC08_L1TP_233083_20160911_20170321_01_T1")
    assert p == {
        "sensor": "C",
        "satellite": 8,
        "platform": "landsat-8",
        "instruments": ["oli", "tirs"],
        "correction": "L1TP",
        "wrs_path": "233",
        "wrs_row": "083",
        "wrs_type": "2",
        "acquired": "2016-09-11",
        "processed": "2017-03-21",
        "collection_number": "01",
        "collection_category": "T1",
    }
    le7 = t.parse_display_id("LE07_L2SP_044034_20210308_20210403_02_T1")
    assert (le7["platform"], le7["instruments"], le7["correction"]) == (
        "landsat-7",
        ["etm+"],
        "L2SP",
    )
    assert t.parse_display_id("LT05_L1GS_001002_19840101_20200918_02_T2")["instruments"] == ["tm"]
    mss = t.parse_display_id("LM01_L1GS_033033_19720729_20200909_02_T2")
    assert (mss["platform"], mss["instruments"], mss["wrs_type"]) == ("landsat-1", ["mss"], "1")
    assert t.parse_display_id("LM05_L1GS_033033_19850729_20200909_02_T2")["wrs_type"] == "2"
    assert t.parse_display_id("LO09_L1TP_033041_20230728_20230830_02_T1")["instruments"] == ["oli"]
    for bad in ("LC82330832016255LGN01", "S2A_MSIL1C_20160116", "", "LC08_L1TP_233083", None):
        assert t.parse_display_id(bad) is None


@pytest.mark.parametrize(
    ("display_id", "platform"),
    [
        ("LC08_L1TP_233083_20160911_20170321_01_T1", "landsat-8"),
        ("LC09_L2SP_033041_20230728_20230830_02_T1", "landsat-9"),
        ("LE07_L1TP_044034_20210308_20210403_02_T1", "landsat-7"),
        ("LT05_L1TP_044034_20000308_20200903_02_T1", "landsat-5"),
        ("LT04_L1TP_044034_19880308_20200903_02_T1", "landsat-4"),
        ("LM03_L1GS_044034_19780308_20200903_02_T2", "landsat-3"),
        ("LC82330832016255LGN01", "landsat-8"),  # pre-collection scene id (the entityId)
        ("LE70820552011359EDC00", "landsat-7"),
        ("S2A_OPER_MSI_L1C_TL_MTI__20160116T172531", None),
        ("LX08_L1TP_233083_20160911_20170321_01_T1", None),
        ("NB1NHAP840240229", None),
        ("", None),
    ],
)
def test_platform_for(display_id, platform):
    assert t.platform_for(display_id) == platform


def test_scene_entity_id():
    assert t.scene_entity_id(summary_scene()) == "LC82330832016255LGN01"
    assert t.scene_entity_id({"entityId": ""}) is None
    assert t.scene_entity_id({}) is None


def test_download_ref_round_trip():
    ref = t.download_ref("landsat_ot_c2_l2", "LC90330412023209LGN09", "gy7bvmukhtkl910o")
    assert ref == "m2m://landsat_ot_c2_l2/LC90330412023209LGN09/gy7bvmukhtkl910o"
    assert t.parse_download_ref(ref) == (
        "landsat_ot_c2_l2",
        "LC90330412023209LGN09",
        "gy7bvmukhtkl910o",
    )
    # parts that are not URL-safe are escaped and come back exactly
    odd = ("naip", "m_3008601_ne 16/1", "5e83%d0b8")
    ref = t.download_ref(*odd)
    assert ref.count("/") == 4 and " " not in ref
    assert t.parse_download_ref(ref) == odd
    for bad in (
        "https://dds.cr.usgs.gov/download/eyJ",
        "m2m://landsat_8_c1/LC82260782020217LGN00",
        "m2m://a/b/c/d",
        "m2m://a//c",
        "m2m:///b/c",
        "",
        None,
    ):
        assert t.parse_download_ref(bad) is None


# -- scene-search summary -------------------------------------------------------------------------
def test_summary_scene_is_a_valid_item():
    scene = summary_scene()
    before = copy.deepcopy(scene)
    item = t.scene_to_item(scene, "landsat_8_c1")
    assert scene == before, "the upstream record is not mutated"
    assert_valid(item)
    assert item["id"] == "LC08_L1TP_233083_20160911_20170321_01_T1"
    assert item["collection"] == "landsat_8_c1"
    assert item["links"] == []
    p = item["properties"]
    assert p["platform"] == "landsat-8"
    assert p["instruments"] == ["oli", "tirs"]
    assert p["constellation"] == "landsat"
    assert scene["cloudCover"] == "44.79" and p["eo:cloud_cover"] == 44.79
    assert p["grid:code"] == "WRS2-233083"
    parsed = t.parse_display_id(item["id"])
    assert (parsed["wrs_path"], parsed["wrs_row"]) == ("233", "083")
    # temporalCoverage is the acquisition date: midnight UTC, spanning the day
    assert p["datetime"] == "2016-09-11T00:00:00Z"
    assert p["start_datetime"] == "2016-09-11T00:00:00Z"
    assert p["end_datetime"] == "2016-09-11T23:59:59Z"
    # publishDate is EROS wall-clock time (CDT, UTC-5 in September)
    assert p["created"] == "2016-09-11T19:20:23Z"
    # no land cloud cover in a summary: the landsat extension (which requires it) is not used
    assert not [k for k in p if k.startswith("landsat:")]
    assert ext.LANDSAT not in item["stac_extensions"]
    assert "order:status" not in p  # no download options given: nothing to order


def test_summary_footprint_and_bbox():
    item = t.scene_to_item(summary_scene(), "landsat_8_c1")
    g = item["geometry"]
    assert g["type"] == "Polygon"
    ring = g["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 5
    assert geo.is_ccw(ring)
    assert [-71.95354, -33.83657] in ring  # the footprint, not the bounding rectangle
    assert item["bbox"] == [-71.95354, -34.23147, -69.47149, -32.12253]


def test_summary_browse_assets():
    item = t.scene_to_item(summary_scene(), "landsat_8_c1")
    a = item["assets"]
    assert set(a) == {"thumbnail", "browse", "browse_thermal", "browse_quality"}
    assert a["thumbnail"] == {
        "href": "https://ims.cr.usgs.gov/thumbnail/landsat_8_c1/2016/233/083/"
        "LC08_L1TP_233083_20160911_20170321_01_T1.jpg",
        "title": "LandsatLook Natural Color Preview Image",
        "type": "image/jpeg",
        "roles": ["thumbnail"],
    }
    assert a["browse"]["roles"] == ["overview"]
    assert a["browse"]["href"].startswith("https://ims.cr.usgs.gov/browse/")
    assert a["browse_thermal"]["href"].endswith("_T1_TIR.jpg")
    assert a["browse_quality"]["href"].endswith("_T1_QB.jpg")
    # WMS overlays are services that need GetMap parameters, not files: not assets
    assert not any("/wms/" in x["href"] for x in a.values())


# -- scene-metadata full --------------------------------------------------------------------------
def test_full_metadata_scene_is_a_valid_item():
    item = t.scene_to_item(full_scene(), "landsat_8_c1")
    assert_valid(item)
    assert item["id"] == "LC08_L1TP_226078_20200804_20200821_01_T1"
    p = item["properties"]
    assert p["datetime"] == "2020-08-04T13:48:06.771418Z"
    assert p["start_datetime"] == "2020-08-04T13:48:06.771418Z"
    assert p["end_datetime"] == "2020-08-04T13:48:38.541417Z"
    assert p["created"] == "2020-08-04T18:39:39Z"  # after acquisition, as it must be
    assert p["created"] > p["datetime"]
    assert p["platform"] == "landsat-8"
    assert p["eo:cloud_cover"] == 0.03
    assert p["landsat:cloud_cover_land"] == 0.03
    assert p["landsat:scene_id"] == "LC82260782020217LGN00"
    assert p["landsat:wrs_path"] == "226" and p["landsat:wrs_row"] == "078"  # " 226" / " 078"
    assert p["landsat:wrs_type"] == "2"
    assert p["landsat:collection_category"] == "T1"
    assert p["landsat:collection_number"] == "01"  # the metadata says the number 1
    assert p["landsat:correction"] == "L1TP"
    assert p["grid:code"] == "WRS2-226078"
    assert p["proj:epsg"] == 32621  # UTM zone 21, Landsat grids on the northern zone
    assert p["view:sun_azimuth"] == pytest.approx(39.74312615)
    assert p["view:sun_elevation"] == pytest.approx(36.66924622)
    assert p["view:off_nadir"] == 0.0
    assert p["gsd"] == 30.0
    for url in (ext.LANDSAT, ext.PROJECTION, ext.VIEW, ext.EO, ext.GRID):
        assert url in item["stac_extensions"]
    assert item["bbox"] == [-59.16927, -27.04536, -56.86729, -24.94199]


def _set_field(scene: dict, name: str, value) -> dict:
    for f in scene["metadata"]:
        if f["fieldName"] == name:
            f["value"] = value
    return scene


def test_landsat_field_values_are_checked_against_the_extension_patterns():
    item = t.scene_to_item(full_scene(), "landsat_8_c1")
    item["properties"]["landsat:wrs_path"] = "1"
    with pytest.raises(jsonschema.ValidationError):
        assert_valid(item)


def test_full_metadata_without_land_cloud_cover_drops_the_whole_landsat_extension():
    scene = full_scene()
    scene["metadata"] = [f for f in scene["metadata"] if f["fieldName"] != "Land Cloud Cover"]
    item = t.scene_to_item(scene, "landsat_8_c1")
    assert_valid(item)
    assert not [k for k in item["properties"] if k.startswith("landsat:")]
    assert item["properties"]["grid:code"] == "WRS2-226078"


def test_proj_epsg_only_for_utm_on_wgs84():
    scene = _set_field(full_scene(), "Map Projection Level-1", "PS")  # Antarctic scenes
    item = t.scene_to_item(scene, "landsat_8_c1")
    assert "proj:epsg" not in item["properties"]
    assert ext.PROJECTION not in item["stac_extensions"]
    scene = _set_field(full_scene(), "UTM Zone", 0)
    assert "proj:epsg" not in t.scene_to_item(scene, "landsat_8_c1")["properties"]


def test_full_metadata_gives_the_product_grid_size_but_no_transform():
    # recorded: Reflective Lines 7741 / Samples 7661, Grid Cell Size Reflective 30.00, UTM Zone 21
    item = t.scene_to_item(full_scene(), "landsat_8_c1", download_options=data(OPTIONS))
    assert_valid(item)
    p = item["properties"]
    assert p["proj:shape"] == [7741, 7661]
    assert p["proj:epsg"] == 32621  # projection v1.1.0 in use: proj:epsg, not proj:code
    assert ext.PROJECTION == "https://stac-extensions.github.io/projection/v1.1.0/schema.json"
    # M2M's corners are the footprint's, in degrees: the grid origin is not stated anywhere
    assert "proj:transform" not in p and "proj:bbox" not in p
    for asset in item["assets"].values():
        assert "proj:transform" not in asset and "proj:bbox" not in asset


def test_grid_size_needs_the_crs_and_positive_whole_numbers():
    scene = _set_field(full_scene(), "Map Projection Level-1", "PS")
    assert "proj:shape" not in t.scene_to_item(scene, "landsat_8_c1")["properties"]
    for bad in (0, -5, "7741.5", "Not provided", None):
        scene = _set_field(full_scene(), "Reflective Lines", bad)
        item = t.scene_to_item(scene, "landsat_8_c1")
        assert "proj:shape" not in item["properties"], bad
        assert item["properties"]["proj:epsg"] == 32621
    scene = _set_field(full_scene(), "Reflective Samples", "7661")  # numeric strings are read
    assert t.scene_to_item(scene, "landsat_8_c1")["properties"]["proj:shape"] == [7741, 7661]


def test_item_titles_name_the_product_and_the_acquisition_day():
    full = t.scene_to_item(full_scene(), "landsat_8_c1")
    assert full["properties"]["title"] == "LC08_L1TP_226078_20200804_20200821_01_T1 (2020-08-04)"
    summary = t.scene_to_item(summary_scene(), "landsat_8_c1")
    assert summary["properties"]["title"] == (
        "LC08_L1TP_233083_20160911_20170321_01_T1 (2016-09-11)"
    )
    scene = summary_scene()
    del scene["temporalCoverage"]  # no date: the product id alone
    assert t.scene_to_item(scene, "landsat_8_c1")["properties"]["title"] == scene["displayId"]


def test_unknown_cloud_cover_is_dropped():
    scene = summary_scene()
    scene["cloudCover"] = "-1"  # Landsat's "not calculated"
    item = t.scene_to_item(scene, "landsat_8_c1")
    assert "eo:cloud_cover" not in item["properties"]
    assert ext.EO not in item["stac_extensions"]
    assert_valid(item)


def test_number_cloud_cover_is_read_too():
    scene = summary_scene()
    scene["cloudCover"] = 12.5
    assert t.scene_to_item(scene, "landsat_8_c1")["properties"]["eo:cloud_cover"] == 12.5


def test_calendar_start_time_and_acquisition_date_fallback():
    scene = _set_field(full_scene(), "Start Time", "2020-08-04 13:48:06.7714180")
    scene = _set_field(scene, "Stop Time", "2020-08-04 13:48:38.5414170")
    p = t.scene_to_item(scene, "landsat_8_c1")["properties"]
    assert p["datetime"] == "2020-08-04T13:48:06.771418Z"
    assert p["end_datetime"] == "2020-08-04T13:48:38.541417Z"

    scene = full_scene()
    scene["metadata"] = [f for f in scene["metadata"] if f["fieldName"] != "Start Time"]
    del scene["temporalCoverage"]
    p = t.scene_to_item(scene, "landsat_8_c1")["properties"]
    assert p["datetime"] == "2020-08-04T00:00:00Z"  # "Acquisition Date": 2020/08/04
    assert p["end_datetime"] == "2020-08-04T23:59:59Z"


def test_publish_date_without_a_tz_database_follows_the_us_central_rules(monkeypatch):
    """The fallback for images without tzdata agrees with America/Chicago."""
    import datetime as dt

    samples = [
        f"{y}-{m:02d}-{d:02d} {h:02d}:30:00"
        for y in (1995, 2006, 2007, 2016, 2020, 2024)
        for m, d in ((1, 15), (3, 8), (3, 14), (4, 2), (6, 30), (10, 29), (11, 3), (11, 7))
        for h in (0, 3, 12, 23)
        if not (m == 2 and d > 28)
    ]
    expected = [t._chicago_to_utc(v) for v in samples]
    monkeypatch.setattr(t, "_CHICAGO", None)
    assert [t._chicago_to_utc(v) for v in samples] == expected
    assert t._chicago_to_utc("2020-08-04T13:39:39") == "2020-08-04T18:39:39Z"
    assert t._chicago_to_utc("2020-01-04 13:39:39") == "2020-01-04T19:39:39Z"
    assert dt.date(2020, 3, t._nth_sunday(2020, 3, 2)).isoformat() == "2020-03-08"


# -- download options ------------------------------------------------------------------------------
def test_recorded_c1_download_options_give_the_bundle_only():
    options = data(OPTIONS)
    assets = t.download_options_to_assets(options, "landsat_8_c1")
    assert list(assets) == ["bundle"]  # C1 has no secondaryDownloads; LandsatLook is wms
    assert assets["bundle"] == {
        "href": (  # the fragment: the name the bundle downloads as
            "m2m://landsat_8_c1/LC82260782020217LGN00/5e83d0b84df8d8c2"
            "#LC08_L1TP_226078_20200804_20200821_01_T1.tar.gz"
        ),
        "title": "Level-1 GeoTIFF Data Product",
        "type": "application/gzip",  # Collection 1 bundles are .tar.gz
        "roles": ["data", "archive"],
        "file:size": 904370712,
    }
    assert t.parse_download_ref(assets["bundle"]["href"]) == (
        "landsat_8_c1",
        "LC82260782020217LGN00",
        "5e83d0b84df8d8c2",
    )
    assert t.order_status(assets) == "orderable"


def test_full_scene_with_download_options_is_orderable():
    item = t.scene_to_item(full_scene(), "landsat_8_c1", download_options=data(OPTIONS))
    assert_valid(item)
    assert item["properties"]["order:status"] == "orderable"
    # order:status sits in the properties (required there by order v1.1.0), not on assets
    assert not any("order:status" in a for a in item["assets"].values())
    assert item["assets"]["bundle"]["file:size"] == 904370712
    assert {"thumbnail", "browse", "bundle"} <= set(item["assets"])
    assert ext.ORDER in item["stac_extensions"] and ext.FILE in item["stac_extensions"]
    # no wms product (LandsatLook renderings) became an m2m:// asset
    refs = [a["href"] for a in item["assets"].values() if a["href"].startswith("m2m://")]
    assert refs == [
        "m2m://landsat_8_c1/LC82260782020217LGN00/5e83d0b84df8d8c2"
        "#LC08_L1TP_226078_20200804_20200821_01_T1.tar.gz"
    ]


def test_download_options_of_another_scene_are_ignored():
    options = data(OPTIONS)
    for o in options:
        o["entityId"] = "LC80010012020001LGN00"
    item = t.scene_to_item(full_scene(), "landsat_8_c1", download_options=options)
    assert "bundle" not in item["assets"]
    assert "order:status" not in item["properties"]
    assert t.group_download_options(data(OPTIONS)).keys() == {"LC82260782020217LGN00"}


def test_unavailable_products_are_skipped():
    options = data(OPTIONS)
    for o in options:
        o["available"] = False  # M2M: "an order must be placed to generate that product"
    assert t.download_options_to_assets(options, "landsat_8_c1") == {}


SHA256 = "c5c6efd960a735ac49de4717668a7472681b6c8cf2d53292a6de822f911ebe63"
C2_DISPLAY = "LC08_L2SP_226078_20200804_20200914_02_T1"


def _secondary(suffix: str, sid: str, size: int, **kw) -> dict:
    name = f"{C2_DISPLAY}_{suffix}"
    entry = {
        "id": sid,
        "downloadName": suffix,
        "displayId": name,
        "entityId": "L2ST_" + name.replace(".", "_").upper(),
        "datasetId": "5e83d14fec7cae84",
        "available": True,
        "filesize": size,
        "productName": "Landsat Collection 2 Level-2 Band File",
        "productCode": "D688",
        "bulkAvailable": True,
        "downloadSystem": "dds",
        "secondaryDownloads": [],
        "fileGroups": ["ls_c2l2_all"],
    }
    entry.update(kw)
    return entry


def c2_download_options() -> list[dict]:
    """SYNTHETIC: no C2 download-options body was recorded (SOURCES.md).  Shaped after the
    official reference's `download-options` sample (a `folder` product whose
    `secondaryDownloads` are the band files, each with its own entityId/id, `checksum` as in
    the documented "Sample Format"), ids and sizes invented."""
    return [
        {
            "id": "5e83d14f30ea90a9",
            "displayId": C2_DISPLAY,
            "entityId": "LC82260782020217LGN00",
            "datasetId": "5e83d14f2fc39685",
            "available": True,
            "filesize": 1014935940,
            "productName": "Landsat Collection 2 Level-2 Product Bundle",
            "productCode": "D688",
            "bulkAvailable": True,
            "downloadSystem": "dds",
            "secondaryDownloads": [],
        },
        {
            "id": "5e83d14f567d0086",
            "downloadName": "C2L2 Tile Product Files",
            "displayId": C2_DISPLAY,
            "entityId": "LC82260782020217LGN00",
            "datasetId": "5e83d14f2fc39685",
            "available": True,
            "filesize": 0,
            "productName": "Landsat Collection 2 Level-2 Band File",
            "productCode": "D688",
            "bulkAvailable": True,
            "downloadSystem": "folder",
            "secondaryDownloads": [
                _secondary(
                    "SR_B4.TIF",
                    "a1b2c3d4e5f60001",
                    63452381,
                    checksum=[
                        {"id": "cksum", "value": 1876874104},
                        {"id": "sha256sum", "value": SHA256},
                    ],
                ),
                _secondary("ST_B10.TIF", "a1b2c3d4e5f60002", 51234567),
                _secondary("QA_PIXEL.TIF", "a1b2c3d4e5f60003", 2345678),
                _secondary("MTL.txt", "a1b2c3d4e5f60004", 12345),
                _secondary("MTL.xml", "a1b2c3d4e5f60005", 23456),
                _secondary("SR_B5.TIF", "a1b2c3d4e5f60006", 60000000, available=False),
            ],
        },
        {
            "id": "5e83d14fa1a2a3a4",
            "displayId": C2_DISPLAY,
            "entityId": "LC82260782020217LGN00",
            "datasetId": "5e83d14f2fc39685",
            "available": True,
            "filesize": 5784702,
            "productName": "LandsatLook Natural Color Image",
            "productCode": "D690",
            "bulkAvailable": True,
            "downloadSystem": "wms",
            "secondaryDownloads": [],
        },
    ]


def test_c2_band_files_become_cog_assets():
    assets = t.download_options_to_assets(c2_download_options(), "landsat_ot_c2_l2")
    assert set(assets) == {"bundle", "SR_B4", "ST_B10", "QA_PIXEL", "MTL_txt", "MTL_xml"}
    bundle = assets["bundle"]
    assert bundle["type"] == "application/x-tar"  # C2 bundles are .tar
    assert bundle["title"] == "Landsat Collection 2 Level-2 Product Bundle"
    assert bundle["file:size"] == 1014935940
    sr = assets["SR_B4"]
    assert sr["type"] == "image/tiff; application=geotiff; profile=cloud-optimized"
    assert sr["roles"] == ["data", "reflectance"]
    assert sr["eo:bands"] == [{"name": "B4", "common_name": "red"}]
    assert sr["file:size"] == 63452381
    assert sr["file:checksum"] == "1220" + SHA256
    # the band file's own entity id and product id go to download-request
    assert t.parse_download_ref(sr["href"]) == (
        "landsat_ot_c2_l2",
        f"L2ST_{C2_DISPLAY}_SR_B4_TIF",
        "a1b2c3d4e5f60001",
    )
    assert assets["ST_B10"]["roles"] == ["data", "temperature"]
    assert assets["ST_B10"]["eo:bands"][0]["common_name"] == "lwir11"
    assert assets["QA_PIXEL"]["roles"] == ["cloud", "cloud-shadow", "snow-ice", "water-mask"]
    assert assets["MTL_txt"]["type"] == "text/plain"
    assert assets["MTL_xml"]["type"] == "application/xml"
    assert assets["MTL_txt"]["roles"] == ["metadata"]
    assert all(a["href"].startswith("m2m://") for a in assets.values())


def test_band_numbering_follows_the_sensor():
    options = c2_download_options()
    assets = t.download_options_to_assets(options, "landsat_tm_c2_l2")
    assert assets["SR_B4"]["eo:bands"][0]["common_name"] == "nir08"  # TM band 4 is NIR
    assert "eo:bands" not in t.download_options_to_assets(options, "some_other_dataset")["SR_B4"]
    # a dataset not known as Collection 2: GeoTIFF, not claimed COG
    assert t.download_options_to_assets(options, "some_other_dataset")["SR_B4"]["type"] == (
        "image/tiff; application=geotiff"
    )


def test_c2_item_with_band_files_validates_and_matches_item_assets():
    scene = full_scene()
    scene["displayId"] = C2_DISPLAY
    item = t.scene_to_item(scene, "landsat_ot_c2_l2", download_options=c2_download_options())
    assert_valid(item)
    p = item["properties"]
    assert p["landsat:correction"] == "L2SP" and p["landsat:collection_number"] == "02"
    assert p["order:status"] == "orderable"
    coll = t.dataset_to_collection(datasets()["landsat_ot_c2_l2"])
    defs = coll["item_assets"]
    for key, asset in item["assets"].items():
        if asset["href"].startswith("m2m://") and key != "bundle":
            d = defs[key]
            assert (asset["title"], asset["type"], asset["roles"]) == (
                d["title"],
                d["type"],
                d["roles"],
            ), key
            assert asset.get("eo:bands") == d.get("eo:bands")
    assert defs["bundle"]["type"] == item["assets"]["bundle"]["type"]


def test_band_files_carry_the_shape_of_their_own_grid():
    """Reflective bands on the 30 m grid, the panchromatic band on the 15 m one (four times the
    pixels, its own `gsd`), thermal on the thermal grid; all from the recorded full metadata."""
    scene = full_scene()
    scene = _set_field(scene, "Thermal Lines", 7740)  # to tell the grids apart (recorded: equal)
    display = "LC08_L1TP_226078_20200804_20200821_02_T1"
    scene["displayId"] = display
    options = c2_download_options()
    folder = options[1]
    folder["secondaryDownloads"] = [
        {**_secondary(name, f"b{i}", 1000), "displayId": f"{display}_{name}"}
        for i, name in enumerate(("B4.TIF", "B8.TIF", "B10.TIF", "QA_PIXEL.TIF", "MTL.txt"))
    ]
    for o in options:
        o["displayId"] = display
    item = t.scene_to_item(scene, "landsat_ot_c2_l1", download_options=options)
    assert_valid(item)
    a = item["assets"]
    assert item["properties"]["proj:shape"] == [7741, 7661]
    assert item["properties"]["gsd"] == 30.0
    assert a["B4"]["proj:shape"] == [7741, 7661] and "gsd" not in a["B4"]
    assert a["B8"]["proj:shape"] == [15481, 15321] and a["B8"]["gsd"] == 15.0
    assert a["B10"]["proj:shape"] == [7740, 7661] and "gsd" not in a["B10"]
    # no band of its own (QA, metadata): the Item-level grid, or nothing for a text file
    assert "proj:shape" not in a["QA_PIXEL"] and "proj:shape" not in a["MTL_txt"]
    assert "proj:shape" not in a["bundle"]


def test_c2_field_list_has_no_grid_size_so_no_shape():
    """The Collection 2 full-metadata field list (the sandbox's, after a client that stores
    M2M's answer) names no lines/samples: such Items get `proj:epsg` only."""
    scene = full_scene()
    scene["metadata"] = [
        f for f in scene["metadata"] if not f["fieldName"].endswith(("Lines", "Samples"))
    ]
    scene["displayId"] = C2_DISPLAY
    item = t.scene_to_item(scene, "landsat_ot_c2_l2", download_options=c2_download_options())
    assert_valid(item)
    assert item["properties"]["proj:epsg"] == 32621
    assert not [
        k for a in [item["properties"], *item["assets"].values()] for k in a if k == "proj:shape"
    ]


# -- geometry -----------------------------------------------------------------------------------
ANTIMERIDIAN_RING = [
    [179.2, -16.9],
    [-179.4, -17.2],
    [-179.1, -15.6],
    [179.5, -15.3],
    [179.2, -16.9],
]


@pytest.mark.parametrize(
    "ring",
    [
        ANTIMERIDIAN_RING,
        # the same footprint written with unwrapped longitudes (dataset bounds reach 197.6°)
        [[179.2, -16.9], [180.6, -17.2], [180.9, -15.6], [179.5, -15.3], [179.2, -16.9]],
    ],
)
def test_footprint_over_the_antimeridian_is_split(ring):
    """SYNTHETIC footprint: a Fiji scene crossing the antimeridian (none was recorded)."""
    scene = summary_scene()
    scene["spatialCoverage"] = {"type": "Polygon", "coordinates": [ring]}
    item = t.scene_to_item(scene, "landsat_8_c1")
    assert_valid(item)
    g = item["geometry"]
    assert g["type"] == "MultiPolygon"
    w, s, e, n = item["bbox"]
    assert w == 179.2 and e == pytest.approx(-179.1) and w > e  # RFC 7946 §5.2
    assert (s, n) == (-17.2, -15.3)
    for poly in g["coordinates"]:
        assert all(-180.0 <= x <= 180.0 for x, _ in poly[0])


def test_spatial_bounds_when_no_footprint():
    scene = summary_scene()
    del scene["spatialCoverage"]
    item = t.scene_to_item(scene, "landsat_8_c1")
    assert item["bbox"] == [-71.95354, -34.23147, -69.47149, -32.12253]
    assert item["geometry"]["type"] == "Polygon"
    scene["spatialCoverage"] = {"type": "Polygon", "coordinates": [[[1, 2], "junk"]]}
    assert t.scene_to_item(scene, "landsat_8_c1")["bbox"] == item["bbox"]
    del scene["spatialBounds"]
    scene["spatialCoverage"] = None
    item = t.scene_to_item(scene, "landsat_8_c1")
    assert item["geometry"] is None and "bbox" not in item


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s.update(metadata="junk"),
        lambda s: s.update(metadata=[{"fieldName": ["x"], "value": 1}]),
        lambda s: s.update(temporalCoverage="2020-01-01"),
        lambda s: s.update(browse=[None, {"browseName": None}]),
        lambda s: s.update(cloudCover={"x": 1}),
        lambda s: s.update(publishDate=12),
        lambda s: s.update(displayId=None),
        lambda s: s.update(spatialCoverage={"type": "MultiPolygon", "coordinates": [[]]}),
    ],
)
def test_malformed_records_do_not_crash(mutate):
    scene = full_scene()
    mutate(scene)
    item = t.scene_to_item(scene, "landsat_8_c1", download_options=[None, {"entityId": 1}])
    assert item["type"] == "Feature"


# -- collections ----------------------------------------------------------------------------------
@pytest.mark.parametrize("alias", list(datasets()))
def test_every_recorded_dataset_is_a_valid_collection(alias):
    ds = datasets()[alias]
    coll = t.dataset_to_collection(ds)
    assert_valid(coll)
    assert coll["id"] == alias
    assert coll["license"] == "proprietary"
    assert coll["providers"][0]["name"] == "USGS EROS"
    w, s, e, n = coll["extent"]["spatial"]["bbox"][0]
    assert -180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= n <= 90
    start, end = coll["extent"]["temporal"]["interval"][0]
    assert start is None or start[:4] >= "1800"
    assert (end is None) == (ds["acquisitionEnd"] is None)


def test_landsat_ot_c2_l2_collection():
    coll = t.dataset_to_collection(datasets()["landsat_ot_c2_l2"])
    assert coll["title"] == (
        "Landsat 8 Operational Land Imager and Thermal Infrared Sensor Collection 2 Level-2"
    )
    assert coll["description"].startswith("The USGS Earth Resources Observation")
    # east 194.44 / west -180.01 span more than the globe; nothing beyond the poles
    assert coll["extent"]["spatial"]["bbox"] == [[-180.0, -84.5179167308749, 180.0, 84.44182683484]]
    # temporalCoverage starts before acquisitionStart (2013-04-11); still acquiring: open end
    assert coll["extent"]["temporal"]["interval"] == [["2013-03-18T00:00:00Z", None]]
    assert coll["sci:doi"] == "10.5066/P9OGBGM6"  # "https://doi.org/10.5066/P9OGBGM6 "
    links = {link["rel"]: link["href"] for link in coll["links"]}
    assert links == {
        "cite-as": "https://doi.org/10.5066/P9OGBGM6",
        "license": t.USGS_PUBLIC_DOMAIN,
    }
    assert coll["summaries"] == {
        "platform": ["landsat-8", "landsat-9"],
        "instruments": ["oli", "tirs"],
        "constellation": ["landsat"],
    }
    assert set(coll["providers"][0]["roles"]) == {"licensor", "producer", "processor", "host"}
    assert "None" not in coll["keywords"] and "Landsat 8 Collection 1" in coll["keywords"]
    ia = coll["item_assets"]
    assert {"bundle", "SR_B1", "SR_B7", "ST_B10", "QA_PIXEL", "MTL_json"} <= set(ia)
    assert "B8" not in ia  # no panchromatic band at Level-2
    assert ia["SR_B4"]["type"] == media.COG
    assert ia["SR_B4"]["eo:bands"] == [{"name": "B4", "common_name": "red"}]
    assert ia["MTL_xml"] == {
        "title": "Product Metadata File (xml)",
        "type": "application/xml",
        "roles": ["metadata"],
    }


def test_other_recorded_collections():
    ds = datasets()
    l1 = t.dataset_to_collection(ds["landsat_ot_c2_l1"])
    assert {"B1", "B8", "B11", "QA_PIXEL", "VZA"} <= set(l1["item_assets"])
    tm = t.dataset_to_collection(ds["landsat_tm_c2_l2"])
    assert tm["summaries"]["platform"] == ["landsat-4", "landsat-5"]
    assert tm["summaries"]["instruments"] == ["tm"]
    assert tm["item_assets"]["ST_B6"]["eo:bands"][0]["common_name"] == "lwir"
    c1 = t.dataset_to_collection(ds["landsat_8_c1"])
    assert "item_assets" not in c1  # C1 bands are not separate downloads
    assert c1["summaries"]["platform"] == ["landsat-8"]

    gls = t.dataset_to_collection(ds["gls_all"])
    assert gls["extent"]["temporal"]["interval"] == [
        ["1972-07-25T00:00:00Z", "2012-01-30T23:59:59Z"]
    ]
    assert gls["summaries"] == {}  # five sensors incl. EO-1 ALI: not derived from the alias
    assert gls["extent"]["spatial"]["bbox"] == [
        [-180.0, -69.3502337564158, 180.0, 82.6855268254304]
    ]

    s2 = t.dataset_to_collection(ds["sentinel_2a"])
    assert s2["extent"]["spatial"]["bbox"][0][1] == -90.0  # recorded south: -97.68
    assert s2["providers"][0]["roles"] == ["host"]  # ESA data: USGS only distributes it
    assert not [link for link in s2["links"] if link["rel"] == "license"]
    assert s2["summaries"] == {}

    ev = t.dataset_to_collection(ds["event1058"])
    assert ev["extent"]["spatial"]["bbox"] == [[-180.0, -90.0, 180.0, 90.0]]
    assert ev["extent"]["temporal"]["interval"] == [[None, None]]  # "0021-09-16" is junk
    assert "sci:doi" not in ev and ext.SCIENTIFIC not in ev["stac_extensions"]
    assert ev["description"] == ev["title"] == "200412_Tsunami_IndianOcean"

    ev741 = t.dataset_to_collection(ds["event741"])
    assert ev741["extent"]["temporal"]["interval"] == [["1897-04-05T00:00:00Z", None]]
    assert ev741["extent"]["spatial"]["bbox"] == [[-90.834243, 28.73708, -87.896247, 31.936818]]

    emodis = t.dataset_to_collection(ds["emodis_ndvi_v6"])
    assert emodis["extent"]["temporal"]["interval"] == [
        ["2013-11-01T00:00:00Z", "2016-04-11T23:59:59Z"]
    ]


# -- queryables ---------------------------------------------------------------------------------
def test_filters_to_queryables():
    filters = data(FILTERS)
    q = t.filters_to_queryables(filters)
    jsonschema.Draft7Validator.check_schema({"type": "object", "properties": q})
    assert q["eo:cloud_cover"] == {
        "title": "Scene Cloud Cover",
        "type": "number",
        "minimum": 0,
        "maximum": 100,
    }
    assert q["landsat:cloud_cover_land"]["maximum"] == 100
    assert q["landsat:collection_category"]["enum"] == ["T1", "T2", "RT"]
    assert q["landsat:correction"]["enum"] == ["L1TP", "L1GT", "L1GS"]
    assert q["landsat:wrs_path"]["type"] == "string"  # zero-padded strings, as on Items
    assert q["landsat:wrs_row"]["title"] == "WRS Row"
    assert q["id"] == {"title": "Landsat Product Identifier", "type": "string"}
    assert q["landsat:scene_id"]["type"] == "string"
    assert q["view:sun_elevation"]["minimum"] == -90
    assert q["m2m:day_night_indicator"]["enum"] == ["DAY", "NIGHT"]
    assert q["m2m:sensor_identifier"]["enum"] == ["OLI", "OLI_TIRS", "TIRS"]
    assert q["m2m:nadir_off_nadir"]["enum"] == ["NADIR", "OFFNADIR"]
    assert q["m2m:date_l_1_generated"]["format"] == "date"
    assert q["m2m:geometric_rmse_model"]["type"] == "number"
    # every filter is reachable under exactly one name, and back
    assert len(q) == len(filters) == 14
    back = {t.queryable_to_filter(name, filters)["id"] for name in q}
    assert back == {f["id"] for f in filters}


def test_queryable_to_filter():
    filters = data(FILTERS)
    f = t.queryable_to_filter("eo:cloud_cover", filters)
    assert (f["id"], f["searchSql"]) == ("5f3bf2fb77bbbeb2", "CLOUD_COVER <= ?")
    assert t.queryable_to_filter("landsat:cloud_cover_land", filters)["id"] == "5f3bedf0d676088b"
    assert t.queryable_to_filter("id", filters)["searchSql"] == "EE_DISPLAY_ID like ?"
    assert t.queryable_to_filter("landsat:wrs_path", filters)["id"] == "5e83d0b81d20cee8"
    assert t.queryable_to_filter("m2m:day_night_indicator", filters)["id"] == "5e83d0b83a03f8ee"
    assert t.queryable_to_filter("platform", filters) is None


def test_landsat_names_only_for_landsat_datasets():
    q = t.filters_to_queryables(data(FILTERS), dataset_alias="naip")
    assert not [k for k in q if k.startswith("landsat:")]
    assert "eo:cloud_cover" in q and "m2m:wrs_path" in q
    assert t.queryable_to_filter("m2m:wrs_path", data(FILTERS), "naip")["id"] == (
        "5e83d0b81d20cee8"
    )
