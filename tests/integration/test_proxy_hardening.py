"""The signing proxy under clients that misbehave or cannot follow redirects (issues 9 and 10).

Stalled downloads, HEAD redirects that GDAL reuses for GET, sidecar probes, browsers without
CORS on the redirect target, credentialed bytes in shared caches, a bearer sent to hosts that
never asked for it, redirects that show the service account.  Everything on loopback.
"""

from __future__ import annotations

import contextlib
import io
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from stacbridge.app import create_app
from stacbridge.assets.rewrite import asset_of_href, asset_token
from stacbridge.auth.earthdata import EarthdataLogin
from stacbridge.config import EarthdataSettings, HttpSettings, ProxySettings
from stacbridge.sandbox.server import ServerThread
from stacbridge.signing import Signer
from stacbridge.store import MemoryStore
from tests.integration.test_proxy import KEY, hls_item, reset, upstream_path

BIG = "MYD021KM/large/64MB.bin"  # served by the on-premises (streaming) host
L2 = "landsat_ot_c2_l2"


@contextlib.contextmanager
def gateway_on(sandbox, proxy: ProxySettings | None = None, **earthdata) -> Iterator[str]:
    settings = sandbox.settings(
        secret_keys=[KEY],
        earthdata=sandbox.earthdata_settings(**earthdata),
        proxy=proxy or ProxySettings(),
    )
    with ServerThread(create_app(settings)) as server:
        yield server.url


def signed(gateway_url: str, ref: str, provider: str = "cmr", name: str = "") -> str:
    token = asset_token(Signer([KEY]), provider, ref, 600)
    return f"{gateway_url}/assets/{token}" + (f"/{name}" if name else "")


def requests_of(url: str) -> list[dict]:
    return httpx.get(f"{url}/_sandbox/requests", timeout=10).json()


def bearer(sandbox) -> str:
    ed = sandbox.earthdata
    return httpx.post(
        f"{ed.edl.url}/api/users/find_or_create_token", auth=("sandbox", "sandbox-password")
    ).json()["access_token"]


def stalled_get(url: str) -> tuple[socket.socket, int]:
    """A raw GET that reads the response head, then never reads again (tiny receive buffer)."""
    parts = urlsplit(url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(30)
    sock.connect((parts.hostname, parts.port))
    sock.sendall(f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1024)
        assert chunk, "closed before the response head"
        head += chunk
    return sock, int(head.split(b" ", 2)[1])


def drained_to_eof(sock: socket.socket, limit: float) -> tuple[bool, int]:
    """Read what the socket holds; (True, bytes) if the server closed it within `limit`."""
    sock.settimeout(limit)
    total = 0
    try:
        while chunk := sock.recv(1 << 16):
            total += len(chunk)
    except TimeoutError:
        return False, total
    except OSError:  # reset by the server: closed too
        return True, total
    return True, total


# -- #2: stalled downloads -----------------------------------------------------------------------


def test_stalled_streams_neither_starve_redirects_nor_live_for_ever(sandbox):
    ed = sandbox.earthdata
    http = HttpSettings(
        timeout=30.0, retries=2, backoff=0.05, max_backoff=0.5, max_connections=4, max_streams=4
    )
    idle = 2.0
    with gateway_on(sandbox, ProxySettings(idle_timeout=idle), http=http) as gw:
        big = signed(gw, f"{ed.onprem.url}/{BIG}", name="64MB.bin")
        redirecting = hls_item(gw)["assets"]["B05"]["href"]  # TEA host → pre-signed S3
        assert httpx.head(big, timeout=30).status_code == 200  # logs in to the on-prem host
        stalled = [stalled_get(big) for _ in range(6)]  # more than max_streams
        try:
            statuses = sorted(status for _, status in stalled)
            assert statuses == [200] * 4 + [503] * 2, statuses  # full: an honest 503, at once
            started = time.monotonic()
            response = httpx.get(redirecting, timeout=30)
            redirect_seconds = time.monotonic() - started
            assert response.status_code == 307, response.text
            assert redirect_seconds < 3, redirect_seconds
            # after the idle timeout every stalled download is closed, well short of its size
            time.sleep(idle + 1)
            for sock, status in stalled:
                if status == 200:  # (a 503 is a complete answer on a kept-alive connection)
                    closed, received = drained_to_eof(sock, 10)
                    assert closed, "a stalled download is still open"
                    assert received < 64_000_000
        finally:
            for sock, _ in stalled:
                sock.close()
        # their stream slots and upstream connections came back
        ranged = [httpx.get(big, headers={"Range": "bytes=0-9"}, timeout=30) for _ in range(5)]
        assert [r.status_code for r in ranged] == [206] * 5


# -- #6: HEAD is answered by the proxy -----------------------------------------------------------


def test_head_of_a_presigned_asset_is_answered_without_a_redirect(sandbox, gateway_url):
    ed = sandbox.earthdata
    href = hls_item(gateway_url)["assets"]["B06"]["href"]
    head = httpx.head(href, timeout=30)
    assert head.status_code == 200
    assert "location" not in head.headers
    size = ed.files.stat(upstream_path(sandbox, href)).size
    assert int(head.headers["content-length"]) == size
    assert head.headers["accept-ranges"] == "bytes"
    assert httpx.get(href, timeout=30).status_code == 307  # GET still redirects


def test_rasterio_read_with_sidecar_probing_has_no_4xx_upstream(sandbox, gateway_url):
    pytest.importorskip("rasterio")
    import numpy

    from stacbridge.sandbox.files import expected_pixels

    ed = sandbox.earthdata
    href = hls_item(gateway_url)["assets"]["B03"]["href"]
    reset(ed.s3.url, ed.host.url)
    # No GDAL_DISABLE_READDIR_ON_OPEN: GDAL lists the directory and probes .ovr/.aux.xml/.msk
    # next to the file.  In a child process: GDAL's directory listing holds the GIL, which
    # would freeze the in-process servers it is talking to.
    code = (
        "import sys, numpy, rasterio\n"
        "from rasterio.windows import Window\n"
        "with rasterio.Env(GDAL_HTTP_MAX_RETRY='0', GDAL_HTTP_TIMEOUT='30'),"
        " rasterio.open(sys.argv[1]) as d:\n"
        "    numpy.save(sys.stdout.buffer, d.read(1, window=Window(10, 20, 64, 32)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, href], capture_output=True, timeout=120, check=True
    )
    window = numpy.load(io.BytesIO(done.stdout))
    assert (window == expected_pixels(upstream_path(sandbox, href))[20:52, 10:74]).all()
    s3_log, host_log = requests_of(ed.s3.url), requests_of(ed.host.url)
    assert s3_log
    assert [e for e in s3_log + host_log if e["status"] >= 400] == []
    gets = [e for e in s3_log if e["method"] == "GET"]
    assert gets and all(e["range"] for e in gets) and all(e["status"] == 206 for e in gets)
    # sidecar probes were answered by the proxy: no upstream request named another file
    name = upstream_path(sandbox, href)
    assert {e["path"].lstrip("/") for e in host_log if e["path"] != "/login"} == {name}


@pytest.fixture(scope="module")
def gateway_url(sandbox):
    with gateway_on(sandbox) as url:
        yield url


# -- #7: names after the token -------------------------------------------------------------------


def test_a_name_that_is_not_the_assets_own_is_404_without_upstream_requests(sandbox, gateway_url):
    ed = sandbox.earthdata
    href = hls_item(gateway_url)["assets"]["B04"]["href"]
    token = urlsplit(href).path.split("/assets/")[1].split("/")[0]
    # the v1 form (hrefs issued before the compact tokens) for the same file
    v1 = asset_token(Signer([KEY]), "cmr", asset_of_href(Signer([KEY]), href)[1], 600)
    reset(ed.host.url, ed.s3.url, ed.edl.url)
    for suffix in (".ovr", ".aux.xml", ".msk"):
        response = httpx.get(href + suffix, timeout=30)
        assert response.status_code == 404, (suffix, response.text)
        assert response.json()["code"] == "NotFound"
        bare = httpx.get(f"{gateway_url}/assets/{v1}{suffix}", timeout=30)
        assert bare.status_code == 404  # a sidecar of a name-less (v1) href
        bare = httpx.get(f"{gateway_url}/assets/{token}{suffix}", timeout=30)
        assert bare.status_code == 404  # a compact token without its name
    assert httpx.get(f"{gateway_url}/assets/{token}/other.tif").status_code == 404
    assert httpx.get(f"{gateway_url}/assets/{v1}/other.tif").status_code == 404
    assert requests_of(ed.host.url) == [] and requests_of(ed.s3.url) == []
    # the href itself, and the old (v1) form with and without a name, still work
    assert httpx.get(href, timeout=30).status_code == 307
    assert httpx.get(f"{gateway_url}/assets/{v1}", timeout=30).status_code == 307
    assert httpx.get(f"{gateway_url}/assets/{v1}/{href.rsplit('/', 1)[1]}").status_code == 307
    # a compact token names its file: without the name it is a 404, never a fetch
    assert httpx.get(f"{gateway_url}/assets/{token}", timeout=30).status_code == 404
    # a tampered token with a suffix is still a 403, not a 404
    assert httpx.get(f"{gateway_url}/assets/{v1[:-3]}AAA.ovr").status_code == 403
    assert httpx.get(f"{gateway_url}/assets/{token[:4]}AAAA{token[8:]}.ovr").status_code == 403


def test_m2m_hrefs_carry_their_file_names_and_browse_goes_through_the_proxy(sandbox, gateway_url):
    scene = httpx.get(
        f"{gateway_url}/collections/{L2}/items", params={"limit": 2}, timeout=60
    ).json()["features"][1]
    assets = scene["assets"]
    display = scene["properties"].get("landsat:product_id") or scene["id"]
    assert assets["bundle"]["href"].endswith(f"/{display}.tar")
    band = assets["SR_B4"]["href"]
    assert band.endswith(f"/{display}_SR_B4.TIF")
    m2m = httpx.Client(base_url=sandbox.m2m.url, timeout=30)
    m2m.delete("/_sandbox/requests")
    assert httpx.get(band + ".msk", timeout=30).status_code == 404
    assert [r for r in m2m.get("/_sandbox/requests").json() if r.get("endpoint")] == []
    assert httpx.get(band, timeout=30).status_code == 302
    # an href signed before names existed still resolves
    _, ref = asset_of_href(Signer([KEY]), band)
    old = signed(gateway_url, ref.split("#")[0], provider="m2m")
    assert httpx.get(old, timeout=30).status_code == 302
    for key in ("thumbnail", "browse"):
        asset = assets[key]
        assert asset["href"].startswith(f"{gateway_url}/assets/"), asset["href"]
        assert asset["type"] == "image/jpeg"
        redirect = httpx.get(asset["href"], timeout=30)
        assert redirect.status_code == 302
        assert "/gen-browse?" in redirect.headers["location"]
        image = httpx.get(asset["href"], timeout=30, headers={"Origin": "https://example.org"})
        assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"  # JPEG
        assert image.headers["access-control-allow-origin"] in ("*", "https://example.org")


# -- #8: browsers get the bytes with CORS --------------------------------------------------------


def test_a_browser_gets_the_bytes_with_cors_instead_of_a_redirect(sandbox, gateway_url):
    ed = sandbox.earthdata
    origin = {"Origin": "https://stac-browser.example"}
    href = hls_item(gateway_url)["assets"]["B07"]["href"]
    ranged = httpx.get(href, timeout=30, headers={**origin, "Range": "bytes=0-99"})
    assert ranged.status_code == 206
    assert ranged.headers["access-control-allow-origin"] in ("*", origin["Origin"])
    exposed = ranged.headers["access-control-expose-headers"].lower()
    assert "content-range" in exposed and "content-length" in exposed
    assert ranged.headers["content-range"].startswith("bytes 0-99/")
    assert "origin" in ranged.headers["vary"].lower()
    whole = httpx.get(href, timeout=60, headers=origin)
    assert whole.status_code == 200
    assert len(whole.content) == ed.files.stat(upstream_path(sandbox, href)).size
    plain = httpx.get(href, timeout=30)
    assert plain.status_code == 307 and "origin" in plain.headers["vary"].lower()
    scene = httpx.get(
        f"{gateway_url}/collections/{L2}/items", params={"limit": 2}, timeout=60
    ).json()["features"][1]
    band = scene["assets"]["SR_B4"]["href"]
    m2m_ranged = httpx.get(band, timeout=30, headers={**origin, "Range": "bytes=0-99"})
    assert m2m_ranged.status_code == 206 and m2m_ranged.content[:2] in (b"II", b"MM")
    assert "content-range" in m2m_ranged.headers["access-control-expose-headers"].lower()
    assert httpx.get(band, timeout=30).status_code == 302


# -- #12 and #13: credentials ---------------------------------------------------------------------


def _cacheable_protected_app(seen: list[dict]) -> Starlette:
    """Wants a bearer (401 without), then answers with a year of public caching."""

    async def serve(request: Request) -> Response:
        seen.append(dict(request.headers))
        if "authorization" not in request.headers:
            return Response(b"login first", 401)
        return Response(
            b"x" * 100, headers={"Cache-Control": "public, max-age=31536000", "ETag": '"e"'}
        )

    return Starlette(routes=[Route("/{path:path}", serve)])


def test_passthrough_bytes_are_private_to_the_caller(sandbox):
    seen: list[dict] = []
    with ServerThread(_cacheable_protected_app(seen), host="127.0.0.8") as upstream:
        netloc = upstream.url.split("://")[1]
        token = bearer(sandbox)
        with gateway_on(sandbox, credentials="passthrough", data_hosts=[netloc]) as gw:
            href = signed(gw, f"{upstream.url}/f.bin", name="f.bin")
            response = httpx.get(href, timeout=30, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200 and response.content == b"x" * 100
            cache = [d.strip() for d in response.headers["cache-control"].split(",")]
            assert "private" in cache and "public" not in cache
            assert "max-age=31536000" in cache
            assert "authorization" in response.headers["vary"].lower()


def _redirector_app(target: str, seen: list[dict]) -> Starlette:
    async def bounce(request: Request) -> Response:
        seen.append(dict(request.headers))
        return RedirectResponse(target, status_code=302)

    return Starlette(routes=[Route("/{path:path}", bounce)])


def test_the_bearer_goes_only_to_hosts_that_ask_for_it(sandbox):
    ed = sandbox.earthdata
    token = bearer(sandbox)
    seen: list[dict] = []
    target = f"{ed.onprem.url}/{BIG}"
    with ServerThread(_redirector_app(target, seen), host="127.0.0.9") as redirector:
        hosts = [redirector.url.split("://")[1], ed.onprem.url.split("://")[1]]
        with gateway_on(
            sandbox, token=SecretStr(token), username=None, password=None, data_hosts=hosts
        ) as gw:
            reset(ed.onprem.url)
            href = signed(gw, f"{redirector.url}/hop/64MB.bin", name="64MB.bin")
            for _ in range(2):
                ranged = httpx.get(href, timeout=30, headers={"Range": "bytes=0-9"})
                assert ranged.status_code == 206
            assert len(seen) >= 2
            assert all("authorization" not in h for h in seen)  # it only redirects onward
            onprem = [{k.lower() for k in e["headers"]} for e in requests_of(ed.onprem.url)]
            # first contact without the bearer (the host then asks for Earthdata Login)...
            assert "authorization" not in onprem[0]
            # ...from then on the bearer goes to that host, and only to it
            assert all("authorization" in h for h in onprem[1:]) and len(onprem) >= 3


def test_public_hosts_are_neither_proxied_nor_sent_credentials(sandbox):
    ed = sandbox.earthdata
    defaults = EarthdataLogin(EarthdataSettings(), MemoryStore(), httpx.AsyncClient(), provider="x")
    assert not defaults.allowed_url("https://cdn.earthdata.nasa.gov/umm/browse/x.png")
    assert defaults.allowed_url("https://data.lpdaac.earthdatacloud.nasa.gov/a/b.tif")
    plain = ed.plain.url.split("://")[1]
    token = bearer(sandbox)
    hosts = [*sandbox.earthdata_settings().data_hosts, plain]  # as `.nasa.gov` covers the CDN
    with gateway_on(
        sandbox,
        token=SecretStr(token),
        username=None,
        password=None,
        data_hosts=hosts,
        public_hosts=[plain],
    ) as gw:
        reset(ed.plain.url)
        # an href signed before the host was public: the client is sent there, bare
        href = signed(gw, f"{ed.plain.url}/public/file.json", name="file.json")
        response = httpx.get(href, timeout=30)
        assert response.status_code == 307
        assert response.headers["location"] == f"{ed.plain.url}/public/file.json"
        assert httpx.get(href, timeout=30, follow_redirects=True).status_code == 200
        for entry in requests_of(ed.plain.url):
            assert "authorization" not in {k.lower() for k in entry["headers"]}


# -- #15: what a redirect reveals ----------------------------------------------------------------


def test_redirects_that_name_the_service_account_can_be_streamed_instead(sandbox):
    ed = sandbox.earthdata
    with gateway_on(sandbox) as gw:  # default: redirects_reveal_account = true
        href = hls_item(gw)["assets"]["B02"]["href"]
        location = httpx.get(href, timeout=30).headers["location"]
        assert "A-userid=sandbox" in location  # documented: TEA signs the EDL user into it
    with gateway_on(sandbox, ProxySettings(redirects_reveal_account=False)) as gw:
        href = hls_item(gw)["assets"]["B02"]["href"]
        response = httpx.get(href, timeout=60)
        assert response.status_code == 200
        assert "location" not in response.headers
        assert len(response.content) == ed.files.stat(upstream_path(sandbox, href)).size
        assert "private" in response.headers["cache-control"]
        scene = httpx.get(f"{gw}/collections/{L2}/items", params={"limit": 2}, timeout=60).json()[
            "features"
        ][1]
        band = httpx.get(
            scene["assets"]["SR_B4"]["href"], timeout=30, headers={"Range": "bytes=0-99"}
        )
        assert band.status_code == 206 and "location" not in band.headers
    # the caller's own account (passthrough) is no secret to the caller: still a redirect
    token = bearer(sandbox)
    with gateway_on(
        sandbox, ProxySettings(redirects_reveal_account=False), credentials="passthrough"
    ) as gw:
        href = hls_item(gw)["assets"]["B02"]["href"]
        mine = httpx.get(href, timeout=30, headers={"Authorization": f"Bearer {token}"})
        assert mine.status_code == 307
