"""The EGI emulator over ASGI, with CMR and EDL answered by a mock transport (no servers)."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile

import httpx

from stacbridge.providers.egi import translate
from stacbridge.sandbox.egi import EgiState, create_egi_app

PGID = "NLDAS_NOAH0125_H.A20190220.0000.002.grb"
ENTRY = {
    "producer_granule_id": PGID,
    "boxes": ["25 -125 53 -67"],
    "time_start": "2019-02-20T00:00:00.000Z",
    "time_end": "2019-02-20T00:59:59.000Z",
    "links": [{"rel": "http://esipfed.org/ns/fedsearch/1.1/data#", "href": "https://hydro1/x.grb"}],
}
Q = {"short_name": "NLDAS_NOAH0125_H", "version": "002", "producer_granule_id": PGID}


def upstream(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/oauth/tokens/user"):
        token = dict(httpx.QueryParams(request.content.decode())).get("token")
        if token == "good":
            return httpx.Response(200, json={"uid": "sandbox"})
        return httpx.Response(401, json={"error": "token_expired"})
    if request.url.path.endswith("/granules.json"):
        found = request.url.params.get("producer_granule_id") in (None, PGID)
        entries = [ENTRY] if found else []
        return httpx.Response(
            200, json={"feed": {"entry": entries}}, headers={"CMR-Hits": str(len(entries))}
        )
    return httpx.Response(404)


def run(calls) -> None:
    state = EgiState()
    app = create_egi_app(
        "http://cmr/search", "http://edl", state=state, transport=httpx.MockTransport(upstream)
    )

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://egi") as client:
            await calls(client, state)

    asyncio.run(go())


AUTH = {"Authorization": "Bearer good"}


def test_stream_mode_is_a_zip_with_content_disposition():
    async def calls(client, state):
        r = await client.get(
            "/egi/request", params={**Q, "bbox": "-106,39.5,-105,40.5"}, headers=AUTH
        )
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        assert r.headers["content-disposition"].startswith('attachment; filename="5000')
        names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
        assert names == ["processed_NLDAS_NOAH0125_H.A20190220.0000.002.tif"]

    run(calls)


def test_an_edl_token_is_required_and_checked_the_token_parameter_works_too():
    async def calls(client, state):
        r = await client.get("/egi/request", params={**Q, "format": "GeoTIFF"})
        assert r.status_code == 401 and b"AuthenticationRequired" in r.content
        r = await client.get(
            "/egi/request",
            params={**Q, "format": "GeoTIFF"},
            headers={"Authorization": "Bearer old"},
        )
        assert r.status_code == 401 and b"token_expired" in r.content
        r = await client.get("/egi/request", params={**Q, "format": "GeoTIFF", "token": "good"})
        assert r.status_code == 200

    run(calls)


def test_async_orders_move_through_their_states_to_a_download():
    async def calls(client, state):
        r = await client.get(
            "/egi/request",
            params={**Q, "request_mode": "async"} | {"format": "NetCDF4-CF"},
            headers=AUTH,
        )
        assert r.status_code == 201
        first = translate.parse_agent_response(r.content)
        assert first.status == "pending" and first.order_id and first.total == 1
        seen = []
        for _ in range(4):
            s = await client.get(f"/egi/request/{first.order_id}", headers=AUTH)
            assert s.status_code == 201
            seen.append(translate.parse_agent_response(s.content))
        assert [x.status for x in seen] == ["processing", "processing", "complete", "complete"]
        urls = seen[-1].download_urls
        assert urls[0].endswith(f"/esir/{first.order_id}.zip")
        z = await client.get(urls[0].replace("http://egi", ""), headers=AUTH)
        assert z.status_code == 200
        assert zipfile.ZipFile(io.BytesIO(z.content)).namelist()[0].endswith(".nc")
        assert (await client.get("/egi/request/123", headers=AUTH)).status_code == 404

    run(calls)


def test_queued_outcomes_fail_or_complete_with_errors():
    async def calls(client, state):
        state.next_outcome("failed", "the subsetter crashed")
        state.next_outcome("complete_with_errors", "1 granule skipped")
        ids = []
        for _ in range(2):
            r = await client.get(
                "/egi/request",
                params={**Q, "request_mode": "async", "format": "GeoTIFF"},
                headers=AUTH,
            )
            ids.append(translate.parse_agent_response(r.content).order_id)
        for oid, status, words in zip(
            ids,
            ("failed", "complete_with_errors"),
            ("the subsetter crashed", "1 granule skipped"),
            strict=True,
        ):
            for _ in range(3):
                last = translate.parse_agent_response(
                    (await client.get(f"/egi/request/{oid}", headers=AUTH)).content
                )
            assert last.status == status and last.messages == [words]
            assert bool(last.download_urls) == (status != "failed")

    run(calls)


def test_sync_answers_complete_and_no_processing_redirects_to_the_native_file():
    async def calls(client, state):
        r = await client.get(
            "/egi/request", params={**Q, "request_mode": "sync", "format": "GeoTIFF"}, headers=AUTH
        )
        assert r.status_code == 200
        assert translate.parse_agent_response(r.content).status == "complete"
        r = await client.get("/egi/request", params={**Q, "agent": "NO"}, headers=AUTH)
        assert r.status_code == 303 and r.headers["location"] == "https://hydro1/x.grb"

    run(calls)


def test_refusals_and_empty_results_are_xml_errors():
    async def calls(client, state):
        r = await client.get("/egi/request", params={**Q, "format": "Shapefile"}, headers=AUTH)
        assert r.status_code == 400
        assert translate.error_message(r.content).startswith("InvalidParameterValue: format")
        r = await client.get("/egi/request", params={**Q, "bbox": "0,0,1,1"}, headers=AUTH)
        assert translate.error_code(r.content) == "NoMatchingData"
        r = await client.get(
            "/egi/request",
            params={**Q, "producer_granule_id": "nope", "format": "GeoTIFF"},
            headers=AUTH,
        )
        assert translate.error_code(r.content) == "NoMatchingData"
        caps = await client.get("/egi/capabilities/NLDAS_NOAH0125_H.002.xml")
        parsed = translate.parse_capabilities(caps.content)
        assert parsed.formats == ("GeoTIFF", "NetCDF4-CF") and "/PRES" in parsed.variables
        assert (await client.get("/egi/capabilities/HLSL30.2.0.xml")).status_code == 404

    run(calls)


def test_the_control_endpoint_queues_an_outcome():
    async def calls(client, state):
        r = await client.post(
            "/_sandbox/egi", content=json.dumps({"status": "failed", "message": "m"})
        )
        assert r.status_code == 200 and list(state.outcomes) == [
            {"status": "failed", "message": "m"}
        ]

    run(calls)
