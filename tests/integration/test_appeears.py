"""AppEEARS through the gateway, over real HTTP on the sandbox: the user story end to end.

A search of a product collection yields one Item per time step; the first GET of any asset
submits one area task for the whole search; every asset answers 202 until the task is done and
then redirects to its own clipped GeoTIFF.  Plus the tasks collection, bad input, a task ending
in error, a token expiring mid-poll, a restart, and stac-api-validator.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import httpx
import pytest
from pystac_client import Client

from stacbridge.app import create_app
from stacbridge.providers.appeears import SPEC
from stacbridge.registry import discover
from stacbridge.sandbox.server import ServerThread
from tests.conftest import validate_stac
from tests.integration.test_conformance_validators import run_validator

MOD11 = "MOD11A2.061"
TASKS = "appeears-tasks"
SUMMER = "2024-06-01/2024-08-31"
#: a window inside each product's temporal extent
WINDOWS = {
    MOD11: "2024-06-01T00:00:00Z/2024-06-30T00:00:00Z",
    "MCD15A3H.061": "2024-06-01T00:00:00Z/2024-06-30T00:00:00Z",
    "SRTMGL1_NC.003": "2000-02-01T00:00:00Z/2000-03-01T00:00:00Z",
}
LAYERS = {"LST_Day_1km", "LST_Night_1km", "QC_Day", "QC_Night"}


@contextlib.contextmanager
def gateway_with(sandbox, **settings) -> Iterator[str]:
    """A gateway with AppEEARS enabled, whether or not the installed metadata lists it yet."""
    values = {"secret_keys": ["appeears-test-key"], "appeears": sandbox.appeears_settings()}
    values.update(settings)
    app = create_app(sandbox.settings(**values), specs=discover(extra=[SPEC]))
    with ServerThread(app) as server:
        yield server.url


@pytest.fixture(scope="module")
def gateway(sandbox) -> Iterator[str]:
    with gateway_with(sandbox) as url:
        yield url


@pytest.fixture
def state(sandbox):
    state = sandbox.appeears.state
    yield state
    state.missing_dates.clear()
    state._fail_next.clear()


def search(gateway: str, bbox: list[float], when: str = SUMMER) -> list:
    client = Client.open(gateway)
    return list(client.search(collections=[MOD11], bbox=bbox, datetime=when).items())


def wait_ready(href: str, timeout: float = 30.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(href, timeout=30)
        if response.status_code != 202 or time.monotonic() > deadline:
            return response
        time.sleep(0.3)


def appeears_requests(sandbox, path_prefix: str) -> int:
    log = httpx.get(f"{sandbox.appeears.api.url}/_sandbox/requests", timeout=10).json()
    return sum(1 for e in log if e["path"].startswith(path_prefix))


def test_user_story_one_task_for_many_assets_then_clipped_geotiffs(gateway, sandbox, state):
    import rasterio
    from rasterio.warp import transform_bounds

    bbox = [-105.30, 40.00, -105.10, 40.20]
    items = search(gateway, bbox)
    assert [i.id for i in items][:2] == ["MOD11A2.061.A2024153", "MOD11A2.061.A2024161"]
    assert len(items) == 12  # 8-day composites starting 1 June … 28 August
    for item in items:
        validate_stac(item.to_dict())
        assert set(item.assets) == LAYERS
        assert item.properties["order:status"] == "orderable"
    hrefs = [a.href for i in items for a in i.assets.values()]
    assert all(h.startswith(f"{gateway}/assets/") for h in hrefs)

    before = state.submitted

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(*(client.get(h) for h in hrefs[:20]))

    answers = asyncio.run(burst())
    assert {r.status_code for r in answers} == {202}
    assert state.submitted == before + 1
    pending = answers[0]
    assert int(pending.headers["retry-after"]) >= 1
    assert pending.json()["order"]["status"] == "pending"
    assert "progress" in pending.json()["order"]

    # the same search again reuses the task
    again = search(gateway, bbox)
    assert httpx.get(again[5].assets["QC_Day"].href, timeout=30).status_code in (202, 307)
    assert state.submitted == before + 1

    done = wait_ready(hrefs[0])
    assert done.status_code == 307, done.text
    assert state.submitted == before + 1
    # every asset has its own file: layer and date in the name
    step = items[3]
    for layer, asset in step.assets.items():
        redirect = httpx.get(asset.href, timeout=30)
        assert redirect.status_code == 307, redirect.text
        assert f"_{layer}_doy2024177_aid0001.tif" in redirect.headers["location"]
    data = httpx.get(step.assets["LST_Day_1km"].href, follow_redirects=True, timeout=30)
    assert data.status_code == 200
    with rasterio.MemoryFile(data.content) as mem, mem.open() as tif:
        assert tif.tags(1)["layer"] == "LST_Day_1km" and tif.tags(1)["date"] == "2024177"
        west, south, east, north = transform_bounds("EPSG:4326", tif.crs, *bbox, densify_pts=21)
        tol = 1e-6 * max(abs(west), abs(north), 1)
        assert west - tol <= tif.bounds.left and tif.bounds.right <= east + tol
        assert south - tol <= tif.bounds.bottom and tif.bounds.top <= north + tol
        assert tif.read(1).size > 0
    # the Items now say the order succeeded
    assert search(gateway, bbox)[0].properties["order:status"] == "succeeded"


def test_a_time_step_without_a_file_is_a_404_saying_so(gateway, state):
    state.missing_dates.add("2024161")
    items = search(gateway, [-104.0, 39.0, -103.9, 39.1], "2024-06-01/2024-06-20")
    assert wait_ready(items[0].assets["QC_Day"].href).status_code == 307
    missing = httpx.get(items[1].assets["QC_Day"].href, timeout=30)
    assert missing.status_code == 404, missing.text
    assert "no file for layer QC_Day on 2024 day 161" in missing.json()["description"]


def test_a_task_ending_in_error_is_a_502_quoting_appeears_and_polling_stops(
    gateway, sandbox, state
):
    state.fail_next("Processing failed: granule MOD11A2.A2024153 could not be read")
    items = search(gateway, [-103.0, 38.0, -102.9, 38.1], "2024-06-01/2024-06-10")
    href = items[0].assets["LST_Day_1km"].href
    answer = wait_ready(href)
    assert answer.status_code == 502, answer.text
    body = answer.json()
    assert body["provider"] == "appeears"
    assert "granule MOD11A2.A2024153 could not be read" in body["description"]
    polls = appeears_requests(sandbox, "/api/status/")
    time.sleep(2.5)
    assert appeears_requests(sandbox, "/api/status/") == polls  # no endless polling
    submitted = state.submitted
    assert httpx.get(href, timeout=30).status_code == 502
    assert state.submitted == submitted  # a failed task is not resubmitted on every GET
    assert (
        search(gateway, [-103.0, 38.0, -102.9, 38.1], "2024-06-01/2024-06-10")[0].properties[
            "order:status"
        ]
        == "failed"
    )


def test_an_expired_token_mid_poll_logs_in_again_once(gateway, sandbox, state):
    items = search(gateway, [-101.0, 37.0, -100.9, 37.1], "2024-07-01/2024-07-05")
    href = items[0].assets["QC_Night"].href
    assert httpx.get(href, timeout=30).status_code == 202
    logins = appeears_requests(sandbox, "/api/login")
    denied = sum(
        1
        for e in httpx.get(f"{sandbox.appeears.api.url}/_sandbox/requests").json()
        if e["status"] == 403
    )
    sandbox.appeears.clock.advance(49 * 3600)  # every token issued so far has expired
    try:
        assert wait_ready(href).status_code == 307
    finally:
        sandbox.appeears.clock.advance(-49 * 3600)
    log = httpx.get(f"{sandbox.appeears.api.url}/_sandbox/requests").json()
    assert sum(1 for e in log if e["status"] == 403) > denied
    assert appeears_requests(sandbox, "/api/login") == logins + 1


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"bbox": "-105.3,40.0,-105.1,40.2"}, "needs an area (bbox or intersects) and a datetime"),
        (
            {
                "intersects": '{"type": "Point", "coordinates": [-105.2, 40.1]}',
                "datetime": "2024-06-01T00:00:00Z/2024-06-30T00:00:00Z",
            },
            "needs a Polygon",
        ),
        ({"datetime": "2024-06-01T00:00:00Z/2024-06-30T00:00:00Z"}, "needs an area"),
        (
            {
                "bbox": "-105.3,40.0,-105.1,40.2",
                "datetime": "1990-01-01T00:00:00Z/1990-02-01T00:00:00Z",
            },
            "outside the product's temporal extent 2000-02-18/present",
        ),
        (
            {"bbox": "-105.3,40.0,-105.1,40.2", "datetime": "2024-06-01T00:00:00Z/.."},
            "both ends",
        ),
    ],
)
def test_bad_extraction_searches_are_400s_saying_what_is_wrong(gateway, params, words):
    response = httpx.get(f"{gateway}/search", params={"collections": MOD11, **params}, timeout=30)
    assert response.status_code == 400, response.text
    assert words in response.json()["description"]


def test_a_product_collection_without_area_and_dates_is_an_empty_page(gateway):
    response = httpx.get(f"{gateway}/collections/{MOD11}/items", timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["features"] == []
    assert response.json()["numberMatched"] == 0


def test_a_global_search_sees_only_the_tasks_collection(gateway):
    """No product collection is searched without being named: an extraction needs them."""
    body = httpx.get(f"{gateway}/search", params={"limit": 200}, timeout=60).json()
    assert body["features"]
    seen = {f["collection"] for f in body["features"]}
    assert not seen & {MOD11, "MCD15A3H.061", "SRTMGL1_NC.003"}


def test_an_unknown_layer_is_refused_by_appeears_and_quoted(sandbox):
    from stacbridge.protocols import UpstreamRejected
    from stacbridge.providers.appeears.client import AppEEARSClient
    from stacbridge.store import MemoryStore

    async def submit() -> None:
        client = AppEEARSClient(
            sandbox.appeears_settings(),
            MemoryStore(),
            username="sandbox",
            password="sandbox-password",
        )
        try:
            await client.submit(
                {
                    "task_type": "area",
                    "task_name": "x",
                    "params": {
                        "dates": [{"startDate": "06-01-2024", "endDate": "06-30-2024"}],
                        "layers": [{"product": MOD11, "layer": "LST_Noon_1km"}],
                    },
                }
            )
        finally:
            await client.aclose()

    with pytest.raises(UpstreamRejected) as caught:
        asyncio.run(submit())
    assert "'LST_Noon_1km' is not a valid layer for product 'MOD11A2.061'" in str(caught.value)
    assert caught.value.provider == "appeears"


def test_tasks_collection_lists_a_done_task_with_checksummed_assets(gateway):
    with httpx.Client(base_url=gateway, timeout=60) as http:
        collection = http.get(f"/collections/{TASKS}").json()
        validate_stac(collection)
        task = http.get(f"/collections/{TASKS}/items/aef60357-540c-4038-b7b6-b476156618ed").json()
    validate_stac(task)
    assert task["properties"]["order:status"] == "succeeded"
    assert len(task["assets"]) == 65
    tif = task["assets"]["MOD11A2.061_LST_Day_1km_doy2017177_aid0001.tif"]
    assert tif["file:size"] == 16868
    assert tif["file:checksum"].startswith("1220") and len(tif["file:checksum"]) == 68
    assert tif["type"] == "image/tiff; application=geotiff" and tif["roles"] == ["data"]
    assert tif["href"].startswith(f"{gateway}/assets/")


def test_every_collection_and_item_validates(gateway):
    with httpx.Client(base_url=gateway, timeout=60) as http:
        for cid in (TASKS, MOD11, "MCD15A3H.061", "SRTMGL1_NC.003"):
            collection = http.get(f"/collections/{cid}").json()
            validate_stac(collection)
            params = {"limit": 20}
            if cid != TASKS:
                params |= {
                    "bbox": "-105.3,40.0,-105.1,40.2",
                    "datetime": WINDOWS[cid],
                }
            page = http.get(f"/collections/{cid}/items", params=params)
            assert page.status_code == 200, (cid, page.text)
            assert page.json()["features"], cid
            for item in page.json()["features"]:
                validate_stac(item)


def test_orders_survive_a_restart(sandbox, state, tmp_path):
    store = f"sqlite:///{tmp_path}/state.sqlite"
    with gateway_with(sandbox, store_url=store) as first:
        items = search(first, [-100.0, 36.0, -99.9, 36.1], "2024-08-01/2024-08-05")
        href = items[0].assets["LST_Day_1km"].href
        assert httpx.get(href, timeout=30).status_code == 202
    submitted = state.submitted
    with gateway_with(sandbox, store_url=store) as second:
        href = href.replace(first, second)
        assert wait_ready(href).status_code == 307
    assert state.submitted == submitted


def test_stac_api_validator_on_the_tasks_collection(gateway):
    bbox = [-98.0, 35.0, -97.9, 35.1]
    items = search(gateway, bbox, "2024-06-01/2024-06-05")
    assert httpx.get(items[0].assets["QC_Day"].href, timeout=30).status_code in (202, 307)
    area = {
        "type": "Polygon",
        "coordinates": [
            [[-98.0, 35.0], [-97.9, 35.0], [-97.9, 35.1], [-98.0, 35.1], [-98.0, 35.0]]
        ],
    }
    output = run_validator(
        gateway, TASKS, "core", "collections", "features", "item-search", geometry=area
    )
    assert "Errors: none" in output, output


def test_stac_api_validator_on_a_product_collection_core_and_collections(gateway):
    output = run_validator(gateway, MOD11, "core", "collections")
    assert "Errors: none" in output, output
