"""CMR UMM JSON → STAC, on the recorded CMR responses in `stacbridge/sandbox/fixtures/cmr/`.

Synthetic records below are derived from recorded ones where no recording has the case
(SOURCES.md: no recorded granule uses `Points`, `Lines` or a GPolygon `ExclusiveZone`).
"""

from __future__ import annotations

import copy
import json
from functools import cache

import pytest
from shapely.geometry import shape

from stacbridge.providers.cmr import translate as t
from stacbridge.stac import extensions as ext
from stacbridge.stac import geometry as geo
from stacbridge.stac import media
from tests.conftest import FIXTURES, validate_stac

CMR = FIXTURES / "cmr"
HLS_S30_CONCEPT = "C2021957295-LPCLOUD"


@cache
def _load(name: str) -> dict:
    return json.loads((CMR / name).read_text())


def records(name: str) -> list[dict]:
    return copy.deepcopy(_load(name)["items"])


def _granule_files() -> list[str]:
    return sorted(p.name for p in CMR.glob("granules_umm_json__*.json"))


def _collection_records() -> list[tuple[str, dict]]:
    out = []
    for p in sorted(CMR.glob("collections_umm_json__*.json")):
        for i, rec in enumerate(json.loads(p.read_text())["items"]):
            out.append((f"{p.stem}[{i}]", rec))
    out.append(("HLSS30 bare UMM-C", hls_s30_record()))
    return out


def hls_s30_record() -> dict:
    """The bare HLSS30 UMM-C document, wrapped the way a search response would carry it."""
    umm = json.loads((CMR / "concept_umm_c__HLSS30_C2021957295-LPCLOUD.json").read_text())
    return {"meta": {"concept-id": HLS_S30_CONCEPT, "provider-id": "LPCLOUD"}, "umm": umm}


def as_served(obj: dict) -> dict:
    """The object with the links the gateway adds (STAC 1.0.0 requires a `collection` link
    whenever an Item names its collection)."""
    out = dict(obj)
    links = list(obj.get("links", []))
    links.append({"rel": "self", "href": "http://gateway.test/self"})
    if obj.get("type") == "Feature" and "collection" in obj:
        links.append({"rel": "collection", "href": "http://gateway.test/collection"})
    out["links"] = links
    return out


def hls_item(i: int = 0, **kw) -> dict:
    return t.granule_to_item(records("granules_umm_json__HLSL30_LPCLOUD__2hits.json")[i], **kw)


def ring_area(ring: list[list[float]]) -> float:
    return geo.signed_area(ring)


# -- ids ----------------------------------------------------------------------------------------
def test_collection_id_round_trip():
    assert t.collection_id("HLSL30", "2.0") == "HLSL30.v2.0"
    assert t.parse_collection_id("HLSL30.v2.0") == ("HLSL30", "2.0")
    assert t.parse_collection_id("MUR-JPL-L4-GLOB-v4.1.v4.1") == ("MUR-JPL-L4-GLOB-v4.1", "4.1")
    assert t.parse_collection_id("Daymet_Daily_V4R1_2129.v4.5") == ("Daymet_Daily_V4R1_2129", "4.5")
    for bad in ("landsat_ot_c2_l2", "MOD11A1.061", ".v1", "X.v", ""):
        assert t.parse_collection_id(bad) is None


def test_concept_id_helpers():
    rec = records("granules_umm_json__GAMSSA_POCLOUD__1hit.json")[0]
    assert t.granule_concept_id(rec) == "G3264876018-POCLOUD"
    assert t.granule_collection_concept_id(rec) == "C2036881735-POCLOUD"
    assert t.collection_concept_id(hls_s30_record()) == HLS_S30_CONCEPT
    item = t.granule_to_item(rec)
    assert "G3264876018-POCLOUD" not in json.dumps(item["properties"])


# -- every recorded object validates ----------------------------------------------------------
@pytest.mark.parametrize("name", _granule_files())
def test_every_recorded_granule_translates_to_a_valid_item(name):
    for rec in records(name):
        item = t.granule_to_item(rec)
        assert item["type"] == "Feature" and item["stac_version"] == "1.0.0"
        assert item["id"] == rec["umm"]["GranuleUR"]
        assert item["links"] == []
        assert item["assets"], "every recorded granule has at least one asset"
        validate_stac(as_served(item))
        # extensions listed are exactly the ones used
        blob = json.dumps({k: v for k, v in item.items() if k != "stac_extensions"})
        for url, marker in _EXTENSION_MARKERS.items():
            assert (url in item["stac_extensions"]) == (marker in blob), url
        if item["geometry"] is not None:
            assert len(item["bbox"]) == 4


_EXTENSION_MARKERS = {
    ext.EO: '"eo:',
    ext.PROJECTION: '"proj:',
    ext.FILE: '"file:',
    ext.GRID: '"grid:',
    ext.SAT: '"sat:',
    ext.VIEW: '"view:',
    ext.SCIENTIFIC: '"sci:',
    ext.PROCESSING: '"processing:',
    ext.ALTERNATE: '"alternate"',
}


@pytest.mark.parametrize(("label", "rec"), _collection_records(), ids=lambda v: str(v)[:40])
def test_every_recorded_collection_translates_to_a_valid_collection(label, rec):
    coll = t.collection_to_stac(rec)
    assert coll["type"] == "Collection"
    assert coll["id"] == t.collection_id(rec["umm"]["ShortName"], rec["umm"]["Version"])
    assert coll["providers"], label
    validate_stac(as_served(coll))
    assert not [k for k in coll if k not in _COLLECTION_KEYS], "no unprefixed custom fields"


_COLLECTION_KEYS = {
    "type", "stac_version", "stac_extensions", "id", "title", "description", "keywords",
    "license", "providers", "extent", "summaries", "links", "assets", "sci:doi", "sci:citation",
}  # fmt: skip


# -- HLS ------------------------------------------------------------------------------------
HLS_BANDS = {"B01", "B02", "B03", "B04", "B05", "B06", "B07", "B09", "B10", "B11"}
HLS_KEYS = HLS_BANDS | {
    "Fmask", "SAA", "SZA", "VAA", "VZA", "thumbnail", "metadata_stac", "metadata_cmr",
}  # fmt: skip


def test_hls_asset_keys_are_unique_stable_and_named_after_the_file():
    item = hls_item()
    assert set(item["assets"]) == HLS_KEYS
    assert item["assets"]["B03"]["href"].endswith("HLS.L30.T15UXP.2024042T165831.v2.0.B03.tif")
    assert item["assets"]["Fmask"]["href"].endswith(".v2.0.Fmask.tif")
    # order of RelatedUrls does not change the key of any file
    rec = records("granules_umm_json__HLSL30_LPCLOUD__2hits.json")[0]
    rec["umm"]["RelatedUrls"].reverse()
    again = t.granule_to_item(rec)
    assert {k: a["href"] for k, a in again["assets"].items()} == {
        k: a["href"] for k, a in item["assets"].items()
    }
    assert set(hls_item(1)["assets"]) == HLS_KEYS


def test_clashing_asset_keys_are_numbered_from_two():
    # one `unique_key` for every translator: the first asset keeps the key, the second is _2
    rec = records("granules_umm_json__NLDAS_GES_DISC__box_onprem.json")[0]
    service = {"Type": "USE SERVICE API", "Subtype": "OPENDAP DATA"}
    rec["umm"]["RelatedUrls"] = [
        {"URL": "https://h/opendap/a.nc", **service},
        {"URL": "https://h/opendap/b.nc", **service},
    ]
    assets = t.granule_to_item(rec)["assets"]
    assert list(assets) == ["opendap", "opendap_2"]


def test_hls_bands_are_cogs_with_s3_alternates_and_roles():
    item = hls_item()
    b03 = item["assets"]["B03"]
    assert b03["type"] == "image/tiff; application=geotiff; profile=cloud-optimized"
    assert b03["roles"] == ["data"]
    assert b03["alternate"] == {
        "s3": {
            "href": "s3://lp-prod-protected/HLSL30.020/HLS.L30.T15UXP.2024042T165831.v2.0/"
            "HLS.L30.T15UXP.2024042T165831.v2.0.B03.tif",
            "title": "Direct S3 access",
        }
    }
    assert all(
        item["assets"][k]["type"] == media.COG and "s3" in item["assets"][k]["alternate"]
        for k in HLS_BANDS
    )
    assert item["assets"]["thumbnail"]["roles"] == ["thumbnail"]
    assert item["assets"]["thumbnail"]["type"] == "image/jpeg"
    assert item["assets"]["metadata_cmr"]["roles"] == ["metadata"]
    assert item["assets"]["metadata_stac"]["type"] == "application/json"
    # the s3credentials endpoint is not an asset; no https data URL is dropped
    hrefs = {a["href"] for a in item["assets"].values()}
    rec = records("granules_umm_json__HLSL30_LPCLOUD__2hits.json")[0]
    for ru in rec["umm"]["RelatedUrls"]:
        if ru["Type"] == "GET DATA":
            assert ru["URL"] in hrefs
    assert not any("s3credentials" in h for h in hrefs)
    assert ext.ALTERNATE in item["stac_extensions"]


def test_hls_without_known_cog_collection_is_plain_geotiff():
    item = hls_item(collection_id="SOMETHING.v1", cog=False)
    assert item["assets"]["B03"]["type"] == "image/tiff; application=geotiff"
    assert hls_item(collection_id="HLSL30.v2.0")["assets"]["B03"]["type"] == media.COG


def test_hls_properties():
    p = hls_item()["properties"]
    assert p["datetime"] == "2024-02-11T16:58:31.150Z"
    assert p["start_datetime"] == p["end_datetime"] == "2024-02-11T16:58:31.150Z"
    assert p["created"] == p["updated"] == "2024-02-15T00:21:32.710Z"
    assert p["platform"] == "landsat-9"
    assert p["instruments"] == ["oli"]
    assert "constellation" not in p  # not derivable from "LANDSAT-9" without guessing
    assert p["eo:cloud_cover"] == 100.0
    assert p["grid:code"] == "MGRS-15UXP"
    assert p["view:sun_azimuth"] == pytest.approx(158.08943194)
    assert p["view:sun_elevation"] == pytest.approx(90 - 64.5797445)
    assert p["view:incidence_angle"] == pytest.approx(6.19114289)
    assert p["sci:doi"] == "10.5067/HLS/HLSL30.002"
    assert p["processing:datetime"] == "2024-02-15T00:21:01.000Z"
    assert p["gsd"] == 30.0
    assert not [k for k in p if k.startswith(("cmr", "concept"))]


def test_hls_projection_from_tile_attributes():
    item = hls_item()
    assert ext.PROJECTION in item["stac_extensions"]
    for key in HLS_BANDS | {"Fmask", "SAA", "SZA", "VAA", "VZA"}:
        a = item["assets"][key]
        assert a["proj:epsg"] == 32615  # MGRS 15U: UTM zone 15 north
        assert a["proj:shape"] == [3660, 3660]
        assert a["proj:transform"] == [30.0, 0.0, 600000.0, 0.0, -30.0, 5400000.0]
        assert a["proj:bbox"] == [600000.0, 5290200.0, 709800.0, 5400000.0]
    for key in ("thumbnail", "metadata_cmr", "metadata_stac"):
        assert not [k for k in item["assets"][key] if k.startswith("proj:")]
    assert item["assets"]["B01"]["proj:transform"][2] == 600000.0
    assert hls_item(1)["assets"]["B01"]["proj:transform"][2] == 499980.0


def test_proj_needs_every_input_and_a_consistent_zone():
    rec = records("granules_umm_json__HLSL30_LPCLOUD__2hits.json")[0]
    rec["umm"]["AdditionalAttributes"] = [
        a for a in rec["umm"]["AdditionalAttributes"] if a["Name"] != "NROWS"
    ]
    b03 = t.granule_to_item(rec)["assets"]["B03"]
    assert b03["proj:epsg"] == 32615
    assert "proj:shape" not in b03 and "proj:transform" not in b03

    rec = records("granules_umm_json__HLSL30_LPCLOUD__2hits.json")[0]
    for a in rec["umm"]["AdditionalAttributes"]:
        if a["Name"] == "HORIZONTAL_CS_NAME":
            a["Values"] = ["UTM, WGS84, UTM ZONE 16"]  # disagrees with tile 15UXP
    item = t.granule_to_item(rec)
    assert "proj:epsg" not in item["assets"]["B03"]
    assert ext.PROJECTION not in item["stac_extensions"]


def test_mgrs_southern_hemisphere_epsg():
    rec = records("granules_umm_json__HLSL30_LPCLOUD__2hits.json")[0]
    for a in rec["umm"]["AdditionalAttributes"]:
        if a["Name"] == "MGRS_TILE_ID":
            a["Values"] = ["55HBU"]
        if a["Name"] == "HORIZONTAL_CS_NAME":
            a["Values"] = ["UTM, WGS84, UTM ZONE 55"]
    item = t.granule_to_item(rec)
    assert item["properties"]["grid:code"] == "MGRS-55HBU"
    assert item["assets"]["B03"]["proj:epsg"] == 32755


def test_hls_polygon_keeps_cmr_counter_clockwise_ring():
    item = hls_item()
    assert item["geometry"]["type"] == "Polygon"
    ring = item["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and ring_area(ring) > 0
    assert item["bbox"] == [-91.66566865, 47.74962083, -90.97433358, 48.20130094]


def test_hls_collection_falls_back_to_concept_id_when_only_entry_title_is_given():
    item = hls_item()
    assert item["collection"] == "C2021957657-LPCLOUD"
    assert hls_item(collection_id="HLSL30.v2.0")["collection"] == "HLSL30.v2.0"


def test_cloud_cover_outside_0_100_is_dropped():
    rec = records("granules_umm_json__HLSL30_LPCLOUD__2hits.json")[0]
    rec["umm"]["CloudCover"] = 140
    item = t.granule_to_item(rec)
    assert "eo:cloud_cover" not in item["properties"]
    rec["umm"]["CloudCover"] = 12.5
    assert t.granule_to_item(rec)["properties"]["eo:cloud_cover"] == 12.5


# -- files: sizes and checksums -------------------------------------------------------------------
def test_daymet_file_size_and_sha256_multihash():
    item = t.granule_to_item(records("granules_umm_json__Daymet_ORNL_CLOUD__box_10items.json")[0])
    data = item["assets"]["data"]
    assert data["href"].endswith("/daymet_v4_daily_pr_dayl_1950.nc")
    assert data["type"] == "application/netcdf"
    assert data["file:size"] == 2015649
    assert data["file:checksum"] == (
        "1220449827b2ede5fe14d716f39d06d6338c96032b26ec0fb3225a73d9ed45f0409f"
    )
    assert data["alternate"]["s3"]["href"].startswith("s3://ornl-cumulus-prod-protected/")
    sidecar = item["assets"]["data_sha256"]
    assert sidecar["href"].endswith(".nc.sha256") and sidecar["roles"] == ["metadata"]
    assert item["assets"]["opendap"]["roles"] == ["service"]
    # documentation, DOI landing page and s3credentials are collection-level, not assets
    assert len(item["assets"]) == 3
    assert item["collection"] == "Daymet_Daily_V4R1_2129.v4.5"
    assert item["properties"]["start_datetime"] == "1950-01-01T00:00:00.000Z"
    assert item["properties"]["end_datetime"] == "1950-12-31T23:59:59.000Z"
    assert item["properties"]["datetime"] == item["properties"]["start_datetime"]


def test_md5_multihash_uses_a_varint_function_code():
    # multihash is <varint code><varint length><digest>; md5 is code 0xd5 → varint d5 01
    item = t.granule_to_item(records("granules_umm_json__GAMSSA_POCLOUD__1hit.json")[0])
    data = item["assets"]["data"]
    assert data["file:checksum"] == "d50110" + "ed46e0dae99d7c5a84c4b659ebbdb2f0"
    assert data["file:size"] == 1036053  # the entry is named after the file
    assert item["assets"]["data_md5"]["file:size"] == 103


def test_swot_named_archive_entries_match_their_files():
    item = t.granule_to_item(
        records("granules_umm_json__SWOT_RiverSP_POCLOUD__track__TRUNCATED_2of62.json")[0]
    )
    assert item["assets"]["data"]["href"].endswith("_PIC0_01.zip")
    assert item["assets"]["data"]["file:size"] == 1701520
    assert item["assets"]["data"]["file:checksum"] == "d50110" + "04b11a68fa3f047bea87f0d8b73ab938"
    assert {"metadata_rc", "metadata_met", "metadata_zip.iso", "metadata_log"} <= set(
        item["assets"]
    )
    # Track comes with BoundingRectangles: the footprint is the box
    assert item["geometry"]["type"] == "Polygon"
    assert item["bbox"][0] == pytest.approx(-0.8696865730302079)


def test_an_unnamed_archive_entry_is_not_spread_over_many_files():
    item = hls_item()  # one "Not provided" entry, fifteen files
    assert not [k for a in item["assets"].values() for k in a if k.startswith("file:")]
    assert ext.FILE not in item["stac_extensions"]


@pytest.mark.parametrize(
    ("entry", "size"),
    [
        ({"SizeInBytes": 123, "Size": 1.0, "SizeUnit": "MB"}, 123),
        ({"Size": 2.015649, "SizeUnit": "MB"}, 2015649),  # decimal megabytes (ORNL)
        ({"Size": 0.9880571365356445, "SizeUnit": "MB"}, 1036053),  # binary (PO.DAAC)
        ({"Size": 2.0, "SizeUnit": "MB"}, None),  # 2,000,000 or 2,097,152: unknowable
        ({"Size": 589.2875518799, "SizeUnit": "NA"}, None),
        ({"Size": 1.5, "SizeUnit": "KB"}, None),  # 1500 and 1536 are both whole
        ({"Size": 1.46484375, "SizeUnit": "KB"}, 1500),
        ({"Size": 3, "SizeUnit": "GB"}, None),
    ],
)
def test_size_in_bytes(entry, size):
    assert t._size_bytes(entry) == size


@pytest.mark.parametrize(
    ("algo", "value", "prefix"),
    [
        ("SHA-256", "ab" * 32, "1220"),
        ("MD5", "ab" * 16, "d50110"),
        ("SHA-512", "ab" * 64, "1340"),
        ("SHA-1", "ab" * 20, "1114"),
        ("Adler-32", "abcd1234", None),
        ("MD5", "ab" * 15, None),  # wrong length
    ],
)
def test_checksum_multihash(algo, value, prefix):
    got = t._checksum({"Checksum": {"Algorithm": algo, "Value": value.upper()}})
    assert got == (prefix + value if prefix else None)


def test_archive_entries_with_files_sub_lists():
    rec = records("granules_umm_json__GAMSSA_POCLOUD__1hit.json")[0]
    dg = rec["umm"]["DataGranule"]
    dg["ArchiveAndDistributionInformation"] = [
        {"Name": "granule.tar", "SizeInBytes": 1, "Files": dg["ArchiveAndDistributionInformation"]}
    ]
    data = t.granule_to_item(rec)["assets"]["data"]
    assert data["file:size"] == 1036053


# -- geometry forms ----------------------------------------------------------------------------
def test_atl03_orbit_only_has_no_geometry_and_no_bbox():
    item = t.granule_to_item(records("granules_umm_json__ATL03_NSIDC_ECS__orbit.json")[0])
    assert item["geometry"] is None
    assert "bbox" not in item
    assert item["properties"]["sat:orbit_state"] == "descending"
    assert item["properties"]["sat:absolute_orbit"] == 22728
    assert "collection" not in item  # only an EntryTitle and no concept id: nothing to name
    assert item["assets"]["data"]["href"].endswith("ATL03_20221012161617_03351705_005_01.h5")
    assert item["assets"]["data"]["type"] == "application/x-hdf5"
    thumbs = [k for k, a in item["assets"].items() if a["roles"] == ["thumbnail"]]
    assert len(thumbs) == 35 and "thumbnail" in thumbs
    assert item["assets"]["metadata_iso"]["href"].endswith(".iso.xml")


def test_global_box():
    item = t.granule_to_item(
        records("granules_umm_json__GPM_3IMERGHH_GES_DISC__global_box.json")[0]
    )
    assert item["geometry"]["type"] == "Polygon"
    assert item["bbox"] == [-180, -90, 180, 90]
    assert item["assets"]["data"]["file:size"] == 10562588  # 10.07326889038086 binary MB
    assert item["collection"] == "GPM_3IMERGHH.v06"


def test_modis_swath_over_the_antimeridian_is_a_multipolygon():
    rec = records("granules_umm_json__MOD02QKM_LAADS__search_after_p2.json")[0]
    item = t.granule_to_item(rec)
    assert item["geometry"]["type"] == "MultiPolygon"
    west, _, east, _ = item["bbox"]
    assert west > east
    assert (west, east) == (149.302688, -171.857924)
    for poly in item["geometry"]["coordinates"]:
        assert ring_area(poly[0]) > 0
    assert shape(item["geometry"]).is_valid
    validate_stac(as_served(item))


def test_modis_swath_round_the_north_pole_reaches_it():
    item = t.granule_to_item(records("granules_umm_json__MOD02QKM_LAADS__search_after_p1.json")[0])
    assert item["geometry"]["type"] == "Polygon"
    assert item["bbox"] == [-180.0, 66.835767, 180.0, 90.0]
    assert shape(item["geometry"]).is_valid


def test_bounding_rectangle_over_the_antimeridian():
    rec = records("granules_umm_json__Daymet_ORNL_CLOUD__box_10items.json")[0]
    br = rec["umm"]["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]
    br["BoundingRectangles"] = [
        {
            "WestBoundingCoordinate": 172.5,
            "EastBoundingCoordinate": -175.25,
            "NorthBoundingCoordinate": 19.9382,
            "SouthBoundingCoordinate": 16.8444,
        }
    ]
    item = t.granule_to_item(rec)
    assert item["geometry"]["type"] == "MultiPolygon"
    assert item["bbox"] == [172.5, 16.8444, -175.25, 19.9382]
    validate_stac(as_served(item))


def _with_geometry(geometry: dict) -> dict:
    rec = records("granules_umm_json__NLDAS_GES_DISC__box_onprem.json")[0]
    rec["umm"]["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"] = geometry
    return t.granule_to_item(rec)


def _pts(*xy: tuple[float, float]) -> list[dict]:
    return [{"Longitude": x, "Latitude": y} for x, y in xy]


def test_gpolygon_with_exclusive_zone_becomes_a_polygon_with_a_clockwise_hole():
    # synthetic: no recorded granule has an ExclusiveZone; both rings CCW as CMR requires
    boundary = _pts((-100, 30), (-90, 30), (-90, 40), (-100, 40), (-100, 30))
    hole = _pts((-96, 34), (-94, 34), (-94, 36), (-96, 36), (-96, 34))
    item = _with_geometry(
        {
            "GPolygons": [
                {
                    "Boundary": {"Points": boundary},
                    "ExclusiveZone": {"Boundaries": [{"Points": hole}]},
                }
            ]
        }
    )
    exterior, hole = item["geometry"]["coordinates"]
    assert ring_area(exterior) > 0 and ring_area(hole) < 0
    assert shape(item["geometry"]).area == pytest.approx(100 - 4)
    assert item["bbox"] == [-100, 30, -90, 40]
    validate_stac(as_served(item))


def test_clockwise_gpolygon_is_reoriented():
    item = _with_geometry(
        {"GPolygons": [{"Boundary": {"Points": _pts((0, 0), (0, 1), (1, 1), (1, 0), (0, 0))}}]}
    )
    assert ring_area(item["geometry"]["coordinates"][0]) > 0


def test_points_and_lines():
    # synthetic: SOURCES.md notes no recorded granule with Points or Lines
    one = _with_geometry({"Points": _pts((10, 20))})
    assert one["geometry"] == {"type": "Point", "coordinates": [10.0, 20.0]}
    assert one["bbox"] == [10.0, 20.0, 10.0, 20.0]
    many = _with_geometry({"Points": _pts((10, 20), (11, 21))})
    assert many["geometry"]["type"] == "MultiPoint"
    line = _with_geometry({"Lines": [{"Points": _pts((0, 0), (1, 1), (2, 0))}]})
    assert line["geometry"]["type"] == "LineString"
    assert line["bbox"] == [0, 0, 2, 1]
    lines = _with_geometry(
        {"Lines": [{"Points": _pts((0, 0), (1, 1))}, {"Points": _pts((5, 5), (6, 6))}]}
    )
    assert lines["geometry"]["type"] == "MultiLineString"
    # STAC 1.0.0 has no GeometryCollection: with points and lines, the lines are the footprint
    mixed = _with_geometry({"Points": _pts((50, 50)), "Lines": [{"Points": _pts((0, 0), (1, 1))}]})
    assert mixed["geometry"]["type"] == "LineString"
    assert mixed["bbox"] == [0, 0, 1, 1]
    for item in (one, many, line, lines, mixed):
        validate_stac(as_served(item))


def test_unusable_geometry_gives_none_not_an_invented_footprint():
    assert (
        _with_geometry({"GPolygons": [{"Boundary": {"Points": _pts((0, 0))}}]})["geometry"] is None
    )
    assert _with_geometry({"GPolygons": [{"Boundary": {}}]})["geometry"] is None
    assert _with_geometry({"Points": [{"Longitude": "x"}]})["geometry"] is None


# -- time ---------------------------------------------------------------------------------------
def test_single_date_time():
    rec = records("granules_umm_json__NLDAS_GES_DISC__box_onprem.json")[0]
    rec["umm"]["TemporalExtent"] = {"SingleDateTime": "2019-02-20T06:00:00+02:00"}
    p = t.granule_to_item(rec)["properties"]
    assert p["datetime"] == "2019-02-20T04:00:00Z"
    assert "start_datetime" not in p


# -- collections ----------------------------------------------------------------------------
def _collection(name: str, i: int = 0) -> dict:
    return t.collection_to_stac(records(name)[i])


def test_gamssa_collection():
    c = _collection("collections_umm_json__GAMSSA_POCLOUD.json")
    assert c["id"] == "GAMSSA_28km-ABOM-L4-GLOB-v01.v1.0"
    assert c["title"].startswith("GHRSST Level 4 GAMSSA_28km")
    assert c["description"].startswith("A Group for High Resolution Sea Surface Temperature")
    assert c["extent"]["spatial"]["bbox"] == [[-180.0, -90.0, 180.0, 90.0]]
    assert c["extent"]["temporal"]["interval"] == [["2008-07-23T00:00:00.000Z", None]]
    assert c["providers"] == [
        {
            "name": "NASA/JPL/PODAAC",
            "description": "Physical Oceanography Distributed Active Archive Center, "
            "Jet Propulsion Laboratory, NASA",
            "roles": ["host"],
            "url": "https://podaac.jpl.nasa.gov/",
        },
        {
            "name": "AU/BOM",
            "description": "Bureau of Meteorology, Australia",
            "roles": ["processor"],
            "url": "http://www.bom.gov.au/",
        },
    ]
    assert c["sci:doi"] == "10.5067/GHGAM-4FA1A"
    assert c["sci:citation"].startswith("Australian Bureau of Meteorology. 2019. GHRSST L4")
    assert ext.SCIENTIFIC in c["stac_extensions"]
    assert c["license"] == "proprietary"  # no UseConstraints at all
    assert {"rel": "cite-as", "href": "https://doi.org/10.5067/GHGAM-4FA1A"} in c["links"]
    assert c["summaries"]["platform"][:2] == ["buoys", "suomi-npp"]
    assert c["summaries"]["processing:level"] == ["L4"]
    assert "GAMSSA_28km-ABOM-L4-GLOB-v01" in c["keywords"]
    assert "SEA SURFACE FOUNDATION TEMPERATURE" in c["keywords"]
    assert c["assets"]["thumbnail"]["type"] == "image/jpeg"


def test_gpm_collection():
    c = _collection("collections_umm_json__GPM_3IMERGDF_GES_DISC.json")
    assert c["id"] == "GPM_3IMERGDF.v07"
    assert c["extent"]["temporal"]["interval"] == [["1998-01-01T00:00:00.000Z", None]]
    assert c["sci:doi"] == "10.5067/GPM/IMERGDF/DAY/07"
    assert c["providers"][0]["name"] == "NASA/GSFC/SED/ESD/TISL/GESDISC"
    assert c["providers"][0]["roles"] == ["host"]
    assert c["license"] == "proprietary"
    assert "instruments" not in c["summaries"]  # "Not applicable"
    about = [link for link in c["links"] if link["rel"] == "about"]
    assert about and about[0]["href"].startswith("https://disc.gsfc.nasa.gov/datacollection/")


def test_pocloud_collections():
    recs = records("collections_umm_json__POCLOUD_cloud_hosted__20items.json")
    assert len(recs) == 20
    for rec in recs:
        c = t.collection_to_stac(rec)
        roles = {r for p in c["providers"] for r in p.get("roles", [])}
        assert "host" in roles, c["id"]
        assert c["license"] == "proprietary"
        doi = rec["umm"].get("DOI", {}).get("DOI")
        if doi:
            assert c["sci:doi"] == doi
        else:  # ASCAT: DOI MissingReason "Not Applicable"
            assert "sci:doi" not in c
        assert c["extent"]["temporal"]["interval"][0][0] is not None
        bbox = c["extent"]["spatial"]["bbox"][0]
        assert -180 <= bbox[0] < bbox[2] <= 180
    mur = t.collection_to_stac(recs[1])
    assert mur["id"] == "MUR-JPL-L4-GLOB-v4.1.v4.1"
    # MUR lists NASA/JPL/PODAAC twice (ARCHIVER, then DISTRIBUTOR): one provider
    assert [p["name"] for p in mur["providers"]].count("NASA/JPL/PODAAC") == 1


def test_hls_s30_collection():
    rec = hls_s30_record()
    c = t.collection_to_stac(rec)
    assert c["id"] == "HLSS30.v2.0"
    assert t.collection_concept_id(rec) == HLS_S30_CONCEPT
    assert t.collection_is_cog(rec)
    assert c["license"] == "proprietary"
    license_links = [link for link in c["links"] if link["rel"] == "license"]
    assert license_links == [
        {
            "rel": "license",
            "href": "https://earthdata.nasa.gov/earth-observation-data/data-use-policy",
            "type": "text/html",
            "title": "Data Use Policy",
        }
    ]
    assert c["summaries"]["constellation"] == ["sentinel-2"]
    assert c["summaries"]["platform"] == ["sentinel-2a", "sentinel-2b"]
    assert c["summaries"]["instruments"] == ["sentinel-2 msi"]
    assert c["sci:doi"] == "10.5067/HLS/HLSS30.002"
    assert c["providers"] == [
        {
            "name": "LP DAAC",
            "description": "Land Processes Distributed Active Archive Center",
            "roles": ["host"],
            "url": "https://lpdaac.usgs.gov/",
        },
        {
            "name": "NASA/IMPACT",
            "description": "Interagency Implementation and Advanced Concepts Team, NASA",
            "roles": ["processor"],
            "url": "https://earthdata.nasa.gov/esds/impact",
        },
    ]
    assert "item_assets" not in c  # nothing in the UMM-C describes the files reliably


@pytest.mark.parametrize(
    ("use", "spdx"),
    [
        ({"Description": "Released under CC BY 4.0."}, "CC-BY-4.0"),
        ({"LicenseURL": {"Linkage": "https://creativecommons.org/publicdomain/zero/1.0/"}},
         "CC0-1.0"),
        ({"LicenseText": "Creative Commons CC-BY-SA-4.0"}, "CC-BY-SA-4.0"),
        ({"Description": "No restrictions"}, "proprietary"),
        ("CC0", "CC0-1.0"),
    ],
)  # fmt: skip
def test_license_detection(use, spdx):
    rec = hls_s30_record()
    rec["umm"]["UseConstraints"] = use
    assert t.collection_to_stac(rec)["license"] == spdx


def test_collection_extent_from_several_rectangles_and_ranges():
    rec = hls_s30_record()
    umm = rec["umm"]
    umm["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]["BoundingRectangles"] = [
        {"WestBoundingCoordinate": -10, "EastBoundingCoordinate": 10,
         "SouthBoundingCoordinate": 0, "NorthBoundingCoordinate": 5},
        {"WestBoundingCoordinate": 170, "EastBoundingCoordinate": -170,
         "SouthBoundingCoordinate": -5, "NorthBoundingCoordinate": 1},
    ]  # fmt: skip
    umm["TemporalExtents"] = [
        {"RangeDateTimes": [{"BeginningDateTime": "2001-01-01T00:00:00Z",
                             "EndingDateTime": "2002-01-01T00:00:00Z"}]},
        {"SingleDateTimes": ["2005-05-05T00:00:00Z"]},
    ]  # fmt: skip
    c = t.collection_to_stac(rec)
    overall, *each = c["extent"]["spatial"]["bbox"]
    assert each == [[-10, 0, 10, 5], [170, -5, -170, 1]]
    assert overall == [-10, -5, -170, 5]  # covers both; crosses the antimeridian
    assert c["extent"]["temporal"]["interval"] == [
        ["2001-01-01T00:00:00Z", "2005-05-05T00:00:00Z"],
        ["2001-01-01T00:00:00Z", "2002-01-01T00:00:00Z"],
        ["2005-05-05T00:00:00Z", "2005-05-05T00:00:00Z"],
    ]
    validate_stac(as_served(c))


def test_collection_without_horizontal_geometry_is_not_restricted():
    rec = hls_s30_record()
    del rec["umm"]["SpatialExtent"]["HorizontalSpatialDomain"]
    assert t.collection_to_stac(rec)["extent"]["spatial"]["bbox"] == [[-180, -90, 180, 90]]


@pytest.mark.parametrize(
    ("tis", "code"),
    [
        ({"TilingIdentificationSystemName": "MODIS Tile SIN",
          "Coordinate1": {"MinimumValue": 8, "MaximumValue": 8},
          "Coordinate2": {"MinimumValue": 5, "MaximumValue": 5}}, "MSIN-0805"),
        ({"TilingIdentificationSystemName": "WRS-2",
          "Coordinate1": {"MinimumValue": 27, "MaximumValue": 27},
          "Coordinate2": {"MinimumValue": 27}}, "WRS2-027027"),
        ({"TilingIdentificationSystemName": "MODIS Tile SIN",
          "Coordinate1": {"MinimumValue": 8, "MaximumValue": 9},
          "Coordinate2": {"MinimumValue": 5, "MaximumValue": 5}}, None),  # two tiles
    ],
)  # fmt: skip
def test_grid_code_from_tiling_identification_system(tis, code):
    # synthetic: none of the recorded granules carries a TilingIdentificationSystem
    rec = records("granules_umm_json__NLDAS_GES_DISC__box_onprem.json")[0]
    rec["umm"]["TilingIdentificationSystem"] = tis
    item = t.granule_to_item(rec)
    assert item["properties"].get("grid:code") == code
    validate_stac(as_served(item))


# -- titles -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "title"),
    [
        # the producer granule id, without its format extension
        ("HLSL30_LPCLOUD__2hits", "HLS.L30.T15UXP.2024042T165831"),
        ("MOD02QKM_LAADS__search_after_p1", "MOD02QKM.A2000055.0005.061.2017171194850"),
        ("ATL03_NSIDC_ECS__orbit", "ATL03_20221012161617_03351705_005_01"),
        # no producer granule id: the GranuleUR (whose `<collection>:` part, if any, is dropped)
        ("Daymet_ORNL_CLOUD__box_10items", "Daymet_Daily_V4R1.daymet_v4_daily_pr_dayl_1950"),
        (
            "GAMSSA_POCLOUD__1hit",
            "20241011120000-ABOM-L4_GHRSST-SSTfnd-GAMSSA_28km-GLOB-v02.0-fv01.0",
        ),
    ],
)
def test_items_are_titled_with_the_granule_name(name, title):
    item = t.granule_to_item(records(f"granules_umm_json__{name}.json")[0])
    assert item["properties"]["title"] == title
    validate_stac(as_served(item))


def test_an_opaque_granule_ur_alone_gives_no_title():
    rec = records("granules_umm_json__MOD02QKM_LAADS__search_after_p1.json")[0]
    del rec["umm"]["DataGranule"]["Identifiers"]  # left: GranuleUR "LAADS:2715071895"
    assert "title" not in t.granule_to_item(rec)["properties"]


def test_hls_assets_are_titled_by_band_not_download_boilerplate():
    a = hls_item()["assets"]
    assert a["B04"]["title"] == "Red (B04)"
    assert a["B05"]["title"] == "NIR narrow (B05)"  # L30 band 5; on S30 it is red edge 1
    assert a["B10"]["title"] == "Thermal infrared 1 (B10)"
    assert a["Fmask"]["title"] == "Quality assessment bits (Fmask)"
    assert a["SZA"]["title"] == "Sun zenith angle (SZA)"
    assert a["thumbnail"]["title"] == "Browse image"
    assert a["metadata_cmr"]["title"] == "CMR metadata (XML)"
    assert a["metadata_stac"]["title"] == "STAC metadata (JSON)"
    assert not [k for k, x in a.items() if x.get("title", "").startswith("Download ")]
    # the s3 alternates keep saying how they are reached
    assert a["B04"]["alternate"]["s3"]["title"] == "Direct S3 access"


def test_hls_s30_band_titles_follow_the_msi_numbering():
    rec = records("granules_umm_json__HLSL30_LPCLOUD__2hits.json")[0]
    assert t.granule_to_item(rec, "HLSS30.v2.0")["assets"]["B05"]["title"] == "Red edge 1 (B05)"
    # a collection without a band table (and no HLS concept id to fall back on): the name
    # part the file adds to the granule's, not a band name
    rec["meta"].pop("collection-concept-id", None)
    assert t.granule_to_item(rec, "OTHER.v1")["assets"]["B04"]["title"] == "B04"


def test_generic_assets_are_titled_by_kind_and_format():
    daymet = t.granule_to_item(records("granules_umm_json__Daymet_ORNL_CLOUD__box_10items.json")[0])
    a = daymet["assets"]
    assert a["data"]["title"] == "Data file (NetCDF)"  # was "Download daymet_v4_…_1950.nc"
    assert a["data_sha256"]["title"] == "SHA-256 checksum of daymet_v4_daily_pr_dayl_1950.nc"
    assert a["opendap"]["title"] == "OPeNDAP request URL"  # a real description is kept
    laads = t.granule_to_item(records("granules_umm_json__MYD021KM_LAADS__gpolygon.json")[0])
    # "This Browse file may be downloaded directly from this link": boilerplate too
    assert laads["assets"]["thumbnail"]["title"] == "Browse image"
    assert laads["assets"]["data"]["title"] == "Data file (HDF4)"
    atl03 = t.granule_to_item(records("granules_umm_json__ATL03_NSIDC_ECS__orbit.json")[0])
    assert atl03["assets"]["BRW.gt1r.groundtrack"]["title"] == "Browse image: BRW.gt1r.groundtrack"
    assert atl03["assets"]["metadata_iso"]["title"] == "ISO 19115 metadata (XML)"
    swot = t.granule_to_item(
        records("granules_umm_json__SWOT_RiverSP_POCLOUD__track__TRUNCATED_2of62.json")[0]
    )
    assert swot["assets"]["data"]["title"] == "Data file (zip)"
    assert swot["assets"]["metadata_rc"]["title"] == "rc metadata (XML)"
