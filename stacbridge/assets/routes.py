"""`GET|HEAD /assets/<token>[/<file name>]`: the signing proxy's only endpoint.

The token is verified before anything else happens: a tampered one is 403, an expired one 410
(search again for fresh hrefs), one naming an unknown provider 403 — all without a single
upstream request. Then the asset source named in the token decides: redirect to a pre-signed
URL, stream the bytes (status, Range and validators passed through, constant memory), or 202 for
an order that is not ready yet.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Literal

from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.responses import RedirectResponse, Response, StreamingResponse

from stacbridge.assets.rewrite import ASSET_PURPOSE
from stacbridge.errors import Forbidden, Gone, error_response
from stacbridge.observability.metrics import metered_stream
from stacbridge.protocols import AssetPending, AssetRedirect, AssetRequest, AssetStream
from stacbridge.registry import Registry
from stacbridge.signing import ExpiredToken, InvalidToken, Signer

log = logging.getLogger("stacbridge.proxy")

#: bytes gathered before each write to the client.
COALESCE = 1 << 20

#: upstream response headers a client gets back (nothing else: no cookies, no upstream auth).
PASSED_HEADERS = ("content-type", "content-length", "content-range", "accept-ranges", "etag",
                  "last-modified", "content-disposition", "content-encoding", "cache-control",
                  "expires")


async def coalesce(chunks: AsyncIterator[bytes], size: int = COALESCE) -> AsyncIterator[bytes]:
    """Re-block upstream reads (64 KiB from httpcore) into ~1 MiB writes.

    Every chunk sent costs a trip through the ASGI stack and the server's transport, so fewer,
    larger writes are what lets the proxy keep up with the data host; memory stays bounded
    at one block.
    """
    pending: list[bytes] = []
    held = 0
    async for chunk in chunks:
        pending.append(chunk)
        held += len(chunk)
        if held >= size:
            yield b"".join(pending)
            pending.clear()
            held = 0
    if pending:
        yield b"".join(pending)


def create_asset_router(registry: Registry, signer: Signer) -> APIRouter:
    """The proxy router; `registry` supplies the asset sources by name."""
    router = APIRouter(tags=["Asset proxy"])

    async def serve(token: str, request: Request) -> Response:
        try:
            provider_name, ref = signer.verify(ASSET_PURPOSE, token)
        except ExpiredToken as exc:
            raise Gone("this asset link has expired; search again to get fresh links") from exc
        except (InvalidToken, ValueError, TypeError) as exc:
            raise Forbidden("invalid asset token") from exc
        source = registry.source_named(provider_name)
        if source is None:
            raise Forbidden("invalid asset token")
        started = time.perf_counter()
        method: Literal["GET", "HEAD"] = "HEAD" if request.method == "HEAD" else "GET"
        resolution = await source.resolve_asset(
            AssetRequest(ref=ref, method=method, headers=dict(request.headers)))
        upstream_ms = (time.perf_counter() - started) * 1000
        timing = {"Server-Timing": f"upstream;dur={upstream_ms:.1f}"}
        if isinstance(resolution, AssetRedirect):
            return RedirectResponse(resolution.url, status_code=resolution.status,
                                    headers=timing)
        if isinstance(resolution, AssetPending):
            return error_response(202, "OrderPending", "the product is being prepared; retry "
                                  "later", {"Retry-After": str(resolution.retry_after), **timing},
                                  order=resolution.status)
        assert isinstance(resolution, AssetStream)
        upstream = resolution.response
        headers = {k: v for k, v in upstream.headers.items() if k.lower() in PASSED_HEADERS}
        headers.update(timing)
        # bytes from elsewhere, served from the gateway's origin: never let them run as a page
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Content-Security-Policy"] = "sandbox"
        if method == "HEAD" or upstream.status_code in (304, 412, 416):
            await upstream.aclose()
            return Response(status_code=upstream.status_code, headers=headers)
        body = metered_stream(coalesce(upstream.aiter_raw()), provider_name)  # bytes, streams
        return StreamingResponse(body, status_code=upstream.status_code,
                                 headers=headers, background=BackgroundTask(upstream.aclose))

    for path in ("/assets/{token}", "/assets/{token}/{name}"):
        for method in ("GET", "HEAD"):
            router.add_api_route(
                path, serve, methods=[method], include_in_schema=path == "/assets/{token}",
                operation_id=f"asset_{method.lower()}{'_named' if '{name}' in path else ''}",
                summary="Download an asset through the signing proxy")
    return router
