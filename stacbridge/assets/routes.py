"""`GET|HEAD /assets/<token>[/<file name>]`: the signing proxy's only endpoint.

The token is verified before anything else happens: a tampered one is 403, an expired one 410
(search again for fresh hrefs), one naming an unknown provider 403 — all without a single
upstream request. Then the asset source named in the token decides: redirect to a pre-signed
URL, stream the bytes (status, Range and validators passed through, constant memory), or 202 for
an order that is not ready yet.

The name after the token must be the asset's own (GDAL probes `<href>.ovr`, `.aux.xml`,
`.msk`...): any other name is a 404 before any upstream request.  A redirect is answered by the
proxy itself — it fetches the target and streams it — when the client could not use it: a HEAD
(a URL pre-signed for HEAD fails the GETs a client caches it for), a browser (`Origin`: the
pre-signed hosts send no CORS headers), or a URL that names the service account while
`[proxy] redirects_reveal_account` is false.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal
from urllib.parse import unquote

from fastapi import APIRouter, FastAPI, Request
from starlette.background import BackgroundTask
from starlette.responses import RedirectResponse, Response

from stacbridge.assets.fetch import (
    CredentialedRedirect,
    CredentialedStream,
    TargetFetcher,
    forwarded_headers,
)
from stacbridge.assets.rewrite import NameMissing, WrongName, file_name, open_asset_token
from stacbridge.assets.stream import IdleBoundedStream, add_vary, private_cache_control
from stacbridge.config import ProxySettings
from stacbridge.errors import Forbidden, Gone, NotFound, error_response
from stacbridge.http import StreamSlots, make_client
from stacbridge.observability.metrics import metered_stream
from stacbridge.protocols import (
    AssetPending,
    AssetRedirect,
    AssetRequest,
    AssetStream,
    ProviderError,
)
from stacbridge.registry import Registry
from stacbridge.signing import ExpiredToken, InvalidToken, Signer

log = logging.getLogger("stacbridge.proxy")

#: bytes gathered before each write to the client.
COALESCE = 1 << 20

#: upstream response headers a client gets back (nothing else: no cookies, no upstream auth).
PASSED_HEADERS = (
    "content-type",
    "content-length",
    "content-range",
    "accept-ranges",
    "etag",
    "last-modified",
    "content-disposition",
    "content-encoding",
    "cache-control",
    "expires",
)


async def coalesce(chunks: AsyncIterator[bytes], size: int = COALESCE) -> AsyncIterator[bytes]:
    """Re-block small upstream reads into ~1 MiB writes (a read of ≥ 512 KiB goes as it is).

    Every chunk sent costs a trip through the ASGI stack and the server's transport, so fewer,
    larger writes are what lets the proxy keep up with the data host; memory stays bounded
    at one block.
    """
    pending: list[bytes] = []
    held = 0
    async for chunk in chunks:
        if not pending and len(chunk) >= size // 2:
            yield chunk  # already a big block (aiohttp hands over what is buffered): no copy
            continue
        pending.append(chunk)
        held += len(chunk)
        if held >= size:
            yield b"".join(pending)
            pending.clear()
            held = 0
    if pending:
        yield b"".join(pending)


class _TargetClient:
    """The proxy's own client for redirect targets it streams (made at first use).

    Settings come from `[proxy]`: passed in, or read from the app's settings at first use, so
    the router needs nothing but the app.  Closed by the router's lifespan.
    """

    def __init__(self, settings: ProxySettings | None) -> None:
        self.settings = settings
        self._fetcher: TargetFetcher | None = None

    def proxy_settings(self, app: Any) -> ProxySettings:
        if self.settings is None:
            found = getattr(getattr(app.state, "settings", None), "proxy", None)
            self.settings = found if isinstance(found, ProxySettings) else ProxySettings()
        return self.settings

    def fetcher(self, app: Any) -> TargetFetcher:
        if self._fetcher is None:
            http = self.proxy_settings(app).http
            client = make_client(http, streams=True, follow_redirects=False)
            self._fetcher = TargetFetcher(client, http, StreamSlots(http.max_streams))
        return self._fetcher

    async def aclose(self) -> None:
        if self._fetcher is not None:
            await self._fetcher.client.aclose()
            self._fetcher = None


def _verify(signer: Signer, token: str, name: str | None = None) -> tuple[str, str]:
    """(provider, reference) of `token` followed by `name`, or the proxy's refusal.

    403 tampered or forged, 410 expired, 404 a genuine token with another file's name (or a
    v2 token without the name it signs); `<token>.ovr` without a slash (a sidecar probe of a
    name-less v1 href) is a 404 when the token before the dot is genuine.
    """
    try:
        return open_asset_token(signer, token, name)
    except ExpiredToken as exc:
        raise Gone("this asset link has expired; search again to get fresh links") from exc
    except (WrongName, NameMissing) as exc:
        raise NotFound("no such file: this link serves one file only") from exc
    except (InvalidToken, ValueError, TypeError) as exc:
        body, _, rest = token.partition(".")
        mac, dot, _suffix = rest.partition(".")
        for head in (f"{body}.{mac}" if dot else None, body if rest else None):
            if head is None:
                continue
            try:
                open_asset_token(signer, head, None)
            except (NameMissing, WrongName):
                pass  # a genuine v2 token: the probe is of a file next to its own
            except Exception:  # noqa: BLE001 - not a sidecar of a good token: the 403 below
                continue
            raise NotFound("no such file: this link serves one file only") from exc
        raise Forbidden("invalid asset token") from exc


def create_asset_router(
    registry: Registry, signer: Signer, settings: ProxySettings | None = None
) -> APIRouter:
    """The proxy router; `registry` supplies the asset sources by name."""
    targets = _TargetClient(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await targets.aclose()

    router = APIRouter(tags=["Asset proxy"], lifespan=lifespan)

    async def serve(token: str, request: Request) -> Response:
        name = request.path_params.get("name")
        provider_name, ref = _verify(signer, token, name)
        source = registry.source_named(provider_name)
        if source is None:
            raise Forbidden("invalid asset token")
        if name is not None and name != unquote(file_name(ref)):
            raise NotFound("no such file: this link serves one file only")
        started = time.perf_counter()
        method: Literal["GET", "HEAD"] = "HEAD" if request.method == "HEAD" else "GET"
        resolution = await source.resolve_asset(
            AssetRequest(ref=ref, method=method, headers=dict(request.headers))
        )
        varies: tuple[str, ...] = ()
        if isinstance(resolution, AssetRedirect):
            varies = ("Origin",)  # browsers get the bytes, other clients the redirect
            proxy = targets.proxy_settings(request.app)
            credentialed = isinstance(resolution, CredentialedRedirect)
            hides_account = (
                isinstance(resolution, CredentialedRedirect)
                and resolution.service_account
                and not proxy.redirects_reveal_account
            )
            if method == "HEAD" or "origin" in request.headers or hides_account:
                try:
                    opened = await targets.fetcher(request.app).open(
                        provider_name, resolution.url, method, forwarded_headers(request.headers)
                    )
                except ProviderError as exc:
                    if hides_account:
                        raise
                    # the gateway cannot reach the target (the client may): the redirect is
                    # still a true answer, only a less convenient one
                    log.info("proxy: cannot fetch a redirect target (%s); redirecting", exc)
                else:
                    resolution = CredentialedStream(opened.response) if credentialed else opened
        upstream_ms = (time.perf_counter() - started) * 1000
        timing = {"Server-Timing": f"upstream;dur={upstream_ms:.1f}"}
        if isinstance(resolution, AssetRedirect):
            add_vary(timing, *varies)
            return RedirectResponse(resolution.url, status_code=resolution.status, headers=timing)
        if isinstance(resolution, AssetPending):
            return error_response(
                202,
                "OrderPending",
                "the product is being prepared; retry later",
                {"Retry-After": str(resolution.retry_after), **timing},
                order=resolution.status,
            )
        assert isinstance(resolution, AssetStream)
        upstream = resolution.response
        headers = {k: v for k, v in upstream.headers.items() if k.lower() in PASSED_HEADERS}
        headers.update(timing)
        if isinstance(resolution, CredentialedStream):
            # bytes fetched with credentials: a shared cache must not hand them to anyone else
            headers = {k: v for k, v in headers.items() if k.lower() != "cache-control"}
            headers["Cache-Control"] = private_cache_control(upstream.headers.get("cache-control"))
            varies = (*varies, "Authorization")
        if varies:
            add_vary(headers, *varies)
        # bytes from elsewhere, served from the gateway's origin: never let them run as a page
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Content-Security-Policy"] = "sandbox"
        if method == "HEAD" or upstream.status_code in (304, 412, 416):
            await upstream.aclose()
            return Response(status_code=upstream.status_code, headers=headers)
        idle = targets.proxy_settings(request.app).idle_timeout
        body = metered_stream(coalesce(upstream.aiter_raw()), provider_name)  # bytes, streams
        return IdleBoundedStream(
            body,
            status_code=upstream.status_code,
            headers=headers,
            background=BackgroundTask(upstream.aclose),
            idle_timeout=idle,
        )

    async def listing(token: str, request: Request) -> Response:
        """`<href-without-name>/`: GDAL lists the "directory" of a file it opens; there is
        none (without this route the slash redirect would hand it the whole file)."""
        try:
            open_asset_token(signer, token, None)
        except (NameMissing, WrongName):
            pass  # a genuine v2 token (its name is not in a directory path)
        except Exception:  # noqa: BLE001 - the refusal `_verify` gives it (403 / 410)
            _verify(signer, token)
        raise NotFound("an asset link is a file, not a directory")

    for method in ("GET", "HEAD"):
        router.add_api_route(
            "/assets/{token}/",
            listing,
            methods=[method],
            include_in_schema=False,
            operation_id=f"asset_dir_{method.lower()}",
        )
    for path in ("/assets/{token}", "/assets/{token}/{name}"):
        for method in ("GET", "HEAD"):
            router.add_api_route(
                path,
                serve,
                methods=[method],
                include_in_schema=path == "/assets/{token}",
                operation_id=f"asset_{method.lower()}{'_named' if '{name}' in path else ''}",
                summary="Download an asset through the signing proxy",
            )
    return router
