"""The signing proxy against the Earthdata emulators: downloads with no credentials at all."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import SecretStr

from stacbridge.app import create_app
from stacbridge.assets.rewrite import asset_of_href, asset_token
from stacbridge.sandbox.files import expected_pixels
from stacbridge.sandbox.server import ServerThread
from stacbridge.signing import Signer

HLS = "HLSL30.v2.0"
HLS_ITEM = "HLS.L30.T15UXP.2024042T165831.v2.0"
KEY = "test-key"  # the same key as the session gateway in conftest


@contextlib.contextmanager
def gateway_with(sandbox, **earthdata_overrides) -> Iterator[str]:
    """A fresh gateway (own state store: no cached sessions) on the shared sandbox."""
    settings = sandbox.settings(
        secret_keys=[KEY], earthdata=sandbox.earthdata_settings(**earthdata_overrides)
    )
    with ServerThread(create_app(settings)) as server:
        yield server.url


def stats(url: str) -> dict:
    return httpx.get(f"{url}/_sandbox/stats", timeout=10).json()


def reset(*urls: str) -> None:
    for url in urls:
        httpx.post(f"{url}/_sandbox/reset", timeout=10)


def hls_item(gateway: str) -> dict:
    response = httpx.get(f"{gateway}/collections/{HLS}/items/{HLS_ITEM}", timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def upstream_path(sandbox, gateway_href: str) -> str:
    """The data host path an asset href stands for (read back from the signed token)."""
    _, ref = asset_of_href(Signer([KEY]), gateway_href)
    return urlsplit(ref).path.lstrip("/")


def test_every_data_asset_points_at_the_proxy(sandbox, gateway):
    item = hls_item(gateway)
    data = [a for a in item["assets"].values() if "data" in a.get("roles", [])]
    assert len(data) >= 10
    for asset in data:
        assert asset["href"].startswith(f"{gateway}/assets/"), asset["href"]
        assert asset["href"].endswith(".tif")
        assert "lpdaac" not in asset["href"]
        assert asset["alternate"]["s3"]["href"].startswith("s3://")


def test_plain_get_downloads_the_whole_file_and_login_runs_once(sandbox):
    ed = sandbox.earthdata
    reset(ed.edl.url, ed.host.url, ed.s3.url)
    with gateway_with(sandbox) as gateway:
        item = hls_item(gateway)
        hrefs = [item["assets"][k]["href"] for k in ("B04", "B05", "Fmask")]
        with httpx.Client(follow_redirects=True, timeout=60) as client:
            for href in hrefs:
                response = client.get(href)
                assert response.status_code == 200
                path = upstream_path(sandbox, href)
                info = ed.files.stat(path)
                assert len(response.content) == info.size
                assert response.content[:4] in (b"II*\x00", b"MM\x00*")
                assert str(response.url).startswith(ed.s3.url)  # redirected to pre-signed S3
    assert stats(ed.edl.url)["logins"] == 1  # one OAuth flow, the cookie session reused


def test_rasterio_reads_a_window_through_the_proxy(sandbox, gateway, monkeypatch):
    rasterio = pytest.importorskip("rasterio")
    from rasterio.windows import Window

    ed = sandbox.earthdata
    item = hls_item(gateway)
    href = item["assets"]["B04"]["href"]
    reset(ed.s3.url, ed.host.url)
    env = {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "GDAL_HTTP_MAX_RETRY": "0",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif",
    }
    with rasterio.Env(**env), rasterio.open(href) as dataset:
        window = dataset.read(1, window=Window(100, 200, 64, 32))
    expected = expected_pixels(upstream_path(sandbox, href))[200:232, 100:164]
    assert (window == expected).all()
    # GDAL read through pre-signed redirects: every byte-carrying request was ranged
    log = httpx.get(f"{ed.s3.url}/_sandbox/requests", timeout=10).json()
    gets = [e for e in log if e["method"] == "GET"]
    assert any(e["status"] == 206 for e in gets)
    assert all(e["range"] for e in gets), [e["range"] for e in gets]
    assert not any(e["status"] == 200 for e in gets)
    # and nothing in the read's full request log failed: no URL pre-signed for HEAD was reused
    # for a GET (403 SignatureDoesNotMatch), the HEAD was answered by the proxy itself
    log += httpx.get(f"{ed.host.url}/_sandbox/requests", timeout=10).json()
    assert [(e["method"], e["status"]) for e in log if e["status"] >= 400] == []


def test_stream_mode_forwards_range_one_upstream_request_each(sandbox):
    """On-premises hosts serve bytes themselves: the proxy streams, forwarding Range."""
    ed = sandbox.earthdata
    with gateway_with(sandbox) as gateway:
        signer = Signer([KEY])
        path = "MYD021KM/large/64MB.bin"
        ref = f"{ed.onprem.url}/{path}"
        href = f"{gateway}/assets/{asset_token(signer, 'cmr', ref, 600)}/64MB.bin"
        reset(ed.onprem.url)
        with httpx.Client(timeout=60) as client:
            head = client.head(href)
            assert head.status_code == 200
            assert int(head.headers["content-length"]) == 64_000_000
            ranged = client.get(href, headers={"Range": "bytes=1000-1999"})
            assert ranged.status_code == 206
            assert ranged.headers["content-range"] == "bytes 1000-1999/64000000"
            assert len(ranged.content) == 1000
            assert ranged.headers["accept-ranges"] == "bytes"
            etag = ranged.headers["etag"]
            direct = ed.files.stat(path)
            assert etag == direct.etag
            cached = client.get(href, headers={"If-None-Match": etag})
            assert cached.status_code == 304
        entries = [
            e
            for e in httpx.get(f"{ed.onprem.url}/_sandbox/requests").json()
            if e["path"].endswith("64MB.bin") and e["status"] in (200, 206, 304)
        ]
        # HEAD, one ranged GET, one conditional GET: never a full download
        assert [e["method"] for e in entries] == ["HEAD", "GET", "GET"]
        assert entries[1]["range"] == "bytes=1000-1999"
        assert all(e["bytes"] <= 1000 for e in entries)


def test_bearer_token_mode_redirects_to_presigned_url(sandbox):
    ed = sandbox.earthdata
    token = httpx.post(
        f"{ed.edl.url}/api/users/find_or_create_token", auth=("sandbox", "sandbox-password")
    ).json()["access_token"]
    reset(ed.edl.url)
    with gateway_with(sandbox, token=SecretStr(token), username=None, password=None) as gateway:
        href = hls_item(gateway)["assets"]["B02"]["href"]
        first = httpx.get(href, timeout=60)
        assert first.status_code == 307
        assert first.headers["location"].startswith(ed.s3.url)
        assert "X-Amz-Signature" in first.headers["location"]
        assert token not in first.headers["location"]
        full = httpx.get(href, timeout=60, follow_redirects=True)
        assert full.status_code == 200 and full.content[:2] in (b"II", b"MM")
    assert stats(ed.edl.url).get("logins", 0) == 0


def test_a_burst_after_session_expiry_logs_in_exactly_once(sandbox):
    ed = sandbox.earthdata
    with gateway_with(sandbox) as gateway:
        href = hls_item(gateway)["assets"]["B03"]["href"]
        assert httpx.get(href, timeout=60).status_code == 307  # logs in
        reset(ed.edl.url)
        ed.clock.advance(sandbox.token_ttl + 60)  # every EDL session has expired upstream

        async def burst() -> list[int]:
            async with httpx.AsyncClient(timeout=60) as client:
                responses = await asyncio.gather(*(client.get(href) for _ in range(50)))
            return [r.status_code for r in responses]

        statuses = asyncio.run(burst())
        assert statuses == [307] * 50
        assert stats(ed.edl.url)["logins"] == 1


def test_credentials_never_follow_a_redirect_to_a_foreign_host(sandbox):
    """A data host that redirects elsewhere: the client goes there itself, with nothing of ours."""
    from starlette.applications import Starlette
    from starlette.responses import RedirectResponse
    from starlette.routing import Route

    ed = sandbox.earthdata
    foreign = f"{ed.plain.url}/public/file.json"

    async def bounce(request):
        return RedirectResponse(foreign, status_code=302)

    rogue = Starlette(routes=[Route("/{path:path}", bounce)])
    with ServerThread(rogue, host="127.0.0.6") as rogue_server:
        netloc = rogue_server.url.split("://")[1]
        token = httpx.post(
            f"{ed.edl.url}/api/users/find_or_create_token", auth=("sandbox", "sandbox-password")
        ).json()["access_token"]
        with gateway_with(sandbox, token=SecretStr(token), data_hosts=[netloc]) as gateway:
            reset(ed.plain.url)
            href = (
                f"{gateway}/assets/"
                f"{asset_token(Signer([KEY]), 'cmr', rogue_server.url + '/x.json', 60)}"
            )
            response = httpx.get(href, timeout=30)
            assert response.status_code == 307
            assert response.headers["location"] == foreign
            assert httpx.get(f"{ed.plain.url}/_sandbox/requests").json() == []  # proxy never went
            followed = httpx.get(href, timeout=30, follow_redirects=True)
            assert followed.status_code == 200
            seen = httpx.get(f"{ed.plain.url}/_sandbox/requests").json()
            assert seen
            for entry in seen:
                headers = {k.lower(): v for k, v in entry["headers"].items()}
                assert "authorization" not in headers
                assert "cookie" not in headers
                assert token not in str(entry)


def test_bad_asset_tokens_never_reach_upstream(sandbox, gateway):
    ed = sandbox.earthdata
    href = hls_item(gateway)["assets"]["B04"]["href"]
    reset(ed.host.url, ed.edl.url)
    token, name = urlsplit(href).path.split("/assets/")[1].split("/")
    # the compact (v2) token: its head names provider, expiry and directory
    tampered = f"{gateway}/assets/{token[:8]}{'A' if token[8] != 'A' else 'B'}{token[9:]}/{name}"
    assert httpx.get(tampered).status_code == 403
    v1 = asset_token(Signer([KEY]), "cmr", asset_of_href(Signer([KEY]), href)[1], 60)
    body, mac = v1.split(".")
    assert httpx.get(f"{gateway}/assets/{body[:-2]}AA.{mac}").status_code == 403
    signer = Signer([KEY])  # the session gateway's key
    expired = f"{gateway}/assets/{signer.sign('asset', ['cmr', 'https://x/y.tif'], ttl=-10)}"
    response = httpx.get(expired)
    assert response.status_code == 410
    assert "search again" in response.json()["description"]
    unknown = f"{gateway}/assets/{asset_token(signer, 'nope', 'https://x/y.tif', 60)}"
    assert httpx.get(unknown).status_code == 403
    ssrf = f"{gateway}/assets/{asset_token(signer, 'cmr', 'http://169.254.169.254/x', 60)}"
    assert httpx.get(ssrf).status_code == 403
    foreign_key = Signer(["someone-else"])
    forged = f"{gateway}/assets/{asset_token(foreign_key, 'cmr', ed.host.url + '/a.tif', 60)}"
    assert httpx.get(forged).status_code == 403
    assert stats(ed.host.url)["requests"] == 0
    assert stats(ed.edl.url)["requests"] == 0


def test_missing_upstream_file_is_404(sandbox, gateway):
    ed = sandbox.earthdata
    signer = Signer([KEY])
    href = f"{gateway}/assets/{asset_token(signer, 'cmr', ed.onprem.url + '/missing/x.tif', 60)}"
    response = httpx.get(href, timeout=30)
    assert response.status_code == 404
    assert response.json()["code"] == "NotFound"


def test_rejected_credentials_are_a_502_naming_the_provider(sandbox):
    with gateway_with(sandbox, password=SecretStr("wrong-password")) as gateway:
        href = hls_item(gateway)["assets"]["B04"]["href"]
        response = httpx.get(href, timeout=60)
        assert response.status_code == 502
        body = response.json()
        assert body["provider"] == "cmr"
        assert "Earthdata Login" in body["description"]
        assert "<html" not in response.text.lower()
    with gateway_with(
        sandbox, token=SecretStr("not-a-real-token"), username=None, password=None
    ) as gateway:
        href = hls_item(gateway)["assets"]["B04"]["href"]
        response = httpx.get(href, timeout=60)
        assert response.status_code == 502
        assert "not-a-real-token" not in response.text


def test_upstream_timeout_is_504(sandbox):
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def slow(request):
        await asyncio.sleep(3)
        return Response(b"late")

    app = Starlette(routes=[Route("/{path:path}", slow)])
    with ServerThread(app, host="127.0.0.7") as slow_server:
        from stacbridge.config import HttpSettings

        http = HttpSettings(timeout=0.3, retries=1, backoff=0.01, max_backoff=0.05)
        netloc = slow_server.url.split("://")[1]
        with gateway_with(sandbox, http=http, data_hosts=[netloc]) as gateway:
            signer = Signer([KEY])
            href = f"{gateway}/assets/{asset_token(signer, 'cmr', slow_server.url + '/f', 60)}"
            response = httpx.get(href, timeout=30)
            assert response.status_code == 504
            assert response.json()["provider"] == "cmr"


def test_passthrough_uses_the_callers_token(sandbox):
    ed = sandbox.earthdata
    token = httpx.post(
        f"{ed.edl.url}/api/users/find_or_create_token", auth=("sandbox", "sandbox-password")
    ).json()["access_token"]
    with gateway_with(sandbox, credentials="passthrough") as gateway:
        href = hls_item(gateway)["assets"]["B04"]["href"]
        anonymous = httpx.get(href, timeout=30)
        assert anonymous.status_code == 401
        assert "Bearer" in anonymous.headers["www-authenticate"]
        mine = httpx.get(href, timeout=30, headers={"Authorization": f"Bearer {token}"})
        assert mine.status_code == 307


def test_secrets_never_reach_the_logs(sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    ed = sandbox.earthdata
    with gateway_with(sandbox) as gateway:
        href = hls_item(gateway)["assets"]["B06"]["href"]
        with httpx.Client(follow_redirects=True, timeout=60) as client:
            assert client.get(href).status_code == 200
            assert client.get(href, headers={"Range": "bytes=0-99"}).status_code == 206
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "sandbox-password" not in text
    assert KEY not in text
    assert "X-Amz-Signature" not in text
    secrets = list(ed.login.tokens)  # every EDL access token issued so far
    for entry in httpx.get(f"{ed.host.url}/_sandbox/requests").json():
        cookie = {k.lower(): v for k, v in entry["headers"].items()}.get("cookie")
        if cookie:
            secrets.append(cookie.split("=", 1)[1])  # the session cookie the gateway sent
    assert len(secrets) >= 2
    for secret in secrets:
        assert secret not in text
    assert "accessToken=" not in text


def test_a_session_cookie_goes_only_to_the_host_that_issued_it(sandbox):
    """Even when the pre-signed host is on the allow-list (so the proxy streams from it)."""
    ed = sandbox.earthdata
    s3 = ed.s3.url.split("://")[1]
    hosts = [*sandbox.earthdata_settings().data_hosts, s3]
    with gateway_with(sandbox, data_hosts=hosts) as gateway:
        href = hls_item(gateway)["assets"]["B07"]["href"]
        reset(ed.s3.url)
        response = httpx.get(href, timeout=60, headers={"Range": "bytes=0-99"})
        assert response.status_code == 206  # streamed through the proxy from S3
        seen = httpx.get(f"{ed.s3.url}/_sandbox/requests").json()
        assert seen
        for entry in seen:
            headers = {k.lower() for k in entry["headers"]}
            assert "cookie" not in headers


def test_passthrough_with_a_rejected_caller_token_is_401(sandbox):
    with gateway_with(sandbox, credentials="passthrough") as gateway:
        href = hls_item(gateway)["assets"]["B04"]["href"]
        response = httpx.get(href, timeout=30, headers={"Authorization": "Bearer wrong"})
        assert response.status_code == 401
        assert "invalid_token" in response.headers["www-authenticate"]


def test_netrc_credentials_run_the_oauth_flow(sandbox, tmp_path):
    ed = sandbox.earthdata
    netrc_file = tmp_path / "netrc"
    edl_host = ed.edl.url.split("://")[1].split(":")[0]
    netrc_file.write_text(f"machine {edl_host} login sandbox password sandbox-password\n")
    netrc_file.chmod(0o600)
    reset(ed.edl.url)
    with gateway_with(sandbox, username=None, password=None, netrc=netrc_file) as gateway:
        href = hls_item(gateway)["assets"]["B09"]["href"]
        assert httpx.get(href, timeout=60).status_code == 307
        assert httpx.get(href, timeout=60).status_code == 307
    assert stats(ed.edl.url)["logins"] == 1
