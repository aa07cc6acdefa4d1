"""Operations surface of one gateway: /metrics, request ids, Server-Timing, /readyz, logs."""

from __future__ import annotations

import json
import logging
import re

import httpx

from stacbridge.app import create_app
from stacbridge.assets.rewrite import asset_token
from stacbridge.observability.logging import JsonFormatter, request_id, scrub
from stacbridge.sandbox.server import ServerThread
from stacbridge.signing import Signer

HLS = "HLSL30.v2.0"
HLS_ITEM = "HLS.L30.T15UXP.2024042T165831.v2.0"


def scrape(gateway: str) -> dict[str, float]:
    """`/metrics` as {'name{labels}': value} (the text exposition, one sample a line)."""
    response = httpx.get(f"{gateway}/metrics", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def sample(samples: dict[str, float], name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for key, value in samples.items():
        base, _, rest = key.partition("{")
        if base != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if all(found.get(k) == v for k, v in labels.items()):
            total += value
    return total


def test_request_id_is_echoed_generated_and_sent_upstream(sandbox, gateway):
    mine = httpx.get(f"{gateway}/", headers={"X-Request-ID": "trace-42.a"}, timeout=30)
    assert mine.headers["x-request-id"] == "trace-42.a"
    fresh = httpx.get(f"{gateway}/", timeout=30)
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["x-request-id"])
    hostile = httpx.get(f"{gateway}/", headers={"X-Request-ID": "x" * 500}, timeout=30)
    assert hostile.headers["x-request-id"] != "x" * 500  # replaced, never reflected

    ed = sandbox.earthdata
    path = "MYD021KM/large/64MB.bin"
    href = (
        f"{gateway}/assets/"
        f"{asset_token(Signer(['test-key']), 'cmr', f'{ed.onprem.url}/{path}', 600)}/64MB.bin"
    )
    httpx.post(f"{ed.onprem.url}/_sandbox/reset", timeout=10)
    ranged = httpx.get(href, headers={"Range": "bytes=0-9", "X-Request-ID": "dl-7"}, timeout=60)
    assert ranged.status_code == 206
    upstream = [
        e
        for e in httpx.get(f"{ed.onprem.url}/_sandbox/requests", timeout=10).json()
        if e["path"].endswith("64MB.bin")
    ]
    assert upstream and all(e["headers"].get("x-request-id") == "dl-7" for e in upstream)


def test_server_timing_on_api_and_asset_responses(gateway):
    landing = httpx.get(f"{gateway}/collections", timeout=60)
    assert re.fullmatch(r"total;dur=\d+\.\d", landing.headers["server-timing"])
    item = httpx.get(f"{gateway}/collections/{HLS}/items/{HLS_ITEM}", timeout=60).json()
    asset = httpx.get(item["assets"]["B02"]["href"], timeout=60)
    timings = ", ".join(asset.headers.get_list("server-timing"))
    assert "upstream;dur=" in timings and "total;dur=" in timings


def test_metrics_count_upstream_requests_routes_streams_and_orders(sandbox, gateway):
    before = scrape(gateway)
    item = httpx.get(f"{gateway}/collections/{HLS}/items/{HLS_ITEM}", timeout=60)
    assert item.status_code == 200
    assert httpx.get(f"{gateway}/collections/nope-nope/items", timeout=60).status_code == 404
    ed = sandbox.earthdata
    ref = f"{ed.onprem.url}/MYD021KM/large/64MB.bin"
    href = f"{gateway}/assets/" + asset_token(Signer(["test-key"]), "cmr", ref, 600)
    streamed = httpx.get(href, headers={"Range": "bytes=0-99999"}, timeout=60)
    assert streamed.status_code == 206 and len(streamed.content) == 100_000
    # an M2M order: its placement is an order write
    scenes = httpx.get(
        f"{gateway}/collections/landsat_ot_c2_l2/items", params={"limit": 12}, timeout=60
    ).json()["features"]
    for scene in scenes:
        if httpx.get(scene["assets"]["bundle"]["href"], timeout=60).status_code == 202:
            break
    after = scrape(gateway)

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("stacbridge_upstream_request_duration_seconds_count", provider="cmr") >= 1
    assert delta("stacbridge_upstream_request_duration_seconds_count", provider="m2m") >= 1
    assert (
        delta(
            "stacbridge_http_requests_total",
            route="/collections/{collection_id}/items/{item_id}",
            status="200",
        )
        == 1
    )
    assert delta("stacbridge_http_requests_total", route="/assets/{token}", status="206") == 1
    assert delta("stacbridge_proxy_bytes_streamed_total", provider="cmr") == 100_000
    assert sample(after, "stacbridge_proxy_active_streams", provider="cmr") == 0  # finished
    assert delta("stacbridge_order_updates_total", provider="m2m") >= 1
    assert "stacbridge_upstream_errors_total" in httpx.get(f"{gateway}/metrics").text
    # no asset token (a download capability) ever becomes a label
    assert "/assets/ey" not in httpx.get(f"{gateway}/metrics").text


def test_readyz_names_the_failing_provider(sandbox, gateway):
    # a good request per provider first: readiness also remembers recent upstream failures,
    # and other tests in this process inject faults into the shared emulators
    httpx.get(f"{gateway}/collections/{HLS}/items", params={"limit": 1}, timeout=60)
    httpx.get(f"{gateway}/collections/landsat_ot_c2_l2/items", params={"limit": 1}, timeout=60)
    ok = httpx.get(f"{gateway}/readyz", timeout=30)
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"status": "ready", "providers": {"cmr": "ok", "m2m": "ok"}}
    assert httpx.get(f"{gateway}/healthz", timeout=30).status_code == 200

    settings = sandbox.settings(
        secret_keys=["k"],
        cmr=sandbox.cmr_settings(
            url="http://127.0.0.1:9/search", http={"retries": 0, "timeout": 2}
        ),
    )
    with ServerThread(create_app(settings)) as broken:
        answer = httpx.get(f"{broken.url}/readyz", timeout=30)
        assert answer.status_code == 503
        body = answer.json()
        assert body["failing"] == ["cmr"]
        assert body["providers"]["m2m"] == "ok"
        assert "cmr" in body["providers"]["cmr"].lower() or "reach" in body["providers"]["cmr"]
        assert httpx.get(f"{broken.url}/healthz", timeout=30).status_code == 200  # still alive


def test_api_html_is_served_offline(gateway):
    page = httpx.get(f"{gateway}/api.html", timeout=30)
    assert page.status_code == 200
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert refs and all(r.startswith("/") for r in refs), refs  # nothing from a CDN
    assert "oauth2" not in page.text
    for ref in refs:
        assert httpx.get(f"{gateway}{ref}", timeout=30).status_code == 200
    assert httpx.get(f"{gateway}/api", timeout=30).status_code == 200


def test_landing_page_names_only_the_providers_it_serves(gateway):
    # AppEEARS is installed but not enabled in the session gateway
    description = httpx.get(f"{gateway}/", timeout=30).json()["description"]
    assert "CMR" in description and "M2M" in description
    assert "AppEEARS" not in description and "EGI" not in description


def test_json_log_lines_carry_the_request_id_and_no_secrets():
    formatter = JsonFormatter()
    token = request_id.set("req-1")
    try:
        record = logging.LogRecord(
            "stacbridge.test",
            logging.INFO,
            __file__,
            1,
            "fetched %s with Authorization: Bearer abc.def and password=hunter2",
            ("https://s3/x?X-Amz-Signature=deadbeef&X-Amz-Credential=AKIA",),
            None,
        )
        record.route = "/search"
        line = json.loads(formatter.format(record))
    finally:
        request_id.reset(token)
    assert line["request_id"] == "req-1" and line["route"] == "/search"
    assert line["level"] == "info" and isinstance(line["pid"], int)
    for secret in ("abc.def", "hunter2", "deadbeef", "AKIA"):
        assert secret not in line["msg"]
    assert scrub("token=xyz&page=2") == "token=***&page=2"
