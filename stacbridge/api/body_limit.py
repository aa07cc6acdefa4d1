"""Refuse request bodies larger than a limit, before anything buffers or parses them.

A search body is a few kilobytes.  A large filter polygon reaches a few hundred.  Without a
limit, one client can make the worker read and decode 50 MB of JSON (issue 10, point 4).
This middleware is pure ASGI, so it sits below FastAPI's body reading:

* If `Content-Length` is over the limit, it answers 413 at once.  The body is never read,
  and the application is never called.
* If there is no `Content-Length` (chunked transfer), or the declared length is wrong, it
  counts bytes as `http.request` messages arrive through `receive`.  Nothing is buffered.
  Once the count passes the limit, `receive` raises inside the application, and a second
  call gets `http.disconnect`, so a handler still waiting for the body stops.  Whatever the
  application answers after that is dropped and replaced by the 413.  A response the
  application started before the limit was reached cannot be replaced; its remaining
  messages are dropped, which cuts the connection short, the most HTTP allows.

Error bodies have the gateway's STAC form: `{"code": "PayloadTooLarge", "description": ...}`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

__all__ = ["DEFAULT_MAX_BYTES", "BodySizeLimitMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: 1 MiB: a search body with a 20,000-vertex polygon still fits.
DEFAULT_MAX_BYTES = 1 << 20


class _TooLarge(Exception):
    """Raised inside `receive` once the streamed body passes the limit."""


class BodySizeLimitMiddleware:
    """ASGI middleware: 413 with a STAC-style JSON body for request bodies over `max_bytes`.

    `max_bytes` must be a non-negative integer.  Only HTTP requests are looked at; lifespan
    and websocket scopes pass through untouched.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return

        received = 0
        exceeded = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                # the app asks again after the limit: tell it the client is gone
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if exceeded:
                # Whatever the app answers after the limit (FastAPI turns any error while
                # reading the body into a 400) is replaced by the 413, if still possible.
                if not response_started:
                    response_started = True
                    await self._refuse(send)
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        # If the app lets our exception through, it is answered just below.
        with contextlib.suppress(_TooLarge):
            await self.app(scope, limited_receive, guarded_send)
        if exceeded and not response_started:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = orjson.dumps(
            {
                "code": "PayloadTooLarge",
                "description": f"request body exceeds the limit of {self.max_bytes} bytes",
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    """The declared body length, or None if absent or unreadable (then we count instead)."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
