"""An httpx transport that sends requests with aiohttp: the proxy's download path, 3-4× faster.

Measured (bench/README.md, docs/performance.md): streaming 1 GB from the sandbox's plain host
in one process, httpx's own transport (httpcore + h11 + anyio) reads ~250-450 MB/s in 64 KiB
chunks, each one a trip through four layers of Python and a timeout scope; aiohttp's C parser
hands over everything buffered at once (~750 KB per read) at ~1,050-1,270 MB/s.  The proxy's
throughput is bounded by that read side, so the clients that carry downloads
(`make_client(streams=True)`) use this transport.

Only the wire changes: the httpx client above it still does redirects (or not), cookies,
auth, default headers and `send_with_retries` sees the same httpx exceptions (connect/read
timeouts, connect and read errors, a body cut short), so every caller keeps working unchanged.
The request goes out as httpx built it: the URL is not re-quoted (signed URLs stay byte-exact),
no header is added, aiohttp's own cookie jar is disabled and bodies are passed through
undecoded (`aiter_raw`).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import certifi
import httpx
from multidict import CIMultiDict
from yarl import URL


def _timeouts(request: httpx.Request) -> aiohttp.ClientTimeout:
    timeout: dict[str, float | None] = request.extensions.get("timeout") or {}
    connect, pool = timeout.get("connect"), timeout.get("pool")
    return aiohttp.ClientTimeout(
        total=None,
        # waiting for a pooled connection and opening one (httpx: pool + connect)
        connect=None if connect is None or pool is None else connect + pool,
        sock_connect=connect,
        # between two reads from the socket: httpx's read timeout
        sock_read=timeout.get("read"),
    )


def _mapped(exc: BaseException, request: httpx.Request, *, body: bool) -> httpx.HTTPError:
    """The httpx exception for an aiohttp fault (what `send_with_retries` and the proxy catch)."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        return httpx.ReadTimeout(message, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message, request=request)
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(message, request=request)
    if isinstance(exc, aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(message, request=request)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(message, request=request)
    if body:
        return httpx.ReadError(message, request=request)
    return httpx.ConnectError(message, request=request)


class _Body(httpx.AsyncByteStream):
    """A response body read from aiohttp: whatever is buffered, each time (no re-chunking)."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        try:
            while True:
                chunk = await content.readany()
                if not chunk:
                    return
                yield chunk
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _mapped(exc, self._request, body=True) from exc

    async def aclose(self) -> None:
        response = self._response
        if response.content.at_eof():
            response.release()  # the connection goes back to the pool
        else:
            response.close()  # a body left unread: the connection cannot be reused


class AiohttpTransport(httpx.AsyncBaseTransport):
    """`httpx.AsyncBaseTransport` over one `aiohttp.ClientSession` (made on first use)."""

    def __init__(self, limits: httpx.Limits | None = None, keepalive_expiry: float = 5.0) -> None:
        limits = limits or httpx.Limits()
        self._limit = limits.max_connections or 0  # 0: aiohttp's "no limit"
        self._keepalive = limits.keepalive_expiry or keepalive_expiry
        self._session: aiohttp.ClientSession | None = None

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            context = ssl.create_default_context(cafile=certifi.where())
            connector = aiohttp.TCPConnector(
                limit=self._limit, limit_per_host=0, ssl=context, keepalive_timeout=self._keepalive
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),  # cookies are the httpx client's
                auto_decompress=False,  # raw bytes: the proxy passes Content-Encoding on
                trust_env=False,
                skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent"),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session_now()
        headers: CIMultiDict[str] = CIMultiDict(
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
        )
        data: Any = await request.aread() or None
        try:
            response = await session.request(
                request.method,
                URL(str(request.url), encoded=True),  # as httpx encoded it: not re-quoted
                headers=headers,
                data=data,
                allow_redirects=False,
                timeout=_timeouts(request),
                compress=None,
            )
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            raise _mapped(exc, request, body=False) from exc
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_Body(response, request),
            extensions={
                "http_version": f"HTTP/{response.version.major}.{response.version.minor}".encode()
                if response.version
                else b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
