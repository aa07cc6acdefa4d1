"""Upstream HTTP with bounded retries: the one place that maps network faults to gateway errors.

Retried: connection errors, timeouts, 429 and 5xx (honouring `Retry-After`, capped by the
provider's `max_backoff`).  Once the retries are spent the fault becomes a `ProviderError`:
timeouts → 504, 429/503 → 503 with `Retry-After`, anything else → 502 — always naming the
provider and never echoing credentials (messages carry the host and path, not the query).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from stacbridge.config import HttpSettings
from stacbridge.observability import metrics, readiness
from stacbridge.observability.logging import request_id
from stacbridge.protocols import ProviderError

log = logging.getLogger("stacbridge.http")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def make_client(
    settings: HttpSettings, *, streams: bool = False, **kwargs: Any
) -> httpx.AsyncClient:
    """An AsyncClient sized and timed for one upstream.

    `streams`: the client also carries downloads streamed to clients.  Its pool then has
    `max_streams` connections more than `max_connections`; with `StreamSlots` capping the
    streams at `max_streams`, `max_connections` stay free for requests that only resolve
    (redirects, HEAD, logins), however many streams are open or stalled.  It also sends
    through `AiohttpTransport` (3-4x the read throughput of httpx's own; see that module),
    unless a `transport` is given.
    """
    timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)
    size = settings.max_connections + (settings.max_streams if streams else 0)
    limits = httpx.Limits(max_connections=size, max_keepalive_connections=settings.max_connections)
    if streams and "transport" not in kwargs:
        from stacbridge.http_aiohttp import AiohttpTransport

        kwargs["transport"] = AiohttpTransport(limits)
    return httpx.AsyncClient(timeout=timeout, limits=limits, **kwargs)


class StreamSlots:
    """The streamed bodies one client may hold open at once (`HttpSettings.max_streams`).

    A response that turns out to carry a body to stream takes a slot (`hold`); the slot comes
    back when the response is closed, by whoever closes it.  Taking a slot never waits: the
    response already holds a connection, and waiting while holding it is exactly how stalled
    downloads used to starve every other request.  No slot free → the caller answers 503.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    def hold(self, response: httpx.Response) -> bool:
        """Take a slot for `response` until it is closed; False (nothing taken) when full."""
        if self.open >= self.limit:
            return False
        self.open += 1
        response.stream = _SlotStream(response.stream, self)
        return True


class _SlotStream(httpx.AsyncByteStream):
    """A response body that hands its `StreamSlots` slot back when closed (exactly once)."""

    def __init__(self, inner: Any, slots: StreamSlots) -> None:
        self.inner = inner
        self.slots: StreamSlots | None = slots

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.inner:
            yield chunk

    async def aclose(self) -> None:
        slots, self.slots = self.slots, None
        if slots is not None:
            slots.open -= 1
        await self.inner.aclose()


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _where(url: httpx.URL | str) -> str:
    url = httpx.URL(str(url))
    return f"{url.host}{url.path}"


async def send_with_retries(
    client: httpx.AsyncClient,
    provider: str,
    request: httpx.Request,
    settings: HttpSettings,
    *,
    stream: bool = False,
    retry_statuses: frozenset[int] = RETRY_STATUSES,
) -> httpx.Response:
    """Send `request`, retrying transient faults; returns the first non-retryable response.

    `retry_statuses` lets an API whose error envelopes ride on a 5xx (M2M answers its own
    errors with HTTP 500) read those envelopes instead of retrying them.
    """
    rid = request_id.get()
    if rid and "x-request-id" not in request.headers:
        request.headers["X-Request-ID"] = rid  # lets the upstream's logs be matched to ours
    attempt = 0
    while True:
        try:
            try:
                started = time.perf_counter()
                response = await client.send(request, stream=stream)
            finally:
                metrics.UPSTREAM_LATENCY.labels(provider).observe(time.perf_counter() - started)
        except httpx.TimeoutException as exc:
            metrics.UPSTREAM_ERRORS.labels(provider, "timeout").inc()
            if attempt >= settings.retries:
                readiness.record_upstream(provider, False, f"timeout at {_where(request.url)}")
                raise ProviderError(
                    provider, f"timed out talking to {_where(request.url)}", status_code=504
                ) from exc
            delay = None
        except httpx.TransportError as exc:
            metrics.UPSTREAM_ERRORS.labels(provider, "transport").inc()
            if attempt >= settings.retries:
                readiness.record_upstream(provider, False, f"cannot reach {_where(request.url)}")
                raise ProviderError(
                    provider,
                    f"cannot reach {_where(request.url)}: {type(exc).__name__}",
                    status_code=502,
                ) from exc
            delay = None
        except (httpx.InvalidURL, httpx.RequestError) as exc:
            # not transient, so not retried: an answer httpx cannot read — a redirect whose
            # Location it cannot parse (it builds the next request even when not following
            # redirects), a body it cannot decode
            raise ProviderError(
                provider,
                f"unreadable answer from {_where(request.url)}: {type(exc).__name__}",
                status_code=502,
            ) from exc
        else:
            if response.status_code not in retry_statuses:
                readiness.record_upstream(provider, True)
                return response
            metrics.UPSTREAM_ERRORS.labels(provider, str(response.status_code)).inc()
            if attempt >= settings.retries:
                readiness.record_upstream(
                    provider, False, f"{response.status_code} at {_where(request.url)}"
                )
            delay = retry_after_seconds(response.headers.get("retry-after"))
            if attempt >= settings.retries:
                status = response.status_code
                await response.aclose()
                if status in (429, 503):
                    raise ProviderError(
                        provider,
                        f"upstream busy ({status}) at {_where(request.url)}",
                        status_code=503,
                        retry_after=int(delay) if delay else 5,
                    )
                raise ProviderError(
                    provider, f"upstream error {status} at {_where(request.url)}", status_code=502
                )
            await response.aclose()
        backoff = settings.backoff * (2**attempt)
        wait = min(settings.max_backoff, delay if delay is not None else backoff)
        log.info(
            "%s: retrying %s in %.2fs (attempt %d)",
            provider,
            _where(request.url),
            wait,
            attempt + 1,
        )
        await asyncio.sleep(wait)
        attempt += 1
