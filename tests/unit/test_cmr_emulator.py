"""The CMR search emulator, over real HTTP: recorded replays, CMR's rules, the generator."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from shapely.geometry import box

from stacbridge.sandbox.cmr import (
    MSG_ALL_GRANULES,
    MSG_ALL_GRANULES_SPATIAL,
    MSG_SEARCH_AFTER_ARRAY,
    create_cmr_app,
)
from stacbridge.sandbox.cmr.generator import (
    CONCEPT_BASE,
    HLSL30_CONCEPT_ID,
    STEP_MS,
    T0_MS,
    HLSGenerator,
    Selection,
    mgrs_tile,
)
from stacbridge.sandbox.server import ServerThread

FIXTURES = Path(__file__).resolve().parents[2] / "stacbridge" / "sandbox" / "fixtures" / "cmr"
LP_HOST = "https://data.lpdaac.earthdatacloud.nasa.gov"
LOCAL_HOST = "http://127.0.0.1:9002"
GRANULES = "/search/granules.umm_json"
COLLECTIONS = "/search/collections.umm_json"
HLS = {"collection_concept_id": HLSL30_CONCEPT_ID}


@pytest.fixture(scope="module")
def cmr() -> Iterator[tuple[str, object]]:
    app = create_cmr_app(data_host_map={LP_HOST: LOCAL_HOST})
    with ServerThread(app) as server:
        yield server.url, app.state.cmr


@pytest.fixture(scope="module")
def client(cmr) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cmr[0], timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def gen(cmr) -> HLSGenerator:
    return cmr[1].generator


def _recorded() -> dict:
    return json.loads((FIXTURES / "recorded_headers.json").read_text())


def _ids(body: dict) -> list[str]:
    return [item["meta"]["concept-id"] for item in body["items"]]


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


# ------------------------------------------------------------------------------ replays


@pytest.mark.parametrize(
    "name",
    [
        "granules_umm_json__HLSL30_LPCLOUD__2hits.json",
        "granules_umm_json__GAMSSA_POCLOUD__1hit.json",
        "granules_umm_json__GAMSSA_POCLOUD__search_after_end_empty.json",
        "granules_umm_json__HAQES_GES_DISC__8hits.json",
        "granules_umm_json__zero_hits.json",
        "collections_umm_json__GAMSSA_POCLOUD.json",
        "collections_umm_json__GPM_3IMERGDF_GES_DISC.json",
    ],
)
def test_recorded_query_replays_verbatim(client, cmr, name):
    rec = _recorded()[name][0]
    uri = rec["request"]["uri"].replace("https://cmr.earthdata.nasa.gov", "")
    headers = {k: v[0] for k, v in rec["request"]["headers"].items() if k == "cmr-search-after"}
    r = client.get(uri, headers=headers)
    assert r.status_code == 200
    want_headers = rec["response"]["headers"]
    assert r.headers["cmr-hits"] == want_headers["CMR-Hits"][0]
    assert r.headers.get("cmr-search-after") == want_headers.get("CMR-Search-After", [None])[0]
    assert r.headers["content-type"] == want_headers["Content-Type"][0]
    assert (
        r.headers["access-control-expose-headers"]
        == (want_headers["Access-Control-Expose-Headers"][0])
    )
    assert int(r.headers["cmr-took"]) >= 1
    assert len(r.headers["cmr-request-id"]) == 36
    raw = (FIXTURES / name).read_text().replace(f'"URL":"{LP_HOST}', f'"URL":"{LOCAL_HOST}')
    want = json.loads(raw)
    got = r.json()
    assert got["hits"] == want["hits"]
    assert got["items"] == want["items"]
    items_text = raw[raw.index('"items":[') + len('"items":[') : raw.rindex("]")]
    assert items_text in r.text  # byte-for-byte, not just equal JSON


def test_hls_replay_maps_data_host_only(client):
    rec = _recorded()["granules_umm_json__HLSL30_LPCLOUD__2hits.json"][0]
    r = client.get(rec["request"]["uri"].replace("https://cmr.earthdata.nasa.gov", ""))
    urls = [u["URL"] for item in r.json()["items"] for u in item["umm"]["RelatedUrls"]]
    raw = json.loads((FIXTURES / "granules_umm_json__HLSL30_LPCLOUD__2hits.json").read_text())
    recorded = [u["URL"] for item in raw["items"] for u in item["umm"]["RelatedUrls"]]
    assert urls == [
        LOCAL_HOST + u[len(LP_HOST) :] if u.startswith(LP_HOST) else u for u in recorded
    ]
    assert sum(u.startswith(LOCAL_HOST + "/lp-prod-protected/HLSL30.020/") for u in urls) == 32


def test_mod02qkm_search_after_pair_replays(client):
    recs = _recorded()
    p1 = recs["granules_umm_json__MOD02QKM_LAADS__search_after_p1.json"][0]
    p2 = recs["granules_umm_json__MOD02QKM_LAADS__search_after_p2.json"][0]
    uri = p1["request"]["uri"].replace("https://cmr.earthdata.nasa.gov", "")
    r1 = client.get(uri)
    sa = r1.headers["cmr-search-after"]
    assert sa == p1["response"]["headers"]["CMR-Search-After"][0]
    r2 = client.get(uri, headers={"cmr-search-after": sa})
    want = json.loads(
        (FIXTURES / "granules_umm_json__MOD02QKM_LAADS__search_after_p2.json").read_text()
    )
    assert r2.json()["items"] == want["items"]
    assert r2.headers["cmr-search-after"] == p2["response"]["headers"]["CMR-Search-After"][0]


# ------------------------------------------------------------------------------ paging


def test_search_after_three_pages_then_empty_page_without_header(client):
    params = {**HLS, "temporal": "2024-02-11T12:00:00Z,2024-02-11T20:00:00Z"}
    first = client.get(GRANULES, params={**params, "page_size": 0})
    hits = int(first.headers["cmr-hits"])
    assert "cmr-search-after" not in first.headers  # no items, no header
    size = -(-hits // 3)
    seen: list[str] = []
    starts: list[str] = []
    sa = None
    for _ in range(3):
        headers = {"cmr-search-after": sa} if sa else {}
        r = client.get(GRANULES, params={**params, "page_size": size}, headers=headers)
        assert r.status_code == 200 and r.headers["cmr-hits"] == str(hits)
        body = r.json()
        assert body["items"]
        seen += _ids(body)
        starts += [
            i["umm"]["TemporalExtent"]["RangeDateTime"]["BeginningDateTime"] for i in body["items"]
        ]
        sa = r.headers["cmr-search-after"]
        last = json.loads(sa)
        assert last[0] == "lpcloud" and f"G{last[2]}-LPCLOUD" == seen[-1]
    end = client.get(
        GRANULES, params={**params, "page_size": size}, headers={"cmr-search-after": sa}
    )
    assert end.status_code == 200 and end.json()["items"] == []
    assert end.headers["cmr-hits"] == str(hits)
    assert "cmr-search-after" not in end.headers
    assert len(seen) == len(set(seen)) == hits
    assert starts == sorted(starts)
    assert {"G2865703539-LPCLOUD", "G2865703626-LPCLOUD"} <= set(seen)  # recorded, merged in
    by_page = []
    for page in (1, 2, 3):
        r = client.get(GRANULES, params={**params, "page_size": size, "page_num": page})
        by_page += _ids(r.json())
    assert by_page == seen


def test_two_thousand_item_page_is_fast(client):
    params = {**HLS, "page_size": 2000, "page_num": 250}
    client.get(GRANULES, params=params)  # warm
    t = time.perf_counter()
    r = client.get(GRANULES, params=params)
    elapsed = time.perf_counter() - t
    body = r.json()
    assert len(body["items"]) == 2000 and body["hits"] == 1_000_002
    assert len(r.content) > 20_000_000
    assert elapsed < 1.0, elapsed  # ~0.1 s on the reference machine


def test_descending_sort(client, gen):
    r = client.get(GRANULES, params={**HLS, "sort_key": "-start_date", "page_size": 3})
    ids = _ids(r.json())
    assert ids[0] == gen.concept_id(gen.n - 1)
    sa = json.loads(r.headers["cmr-search-after"])
    assert sa == [gen.time_ms(gen.n - 3), CONCEPT_BASE + gen.n - 3]
    params = {**HLS, "sort_key": "-start_date", "page_size": 2}
    r2 = client.get(GRANULES, params=params, headers={"cmr-search-after": json.dumps(sa)})
    assert _ids(r2.json()) == [gen.concept_id(gen.n - 4), gen.concept_id(gen.n - 5)]


# ------------------------------------------------------------------------------ CMR's rules


def _errors(r: httpx.Response) -> list[str]:
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/json")
    return r.json()["errors"]


def test_page_size_and_paging_depth_limits(client):
    msg = "page_size must be a number between 0 and 2000"
    assert _errors(client.get(GRANULES, params={**HLS, "page_size": 2001})) == [msg]
    assert _errors(client.get(COLLECTIONS, params={"page_size": -1})) == [msg]
    assert _errors(client.get(GRANULES, params={**HLS, "page_size": 2000, "page_num": 501})) == [
        "The paging depth (page_num * page_size) of [1002000] exceeds the limit of 1000000."
    ]
    ok = client.get(GRANULES, params={**HLS, "page_size": 2000, "page_num": 500})
    assert ok.status_code == 200 and len(ok.json()["items"]) == 2000


def test_granule_search_needs_a_collection_condition(client):
    assert _errors(client.get(GRANULES, params={"page_size": 1})) == [MSG_ALL_GRANULES]
    assert MSG_ALL_GRANULES.startswith(
        "The CMR does not allow querying across granules in all collections."
    )
    assert _errors(client.get(GRANULES, params={"bounding_box": "0,0,1,1"})) == [
        MSG_ALL_GRANULES_SPATIAL
    ]
    assert (
        client.get(GRANULES, params={"provider_id": "LPCLOUD", "page_size": 1}).status_code == 200
    )
    assert client.get(GRANULES, params={"short_name": "HLSL30", "page_size": 1}).status_code == 200


def test_search_after_header_rules(client):
    assert _errors(client.get(GRANULES, params=HLS, headers={"cmr-search-after": '[0 "a"]'})) == [
        MSG_SEARCH_AFTER_ARRAY
    ]
    assert _errors(client.get(GRANULES, params=HLS, headers={"cmr-search-after": "12345"})) == [
        MSG_SEARCH_AFTER_ARRAY
    ]
    errs = _errors(client.get(GRANULES, params=HLS, headers={"cmr-search-after": '[0, "x"]'}))
    assert "search_after has 2 value(s) but sort has 3." in errs[0]
    r = client.get(GRANULES, params={**HLS, "page_num": 2}, headers={"cmr-search-after": "[0]"})
    assert _errors(r) == ["page_num is not allowed with search-after"]


def test_malformed_parameters(client):
    errs = _errors(client.get(GRANULES, params={**HLS, "temporal": "2010-13-12T12:00:00,"}))
    assert errs == [
        "temporal start datetime is invalid: [2010-13-12T12:00:00] is not a valid datetime."
    ]
    errs = _errors(
        client.get(
            GRANULES, params={**HLS, "temporal": "2011-01-01T10:00:00Z,2010-01-10T12:00:00Z"}
        )
    )
    assert errs == [
        "start_date [2011-01-01T10:00:00Z] must be before end_date [2010-01-10T12:00:00Z]"
    ]
    errs = _errors(client.get(GRANULES, params={**HLS, "bounding_box": "0,ad,d,0"}))
    assert errs == ["[0,ad,d,0] is not a valid URL encoded bounding_box"]
    errs = _errors(client.get(GRANULES, params={**HLS, "bounding_box": "0,46,10,45"}))
    assert errs == ["The bounding rectangle north value [45] was less than the south value [46]"]
    errs = _errors(client.get(GRANULES, params={**HLS, "polygon": "0,0,0,1,1,1,1,0,0,0"}))
    assert "counter-clockwise" in errs[0]
    errs = _errors(client.get(GRANULES, params={**HLS, "sort_key": "-bogus"}))
    assert errs == ["The sort key [bogus] is not a valid field for sorting granules."]
    errs = _errors(client.get(GRANULES, params={**HLS, "frobnicate": "1"}))
    assert errs == ["Parameter [frobnicate] was not recognized."]
    errs = _errors(client.get(GRANULES, params={**HLS, "cloud_cover": "a,b"}))
    assert errs[0].startswith("[a,b] is not of the form")


# ------------------------------------------------------------------------------ generator


def test_generator_tiles_are_real_mgrs():
    tile = mgrs_tile(-91.3, 47.9)  # the recorded granule's tile
    assert (tile.tile_id, tile.ulx, tile.uly) == ("15UXP", 600000.0, 5400000.0)
    assert tile.ring[0] == pytest.approx((-91.66566865, 47.75740974), abs=1e-7)


def test_selection_arithmetic_matches_brute_force():
    sel = Selection([(7, 90), (120, 400)], 13, [1, 4, 5, 11])
    brute = [i for i in range(500) if (7 <= i < 90 or 120 <= i < 400) and i % 13 in {1, 4, 5, 11}]
    assert len(sel) == len(brute) and list(sel) == brute
    assert [sel.count_below(x) for x in (0, 50, 100, 130, 1000)] == [
        sum(1 for i in brute if i < x) for x in (0, 50, 100, 130, 1000)
    ]


def test_generated_record_is_consistent(client, gen):
    i = 123_457
    r = client.get(GRANULES, params={**HLS, "concept_id": gen.concept_id(i)})
    (item,) = r.json()["items"]
    umm, meta = item["umm"], item["meta"]
    tile = gen.tile(i)
    attrs = {a["Name"]: a["Values"][0] for a in umm["AdditionalAttributes"]}
    assert umm["GranuleUR"] == meta["native-id"] == gen.granule_ur(i)
    assert f"T{tile.tile_id}." in umm["GranuleUR"] and attrs["MGRS_TILE_ID"] == tile.tile_id
    assert attrs["ULX"] == f"{tile.ulx:.1f}" and int(attrs["CLOUD_COVERAGE"]) == gen.cloud_cover(i)
    assert umm["TemporalExtent"]["RangeDateTime"]["BeginningDateTime"] == _iso(gen.time_ms(i))
    pts = umm["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]["GPolygons"][0]
    assert [(p["Longitude"], p["Latitude"]) for p in pts["Boundary"]["Points"]] == list(tile.ring)
    urls = [u["URL"] for u in umm["RelatedUrls"]]
    assert all(umm["GranuleUR"] in u for u in urls if "s3credentials" not in u)
    assert urls[0].startswith(LOCAL_HOST + "/lp-prod-protected/HLSL30.020/")
    by_ur = client.get(GRANULES, params={**HLS, "granule_ur": umm["GranuleUR"].lower()})
    assert _ids(by_ur.json()) == [gen.concept_id(i)]


def test_temporal_bbox_count_is_arithmetic_and_exact(client, gen):
    start, end = "2020-06-01T00:00:00Z", "2020-06-20T00:00:00Z"
    lo = -(-(1_590_969_600_000 - T0_MS) // STEP_MS)
    hi = (1_592_611_200_000 - T0_MS) // STEP_MS + 1
    aoi = box(0, 44, 12, 52)  # Western Europe
    brute = [i for i in range(lo, hi) if gen.tile(i).geometry.intersects(aoi)]
    params = {**HLS, "temporal": f"{start}/{end}", "bounding_box": "0,44,12,52", "page_size": 2000}
    r = client.get(GRANULES, params=params)
    assert int(r.headers["cmr-hits"]) == len(brute) > 0
    assert _ids(r.json()) == [gen.concept_id(i) for i in brute[:2000]]


def test_cloud_cover_filter(client, gen):
    lo = 700_000
    hi = lo + 3000
    params = {
        **HLS,
        "temporal": f"{_iso(gen.time_ms(lo))},{_iso(gen.time_ms(hi - 1))}",
        "cloud_cover": "10,40",
        "bounding_box": "-125,-60,-30,60",  # the Americas
        "page_size": 2000,
    }
    americas = box(-125, -60, -30, 60)
    brute = [
        i
        for i in range(lo, hi)
        if 10 <= gen.cloud_cover(i) <= 40 and gen.tile(i).geometry.intersects(americas)
    ]
    r = client.get(GRANULES, params=params)
    assert int(r.headers["cmr-hits"]) == len(brute) > 0
    assert _ids(r.json()) == [gen.concept_id(i) for i in brute]
    for item in r.json()["items"]:
        cc = next(a for a in item["umm"]["AdditionalAttributes"] if a["Name"] == "CLOUD_COVERAGE")
        assert 10 <= int(cc["Values"][0]) <= 40
    whole = client.get(GRANULES, params={**HLS, "cloud_cover": "0,5", "page_size": 0})
    frac = int(whole.headers["cmr-hits"]) / 1_000_002
    assert 0.05 < frac < 0.6  # skewed towards clear scenes, and counted without iterating


def test_antimeridian_bounding_box(client, gen):
    straddling = [s for s, t in enumerate(gen.tiles) if t.tile_id == "01KAB"]
    assert straddling and gen.tiles[straddling[0]].geometry.geom_type == "MultiPolygon"
    r = client.get(GRANULES, params={**HLS, "bounding_box": "179.5,-18,-179.9,-16", "page_size": 5})
    items = r.json()["items"]
    assert items and all(".T01KAB." in i["umm"]["GranuleUR"] for i in items)
    assert int(r.headers["cmr-hits"]) == len(range(straddling[0], gen.n, gen.k))


def test_post_form_equals_get(client):
    params = {**HLS, "temporal": "2019-01-01T00:00:00Z,2019-01-02T00:00:00Z", "page_size": 7}
    get = client.get(GRANULES, params=params)
    post = client.post(GRANULES, data=params)
    assert post.status_code == 200 and post.json()["items"] == get.json()["items"]


# ------------------------------------------------------------------------------ collections


def test_collection_searches(client):
    def ids(**params):
        r = client.get(COLLECTIONS, params={"page_size": 100, **params})
        assert r.status_code == 200, r.text
        return _ids(r.json())

    hls = {"C2021957295-LPCLOUD", "C2021957657-LPCLOUD"}
    assert set(ids(keyword="hls")) >= hls
    assert set(ids(keyword="HLS?30 harmonized")) == hls
    assert ids(keyword="GHRSST gamssa*") == ["C2036881735-POCLOUD"]
    assert ids(short_name="hlsl30") == ["C2021957657-LPCLOUD"]
    # HLSS30 has generated granules too (it used to be listed with none)
    assert set(ids(provider="LPCLOUD", has_granules="true")) == hls
    assert len(ids(provider="POCLOUD", cloud_hosted="true")) == 22
    derived = ids(concept_id=["C1378579425-LAADS", "C2120512202-NSIDC_ECS", "C2623694361-GES_DISC"])
    assert len(derived) == 3
    r = client.get(COLLECTIONS, params={"concept_id": "C2021957657-LPCLOUD"})
    umm = r.json()["items"][0]["umm"]
    assert umm["ShortName"] == "HLSL30" and umm["DOI"]["DOI"] == "10.5067/HLS/HLSL30.002"
    assert {p["ShortName"] for p in umm["Platforms"]} == {"LANDSAT-8", "LANDSAT-9"}
    assert (
        ids(bounding_box="-100,30,-90,40", short_name="HAQES*") == []
    )  # literal without the pattern option
    assert ids(
        bounding_box="-100,30,-90,40",
        **{"short_name": "HAQES*", "options[short_name][pattern]": "true"},
    ) == ["C2623694361-GES_DISC"]


# ------------------------------------------------------------------------------ faults, log


def test_fault_injection_and_request_log(client):
    client.delete("/_sandbox/requests")
    client.post("/_sandbox/faults", json={"status": 503, "count": 2, "retry_after": 1})
    for _ in range(2):
        r = client.get(GRANULES, params=HLS)
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert r.json() == {"errors": ["Service Unavailable"]}
    assert client.get(GRANULES, params=HLS).status_code == 200
    client.post("/_sandbox/faults", json={"delay": 0.3, "count": 1})
    t = time.perf_counter()
    assert client.get(COLLECTIONS).status_code == 200
    assert time.perf_counter() - t >= 0.3
    client.post("/_sandbox/faults", json={"status": 429, "count": 5})
    assert client.get("/_sandbox/faults").json()["faults"][0]["status"] == 429
    client.delete("/_sandbox/faults")
    assert client.get(GRANULES, params=HLS).status_code == 200
    client.get(
        GRANULES, params={**HLS, "page_size": 2000}, headers={"cmr-search-after": '["lpcloud",1,2]'}
    )
    log = client.get("/_sandbox/requests").json()["requests"]
    assert [e["status"] for e in log[:3]] == [503, 503, 200]
    assert log[-1]["cmr_search_after"] == '["lpcloud",1,2]'
    assert "page_size=2000" in log[-1]["query"] and log[-1]["path"] == GRANULES
