"""USGS M2M through the gateway: Landsat search, downloads, orders, key expiry, faults."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import httpx
import pytest
from pystac_client import Client

from stacbridge.app import create_app
from stacbridge.sandbox.server import ServerThread
from tests.integration.test_conformance_validators import (
    EVERY_CLASS,
    extension_options,
    run_validator,
)

L2 = "landsat_ot_c2_l2"


@pytest.fixture
def m2m(sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.m2m.url, timeout=30) as client:
        client.delete("/_sandbox/faults")
        yield client
        client.delete("/_sandbox/faults")


@contextlib.contextmanager
def gateway_with(sandbox, **overrides) -> Iterator[str]:
    settings = sandbox.settings(secret_keys=["test-key"], **overrides)
    with ServerThread(create_app(settings)) as server:
        yield server.url


def first_scenes(gateway: str, n: int = 3, since: str | None = None) -> list[dict]:
    params = {"limit": n}
    if since:
        params["datetime"] = f"{since}/.."
    response = httpx.get(f"{gateway}/collections/{L2}/items", params=params, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["features"]


def a_preparing_bundle(gateway: str, since: str) -> tuple[dict, str]:
    """A scene (first seen after `since`, untouched by other tests) whose bundle USGS must
    prepare: the first GET of its href starts the order and answers 202."""
    for scene in first_scenes(gateway, 12, since):
        href = scene["assets"]["bundle"]["href"]
        response = httpx.get(href, timeout=60)
        if response.status_code == 202:
            return scene, href
        assert response.status_code == 302, response.text  # available at once
    raise AssertionError("no preparing bundle among 12 scenes")


KANSAS = {
    "type": "Polygon",
    "coordinates": [[[-97.0, 39.5], [-96.0, 39.5], [-96.0, 40.5], [-97.0, 40.5], [-97.0, 39.5]]],
}  # WRS 028/032


def test_stac_api_validator_every_advertised_class_on_m2m(gateway):
    cloud = first_scenes(gateway, 1)[0]["properties"]["eo:cloud_cover"]
    output = run_validator(
        gateway, L2, *EVERY_CLASS, geometry=KANSAS, options=extension_options(str(cloud))
    )
    assert "Errors: none" in output, output


def test_collection_queryables_come_from_dataset_filters(gateway):
    schema = httpx.get(f"{gateway}/collections/{L2}/queryables", timeout=60).json()
    assert "eo:cloud_cover" in schema["properties"]
    assert "landsat:wrs_path" in schema["properties"]


def test_pystac_client_search_by_bbox_datetime_and_cloud_cover(gateway, m2m):
    m2m.post("/_sandbox/reset")
    client = Client.open(gateway)
    search = client.search(
        collections=[L2],
        bbox=[-100, 35, -90, 45],
        datetime="2014-01-01T00:00:00Z/2015-01-01T00:00:00Z",
        filter="eo:cloud_cover < 30",
        filter_lang="cql2-text",
        limit=20,
        max_items=60,
    )
    items = list(search.items())
    assert len(items) == 60
    assert len({i.id for i in items}) == 60
    for item in items:
        assert item.properties["eo:cloud_cover"] < 30
        assert "2014-01-01" <= item.properties["datetime"][:10] <= "2015-01-01"
        west, south, east, north = item.bbox
        assert west <= -90 and east >= -100 and south <= 45 and north >= 35
        assert item.properties["platform"] in ("landsat-8", "landsat-9")
        assert item.properties["grid:code"].startswith("WRS2-")
    searches = [
        r for r in m2m.get("/_sandbox/requests").json() if r.get("endpoint") == "scene-search"
    ]
    assert len(searches) >= 3  # paged past the first M2M page
    assert all(s["body"]["sceneFilter"]["cloudCoverFilter"]["max"] == 30 for s in searches)


def test_an_available_band_downloads_with_a_plain_get(gateway):
    scene = first_scenes(gateway, 2)[1]
    band = scene["assets"]["SR_B4"]
    response = httpx.get(band["href"], timeout=60)
    assert response.status_code == 302
    assert "/download/" in response.headers["location"]
    full = httpx.get(band["href"], timeout=60, follow_redirects=True)
    assert full.status_code == 200
    assert full.content[:2] in (b"II", b"MM")
    ranged = httpx.get(
        band["href"], timeout=60, follow_redirects=True, headers={"Range": "bytes=0-99"}
    )
    assert ranged.status_code == 206 and len(ranged.content) == 100


def test_a_preparing_bundle_is_an_order_then_redirects(sandbox, gateway, m2m):
    scene, href = a_preparing_bundle(gateway, "2016-06-01T00:00:00Z")
    assert scene["properties"]["order:status"] == "orderable"
    first = httpx.get(href, timeout=60)
    assert first.status_code == 202, first.text
    assert int(first.headers["retry-after"]) >= 1
    assert first.json()["order"]["status"] == "pending"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = httpx.get(href, timeout=60)
        if response.status_code != 202:
            break
        time.sleep(0.2)
    assert response.status_code == 302
    assert "/download/" in response.headers["location"]
    requests = [
        r
        for r in m2m.get("/_sandbox/requests").json()
        if r.get("endpoint") == "download-request"
        and any(
            d.get("entityId") == scene["properties"]["landsat:scene_id"]
            for d in r["body"].get("downloads", [])
        )
    ]
    assert len(requests) == 1  # many waiting GETs, one download-request


def test_a_burst_after_key_expiry_logs_in_once(sandbox, gateway, m2m):
    first_scenes(gateway, 1)
    sandbox.m2m_clock.advance(2 * 3600 + 60)  # the API key died of inactivity upstream
    m2m.post("/_sandbox/clock", json={"advance": 0})
    before = m2m.get("/_sandbox/stats").json()["logins"]

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=60) as client:
            responses = await asyncio.gather(
                *(
                    client.get(f"{gateway}/search", params={"collections": L2, "limit": 2})
                    for _ in range(50)
                )
            )
        return [r.status_code for r in responses]

    assert asyncio.run(burst()) == [200] * 50
    assert m2m.get("/_sandbox/stats").json()["logins"] - before == 1


def test_an_order_started_before_a_restart_completes_after_it(sandbox, m2m, tmp_path):
    store = f"sqlite:///{tmp_path / 'state.sqlite'}"
    slow = sandbox.m2m_settings(poll_interval=30.0, max_poll_interval=30.0)
    with gateway_with(sandbox, store_url=store, m2m=slow) as first:
        _, href = a_preparing_bundle(first, "2017-06-01T00:00:00Z")
        href_path = href.split("/assets/", 1)[1]
    m2m.delete("/_sandbox/requests")
    with gateway_with(sandbox, store_url=store) as second:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            response = httpx.get(f"{second}/assets/{href_path}", timeout=60)
            if response.status_code != 202:
                break
            time.sleep(0.2)
        assert response.status_code == 302
    log = m2m.get("/_sandbox/requests").json()
    assert not [r for r in log if r.get("endpoint") == "download-request"]  # resumed, not redone
    assert [r for r in log if r.get("endpoint") == "download-retrieve"]


def test_pending_orders_resume_polling_at_start_up_without_any_client(sandbox, m2m, tmp_path):
    """After a restart the order is polled by the new gateway at once, before anyone asks."""
    store = f"sqlite:///{tmp_path / 'state.sqlite'}"
    slow = sandbox.m2m_settings(poll_interval=30.0, max_poll_interval=30.0)
    with gateway_with(sandbox, store_url=store, m2m=slow) as first:
        a_preparing_bundle(first, "2017-07-01T00:00:00Z")
    m2m.delete("/_sandbox/requests")
    with gateway_with(sandbox, store_url=store):
        deadline = time.monotonic() + 20
        retrieved = []
        while time.monotonic() < deadline and not retrieved:
            log = m2m.get("/_sandbox/requests").json()
            retrieved = [r for r in log if r.get("endpoint") == "download-retrieve"]
            time.sleep(0.1)
    assert retrieved, "the restarted gateway did not resume polling on its own"


def test_head_of_an_unordered_product_places_no_download_request(gateway, m2m):
    scene = first_scenes(gateway, 1, "2017-08-01T00:00:00Z")[0]
    href = scene["assets"]["bundle"]["href"]
    m2m.delete("/_sandbox/requests")
    response = httpx.head(href, timeout=60)
    assert response.status_code == 202
    log = m2m.get("/_sandbox/requests").json()
    assert not [r for r in log if r.get("endpoint") == "download-request"]


def test_rate_limit_is_a_503_with_retry_after(gateway, m2m):
    m2m.post(
        "/_sandbox/faults", json={"errorCode": "RATE_LIMIT", "count": 1, "endpoint": "scene-search"}
    )
    response = httpx.get(f"{gateway}/search", params={"collections": L2}, timeout=60)
    assert response.status_code == 503
    assert "retry-after" in response.headers
    assert response.json()["provider"] == "m2m"
    assert "RATE_LIMIT" in response.json()["description"]


def test_m2m_down_never_breaks_cmr(sandbox, m2m):
    m2m.post("/_sandbox/faults", json={"status": 503, "count": 1000})
    try:
        with gateway_with(sandbox) as gateway:
            response = httpx.get(f"{gateway}/collections", params={"limit": 200}, timeout=60)
            assert response.status_code == 200
            ids = [c["id"] for c in response.json()["collections"]]
            assert "HLSL30.v2.0" in ids
            assert L2 not in ids
            cmr = httpx.get(f"{gateway}/search", params={"collections": "HLSL30.v2.0"}, timeout=60)
            assert cmr.status_code == 200
            m2m_search = httpx.get(f"{gateway}/search", params={"collections": L2}, timeout=60)
            assert m2m_search.status_code in (502, 503)
            assert m2m_search.json()["provider"] == "m2m"
    finally:
        m2m.delete("/_sandbox/faults")


def test_unknown_scene_is_404(gateway):
    response = httpx.get(
        f"{gateway}/collections/{L2}/items/LC08_L2SP_000000_20990101_X", timeout=60
    )
    assert response.status_code == 404
