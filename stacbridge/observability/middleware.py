"""One ASGI middleware for what every request needs operationally.

* **Request id**: taken from the client's ``X-Request-ID`` when it is a sane token (so a
  caller's or load balancer's id follows the request through), otherwise generated; set in
  the `request_id` context variable for the whole request and echoed in the response header.
* **Server-Timing**: ``total;dur=<ms>`` (time until the response headers) is added to every
  response, next to the ``upstream;dur=`` the asset proxy already sends.
* **Metrics**: requests by route template, method and status, and their latency.
* **Access log**: one line per request on ``stacbridge.access`` with method, route template,
  status and duration - the route template, never the concrete path, because asset paths are
  signed download capabilities.

It is plain ASGI (not Starlette's BaseHTTPMiddleware) so streamed downloads pass through
without being buffered or moved to another task.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stacbridge.observability import metrics
from stacbridge.observability.logging import request_id

access_log = logging.getLogger("stacbridge.access")

_SANE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def incoming_request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's X-Request-ID if it is a short printable token, else a new random one."""
    for name, value in headers:
        if name.lower() == b"x-request-id":
            text = value.decode("latin-1").strip()
            if _SANE_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


class ObservabilityMiddleware:
    """Request id, Server-Timing total, request metrics and the access log (module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @staticmethod
    def route_of(scope: Scope) -> str:
        """The template of the route that served `scope` (``/assets/{token}/{name}``).

        The router records the matched route in the request's scope; that dict is the one this
        middleware passed down unless a middleware below replaced it (the doubled-slash fix
        does, for `//collections`): then, as for a path no route matched, ``other``.
        """
        route = scope.get("route")
        return str(getattr(route, "path", None) or "other")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = incoming_request_id(scope.get("headers", []))
        token = request_id.set(rid)
        status = 500
        headers_sent_at: float | None = None

        async def send_wrapper(message: Message) -> None:
            nonlocal status, headers_sent_at
            if message["type"] == "http.response.start":
                status = message["status"]
                headers_sent_at = time.perf_counter()
                total = (headers_sent_at - started) * 1000
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", rid.encode("latin-1")))
                headers.append((b"server-timing", f"total;dur={total:.1f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            ended = headers_sent_at or time.perf_counter()
            duration = ended - started
            route = self.route_of(scope)
            method = scope.get("method", "GET")
            metrics.HTTP_REQUESTS.labels(route, method, str(status)).inc()
            metrics.HTTP_LATENCY.labels(route, method).observe(duration)
            access_log.info(
                "%s %s %d %.1fms",
                method,
                route,
                status,
                duration * 1000,
                extra={
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(duration * 1000, 1),
                },
            )
            request_id.reset(token)
