"""The USGS M2M emulator over real HTTP: auth and key expiry, datasets, scene search, downloads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from shapely.geometry import box

from stacbridge.sandbox.edl import SandboxClock
from stacbridge.sandbox.files import CogFiles
from stacbridge.sandbox.m2m import create_m2m_app
from stacbridge.sandbox.m2m.generator import (
    D0,
    LandsatC2Scenes,
    day_number,
    default_cells,
    wrs2_center,
)
from stacbridge.sandbox.server import ServerThread

FIXTURES = Path(__file__).resolve().parents[2] / "stacbridge" / "sandbox" / "fixtures" / "m2m"
L2 = "landsat_ot_c2_l2"
L1 = "landsat_ot_c2_l1"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


class M2M:
    def __init__(self, url: str) -> None:
        self.url = url
        self.api = url + "/api/api/json/stable/"
        self.http = httpx.Client(timeout=30)

    def call(self, endpoint: str, body: Any = None, key: str | None = None) -> httpx.Response:
        headers = {"X-Auth-Token": key} if key else {}
        return self.http.post(self.api + endpoint, json=body or {}, headers=headers)

    def data(self, endpoint: str, body: Any, key: str) -> Any:
        r = self.call(endpoint, body, key)
        envelope = r.json()
        assert r.status_code == 200, r.text
        assert envelope["errorCode"] is None, envelope
        return envelope["data"]

    def login(self) -> str:
        r = self.call("login-token", {"username": "sandbox", "token": "sandbox-app-token"})
        assert r.status_code == 200
        return r.json()["data"]

    def advance(self, seconds: float) -> None:
        self.http.post(self.url + "/_sandbox/clock", json={"advance": seconds})


@pytest.fixture(scope="module")
def m2m() -> Iterator[M2M]:
    app = create_m2m_app(clock=SandboxClock(), url_lifespan=3600)
    with ServerThread(app) as server:
        client = M2M(server.url)
        yield client
        client.http.close()


@pytest.fixture(scope="module")
def scenes() -> LandsatC2Scenes:
    return LandsatC2Scenes(200_000)


@pytest.fixture
def key(m2m: M2M) -> str:
    return m2m.login()


# ---------------------------------------------------------------------------- authentication


def test_login_token_envelope(m2m: M2M) -> None:
    r = m2m.call("login-token", {"username": "sandbox", "token": "sandbox-app-token"})
    body = r.json()
    assert list(body) == ["requestId", "version", "sessionId", "data", "errorCode", "errorMessage"]
    assert body["version"] == "stable" and isinstance(body["data"], str) and body["data"]
    assert body["errorCode"] is None and body["errorMessage"] is None
    bad = m2m.call("login-token", {"username": "sandbox", "token": "wrong"})
    assert bad.status_code == 200 and bad.json()["errorCode"] == "AUTH_INVALID"
    assert bad.json()["data"] is None


def test_missing_and_unknown_key(m2m: M2M) -> None:
    missing = m2m.call("dataset-search", {})
    assert missing.json()["errorCode"] == "AUTH_UNAUTHROIZED"
    assert missing.json()["requestId"] == 0 and missing.json()["version"] is None
    unknown = m2m.call("dataset-search", {}, key="not-a-key")
    assert unknown.json()["errorCode"] == "AUTH_INVALID"
    assert unknown.status_code == 500


def test_idle_expiry_and_refresh(m2m: M2M) -> None:
    key = m2m.login()
    m2m.advance(7000)
    assert m2m.call("permissions", {}, key).json()["errorCode"] is None  # refreshes the timer
    m2m.advance(7000)
    assert m2m.call("permissions", {}, key).json()["errorCode"] is None
    m2m.advance(7201)
    expired = m2m.call("permissions", {}, key)
    assert expired.json() == fixture("issue-kapadia-usgs-59_error_AUTH_EXPIRED.json")
    # logging in again while still sending the stale key fails the same way (kapadia/usgs #59)
    stale = m2m.call(
        "login-token", {"username": "sandbox", "token": "sandbox-app-token"}, key=key
    ).json()
    assert stale["errorCode"] == "AUTH_EXPIRED"
    assert m2m.call("permissions", {}, m2m.login()).json()["errorCode"] is None


def test_logout(m2m: M2M, key: str) -> None:
    assert m2m.data("logout", {}, key) is None
    assert m2m.call("permissions", {}, key).json()["errorCode"] == "AUTH_INVALID"


# ---------------------------------------------------------------------------- datasets


def test_dataset_search_serves_recorded_entries_verbatim(m2m: M2M, key: str) -> None:
    recorded = fixture("kapadia-usgs_dataset-search_SUBSET-9-of-1163.json")["data"]
    r = m2m.call("dataset-search", {}, key)
    for entry in recorded:
        assert json.dumps(entry).encode() in r.content  # byte-for-byte
    assert r.json()["data"] == recorded
    aliases = [d["datasetAlias"] for d in m2m.data("dataset-search", {"datasetName": "ot_c2"}, key)]
    assert aliases == [L1, L2]
    gls = m2m.data("dataset-search", {"datasetName": "Global Land Survey"}, key)
    assert [d["datasetAlias"] for d in gls] == ["gls_all"]


def test_dataset_filters(m2m: M2M, key: str) -> None:
    recorded = fixture("kapadia-usgs_dataset-filters_LANDSAT_8_C1.json")["data"]
    assert m2m.data("dataset-filters", {"datasetName": "LANDSAT_8_C1"}, key) == recorded
    c2 = m2m.data("dataset-filters", {"datasetName": L2}, key)
    labels = [f["fieldLabel"] for f in c2]
    assert len(c2) == len(recorded)
    assert "Landsat Product Identifier L2" in labels and "Scene Cloud Cover L1" in labels
    assert "Sun Elevation L0RA" in labels
    assert {f["id"] for f in c2}.isdisjoint({f["id"] for f in recorded})


# ---------------------------------------------------------------------------- scene search


def search(m2m: M2M, key: str, **body: Any) -> dict:
    return m2m.data("scene-search", {"datasetName": L2, **body}, key)


def test_recorded_scene_search_replays(m2m: M2M, key: str) -> None:
    """kapadia/usgs's recorded request (tests/test_api.py), with its bounding box."""
    recorded = fixture("kapadia-usgs_scene-search_LANDSAT_8_C1_summary_1hit.json")["data"]
    body = {
        "datasetName": "LANDSAT_8_C1",
        "maxResults": 1,
        "metadata_type": "summary",
        "sceneFilter": {
            "acquisitionFilter": {"start": "2016-09-11", "end": "2016-09-12"},
            "spatialFilter": {
                "filterType": "mbr",
                "lowerLeft": {"longitude": -70.5430, "latitude": -33.4642},
                "upperRight": {"longitude": -70.5420, "latitude": -33.4630},
            },
            "metadataFilter": {
                "filterType": "value", "filterId": "5e83d0b8fb079b8b", "value": "T1",
                "operand": "=",
            },
        },
    }  # fmt: skip
    got = m2m.data("scene-search", body, key)
    assert got.pop("totalHitsAccuracy") == "exact"
    assert got == recorded


def test_paging_three_pages(m2m: M2M, key: str) -> None:
    flt = {"acquisitionFilter": {"start": "2020-01-01", "end": "2020-01-05"}}
    seen: list[str] = []
    start, pages = 1, []
    for _ in range(3):
        page = search(m2m, key, sceneFilter=flt, maxResults=100, startingNumber=start)
        pages.append(page)
        seen += [r["entityId"] for r in page["results"]]
        start = page["nextRecord"]
    assert [p["totalHits"] for p in pages] == [250, 250, 250]
    assert [p["startingNumber"] for p in pages] == [1, 101, 201]
    assert [p["recordsReturned"] for p in pages] == [100, 100, 50]
    assert [p["nextRecord"] for p in pages] == [101, 201, 250]  # last: == totalHits, as recorded
    assert len(seen) == len(set(seen)) == 250
    dates = [r["temporalCoverage"]["startDate"] for p in pages for r in p["results"]]
    assert dates == sorted(dates) and dates[0].startswith("2020-01-01")
    past = search(m2m, key, sceneFilter=flt, startingNumber=400)
    assert past["results"] == [] and past["nextRecord"] == 250
    everything = search(m2m, key, maxResults=1)
    assert everything["totalHits"] == 200_000 and everything["totalHitsAccuracy"] == "approximate"
    desc = search(m2m, key, sceneFilter=flt, maxResults=250, sortDirection="DESC")
    assert [r["entityId"] for r in desc["results"]] == seen[::-1]


def test_page_cap(m2m: M2M, key: str) -> None:
    r = m2m.call("scene-search", {"datasetName": L2, "maxResults": 50_001}, key).json()
    assert r["errorCode"] == "INPUT_PARAMETER_INVALID" and r["data"] is None
    assert m2m.call("scene-search", {"datasetName": "nope"}, key).json()["errorCode"] == (
        "DATASET_INVALID"
    )


def brute_force(
    g: LandsatC2Scenes, first: str, last: str, aoi: Any, lo: float, hi: float
) -> list[str]:
    d0, d1 = day_number(_date(first)), day_number(_date(last))
    out = []
    for i in range((d0 - D0) * g.k, (d1 - D0 + 1) * g.k):
        if g.cell(i).geometry.intersects(aoi) and lo <= g.cloud(i) / 100 <= hi:
            out.append(g.entity_id(i))
    return out


def _date(text: str) -> Any:
    import datetime as dt

    return dt.date.fromisoformat(text)


def test_filters_match_brute_force(m2m: M2M, key: str, scenes: LandsatC2Scenes) -> None:
    aoi = (-100.0, 38.0, -97.0, 40.0)  # Kansas
    flt = {
        "spatialFilter": {
            "filterType": "mbr",
            "lowerLeft": {"latitude": aoi[1], "longitude": aoi[0]},
            "upperRight": {"latitude": aoi[3], "longitude": aoi[2]},
        },
        "acquisitionFilter": {"start": "2019-06-01", "end": "2019-07-31"},
        "cloudCoverFilter": {"min": 0, "max": 30, "includeUnknown": False},
    }
    got = search(m2m, key, sceneFilter=flt, maxResults=5000)
    expected = brute_force(scenes, "2019-06-01", "2019-07-31", box(*aoi), 0, 30)
    assert got["totalHits"] == len(expected) > 50
    assert [r["entityId"] for r in got["results"]] == expected
    assert all(float(r["cloudCover"]) <= 30 for r in got["results"])

    # a metadata filter: WRS path 29..30 and Tier 1, on the C2 filter ids
    filters = {
        f["fieldLabel"]: f["id"] for f in m2m.data("dataset-filters", {"datasetName": L2}, key)
    }
    meta = {
        "filterType": "and",
        "childFilters": [
            {"filterType": "between", "filterId": filters["WRS Path"], "firstValue": 29,
             "secondValue": 30},
            {"filterType": "value", "filterId": filters["Collection Category"], "value": "T1"},
        ],
    }  # fmt: skip
    narrowed = search(m2m, key, sceneFilter={**flt, "metadataFilter": meta}, maxResults=5000)
    keep = [
        e for e in expected
        if 29 <= int(e[3:6]) <= 30 and scenes.category(scenes.index_for_entity_id(e)) == "T1"
    ]  # fmt: skip
    assert [r["entityId"] for r in narrowed["results"]] == keep

    # a per-scene field (a product-id pattern) is scanned, and still agrees
    like = {"filterType": "value", "filterId": filters["Landsat Product Identifier L2"],
            "value": "_029033_", "operand": "like"}  # fmt: skip
    by_id = search(m2m, key, sceneFilter={**flt, "metadataFilter": like}, maxResults=5000)
    assert [r["entityId"] for r in by_id["results"]] == [e for e in expected if e[3:9] == "029033"]


def test_spatial_forms(m2m: M2M, key: str) -> None:
    day = {"acquisitionFilter": {"start": "2021-03-01", "end": "2021-03-01"}}
    across = {"filterType": "mbr", "lowerLeft": {"latitude": -18, "longitude": 179.9},
              "upperRight": {"latitude": -17, "longitude": -179.9}}  # fmt: skip
    fiji = search(m2m, key, sceneFilter={**day, "spatialFilter": across})
    assert [r["displayId"][10:16] for r in fiji["results"]] == ["073072"]
    ring = fiji["results"][0]["spatialCoverage"]["coordinates"][0]
    assert max(x for x, _ in ring) > 180  # M2M writes antimeridian footprints past 180
    # landsatxplore's geoJson form: Coordinate objects
    polygon = {"type": "Polygon", "coordinates": [
        {"longitude": 2.0, "latitude": 48.0}, {"longitude": 3.0, "latitude": 48.0},
        {"longitude": 3.0, "latitude": 49.0}, {"longitude": 2.0, "latitude": 48.0},
    ]}  # fmt: skip
    france = search(
        m2m,
        key,
        sceneFilter={**day, "spatialFilter": {"filterType": "geoJson", "geoJson": polygon}},
    )
    standard = {"type": "Polygon", "coordinates": [[[2, 48], [3, 48], [3, 49], [2, 48]]]}
    same = search(
        m2m,
        key,
        sceneFilter={**day, "spatialFilter": {"filterType": "geojson", "geoJson": standard}},
    )
    assert france["results"] and france["results"] == same["results"]
    assert {r["displayId"][10:16] for r in france["results"]} <= {"197026", "198026", "198027"}


def test_full_metadata(m2m: M2M, key: str) -> None:
    flt = {"acquisitionFilter": {"start": "2022-05-10", "end": "2022-05-10"}}
    summary = search(m2m, key, sceneFilter=flt, maxResults=3)["results"]
    full = search(m2m, key, sceneFilter=flt, maxResults=3, metadataType="full")["results"]
    assert all(r["metadata"] == [] for r in summary)
    scene = full[0]
    fields = {m["fieldName"]: m["value"] for m in scene["metadata"]}
    for name in ("WRS Path", "WRS Row", "Land Cloud Cover", "Scene Cloud Cover L1",
                 "Sun Elevation L0RA", "Sun Azimuth L0RA", "Date Acquired", "Start Time",
                 "Stop Time", "Collection Category", "Collection Number", "UTM Zone", "Datum",
                 "Sensor Identifier", "Satellite", "Data Type L2"):  # fmt: skip
        assert name in fields, name
    assert all(set(m) == {"id", "fieldName", "dictionaryLink", "value"} for m in scene["metadata"])
    assert fields["Landsat Product Identifier L2"] == scene["displayId"]
    assert fields["Landsat Scene Identifier"] == scene["entityId"]
    assert fields["WRS Path"] == f" {scene['displayId'][10:13]}"
    assert fields["Date Acquired"] == "2022/05/10"
    assert fields["Scene Cloud Cover L1"] == scene["cloudCover"]
    assert fields["Collection Number"] == 2 and fields["Datum"] == "WGS84"
    assert {k: v for k, v in scene.items() if k != "metadata"} == {
        k: v for k, v in summary[0].items() if k != "metadata"
    }
    # scene-metadata: the recorded body for the recorded scene, the same shape for generated ones
    recorded = fixture("kapadia-usgs_scene-metadata_LANDSAT_8_C1_full.json")["data"]
    body = {"datasetName": "LANDSAT_8_C1", "entityId": "LC82260782020217LGN00",
            "metadataType": "full"}  # fmt: skip
    assert m2m.data("scene-metadata", body, key) == recorded
    meta = m2m.data("scene-metadata", {"datasetName": L2, "entityId": scene["entityId"]}, key)
    assert list(meta) == list(recorded)
    assert meta["orderingId"] == scene["entityId"] and meta["metadata"] == scene["metadata"]
    by_display = m2m.data(
        "scene-metadata",
        {"datasetName": L2, "entityId": scene["displayId"], "idType": "displayId"},
        key,
    )
    assert by_display == meta


# ---------------------------------------------------------------------------- downloads


def first_scene(m2m: M2M, key: str, dataset: str, divisible: bool) -> dict:
    flt = {"acquisitionFilter": {"start": "2023-07-01", "end": "2023-07-01"}}
    results = m2m.data(
        "scene-search", {"datasetName": dataset, "sceneFilter": flt, "maxResults": 50}, key
    )["results"]
    g = LandsatC2Scenes(200_000)
    for r in results:
        if (g.index_for_entity_id(r["entityId"]) % 3 == 0) == divisible:
            return r
    raise AssertionError("no scene")


def test_download_options_shape(m2m: M2M, key: str) -> None:
    recorded = fixture("kapadia-usgs_download-options_LANDSAT_8_C1.json")["data"]
    body = {"datasetName": "LANDSAT_8_C1", "entityIds": ["LC82260782020217LGN00"]}
    assert m2m.data("download-options", body, key) == recorded
    scene = first_scene(m2m, key, L2, divisible=False)
    options = m2m.data("download-options", {"datasetName": L2, "entityIds": scene["entityId"]}, key)
    bundle, folder = options
    assert bundle["productName"] == "Landsat Collection 2 Level-2 Product Bundle"
    assert bundle["downloadSystem"] == "dds" and bundle["filesize"] > 500_000_000
    assert bundle["displayId"] == scene["displayId"] and bundle["available"] is True
    assert folder["downloadSystem"] == "folder" and folder["filesize"] == 0
    names = {s["downloadName"] for s in folder["secondaryDownloads"]}
    assert {"SR_B1.TIF", "SR_B7.TIF", "ST_B10.TIF", "QA_PIXEL.TIF", "MTL.txt"} <= names
    b4 = next(s for s in folder["secondaryDownloads"] if s["downloadName"] == "SR_B4.TIF")
    assert b4["displayId"] == f"{scene['displayId']}_SR_B4.TIF"
    assert b4["entityId"] == f"L2SR_{scene['displayId']}_SR_B4_TIF"
    assert b4["downloadSystem"] == "dds" and b4["available"] and b4["filesize"] > 1_000_000
    l1 = m2m.data("download-options", {"datasetName": L1, "entityIds": [scene["entityId"]]}, key)
    assert l1[0]["displayId"].startswith(scene["displayId"][:5] + "L1")


def test_download_request_preparing_then_available(m2m: M2M, key: str) -> None:
    slow = first_scene(m2m, key, L2, divisible=True)
    opts = m2m.data("download-options", {"datasetName": L2, "entityIds": [slow["entityId"]]}, key)
    b4 = next(s for s in opts[1]["secondaryDownloads"] if s["downloadName"] == "SR_B4.TIF")
    downloads = [
        {"entityId": slow["entityId"], "productId": opts[0]["id"]},
        {"entityId": b4["entityId"], "productId": b4["id"]},
        {"entityId": "LC8NOPE", "productId": opts[0]["id"]},
    ]
    first = m2m.data("download-request", {"downloads": downloads, "label": "prep"}, key)
    assert [d["entityId"] for d in first["preparingDownloads"]] == [slow["entityId"]]
    assert [d["entityId"] for d in first["availableDownloads"]] == [b4["entityId"]]
    assert "/download-staging/" in first["preparingDownloads"][0]["url"]
    assert first["numInvalidScenes"] == 1 and len(first["failed"]) == 1
    assert sorted(first["newRecords"].values()) == ["prep", "prep"]
    assert first["duplicateProducts"] == []
    limits = first["remainingLimits"]
    assert [x["limitType"] for x in limits] == ["user", "ip"]
    assert limits[0]["pendingDownloadCount"] == 19_999
    assert set(limits[1]) == {"ipAddress", "limitType", "recentDownloadCount",
                              "pendingDownloadCount", "unattemptedDownloadCount"}  # fmt: skip

    again = m2m.data("download-request", {"downloads": downloads[:1], "label": "prep"}, key)
    bundle_id = str(first["preparingDownloads"][0]["downloadId"])
    assert again["duplicateProducts"] == {bundle_id: "prep"} and again["newRecords"] == []

    poll1 = m2m.data("download-retrieve", {"label": "prep"}, key)
    assert [d["entityId"] for d in poll1["requested"]] == [slow["entityId"]]
    assert poll1["queueSize"] == 1 and poll1["eulas"] == []
    poll2 = m2m.data("download-retrieve", {"label": "prep"}, key)
    assert poll2["requested"] == [] and poll2["queueSize"] == 0
    entry = next(d for d in poll2["available"] if d["entityId"] == slow["entityId"])
    recorded = fixture("blm-eedownloader_download-retrieve_5-available.json")["data"]["available"]
    assert list(entry) == list(recorded[0])
    assert entry["statusCode"] == "A" and entry["statusText"] == "Available"
    assert entry["filesize"] == opts[0]["filesize"] and "/download/" in entry["url"]


def test_orders_ready(m2m: M2M, key: str) -> None:
    slow = first_scene(m2m, key, L1, divisible=True)
    opts = m2m.data("download-options", {"datasetName": L1, "entityIds": [slow["entityId"]]}, key)
    req = {"downloads": [{"entityId": slow["entityId"], "productId": opts[0]["id"]}],
           "label": "ready-now"}  # fmt: skip
    assert m2m.data("download-request", req, key)["preparingDownloads"]
    assert m2m.http.post(m2m.url + "/_sandbox/orders/ready").json()["ready"] >= 1
    first = m2m.data("download-retrieve", {"label": "ready-now"}, key)
    assert len(first["available"]) == 1 and first["requested"] == []


def test_download_url_range_and_expiry(m2m: M2M, key: str) -> None:
    scene = first_scene(m2m, key, L2, divisible=False)
    opts = m2m.data("download-options", {"datasetName": L2, "entityIds": [scene["entityId"]]}, key)
    b4 = next(s for s in opts[1]["secondaryDownloads"] if s["downloadName"] == "SR_B4.TIF")
    req = {"downloads": [{"entityId": b4["entityId"], "productId": b4["id"]}], "label": "range"}
    url = m2m.data("download-request", req, key)["availableDownloads"][0]["url"]
    head = m2m.http.head(url)
    assert head.status_code == 200 and int(head.headers["content-length"]) == b4["filesize"]
    assert head.headers["accept-ranges"] == "bytes" and head.headers["etag"]
    part = m2m.http.get(url, headers={"Range": "bytes=0-1023"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 0-1023/{b4['filesize']}"
    assert part.content[:4] == b"II*\x00"  # a (Cloud-Optimized) GeoTIFF
    mgrs = next(c.mgrs for c in default_cells() if f"{c.path:03d}{c.row:03d}" in b4["displayId"])
    cog = CogFiles().content(f"m2m/{L2}/{scene['displayId']}/{b4['displayId'][:-4]}.T{mgrs}.TIF")
    assert cog is not None and part.content == cog[:1024]
    tail = m2m.http.get(url, headers={"Range": "bytes=-16"})
    assert tail.status_code == 206 and tail.content == bytes(16)  # zero padding to filesize
    assert m2m.http.get(url + "x").status_code == 404

    m2m.advance(3601)
    expired = m2m.http.get(url, headers={"Range": "bytes=0-9"})
    assert expired.status_code == 403 and b"Request has expired" in expired.content
    renewed = m2m.data("download-retrieve", {"label": "range"}, key)  # key idle < 2 h
    new_url = renewed["available"][0]["url"]
    assert new_url != url and "/download/" in new_url
    assert m2m.http.get(new_url, headers={"Range": "bytes=0-3"}).content == b"II*\x00"


# ---------------------------------------------------------------------------- faults and controls


def test_rate_limit_fault(m2m: M2M, key: str) -> None:
    spec = {"errorCode": "RATE_LIMIT", "count": 2, "endpoint": "scene-search"}
    assert m2m.http.post(m2m.url + "/_sandbox/faults", json=spec).status_code == 200
    assert m2m.call("permissions", {}, key).json()["errorCode"] is None  # other endpoints
    for _ in range(2):
        r = m2m.call("scene-search", {"datasetName": L2, "maxResults": 1}, key)
        assert r.status_code == 500
        body = r.json()
        assert body["errorCode"] == "RATE_LIMIT" and body["data"] is None
        assert body["version"] == "stable" and body["requestId"] > 0
    assert m2m.call("scene-search", {"datasetName": L2, "maxResults": 1}, key).status_code == 200
    m2m.http.post(m2m.url + "/_sandbox/faults", json={"status": 503, "count": 1})
    down = m2m.call("dataset-search", {}, key)
    assert down.status_code == 503 and "text/html" in down.headers["content-type"]
    assert m2m.http.get(m2m.url + "/_sandbox/faults").json() == {"faults": []}


def test_sandbox_stats_and_request_log(m2m: M2M) -> None:
    before = m2m.http.get(m2m.url + "/_sandbox/stats").json()
    key = m2m.login()
    m2m.data("dataset-filters", {"datasetName": L2}, key)
    stats = m2m.http.get(m2m.url + "/_sandbox/stats").json()
    assert stats["logins"] == before["logins"] + 1
    by_endpoint = stats["requests_by_endpoint"]
    assert (
        by_endpoint["dataset-filters"]
        == before["requests_by_endpoint"].get("dataset-filters", 0) + 1
    )
    assert "downloads" in stats
    log = m2m.http.get(m2m.url + "/_sandbox/requests", params={"endpoint": "login-token"}).json()
    assert log[-1]["body"] == {"username": "sandbox", "token": "REDACTED"}
    entries = m2m.http.get(m2m.url + "/_sandbox/requests").json()
    last = [e for e in entries if e.get("endpoint") == "dataset-filters"][-1]
    assert last["body"] == {"datasetName": L2} and last["errorCode"] is None
    assert last["headers"]["x-auth-token"] == "REDACTED"
    assert key not in json.dumps(entries)


# ---------------------------------------------------------------------------- the generator


def test_generator_ids_and_grid(scenes: LandsatC2Scenes) -> None:
    # the orbit model reproduces the recorded scenes' centres
    lon, lat = wrs2_center(226, 78)
    assert abs(lon - -58.01136) < 0.05 and abs(lat - -25.99279) < 0.05
    for i in (0, 1, 4_999, 123_457, 199_999):
        assert scenes.index_for_entity_id(scenes.entity_id(i)) == i
        for level in ("L1", "L2"):
            assert scenes.index_for_display_id(scenes.display_id(i, level), level) == i
    assert scenes.entity_id(0) == "LC80280322013101LGN00"
    assert scenes.display_id(0, "L2").startswith("LC08_L2SP_028032_20130411_")
    assert scenes.index_for_entity_id("LC80280322013101LGN01") is None
    days = [scenes.day(i) for i in range(0, 200_000, 997)]
    assert days == sorted(days)


# ---------------------------------------------------------------------------- bundles, coverage


def test_bundle_is_a_real_tar_of_the_band_files(m2m: M2M, key: str) -> None:
    """A client that unpacks a bundle gets the band files, at the size download-options says."""
    import io
    import tarfile

    scene = first_scene(m2m, key, L2, divisible=False)
    opts = m2m.data("download-options", {"datasetName": L2, "entityIds": [scene["entityId"]]}, key)
    bundle, folder = opts
    req = {"downloads": [{"entityId": scene["entityId"], "productId": bundle["id"]}]}
    (ready,) = m2m.data("download-request", {**req, "label": "tar"}, key)["availableDownloads"]
    head = m2m.http.head(ready["url"])
    assert int(head.headers["content-length"]) == bundle["filesize"]
    assert head.headers["content-disposition"].endswith(f'{scene["displayId"]}.tar"')
    # the first megabyte: the small text files, then the first band file's header
    first = m2m.http.get(ready["url"], headers={"Range": "bytes=0-1048575"}).content
    names, sizes = [], {}
    with tarfile.open(fileobj=io.BytesIO(first), mode="r|") as tar:
        try:
            for member in tar:
                names.append(member.name)
                sizes[member.name] = member.size
                if member.name.endswith("MTL.json"):
                    assert json.loads(tar.extractfile(member).read())  # a real JSON file
        except tarfile.ReadError:
            pass  # the range ends inside a member
    files = {s["displayId"]: s for s in folder["secondaryDownloads"]}
    assert names[:4] == [
        f"{scene['displayId']}_{k}" for k in ("ANG.txt", "MTL.txt", "MTL.xml", "MTL.json")
    ]
    for name in names:
        assert sizes[name] == files[name]["filesize"]
    # a member's bytes are the band file's bytes, wherever a range falls
    offset = 0
    for s in folder["secondaryDownloads"]:
        if s["downloadName"] == "QA_RADSAT.TIF":
            break
        offset += 512 + -(-s["filesize"] // 512) * 512
    band = {"downloads": [{"entityId": s["entityId"], "productId": s["id"]}], "label": "tar-b"}
    (band_dl,) = m2m.data("download-request", band, key)["availableDownloads"]
    want = m2m.http.get(band_dl["url"], headers={"Range": "bytes=0-4095"}).content
    got = m2m.http.get(ready["url"], headers={"Range": f"bytes={offset + 512}-{offset + 4607}"})
    assert got.status_code == 206 and got.content == want and want[:4] == b"II*\x00"
    hdr = m2m.http.get(ready["url"], headers={"Range": f"bytes={offset}-{offset + 511}"}).content
    info = tarfile.TarInfo.frombuf(hdr, "utf-8", "surrogateescape")
    assert info.name == s["displayId"] and info.size == s["filesize"]
    tail = m2m.http.get(ready["url"], headers={"Range": "bytes=-1024"}).content
    assert tail == bytes(1024)  # the end-of-archive blocks


def test_readme_bbox_finds_landsat_scenes(m2m: M2M, key: str) -> None:
    spatial = {"filterType": "mbr", "lowerLeft": {"latitude": 47.7, "longitude": -91.7},
               "upperRight": {"latitude": 48.3, "longitude": -90.9}}  # fmt: skip
    flt = {
        "spatialFilter": spatial,
        "acquisitionFilter": {"start": "2024-02-01", "end": "2024-03-01"},
    }
    found = m2m.data("scene-search", {"datasetName": L2, "sceneFilter": flt}, key)
    assert found["totalHits"] > 0
    paths = {r["displayId"][10:16] for r in found["results"]}
    assert paths <= {"026026", "026027", "027026", "027027"} and "027027" in paths
