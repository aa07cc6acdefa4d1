"""EGI through the gateway, over real HTTP on the sandbox: customised assets end to end.

A bbox search of an EGI-enabled collection gives items with customised assets; a subset asset
streams a zip whose GeoTIFF lies within the bbox; a reformat asset is an order (202, then the
zip); 20 concurrent GETs make one EGI order; an order survives a restart; an EDL token expiring
mid-poll is renewed; EGI's failures and refusals are 502s quoting EGI, and nothing polls or
re-orders forever.  (EGI bodies in the sandbox are synthetic; see stacbridge/sandbox/egi.)
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
import zipfile
from collections.abc import Iterator

import httpx
import pytest
from pystac_client import Client

from stacbridge.app import create_app
from stacbridge.assets.rewrite import asset_token
from stacbridge.providers.egi import translate
from stacbridge.sandbox.server import ServerThread
from stacbridge.signing import Signer
from tests.conftest import validate_stac

NLDAS = "NLDAS_NOAH0125_H.v002"
ATL03 = "ATL03.v005"
BBOX = [-106.0, 39.5, -105.0, 40.5]
KEY = "egi-test-key"


@contextlib.contextmanager
def gateway_with(sandbox, **settings) -> Iterator[str]:
    values = {"secret_keys": [KEY], "egi": sandbox.egi_settings()}
    values.update(settings)
    with ServerThread(create_app(sandbox.settings(**values))) as server:
        yield server.url


@pytest.fixture(scope="module")
def gateway(sandbox) -> Iterator[str]:
    with gateway_with(sandbox) as url:
        yield url


@pytest.fixture
def egi(sandbox):
    state = sandbox.egi_state
    yield state
    state.outcomes.clear()


def search(gateway: str, bbox=BBOX, collection=NLDAS, **kw) -> list:
    return list(Client.open(gateway).search(collections=[collection], bbox=bbox, **kw).items())


def wait_ready(href: str, timeout: float = 30.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(href, timeout=30)
        if response.status_code != 202 or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def egi_polls(sandbox) -> int:
    log = httpx.get(f"{sandbox.egi.url}/_sandbox/requests", timeout=10).json()
    return sum(1 for e in log if e["path"].startswith("/egi/request/"))


def test_bbox_search_shows_customised_assets_and_the_subset_zip_is_clipped(gateway):
    import rasterio

    items = search(gateway)
    assert len(items) == 1
    item = items[0]
    validate_stac(item.to_dict())
    assert {"data", "data:geotiff", "data:netcdf4", "subset:geotiff", "subset:netcdf4"} <= set(
        item.assets
    )
    assert "variables:pressure" in item.assets
    collection = Client.open(gateway).get_collection(NLDAS)
    assert {"data:geotiff", "subset:netcdf4"} <= set(collection.extra_fields["item_assets"])

    answer = httpx.get(item.assets["subset:geotiff"].href, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    assert answer.headers["content-disposition"].startswith("attachment; filename=")
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    (name,) = archive.namelist()
    assert name == "processed_NLDAS_NOAH0125_H.A20190220.0000.002.tif"
    with rasterio.MemoryFile(archive.read(name)) as mem, mem.open() as tif:
        west, south, east, north = BBOX
        assert tif.crs.to_epsg() == 4326
        assert west <= tif.bounds.left < tif.bounds.right <= east
        assert south <= tif.bounds.bottom < tif.bounds.top <= north
        assert tif.count == 3 and tif.read(1).size > 0


def test_a_search_without_area_or_time_has_no_subset_asset(gateway):
    item = Client.open(gateway).get_collection(NLDAS).get_items().__next__()
    assert "data:geotiff" in item.assets and "subset:geotiff" not in item.assets


def test_atl03_is_egi_enabled_and_gets_temporal_subsets(gateway):
    items = list(
        Client.open(gateway)
        .search(collections=[ATL03], datetime="2022-10-12T16:00:00Z/2022-10-12T17:00:00Z")
        .items()
    )
    assert len(items) == 1
    assert {"data:geotiff", "subset:geotiff"} <= set(items[0].assets)
    # ATL03 is whole-granule orderable too; the variable set is NLDAS's, so not offered here
    assert "variables:pressure" not in items[0].assets


def test_a_reformat_is_one_order_for_20_clients_then_the_zip(gateway, egi):
    href = search(gateway)[0].assets["data:netcdf4"].href
    before = egi.submitted

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(*(client.get(href) for _ in range(20)))

    answers = asyncio.run(burst())
    assert {r.status_code for r in answers} == {202}
    assert egi.submitted == before + 1
    assert int(answers[0].headers["retry-after"]) >= 1
    assert answers[0].json()["order"]["status"] == "pending"
    done = wait_ready(href)
    assert done.status_code == 200, done.text
    assert done.headers["content-type"] == "application/zip"
    (name,) = zipfile.ZipFile(io.BytesIO(done.content)).namelist()
    assert name.endswith(".nc")
    assert egi.submitted == before + 1
    assert "EGI order status: complete." in search(gateway)[0].assets["data:netcdf4"].description


def test_a_result_egi_purged_is_ordered_again(gateway, egi):
    href = search(gateway, bbox=[-110.0, 45.0, -109.0, 46.0])[0].assets["data:geotiff"].href
    assert wait_ready(href).status_code == 200
    egi.results.clear()  # EGI keeps results for a limited time
    before = egi.submitted
    again = httpx.get(href, timeout=30)
    assert again.status_code == 202, again.text
    assert egi.submitted == before + 1
    assert wait_ready(href).status_code == 200


def test_complete_with_errors_is_delivered_and_reported(sandbox, egi):
    with gateway_with(sandbox, store_url="memory://") as gw:  # a fresh order, not another test's
        egi.next_outcome("complete_with_errors", "1 of 3 variables could not be subset")
        bbox = [-100.0, 35.0, -99.0, 36.0]
        answer = wait_ready(search(gw, bbox=bbox)[0].assets["data:geotiff"].href)
        assert answer.status_code == 200, answer.text
        text = search(gw, bbox=bbox)[0].assets["data:geotiff"].description
        assert "complete_with_errors" in text and "1 of 3 variables could not be subset" in text


def test_a_failed_order_is_a_502_quoting_egi_and_is_neither_polled_nor_reordered(sandbox):
    with gateway_with(sandbox, store_url="memory://") as gw:
        egi = sandbox.egi_state
        egi.next_outcome("failed", "Subsetter ICESAT2 could not open the granule")
        href = search(gw)[0].assets["data:geotiff"].href
        answer = wait_ready(href)
        assert answer.status_code == 502, answer.text
        body = answer.json()
        assert body["provider"] == "egi"
        assert "Subsetter ICESAT2 could not open the granule" in body["description"]
        polls, submitted = egi_polls(sandbox), egi.submitted
        time.sleep(1.5)
        assert egi_polls(sandbox) == polls
        assert httpx.get(href, timeout=30).status_code == 502
        assert egi.submitted == submitted


def test_egi_refusing_a_request_is_a_502_quoting_it(gateway, sandbox):
    ref = translate.make_ref(
        {
            "short_name": "NLDAS_NOAH0125_H",
            "version": "002",
            "producer_granule_id": "NLDAS_NOAH0125_H.A20190220.0000.002.grb",
            "bbox": "10,0,5,1",
            "format": "GeoTIFF",
            "request_mode": "stream",
        },
        "bad.zip",
    )
    token = asset_token(Signer([KEY]), "egi", ref, 3600)
    answer = httpx.get(f"{gateway}/assets/{token}", timeout=30)
    assert answer.status_code == 502, answer.text
    assert "InvalidParameterValue" in answer.json()["description"]
    assert "bbox '10,0,5,1' is not a valid bounding box" in answer.json()["description"]


def test_a_variable_the_collection_does_not_offer_is_a_400_naming_the_allowed(gateway):
    ref = translate.make_ref(
        {
            "short_name": "NLDAS_NOAH0125_H",
            "version": "002",
            "producer_granule_id": "NLDAS_NOAH0125_H.A20190220.0000.002.grb",
            "Coverage": "/WIND",
            "format": "GeoTIFF",
            "request_mode": "stream",
        },
        "x.zip",
    )
    answer = httpx.get(f"{gateway}/assets/{asset_token(Signer([KEY]), 'egi', ref, 3600)}")
    assert answer.status_code == 400, answer.text
    assert "/WIND" in answer.json()["description"] and "/TMP, /SPFH, /PRES" in answer.text


def test_an_order_survives_a_restart(sandbox, tmp_path):
    store = f"sqlite:///{tmp_path / 'state.db'}"
    egi = sandbox.egi_state
    with gateway_with(sandbox, store_url=store) as gw:
        href = search(gw, bbox=[-90.0, 30.0, -89.0, 31.0])[0].assets["data:geotiff"].href
        before = egi.submitted
        assert httpx.get(href, timeout=30).status_code == 202
        path = href.split("/assets/", 1)[1]
    with gateway_with(sandbox, store_url=store) as gw:
        done = wait_ready(f"{gw}/assets/{path}")
        assert done.status_code == 200, done.text
    assert egi.submitted == before + 1


def test_an_edl_token_expiring_mid_poll_is_renewed(sandbox):
    with gateway_with(sandbox, store_url="memory://") as gw:
        egi = sandbox.egi_state
        href = search(gw, bbox=[-80.0, 30.0, -79.0, 31.0])[0].assets["data:geotiff"].href
        assert httpx.get(href, timeout=30).status_code == 202
        stats = httpx.get(f"{sandbox.earthdata.edl.url}/_sandbox/stats").json()
        sandbox.earthdata.clock.advance(2 * 3600)  # every EDL token issued so far has expired
        try:
            done = wait_ready(href)
        finally:
            sandbox.earthdata.clock.advance(-2 * 3600)
        assert done.status_code == 200, done.text
        after = httpx.get(f"{sandbox.earthdata.edl.url}/_sandbox/stats").json()
        assert after["tokens_issued"] == stats["tokens_issued"] + 1
        assert egi.submitted >= 1


def test_stac_api_validator_on_an_egi_enabled_collection(gateway):
    """NLDAS: its granule has a footprint in UMM-G, so item-search is checked over it.  (ATL03's
    orbit-only footprints come from CMR's `.json`: tests/integration/test_orbit_footprints.py.)"""
    from tests.integration.test_conformance_validators import run_validator

    ring = [[-106.0, 39.5], [-105.0, 39.5], [-105.0, 40.5], [-106.0, 40.5], [-106.0, 39.5]]
    output = run_validator(
        gateway,
        NLDAS,
        "core",
        "collections",
        "features",
        "item-search",
        geometry={"type": "Polygon", "coordinates": [ring]},
    )
    assert "Errors: none" in output, output
