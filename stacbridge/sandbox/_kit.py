"""What every sandbox emulator shares: a movable clock, a request recorder, fault injection.

Tests drive all emulators the same way — move time forward, read what was sent, make the next
requests fail — so these three live once here instead of once per emulator:

- `SandboxClock`: ``base()`` plus an offset that tests (or ``POST /_sandbox/clock``) advance; apps
  given the same clock expire keys, tokens and URLs together.
- `Recorder` (+ `RecordingMiddleware`): the request log and counters behind
  ``/_sandbox/requests`` and ``/_sandbox/stats``. The middleware logs every request but
  ``/_sandbox/*``; an emulator that logs its own entry shape (CMR) calls `Recorder.log`.
- `Fault` / `FaultQueue`: ``POST /_sandbox/faults`` queues a fault for the next ``count``
  matching requests (a delay, then an error if one is given); ``GET`` lists, ``DELETE`` clears.
  Each emulator names the spec fields it understands and renders the error in its provider's
  shape (CMR's ``{"errors": [...]}``, M2M's envelope or an HTML proxy page). ``body`` and
  ``headers`` craft a malformed answer instead: the body sent verbatim (a JSON value other than a
  string is serialised), with ``status`` or 200, and/or extra headers on the normal answer.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# --- the clock ----------------------------------------------------------------------------------


class SandboxClock:
    """`base()` plus an offset that tests move forward (`advance`), also over HTTP."""

    def __init__(self, base: Callable[[], float] = time.time) -> None:
        self.base = base
        self.offset = 0.0

    def __call__(self) -> float:
        return self.base() + self.offset

    def advance(self, seconds: float) -> float:
        self.offset += seconds
        return self()


def as_clock(clock: Callable[[], float] | None) -> SandboxClock:
    """A `SandboxClock` as is (so apps given the same one share it), any other callable wrapped."""
    if isinstance(clock, SandboxClock):
        return clock
    return SandboxClock(clock or time.time)


# --- the request recorder -----------------------------------------------------------------------


def _header_dict(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        sep = "; " if name == "cookie" else ", "
        headers[name] = headers[name] + sep + value if name in headers else value
    return headers


class Recorder:
    """The request log and counters behind `/_sandbox/requests` and `/_sandbox/stats`.

    The lock keeps a listing from seeing the log change under it (tests read the log from
    another thread while the server appends).
    """

    def __init__(self, clock: SandboxClock, maxlen: int = 10_000) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.entries: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self.counters: Counter[str] = Counter()
        self.by_path: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.bytes_sent = 0

    def log(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Append `entry` (the caller may keep filling it in, e.g. its status) and return it."""
        with self.lock:
            self.entries.append(entry)
        return entry

    def snapshot(self, path: str | None = None) -> list[dict[str, Any]]:
        """Copies of the logged entries, those for `path` only if given."""
        with self.lock:
            return [dict(e) for e in self.entries if path is None or e["path"] == path]

    def clear_log(self) -> None:
        with self.lock:
            self.entries.clear()

    def reset(self) -> None:
        self.clear_log()
        self.by_path.clear()
        self.by_status.clear()
        self.bytes_sent = 0
        for name in self.counters:
            self.counters[name] = 0

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    def stats(self) -> dict[str, Any]:
        with self.lock:
            entries = list(self.entries)
        ranged = sum(1 for e in entries if e["range"] is not None)
        return {
            "requests": sum(self.by_path.values()),
            "by_path": dict(self.by_path),
            "by_status": {str(k): v for k, v in self.by_status.items()},
            "ranged": ranged,
            "unranged": len(entries) - ranged,
            "bytes_sent": self.bytes_sent,
            **self.counters,
        }

    def routes(self) -> list[Route]:
        async def requests(request: Request) -> JSONResponse:
            return JSONResponse(self.snapshot(request.query_params.get("path")))

        async def stats(request: Request) -> JSONResponse:
            return JSONResponse(self.stats())

        async def clock(request: Request) -> JSONResponse:
            if request.method == "POST":
                body = await request.json() if await request.body() else {}
                self.clock.advance(float(body.get("advance", 0)))
            return JSONResponse({"now": self.clock(), "offset": self.clock.offset})

        async def reset(request: Request) -> JSONResponse:
            self.reset()
            return JSONResponse({"reset": True})

        return [
            Route("/_sandbox/requests", requests),
            Route("/_sandbox/stats", stats),
            Route("/_sandbox/clock", clock, methods=["GET", "POST"]),
            Route("/_sandbox/reset", reset, methods=["POST"]),
        ]


class RecordingMiddleware:
    """Logs every request (but `/_sandbox/*`) into a `Recorder`, with its status and body bytes."""

    def __init__(self, app: ASGIApp, recorder: Recorder) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox/"):
            await self.app(scope, receive, send)
            return
        recorder = self.recorder
        headers = _header_dict(scope)
        entry = recorder.log(
            {
                "time": recorder.clock(),
                "method": scope["method"],
                "path": scope["path"],
                "query": scope.get("query_string", b"").decode("latin-1"),
                "headers": headers,
                "range": headers.get("range"),
                "status": None,
                "bytes": 0,
            }
        )
        recorder.by_path[scope["path"]] += 1

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                recorder.by_status[message["status"]] += 1
            elif message["type"] == "http.response.body" and scope["method"] != "HEAD":
                n = len(message.get("body", b""))
                entry["bytes"] += n
                recorder.bytes_sent += n
            await send(message)

        await self.app(scope, receive, counting_send)


def sandbox_app(routes: list[Route], recorder: Recorder, lifespan: Any = None) -> Starlette:
    """A Starlette app with the recorder's `/_sandbox/*` routes first (before any catch-all
    route of `routes`) and every other request logged."""
    app = Starlette(routes=[*recorder.routes(), *routes], lifespan=lifespan)
    app.state.recorder = recorder
    app.add_middleware(RecordingMiddleware, recorder=recorder)
    return app


# --- fault injection ----------------------------------------------------------------------------

#: Where each `Fault` field comes from in a ``POST /_sandbox/faults`` body.
_SPEC_KEYS = {"error_code": "errorCode"}


@dataclass
class Fault:
    """A fault for the next `count` matching requests: wait `delay` seconds, then fail with
    `status` (and/or the provider's `error_code`) if one is given, else answer normally.

    `path` (CMR) matches a substring of the URL path, `endpoint` (M2M) one endpoint name
    exactly; None matches every request. `message` / `errors` override the error text.
    `body` replaces the whole answer (sent as given, with `status` or 200); `headers` are set on
    whatever is answered (e.g. a ``CMR-Hits`` that is not a number on a normal page).
    """

    count: int = 1
    status: int | None = None
    delay: float = 0.0
    retry_after: float | None = None
    path: str | None = None
    endpoint: str | None = None
    error_code: str | None = None
    message: str | None = None
    errors: list[str] | None = None
    body: bytes | None = None
    headers: dict[str, str] | None = None

    @property
    def active(self) -> bool:
        """Whether queuing it would do anything (a spec with nothing to inject is dropped)."""
        return self.count > 0 and bool(
            self.error_code or self.status or self.delay or self.body is not None or self.headers
        )

    def matches(self, path: str, endpoint: str | None) -> bool:
        return (self.path is None or self.path in path) and self.endpoint in (None, endpoint)

    async def pause(self) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)

    def retry_after_header(self) -> dict[str, str]:
        """``Retry-After`` as given (whole seconds without a fraction), or nothing."""
        ra = self.retry_after
        if ra is None:
            return {}
        return {"retry-after": str(int(ra) if float(ra).is_integer() else ra)}


def _parse_field(name: str, spec: Mapping[str, Any]) -> Any:
    key = _SPEC_KEYS.get(name, name)
    if name == "status":
        return int(spec[key]) if spec.get(key) is not None else None
    if name == "count":
        return int(spec.get(key, 1))
    if name == "delay":
        return float(spec.get(key, 0) or 0)
    if name == "body":
        body = spec.get(key)
        if body is None:
            return None
        return body.encode() if isinstance(body, str) else json.dumps(body).encode()
    if name == "headers":
        headers = spec.get(key)
        return {str(k): str(v) for k, v in headers.items()} if headers else None
    return spec.get(key)


def _listed(value: Any) -> Any:
    """A fault field as ``GET /_sandbox/faults`` lists it (a crafted body as text)."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class FaultQueue:
    """The faults queued on one emulator, and the ``/_sandbox/faults`` endpoint over them.

    `fields`: the `Fault` fields this emulator understands, in the order it lists them; a spec
    key outside them is ignored, so a fault the emulator would not act on never consumes a
    request. `error_body`: how a bad spec is answered (each provider words errors its own way).
    """

    def __init__(
        self, fields: Iterable[str], error_body: Callable[[str], Any] = lambda m: {"error": m}
    ) -> None:
        self.fields = tuple(fields)
        self.error_body = error_body
        self.lock = threading.Lock()
        self.faults: list[Fault] = []

    def parse(self, spec: Mapping[str, Any]) -> Fault:
        """A `Fault` from a spec body; ValueError/TypeError/KeyError/AttributeError if bad."""
        return Fault(**{name: _parse_field(name, spec) for name in self.fields})

    def add(self, fault: Fault) -> None:
        if fault.active:
            with self.lock:
                self.faults.append(fault)

    def take(self, path: str = "", endpoint: str | None = None) -> Fault | None:
        """The first fault matching this request, counted down (and dropped when used up)."""
        with self.lock:
            for fault in self.faults:
                if fault.matches(path, endpoint):
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()

    def listing(self) -> list[dict[str, Any]]:
        with self.lock:
            return [{name: _listed(getattr(f, name)) for name in self.fields} for f in self.faults]

    async def endpoint(self, request: Request) -> Response:
        """``GET`` lists, ``POST`` queues one fault, ``DELETE`` clears; all answer the list."""
        if request.method == "DELETE":
            self.clear()
        elif request.method == "POST":
            try:
                fault = self.parse(await request.json())
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                return JSONResponse(self.error_body(f"bad fault spec: {exc}"), status_code=400)
            self.add(fault)
        return JSONResponse({"faults": self.listing()})
