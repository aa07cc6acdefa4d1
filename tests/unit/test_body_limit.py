"""BodySizeLimitMiddleware: 413 STAC JSON for big bodies, declared or streamed; others untouched."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from fastapi import FastAPI, Request
from starlette.responses import Response

from stacbridge.api.body_limit import DEFAULT_MAX_BYTES, BodySizeLimitMiddleware

LIMIT = 1000


def make_app() -> tuple[BodySizeLimitMiddleware, list[bytes]]:
    """A tiny FastAPI app that echoes the body, behind the middleware."""
    seen: list[bytes] = []
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        body = await request.body()
        seen.append(body)
        return Response(body, media_type="application/octet-stream")

    @app.post("/search")
    async def search(payload: dict) -> dict:  # FastAPI parses the body itself
        return {"n": len(payload)}

    return BodySizeLimitMiddleware(app, max_bytes=LIMIT), seen


async def chunks(total: int, size: int = 100) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b"x" * piece


def client(app: BodySizeLimitMiddleware) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def assert_413(response: httpx.Response) -> None:
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    body = orjson.loads(response.content)
    assert body == {
        "code": "PayloadTooLarge",
        "description": f"request body exceeds the limit of {LIMIT} bytes",
    }


async def test_small_body_passes_through_byte_identical() -> None:
    app, seen = make_app()
    payload = bytes(range(256)) * 3  # 768 bytes, every byte value
    async with client(app) as c:
        response = await c.post("/echo", content=payload)
    assert response.status_code == 200
    assert response.content == payload
    assert seen == [payload]


async def test_body_exactly_at_the_limit_passes() -> None:
    app, seen = make_app()
    async with client(app) as c:
        response = await c.post("/echo", content=b"y" * LIMIT)
    assert response.status_code == 200
    assert seen == [b"y" * LIMIT]


async def test_content_length_over_the_limit_is_refused_without_calling_the_app() -> None:
    app, seen = make_app()
    async with client(app) as c:
        response = await c.post("/echo", content=b"z" * (LIMIT + 1))
    assert_413(response)
    assert seen == []


async def test_chunked_body_streaming_past_the_limit_is_refused() -> None:
    app, seen = make_app()
    async with client(app) as c:
        response = await c.post("/echo", content=chunks(5 * LIMIT))
    assert "content-length" not in response.request.headers  # really chunked
    assert_413(response)
    assert seen == []


async def test_chunked_body_under_the_limit_passes() -> None:
    app, seen = make_app()
    async with client(app) as c:
        response = await c.post("/echo", content=chunks(LIMIT - 1))
    assert response.status_code == 200
    assert seen == [b"x" * (LIMIT - 1)]


async def test_streamed_overflow_while_fastapi_parses_json_is_413_not_400() -> None:
    # FastAPI turns any error while reading the body into a 400; the middleware keeps the 413
    app, _ = make_app()

    async def json_chunks() -> AsyncIterator[bytes]:
        yield b'{"a": "'
        async for piece in chunks(2 * LIMIT):
            yield piece
        yield b'"}'

    async with client(app) as c:
        response = await c.post(
            "/search", content=json_chunks(), headers={"content-type": "application/json"}
        )
    assert_413(response)


async def test_lying_content_length_is_still_counted() -> None:
    # a declared length under the limit does not switch counting off
    app, seen = make_app()
    messages = [
        {"type": "http.request", "body": b"a" * 600, "more_body": True},
        {"type": "http.request", "body": b"a" * 600, "more_body": False},
    ]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/echo",
        "raw_path": b"/echo",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"t"), (b"content-length", b"10")],
        "server": ("t", 80),
        "client": ("c", 1),
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert orjson.loads(sent[1]["body"])["code"] == "PayloadTooLarge"
    assert seen == []


async def test_non_http_scopes_pass_through() -> None:
    called: list[str] = []

    async def inner(scope: dict, receive: object, send: object) -> None:
        called.append(scope["type"])

    await BodySizeLimitMiddleware(inner, max_bytes=0)({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert called == ["lifespan"]


def test_default_and_validation() -> None:
    assert DEFAULT_MAX_BYTES == 1 << 20
    assert BodySizeLimitMiddleware(FastAPI()).max_bytes == DEFAULT_MAX_BYTES
    with pytest.raises(ValueError):
        BodySizeLimitMiddleware(FastAPI(), max_bytes=-1)
