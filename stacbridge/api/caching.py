"""`Cache-Control` on every answer, decided in one place (issue 10 #11).

Without it, browsers and shared caches apply heuristics to whatever the gateway answers.  The
policy, by what the answer holds:

* metadata that changes rarely and is the same for everyone (landing page, conformance,
  collections, one collection, queryables, the provider catalogs, the OpenAPI document and its
  page): `public, max-age=<metadata_max_age>`;
* searches and items: `no-store`.  They carry paging tokens and signed asset hrefs, and a
  provider's holdings change under them;
* every error (4xx, 5xx), every non-GET answer and anything else: `no-store`, so a transient
  upstream fault or a refused request is never replayed from a cache;
* the asset proxy: its redirects and `202 Accepted` are `no-store` (pre-signed URLs expire, an
  order becomes ready); streamed bytes keep the data host's own `Cache-Control`, if any.

It is a pure ASGI middleware, outside the others, so the 400/413 answered by middleware get it
too.  It overrides whatever a route set, except on streamed asset bytes.
"""

from __future__ import annotations

import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CacheControlMiddleware", "cache_control"]

NO_STORE = "no-store"

_METADATA = re.compile(
    r"^/(?:|conformance|queryables|api|api\.html|collections(?:/[^/]+(?:/queryables)?)?"
    r"|catalogs/[^/]+)/?$"
)


def cache_control(method: str, path: str, status: int, metadata_max_age: int) -> str | None:
    """The `Cache-Control` for this answer, or None to keep whatever the route set (or none)."""
    if status >= 400 or method not in ("GET", "HEAD"):
        return NO_STORE
    if path.startswith("/assets/"):
        return NO_STORE if status == 202 or 300 <= status < 400 else None
    if status == 200 and _METADATA.match(path):
        return f"public, max-age={metadata_max_age}"
    return NO_STORE


class CacheControlMiddleware:
    """Set `Cache-Control` on every HTTP answer after `cache_control()`."""

    def __init__(self, app: ASGIApp, metadata_max_age: int = 60) -> None:
        self.app = app
        self.metadata_max_age = metadata_max_age

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)  # CORS preflight: Access-Control-Max-Age rules
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                value = cache_control(scope["method"], scope["path"], status, self.metadata_max_age)
                if value is not None:
                    MutableHeaders(scope=message)["Cache-Control"] = value
            await send(message)

        await self.app(scope, receive, send_with_policy)
