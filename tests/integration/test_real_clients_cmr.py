"""The CMR emulator driven by real CMR clients: python-cmr (its default ATOM-JSON format) and
earthaccess's search functions, pointed at the emulator over HTTP.

Every condition a client sends must either be evaluated — checked here against a brute force
over the records — or be refused with a 400 that says "not emulated": an emulator that ignored
a parameter would answer everything and make the test that sends it meaningless.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import requests

cmr = pytest.importorskip("cmr")
earthaccess = pytest.importorskip("earthaccess")

from stacbridge.sandbox.cmr import CmrEmulator, create_cmr_app  # noqa: E402
from stacbridge.sandbox.cmr.generator import HLSL30_CONCEPT_ID, HLSS30_CONCEPT_ID  # noqa: E402
from stacbridge.sandbox.cmr.records import _granule_facts  # noqa: E402
from stacbridge.sandbox.server import ServerThread  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[2] / "stacbridge" / "sandbox" / "fixtures" / "cmr"
N = 8_000  # generated granules per HLS collection: small enough for brute-force checks
MINNESOTA = (-91.7, 47.7, -90.9, 48.3)  # the README's example


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, CmrEmulator]]:
    app = create_cmr_app(generated_granules=N)
    with ServerThread(app) as srv:
        yield f"{srv.url}/search/", app.state.cmr


@pytest.fixture(scope="module")
def url(server) -> str:
    return server[0]


@pytest.fixture(scope="module")
def emu(server) -> CmrEmulator:
    return server[1]


@pytest.fixture(scope="module")
def big_server() -> Iterator[tuple[str, CmrEmulator]]:
    """The sandbox's own size (a million granules per HLS collection): the README's dates."""
    app = create_cmr_app()
    with ServerThread(app) as srv:
        yield f"{srv.url}/search/", app.state.cmr


@pytest.fixture(scope="module")
def big(big_server) -> str:
    return big_server[0]


def _generated(emu: CmrEmulator, code: str) -> list[dict]:
    gen = emu.generator if code == "L30" else emu.s30_generator
    return [gen.item(i) for i in range(gen.n)]


@pytest.fixture(scope="module")
def l30_items(emu) -> list[dict]:
    return _generated(emu, "L30")


@pytest.fixture(scope="module")
def s30_items(emu) -> list[dict]:
    return _generated(emu, "S30")


def _ids(entries: list[dict]) -> set[str]:
    return {e["id"] for e in entries}


# ------------------------------------------------------------------- 1. the ATOM-JSON format


def test_python_cmr_default_format_serves_recorded_atom_entries_verbatim(url) -> None:
    recorded = json.loads((FIXTURES / "granules_json__MYD021KM_LAADS__gpolygon.json").read_text())
    (want,) = recorded["feed"]["entry"]
    got = cmr.GranuleQuery(mode=url).concept_id("G1593453400-LAADS").get(10)
    assert got == [want]  # python-cmr's default is .json: the recorded entry, byte for byte
    atl03 = cmr.GranuleQuery(mode=url).short_name("ATL03").get(10)
    assert atl03 and all("polygons" in e for e in atl03)  # CMR's computed orbit footprints
    swot = json.loads((FIXTURES / "collections_json__SWOT_RiverSP_PODAAC.json").read_text())
    got = cmr.CollectionQuery(mode=url).short_name("SWOT_L2_HR_RiverSP_reach_2.0").get(5)
    assert got == swot["feed"]["entry"]


def test_atom_entries_derived_from_umm_match_the_recorded_ones(emu) -> None:
    """The derivation used for every unrecorded record, checked on the recorded pairs."""
    from stacbridge.sandbox.cmr.atom import granule_entry

    for name in ("MYD021KM_LAADS__gpolygon", "Daymet_ORNL_CLOUD__box_10items"):
        legacy = json.loads((FIXTURES / f"granules_json__{name}.json").read_text())
        umm = json.loads((FIXTURES / f"granules_umm_json__{name}.json").read_text())
        by_id = {it["meta"]["concept-id"]: it for it in umm["items"]}
        for want in legacy["feed"]["entry"]:
            item = by_id[want["id"]]
            coll = emu._collection_umm(want["collection_concept_id"])
            got = granule_entry(item, coll)
            for key in ("title", "dataset_id", "time_start", "time_end", "updated", "data_center",
                        "day_night_flag", "granule_size", "browse_flag", "online_access_flag",
                        "coordinate_system", "boxes", "polygons", "producer_granule_id",
                        "original_format"):  # fmt: skip
                assert got.get(key) == want.get(key), (name, key)
            data = [ln for ln in want["links"] if not ln.get("inherited")]
            assert [ln["href"] for ln in got["links"]] == [ln["href"] for ln in data]
            # documentation# vs metadata# comes from the echo10 original: a documented guess
            exact = ("data#", "s3#", "browse#", "service#")
            assert [ln["rel"] for ln in got["links"] if ln["rel"].rsplit("/")[-1] in exact] == [
                ln["rel"] for ln in data if ln["rel"].rsplit("/")[-1] in exact
            ]


def test_generated_atom_feed_pages_like_umm_json(url, emu) -> None:
    params = {"collection_concept_id": HLSL30_CONCEPT_ID, "page_size": 7}
    atom = httpx.get(f"{url}granules.json", params=params)
    umm = httpx.get(f"{url}granules.umm_json", params=params)
    assert atom.status_code == umm.status_code == 200
    assert atom.headers["content-type"] == "application/json;charset=utf-8"
    assert atom.headers["cmr-hits"] == umm.headers["cmr-hits"]
    assert atom.headers["cmr-search-after"] == umm.headers["cmr-search-after"]
    feed = atom.json()["feed"]
    assert feed["title"] == "ECHO granule metadata" and feed["id"].startswith("http")
    ids = [item["meta"]["concept-id"] for item in umm.json()["items"]]
    assert [e["id"] for e in feed["entry"]] == ids
    first = feed["entry"][0]
    assert first["collection_concept_id"] == HLSL30_CONCEPT_ID
    assert first["polygons"] and first["coordinate_system"] == "GEODETIC"
    assert len(cmr.GranuleQuery(mode=url).concept_id(HLSL30_CONCEPT_ID).get(2500)) == 2500
    bad = httpx.get(f"{url}granules.json", params={"short_name": "HLSL30", "page_size": 5000})
    assert bad.status_code == 400 and "page_size" in bad.json()["errors"][0]


def test_stac_format_is_refused_as_not_emulated(url) -> None:
    for route in ("granules.stac", "collections.stac"):
        r = httpx.get(f"{url}{route}", params={"short_name": "HLSL30"})
        assert r.status_code == 400 and "not emulate" in r.json()["errors"][0]


# ------------------------------------------------------------ 2. every parameter is evaluated


def test_collection_parameters_evaluated(url) -> None:
    def ids(**params: str) -> set[str]:
        r = httpx.get(f"{url}collections.json", params={"page_size": 100, **params})
        assert r.status_code == 200, r.text
        return _ids(r.json()["feed"]["entry"])

    assert ids(doi="nonexistent") == set()
    assert ids(doi="10.5067/HLS/HLSS30.002") == {HLSS30_CONCEPT_ID}
    assert ids(processing_level_id="3") >= {HLSS30_CONCEPT_ID, HLSL30_CONCEPT_ID}
    assert HLSS30_CONCEPT_ID not in ids(processing_level_id="2")
    assert ids(data_center="NOPE") == set()
    assert HLSS30_CONCEPT_ID in ids(data_center="LP DAAC")
    assert ids(project="NOPE") == set()
    assert ids(spatial_keyword="NOPE") == set() and ids(granule_data_format="NOPE") == set()
    sk = ids(**{"science_keywords[0][category]": "EARTH SCIENCE"})
    assert sk and sk == ids(**{"science_keywords[0][category]": "earth science"})
    assert ids(**{"science_keywords[0][category]": "NOT SCIENCE"}) == set()
    assert ids(native_id="HLSS30.v2.0") == {HLSS30_CONCEPT_ID}
    # python-cmr and earthaccess as clients
    assert len(cmr.CollectionQuery(mode=url).processing_level_id("3").get(100)) >= 2
    assert cmr.CollectionQuery(mode=url).archive_center("NOPE").get(10) == []


def test_unknown_and_unevaluated_parameters_are_refused(url) -> None:
    r = httpx.get(f"{url}granules.umm_json", params={"short_name": "HLSL30", "nope": "1"})
    assert r.status_code == 400 and r.json()["errors"] == ["Parameter [nope] was not recognized."]
    for name, value in (("orbit_number", "1"), ("cycle", "1"), ("equator_crossing_date", "x")):
        r = httpx.get(f"{url}granules.umm_json", params={"short_name": "HLSL30", name: value})
        assert r.status_code == 400 and "not emulate" in r.json()["errors"][0], name
    with pytest.raises(requests.HTTPError):
        cmr.GranuleQuery(mode=url).short_name("HLSL30").orbit_number(5).get(1)
    r = httpx.get(f"{url}collections.umm_json", params={"include_facets": "v2"})
    assert r.status_code == 400 and "not emulate" in r.json()["errors"][0]


def _brute(items: list[dict], keep) -> set[str]:
    return {it["meta"]["concept-id"] for it in items if keep(_granule_facts(it["meta"], it["umm"]))}


def test_granule_parameters_match_brute_force(url, l30_items, s30_items) -> None:
    def hits(query) -> int:
        return query.hits()

    def q(short_name: str):
        return cmr.GranuleQuery(mode=url).short_name(short_name)

    l9 = {e["id"] for e in q("HLSL30").platform("LANDSAT-9").get(N)}
    assert {i for i in l9 if i.startswith("G4")} == _brute(
        l30_items, lambda f: "LANDSAT-9" in f.platforms
    )
    assert "G2865703539-LPCLOUD" in l9  # the recorded LANDSAT-9 granule
    l8 = {e["id"] for e in q("HLSL30").platform("landsat-8").get(N)}
    assert len(l8) + len(l9) == hits(q("HLSL30")) and not l8 & l9
    assert hits(q("HLSS30").platform("Sentinel-2A")) == N  # all before Sentinel-2B's start
    assert hits(q("HLSL30").instrument("MSI")) == 0
    assert hits(q("HLSS30").instrument("MSI")) == N
    assert hits(q("HLSS30").day_night_flag("night")) == 0
    assert hits(q("HLSS30").online_only(True)) == N  # online_only is CMR's downloadable
    assert hits(q("HLSS30").downloadable(False)) == 0
    start, end = "2015-01-10T00:00:00Z", "2015-01-20T00:00:00Z"
    rev = {e["id"] for e in q("HLSL30").revision_date(start, end).get(N)}
    lo, hi = 1420848000000, 1421712000000
    assert rev == _brute(l30_items, lambda f: lo <= (f.revision_ms or 0) <= hi) and rev
    since = httpx.get(
        f"{url}granules.umm_json",
        params={"short_name": "HLSL30", "updated_since": "2015-01-15T00:00:00Z", "page_size": 0},
    )
    want = _brute(l30_items, lambda f: (f.revision_ms or 0) >= 1421280000000)
    assert 0 < len(want) < N
    assert int(since.headers["cmr-hits"]) == len(want) + 2  # + the two recorded (2024) ones
    prod = httpx.get(
        f"{url}granules.umm_json",
        params={
            "short_name": "HLSS30",
            "production_date": "2015-12-10T00:00:00Z,2015-12-20T00:00:00Z",
            "page_size": 0,
        },
    )
    lo, hi = 1449705600000, 1450569600000
    want = _brute(s30_items, lambda f: lo <= (f.production_ms or 0) <= hi)
    assert want
    assert int(prod.headers["cmr-hits"]) == len(want)


@pytest.mark.parametrize(
    ("short_name", "platform", "start", "end"),
    [
        ("HLSL30", "LANDSAT-9", "2022-01-01T00:00:00Z", "2022-01-04T00:00:00Z"),
        ("HLSL30", "LANDSAT-8", "2021-10-30T00:00:00Z", "2021-11-02T00:00:00Z"),
        ("HLSS30", "Sentinel-2B", "2017-06-29T00:00:00Z", "2017-07-02T00:00:00Z"),
    ],
)
def test_platform_split_over_the_full_population(big_server, short_name, platform, start, end):
    url, emu = big_server
    got = {
        e["id"]
        for e in cmr.GranuleQuery(mode=url).short_name(short_name).platform(platform)
        .temporal(start, end).get(5000)
    }  # fmt: skip
    gen = emu.generator if short_name == "HLSL30" else emu.s30_generator
    from stacbridge.sandbox.cmr.temporal import parse_datetime_ms

    lo, hi = gen.index_interval(parse_datetime_ms(start), parse_datetime_ms(end))
    want = {gen.concept_id(i) for i in range(lo, hi) if gen.platform(i) == platform}
    assert want and got == want


def test_attribute_parameter(url, l30_items) -> None:
    def count(*attrs: str, **extra: str) -> int:
        params = [
            ("short_name", "HLSL30"),
            ("page_size", "0"),
            *(("attribute[]", a) for a in attrs),
        ]
        params += list(extra.items())
        r = httpx.get(f"{url}granules.umm_json", params=params)
        assert r.status_code == 200, r.text
        return int(r.headers["cmr-hits"])

    def cc(f) -> float:
        return float(f.attributes["CLOUD_COVERAGE"][0])

    assert count("float,CLOUD_COVERAGE,0,10") == len(_brute(l30_items, lambda f: cc(f) <= 10))
    tile = l30_items[5]["umm"]["AdditionalAttributes"]
    mgrs = next(a["Values"][0] for a in tile if a["Name"] == "MGRS_TILE_ID")
    want = _brute(l30_items, lambda f: f.attributes["MGRS_TILE_ID"] == [mgrs])
    assert count(f"string,MGRS_TILE_ID,{mgrs}") == len(want)
    both = _brute(l30_items, lambda f: f.attributes["MGRS_TILE_ID"] == [mgrs] and cc(f) <= 10)
    assert count(f"string,MGRS_TILE_ID,{mgrs}", "float,CLOUD_COVERAGE,,10") == len(both)
    assert count("NO_SUCH_ATTRIBUTE") == 0
    assert count("string,ACCODE,LaSRC v3.0.5") >= N  # a constant of the generated records
    bad = httpx.get(
        f"{url}granules.umm_json", params={"short_name": "HLSL30", "attribute[]": "x,A,1"}
    )
    assert bad.status_code == 400


# --------------------------------------------------------- 3. readable_granule_name patterns


@pytest.mark.parametrize(
    "pattern",
    ["HLS.L30.T*.2015001T*", "*2015007T?????7*", "hls.l30.t1?s*", "*.v2.0", "HLS.L30.*T0000??"],
)
def test_readable_granule_name_patterns_match_brute_force(url, l30_items, pattern) -> None:
    import fnmatch

    got = {e["id"] for e in cmr.GranuleQuery(mode=url).short_name("HLSL30")
           .readable_granule_name(pattern).get(N + 10)}  # fmt: skip

    def names(it: dict) -> list[str]:
        ur = it["umm"]["GranuleUR"]
        return [ur, ur.removesuffix(".v2.0")]

    want = {
        it["meta"]["concept-id"]
        for it in l30_items
        if any(fnmatch.fnmatchcase(n.lower(), pattern.lower()) for n in names(it))
    }
    assert {i for i in got if i.startswith("G4")} == want


def test_earthaccess_granule_name_over_the_full_population(big, monkeypatch) -> None:
    _point_earthaccess_at(monkeypatch, big)
    found = earthaccess.search_data(
        short_name="HLSL30", granule_name="HLS.L30.T13SFV.2016*", count=50
    )
    assert found and all("T13SFV.2016" in g["umm"]["GranuleUR"] for g in found)


# -------------------------------------------------------------- 5. the README's examples


def _point_earthaccess_at(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    from earthaccess.system import System

    system = System(url, "http://status", "http://status/api", "urs.invalid")  # type: ignore[arg-type]
    fake = SimpleNamespace(authenticated=True, system=system, get_session=requests.Session)
    monkeypatch.setattr(earthaccess, "_auth", fake)


def test_readme_minnesota_example_finds_both_hls_collections(big, monkeypatch) -> None:
    _point_earthaccess_at(monkeypatch, big)
    west, south, east, north = MINNESOTA
    for short_name in ("HLSL30", "HLSS30"):
        found = earthaccess.search_data(
            short_name=short_name,
            bounding_box=(west, south, east, north),
            temporal=("2024-02-01", "2024-03-01"),
            count=100,
        )
        assert found, short_name
        assert all("T15U" in g["umm"]["GranuleUR"] for g in found)
    datasets = earthaccess.search_datasets(doi="10.5067/HLS/HLSS30.002")
    assert [d["meta"]["concept-id"] for d in datasets] == [HLSS30_CONCEPT_ID]
    hlss30 = cmr.CollectionQuery(mode=big).short_name("HLSS30").get(1)
    assert hlss30[0]["id"] == HLSS30_CONCEPT_ID
