"""How the proxy writes a streamed download: bounded by the client's reading, private if owed.

A client that opens a download and stops reading must not keep an upstream connection for
ever.  Under ASGI that stall shows up in one place only: `send` of a body chunk does not return
(uvicorn awaits its flow control: the socket buffer is full, writing is paused until the client
reads).  So every `send` is bounded by `[proxy] idle_timeout`; when it expires the response is
abandoned, the server closes the client connection (uvicorn logs "ASGI callable returned
without completing response"), and the upstream response is closed, which hands its
connection and its stream slot back.  A client is thus cut when it takes longer than the
timeout to take one ~1 MiB block.  An upstream that fails mid-body is treated the same way:
the client sees a truncated response (short of Content-Length, or an unterminated chunked
body), never a silently complete-looking one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
from starlette.responses import StreamingResponse
from starlette.types import Message, Send

log = logging.getLogger("stacbridge.proxy")


class IdleBoundedStream(StreamingResponse):
    """A StreamingResponse whose every write to the client must complete within `idle_timeout`."""

    def __init__(
        self, content: AsyncIterator[bytes], *, idle_timeout: float, **kwargs: object
    ) -> None:
        super().__init__(content, **kwargs)  # type: ignore[arg-type]
        self.idle_timeout = idle_timeout

    async def stream_response(self, send: Send) -> None:
        start: Message = {
            "type": "http.response.start",
            "status": self.status_code,
            "headers": self.raw_headers,
        }
        body = self.body_iterator
        try:
            if not await self._send(send, start):
                return
            async for chunk in body:
                if not await self._send(
                    send, {"type": "http.response.body", "body": chunk, "more_body": True}
                ):
                    return
            await self._send(send, {"type": "http.response.body", "body": b"", "more_body": False})
        except httpx.HTTPError as exc:
            # the upstream broke off mid-body: returning leaves the response incomplete, so the
            # server closes the connection and the client knows the body is short
            log.warning(
                "proxy: upstream failed mid-download (%s); closed the download", type(exc).__name__
            )
        finally:
            aclose = getattr(body, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _send(self, send: Send, message: Message) -> bool:
        try:
            async with asyncio.timeout(self.idle_timeout):
                await send(message)
        except TimeoutError:
            log.warning(
                "proxy: the client read nothing for %.0f s; closed the download", self.idle_timeout
            )
            return False
        return True


def private_cache_control(value: str | None) -> str:
    """`Cache-Control` for bytes fetched with credentials: never stored by a shared cache.

    `public` and `s-maxage` go, `private` is added (also when the upstream sent nothing: a
    shared cache may otherwise cache heuristically); `max-age`, `no-store` etc. are kept.
    """
    kept = []
    for part in (value or "").split(","):
        directive = part.strip()
        name = directive.split("=", 1)[0].strip().lower()
        if not directive or name in ("public", "s-maxage", "private"):
            continue
        kept.append(directive)
    return ", ".join(["private", *kept])


def add_vary(headers: dict[str, str], *names: str) -> None:
    """Add `names` to the `Vary` header in `headers` (kept once each)."""
    current = [v.strip() for v in headers.get("Vary", "").split(",") if v.strip()]
    for name in names:
        if name.lower() not in (v.lower() for v in current):
            current.append(name)
    headers["Vary"] = ", ".join(current)
