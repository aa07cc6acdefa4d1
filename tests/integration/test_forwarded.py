"""Links follow forwarded headers only from trusted proxies; Host is validated (issue 10 #11).

The suite's clients connect from 127.0.0.1, which the default `trusted_proxies` trusts, so the
spoofing tests run against a gateway that trusts nobody (`trusted_proxies=[]`) or call the
middleware directly with a fake peer address.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from stacbridge.api.forwarded import ForwardedHeadersMiddleware
from stacbridge.app import create_app
from stacbridge.config import load_settings
from stacbridge.sandbox.server import ServerThread

HLS = "HLSL30.v2.0"
EVIL = "evil.example"


@pytest.fixture(scope="module")
def trusting_nobody(sandbox) -> Iterator[str]:
    """The gateway as `stacbridge serve` runs it (uvicorn without its own proxy headers, which
    would trust loopback's X-Forwarded-Proto before the app is asked), trusting no proxy."""
    app = create_app(sandbox.settings(secret_keys=["test-key"], trusted_proxies=[]))
    server = ServerThread(app)
    server._server.config.proxy_headers = False  # read when the server loads, at start
    with server:
        yield server.url


@pytest.fixture(scope="module")
def one_public_name(sandbox) -> Iterator[str]:
    settings = sandbox.settings(secret_keys=["test-key"], allowed_hosts=["stac.example.org"])
    with ServerThread(create_app(settings)) as server:
        yield server.url


def hrefs(page: dict) -> list[str]:
    out = [link["href"] for link in page["links"]]
    for feature in page.get("features", []):
        out += [link["href"] for link in feature["links"]]
        out += [asset["href"] for asset in feature["assets"].values()]
    return out


@pytest.mark.parametrize(
    "headers",
    [
        {"Forwarded": f"proto=https;host={EVIL}"},
        {"X-Forwarded-Host": EVIL, "X-Forwarded-Proto": "https"},
        {"X-Forwarded-Host": EVIL, "X-Forwarded-Port": "8443"},
    ],
)
def test_an_untrusted_client_cannot_move_the_links(trusting_nobody, headers):
    response = httpx.get(
        f"{trusting_nobody}/search",
        params={"collections": HLS, "limit": 1},
        headers=headers,
        timeout=60,
    )
    assert response.status_code == 200
    page = response.json()
    assert page["features"]
    assert all(h.startswith(f"{trusting_nobody}/") for h in hrefs(page)), hrefs(page)
    assert not any(EVIL in h for h in hrefs(page))


def test_a_trusted_proxy_still_moves_them(gateway):
    response = httpx.get(
        f"{gateway}/search",
        params={"collections": HLS, "limit": 1},
        headers={"X-Forwarded-Host": "stac.example.org", "X-Forwarded-Proto": "https"},
        timeout=60,
    )
    assert all(h.startswith("https://stac.example.org/") for h in hrefs(response.json()))


@pytest.mark.parametrize("host", [f"{EVIL}/assets", "a@b.example", "x y", "[zz]", "h:99999"])
def test_a_host_that_is_not_a_host_name_is_a_400(gateway, host):
    response = httpx.get(f"{gateway}/", headers={"Host": host}, timeout=30)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert "host" in response.json()["description"]


def test_allowed_hosts_refuse_any_other_name(one_public_name):
    refused = httpx.get(f"{one_public_name}/", headers={"Host": EVIL}, timeout=30)
    assert refused.status_code == 400
    assert EVIL in refused.json()["description"]
    assert refused.headers["cache-control"] == "no-store"
    # forwarded by a trusted proxy does not make it acceptable either
    forwarded = httpx.get(f"{one_public_name}/", headers={"X-Forwarded-Host": EVIL}, timeout=30)
    assert forwarded.status_code == 400
    served = httpx.get(f"{one_public_name}/", headers={"Host": "stac.example.org"}, timeout=30)
    assert served.status_code == 200
    assert served.json()["links"][0]["href"].startswith("http://stac.example.org/")


def test_a_bad_trusted_proxies_entry_stops_the_start():
    with pytest.raises(ValueError, match="trusted_proxies"):
        load_settings(store_url="memory://", trusted_proxies=["10.0.0.0/33"])


# --- the middleware on its own, with the peer address it would see behind a proxy ------------


def echo_app(**middleware_args) -> Starlette:
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse(
            {"base": str(request.base_url), "forwarded": request.headers.get("x-forwarded-host")}
        )

    app = Starlette(routes=[Route("/", echo)])
    app.add_middleware(ForwardedHeadersMiddleware, **middleware_args)
    return app


async def ask(app: Starlette, peer: str, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=(peer, 41000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw.internal:8000") as c:
        return await c.get("/", headers=headers)


async def test_a_peer_inside_a_trusted_cidr_is_a_proxy():
    app = echo_app(trusted_proxies=["10.0.0.0/8"])
    headers = {"X-Forwarded-Host": "stac.example.org", "X-Forwarded-Proto": "https"}
    trusted = await ask(app, "10.1.2.3", headers)
    assert trusted.json()["base"] == "https://stac.example.org/"
    outsider = await ask(app, "203.0.113.7", headers)
    assert outsider.json() == {"base": "http://gw.internal:8000/", "forwarded": None}


async def test_of_a_chain_the_element_the_trusted_proxy_added_counts():
    app = echo_app(trusted_proxies=["10.0.0.1"])
    spoofed_then_real = {"Forwarded": f"host={EVIL};proto=http, host=stac.example.org;proto=https"}
    response = await ask(app, "10.0.0.1", spoofed_then_real)
    assert response.json()["base"] == "https://stac.example.org/"
    listed = await ask(app, "10.0.0.1", {"X-Forwarded-Host": f"{EVIL}, stac.example.org"})
    assert listed.json()["base"] == "http://stac.example.org/"


async def test_a_trusted_proxy_sending_junk_is_a_400():
    app = echo_app(trusted_proxies=["10.0.0.1"])
    assert (await ask(app, "10.0.0.1", {"X-Forwarded-Proto": "gopher"})).status_code == 400
    assert (await ask(app, "10.0.0.1", {"Forwarded": 'host="a/b"'})).status_code == 400
