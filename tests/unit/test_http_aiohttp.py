"""`AiohttpTransport` behaves like httpx's own transport where callers can tell (real HTTP).

The proxy's download clients send through it (`make_client(streams=True)`), so what the proxy
and `send_with_retries` rely on is checked here against a real local server: the request goes
out exactly as httpx built it, the body streams raw, faults arrive as the httpx exceptions.
"""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from stacbridge.config import HttpSettings
from stacbridge.http import make_client
from stacbridge.http_aiohttp import AiohttpTransport
from stacbridge.sandbox.server import ServerThread

SEEN: list[dict] = []


async def echo(request: Request) -> Response:
    SEEN.append(
        {
            "raw_path": request.scope["raw_path"].decode(),
            "query": request.scope["query_string"].decode(),
            "headers": [(k.decode(), v.decode()) for k, v in request.scope["headers"]],
            "body": (await request.body()).decode(),
            "method": request.method,
        }
    )
    headers = {"Set-Cookie": "s=1; Path=/", "ETag": '"e"'}
    if request.path_params["rest"] == "encoded":
        headers["Content-Encoding"] = "gzip"  # (not really: the bytes must pass untouched)
    return Response(
        b"x" * 10,
        headers=headers,
        status_code=206 if "range" in request.headers else 200,
    )


async def big(request: Request) -> Response:
    async def body():
        for _ in range(64):
            yield b"y" * 65536

    return StreamingResponse(body(), headers={"Content-Length": str(64 * 65536)})


async def cut(request: Request) -> Response:
    async def body():
        yield b"z" * 1000
        raise RuntimeError("the upstream breaks off")

    return StreamingResponse(body(), headers={"Content-Length": "100000"})


async def slow(request: Request) -> Response:
    await asyncio.sleep(3)
    return Response(b"late")


async def redirect(request: Request) -> Response:
    return Response(status_code=302, headers={"Location": "/echo/after"})


app = Starlette(
    routes=[
        Route("/echo/{rest:path}", echo, methods=["GET", "HEAD", "POST"]),
        Route("/big", big),
        Route("/cut", cut),
        Route("/slow", slow),
        Route("/redirect", redirect),
    ]
)


@pytest.fixture(scope="module")
def server():
    with ServerThread(app) as running:
        yield running.url


def run(coro):
    return asyncio.run(coro)


def client(**kwargs) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=AiohttpTransport(), **kwargs)


def test_make_client_streams_through_aiohttp_and_other_clients_do_not():
    async def go():
        streams = make_client(HttpSettings(), streams=True)
        plain = make_client(HttpSettings())
        assert isinstance(streams._transport, AiohttpTransport)
        assert not isinstance(plain._transport, AiohttpTransport)
        await streams.aclose()
        await plain.aclose()

    run(go())


def test_the_request_goes_out_as_httpx_built_it(server):
    async def go():
        SEEN.clear()
        async with client() as c:
            # a signed URL's escapes are sent byte for byte, never re-quoted
            url = f"{server}/echo/a%2Fb%20c.tif?X-Amz-Signature=ab%2Bcd%3D&x=1"
            r = await c.get(url, headers={"Range": "bytes=0-9", "Authorization": "Bearer t"})
            assert r.status_code == 206 and r.content == b"x" * 10
            posted = await c.post(f"{server}/echo/form", data={"a": "1 2"})
            assert posted.status_code == 200
        get, post = SEEN
        assert get["raw_path"] == "/echo/a%2Fb%20c.tif"
        assert get["query"] == "X-Amz-Signature=ab%2Bcd%3D&x=1"
        names = [k for k, _ in get["headers"]]
        assert len(names) == len(set(names))  # nothing doubled
        sent = dict(get["headers"])
        assert sent["range"] == "bytes=0-9" and sent["authorization"] == "Bearer t"
        assert sent["user-agent"].startswith("python-httpx")  # httpx's, not aiohttp's
        assert post["method"] == "POST" and post["body"] == "a=1+2"
        assert dict(post["headers"])["content-type"] == "application/x-www-form-urlencoded"

    run(go())


def test_bodies_stream_raw_and_cookies_are_the_httpx_clients(server):
    async def go():
        async with client() as c:
            async with c.stream("GET", f"{server}/echo/encoded") as streamed:
                assert streamed.headers["content-encoding"] == "gzip"
                raw = b"".join([chunk async for chunk in streamed.aiter_raw()])
            assert raw == b"x" * 10  # not "decoded": the proxy passes the encoding on
            assert c.cookies.get("s") == "1"  # the httpx client keeps cookies, as before
            async with c.stream("GET", f"{server}/big") as streamed:
                total = sum([len(chunk) async for chunk in streamed.aiter_raw()])
            assert total == 64 * 65536
            head = await c.head(f"{server}/echo/x")
            assert head.status_code == 200 and head.content == b""
            hop = await c.get(f"{server}/redirect")
            assert hop.status_code == 302  # redirects are the client's to follow
            followed = await c.get(f"{server}/redirect", follow_redirects=True)
            assert followed.status_code == 200 and str(followed.url).endswith("/echo/after")

    run(go())


def test_faults_are_the_httpx_exceptions(server):
    async def go():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]  # nothing listens once the socket is closed
        async with client(timeout=httpx.Timeout(1.0)) as c:
            with pytest.raises(httpx.ConnectError):
                await c.get(f"http://127.0.0.1:{closed}/x")
            with pytest.raises(httpx.ReadTimeout):
                await c.get(f"{server}/slow")
            with pytest.raises(httpx.RemoteProtocolError):
                await c.get(f"{server}/cut")
            # and the pool still serves after each fault
            assert (await c.get(f"{server}/echo/ok")).status_code == 200

    run(go())


def test_an_unread_body_closes_its_connection_and_the_pool_goes_on(server):
    async def go():
        async with client() as c:
            for _ in range(5):
                async with c.stream("GET", f"{server}/big") as streamed:
                    async for _chunk in streamed.aiter_raw():
                        break  # abandoned mid-body
            assert (await c.get(f"{server}/echo/ok")).status_code == 200

    run(go())
