"""EGI without HTTP: the emulator's refusals and clipping, the translator, OrderDesk's rules."""

from __future__ import annotations

import asyncio

import pytest

from stacbridge.assets.orders import FAILED, READY, Order, OrderDesk
from stacbridge.errors import NotFound
from stacbridge.protocols import AssetPending, AssetRedirect, ProviderError
from stacbridge.providers.egi import translate
from stacbridge.sandbox.egi import parse_request, rasters, xml
from stacbridge.sandbox.egi.app import EgiError
from stacbridge.store import MemoryStore

BASE = {"short_name": "ATL03", "version": "005"}


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"colour": "red"}, "Unknown parameter: colour"),
        ({"format": "Shapefile"}, "allowed: GeoTIFF, NetCDF4-CF"),
        ({"Coverage": "/gt9x/nothing"}, "allowed: /gt1l/heights/h_ph"),
        ({"bbox": "10,0,5,1"}, "not a valid bounding box"),
        ({"bbox": "a,b"}, "W,S,E,N"),
        ({"request_mode": "batch"}, "stream, sync, async"),
        ({"agent": "YES"}, "agent may only be NO"),
        ({"projection": "POLAR_STEREOGRAPHIC"}, "allowed: GEOGRAPHIC"),
        ({"page_size": "5000"}, "page_size must be 1..2000"),
        ({"time": "yesterday,today"}, "ISO 8601"),
    ],
)
def test_the_emulator_refuses_what_egi_refuses(params, words):
    with pytest.raises(EgiError) as caught:
        parse_request({**BASE, **params})
    assert caught.value.status == 400 and words in caught.value.message


def test_the_emulator_knows_only_egi_enabled_collections_and_no_processing_means_none():
    with pytest.raises(EgiError, match="has no EGI services"):
        parse_request({"short_name": "HLSL30", "version": "2.0"})
    assert parse_request({**BASE, "agent": "NO", "bbox": "0,0,1,1"}).processing is False
    assert parse_request({**BASE, "format": "GeoTIFF"}).processing is True


def test_a_clip_holds_exactly_the_pixels_inside_the_bbox():
    footprint = (-125.0, 25.0, -67.0, 53.0)
    window = rasters.clip_window(footprint, (-106.0, 39.5, -105.0, 40.5))
    assert window is not None
    (left, bottom, right, top), centres = window
    assert centres.shape[1:] == (16, 16)  # 0.06° pixels wholly inside the 1° box
    assert -106.0 <= left < right <= -105.0 and 39.5 <= bottom < top <= 40.5
    assert rasters.clip_window(footprint, (0.0, 0.0, 1.0, 1.0)) is None


def test_agent_responses_and_errors_round_trip_through_the_translator():
    body = xml.agent_response(
        "5000005341041",
        "complete_with_errors",
        2,
        3,
        messages=["granule 3 failed"],
        download_urls=["https://egi/esir/5000005341041.zip"],
    ).encode()
    parsed = translate.parse_agent_response(body)
    assert (parsed.order_id, parsed.status, parsed.processed, parsed.total) == (
        "5000005341041",
        "complete_with_errors",
        2,
        3,
    )
    assert parsed.messages == ["granule 3 failed"]
    assert parsed.download_urls == ["https://egi/esir/5000005341041.zip"]
    error = xml.exception("NoMatchingData", "No data found").encode()
    assert translate.error_message(error) == "NoMatchingData: No data found"
    assert translate.error_code(error) == "NoMatchingData"
    caps = translate.parse_capabilities(
        xml.capabilities("ATL03", "005", ["GeoTIFF"], ["/a"], ["GEOGRAPHIC"]).encode()
    )
    assert caps.formats == ("GeoTIFF",) and caps.variables == ("/a",) and caps.spatial


def test_references_carry_only_egi_parameters():
    ref = translate.make_ref({**BASE, "producer_granule_id": "x.h5", "format": "GeoTIFF"}, "x.zip")
    assert translate.parse_ref(ref) == {**BASE, "producer_granule_id": "x.h5", "format": "GeoTIFF"}
    assert translate.parse_ref(ref.replace("format=", "email=")) is None
    assert translate.parse_ref(ref.replace("#", "&token=abc#")) is None  # never a secret
    assert translate.parse_ref("https://example.com/") is None
    assert translate.bbox_param((170.0, -10.0, -170.0, 10.0)) is None  # across the antimeridian
    assert translate.split_collection_id("ATL03.v005") == ("ATL03", "005")


# -- OrderDesk: a failed order is not re-placed forever; a finished one lacking a file is 404


def _desk(store: MemoryStore, outcome: str, placed: list[str]) -> OrderDesk:
    async def place(order: Order) -> Order:
        placed.append(order.id)
        if outcome == "failed":
            order.status, order.message = FAILED, "upstream said no"
        else:
            order.ready({"a": "https://example.com/a"})
        return order

    async def poll(order: Order) -> Order:
        return order

    return OrderDesk(store, "test", place, poll, interval=0.01, failed_hold=60.0)


def test_a_failed_order_answers_its_failure_without_being_placed_again():
    store = MemoryStore()
    placed: list[str] = []
    desk = _desk(store, "failed", placed)

    async def run() -> None:
        for _ in range(3):
            with pytest.raises(ProviderError, match="upstream said no"):
                await desk.resolve("ref-1")
        assert len(placed) == 1

    asyncio.run(run())


def test_a_failed_order_may_be_placed_again_after_the_hold():
    clock = [1000.0]
    store = MemoryStore(clock=lambda: clock[0])
    placed: list[str] = []
    desk = _desk(store, "failed", placed)

    async def run() -> None:
        with pytest.raises(ProviderError):
            await desk.resolve("ref-1")
        clock[0] += 61.0
        with pytest.raises(ProviderError):
            await desk.resolve("ref-1")
        assert len(placed) == 2

    asyncio.run(run())


def test_a_ready_order_without_the_file_is_a_404_not_a_new_order():
    store = MemoryStore()
    placed: list[str] = []
    desk = _desk(store, "ready", placed)

    async def run() -> None:
        assert isinstance(await desk.resolve("r", key="k", file="a"), AssetRedirect)
        with pytest.raises(NotFound):
            await desk.resolve("r", key="k", file="b")
        assert len(placed) == 1
        pending = await desk.resolve("other", place=False)
        assert isinstance(pending, AssetPending) and pending.status["status"] == "orderable"

    asyncio.run(run())


def test_orders_of_both_outcomes_are_stored_with_their_state():
    store = MemoryStore()
    desk = _desk(store, "ready", [])

    async def run() -> None:
        await desk.resolve("r", key="k", file="a")
        order = await desk.book.get(desk.order_id("k"))
        assert order is not None and order.status == READY

    asyncio.run(run())


def test_decoration_subsets_to_the_search_and_signs_for_egi():
    import datetime as dt

    import httpx

    from stacbridge.config import EarthdataSettings
    from stacbridge.protocols import ASSET_SOURCE_KEY, DecorationContext, Interval
    from stacbridge.providers.egi.config import EGISettings
    from stacbridge.providers.egi.provider import EGIProvider

    settings = EGISettings(
        enabled=True,
        url="https://egi.example/egi/request",
        collections=["ATL03.v005"],
        formats=["GeoTIFF", "NetCDF4-CF"],
        variable_sets={"heights": ["/gt1l/heights/h_ph"]},
    )
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(404)))
    egi = EGIProvider(settings, earthdata=EarthdataSettings(token="t"), client=client)
    item = {
        "id": "SC:ATL03.005:256325263",
        "collection": "ATL03.v005",
        "assets": {
            "data": {
                "href": "https://n5eil01u.ecs.nsidc.org/DP5/ATL03_x_005_01.h5",
                "roles": ["data"],
            }
        },
    }
    other = {"id": "x", "collection": "ATL03.v005", "assets": {}}
    window = Interval(dt.datetime(2022, 10, 12, tzinfo=dt.UTC), None)
    triangle = {
        "type": "Polygon",
        "coordinates": [[[-150, 60], [-146, 60], [-148, 64], [-150, 60]]],
    }

    asyncio.run(
        egi.decorate_items([item, other], DecorationContext(intersects=triangle, datetime=window))
    )
    assert other["assets"] == {}  # no native file: no producer_granule_id, nothing added
    keys = set(item["assets"]) - {"data"}
    assert keys == {
        "data:geotiff",
        "data:netcdf4",
        "subset:geotiff",
        "subset:netcdf4",
        "variables:heights",
    }
    subset = translate.parse_ref(item["assets"]["subset:geotiff"]["href"])
    assert subset is not None
    assert subset["bbox"] == "-150,60,-146,64" and subset["time"] == "2022-10-12T00:00:00Z,"
    assert subset["producer_granule_id"] == "ATL03_x_005_01.h5"
    assert subset["request_mode"] == "stream"
    whole = translate.parse_ref(item["assets"]["data:netcdf4"]["href"])
    assert whole is not None and whole["request_mode"] == "async" and "bbox" not in whole
    assert all(a[ASSET_SOURCE_KEY] == "egi" for k, a in item["assets"].items() if k != "data")
    # a large area, or a window alone, is not small: an order
    for context in (
        DecorationContext(bbox=(-150.0, 60.0, -140.0, 70.0)),
        DecorationContext(datetime=window),
    ):
        again = {**item, "assets": {"data": item["assets"]["data"]}}
        asyncio.run(egi.decorate_items([again], context))
        ref = translate.parse_ref(again["assets"]["subset:geotiff"]["href"])
        assert ref is not None and ref["request_mode"] == "async"
        assert "order" in again["assets"]["subset:geotiff"]["roles"]
    collection = {"id": "ATL03.v005"}
    egi.decorate_collection(collection)
    assert set(collection["item_assets"]) == keys
    asyncio.run(client.aclose())
