"""The CMR emulator's HTTP layer: Starlette routes, CMR's headers, sandbox controls.

Everything request-shaped lives here so the catalogue can be used (and tested) in process.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
import uuid
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stacbridge.sandbox._kit import FaultQueue, Recorder, SandboxClock
from stacbridge.sandbox.cmr.atom import COLLECTION_FEED_TITLE, GRANULE_FEED_TITLE
from stacbridge.sandbox.cmr.atom import CONTENT_TYPE as ATOM_CONTENT_TYPE
from stacbridge.sandbox.cmr.catalogue import CmrEmulator
from stacbridge.sandbox.cmr.errors import MSG_NOT_EMULATED, CmrError
from stacbridge.sandbox.cmr.generator import iso_ms

GRANULE_CONTENT_TYPE = "application/vnd.nasa.cmr.umm_results+json;version=1.6.6; charset=utf-8"
COLLECTION_CONTENT_TYPE = "application/vnd.nasa.cmr.umm_results+json;version=1.18.4; charset=utf-8"
ERROR_CONTENT_TYPE = "application/json; charset=utf-8"
EXPOSE_HEADERS = (
    "CMR-Hits, CMR-Request-Id, X-Request-Id, CMR-Scroll-Id, CMR-Search-After, CMR-Timed-Out, "
    "CMR-Shapefile-Original-Point-Count, CMR-Shapefile-Simplified-Point-Count"
)


_FAULT_MESSAGES = {
    429: "Too Many Requests",
    500: "An Internal Error has occurred.",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


#: The fault-spec fields CMR understands (`_kit.Fault`), in the order ``GET`` lists them.
_FAULT_FIELDS = ("status", "count", "retry_after", "delay", "path", "errors", "body", "headers")


class _SandboxState:
    """The sandbox side of the app: queued faults, the search-request log, request ids."""

    def __init__(self, seed: int) -> None:
        self.lock = threading.Lock()
        self.faults = FaultQueue(_FAULT_FIELDS, error_body=lambda message: {"errors": [message]})
        self.requests = Recorder(SandboxClock(), maxlen=2000)
        self.counter = 0
        self.seed = seed

    def next_ids(self) -> tuple[str, str]:
        with self.lock:
            self.counter += 1
            n = self.counter
        rng = random.Random(f"cmr-request-{self.seed}-{n}")
        request_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        x_request_id = base64.urlsafe_b64encode(rng.randbytes(40)).decode()
        return request_id, x_request_id


def _error_response(status: int, errors: list[str], headers: dict[str, str]) -> Response:
    return Response(
        orjson.dumps({"errors": errors}),
        status_code=status,
        headers={**headers, "content-type": ERROR_CONTENT_TYPE},
    )


def create_cmr_app(
    *,
    data_host_map: dict[str, str] | None = None,
    generated_granules: int = 1_000_000,
    seed: int = 0,
) -> Starlette:
    """The CMR emulator as an ASGI app (search under ``/search``, controls under ``/_sandbox``)."""
    emulator = CmrEmulator(
        data_host_map=data_host_map, generated_granules=generated_granules, seed=seed
    )
    state = _SandboxState(seed)

    async def search(request: Request) -> Response:
        route, _, result_format = request.url.path.rpartition("/")[2].partition(".")
        concept_type = "granule" if route == "granules" else "collection"
        pairs: list[tuple[str, str]] | None = parse_qsl(request.url.query, keep_blank_values=True)
        form = ""
        content_type = request.headers.get("content-type", "")
        if request.method == "POST":
            body = (await request.body()).decode("utf-8", "replace")
            form = body
            if content_type.startswith("application/x-www-form-urlencoded") or not body:
                pairs = [*(pairs or []), *parse_qsl(body, keep_blank_values=True)]
            elif content_type.startswith("application/json"):
                pairs = None
            else:
                return Response(
                    f"Unsupported content type [{content_type}]",
                    status_code=415,
                    headers={"access-control-allow-origin": "*"},
                )
        search_after = request.headers.get("cmr-search-after")
        entry = state.requests.log(
            {
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "form": form,
                "cmr_search_after": search_after,
                "status": None,
                "time": state.requests.clock(),
            }
        )
        request_id, x_request_id = state.next_ids()
        headers = {
            "access-control-allow-origin": "*",
            "access-control-expose-headers": EXPOSE_HEADERS,
            "cmr-request-id": request_id,
            "x-request-id": x_request_id,
        }
        fault = state.faults.take(path=request.url.path)
        if fault is not None:
            await fault.pause()
            if fault.body is not None:  # a crafted (malformed) answer, in CMR's content type
                entry["status"] = fault.status or 200
                content_type = (
                    GRANULE_CONTENT_TYPE if concept_type == "granule" else COLLECTION_CONTENT_TYPE
                )
                return Response(
                    fault.body,
                    status_code=fault.status or 200,
                    headers={**headers, "content-type": content_type, **(fault.headers or {})},
                )
            if fault.status:
                fault_headers = {**headers, **fault.retry_after_header()}
                entry["status"] = fault.status
                return _error_response(
                    fault.status,
                    fault.errors or [_FAULT_MESSAGES.get(fault.status, "Error")],
                    fault_headers,
                )
        if pairs is None:
            entry["status"] = 400
            return _error_response(
                400, [MSG_NOT_EMULATED.format(what="JSON query language searches")], headers
            )
        if result_format not in ("umm_json", "json"):
            entry["status"] = 400
            what = f"the [{result_format}] result format (umm_json and json are emulated)"
            return _error_response(400, [MSG_NOT_EMULATED.format(what=what)], headers)
        started = time.perf_counter()
        try:
            page = emulator.search(concept_type, pairs, search_after)
        except CmrError as exc:
            entry["status"] = exc.status
            return _error_response(exc.status, exc.errors, headers)
        if result_format == "json":
            entries = emulator.atom_entries(concept_type, page.items)
        took = max(1, round((time.perf_counter() - started) * 1000))
        if result_format == "json":
            feed = {
                "updated": iso_ms(int(time.time() * 1000)),
                "id": str(request.url),
                "title": GRANULE_FEED_TITLE if concept_type == "granule" else COLLECTION_FEED_TITLE,
            }
            payload = b"".join(
                (orjson.dumps({"feed": feed})[:-2], b',"entry":[', b",".join(entries), b"]}}")
            )
        else:
            payload = b"".join(
                (
                    b'{"hits":%d,"took":%d,"items":[' % (page.hits, took),
                    b",".join(page.items),
                    b"]}",
                )
            )
        headers["cmr-hits"] = str(page.hits)
        headers["cmr-took"] = str(took)
        if page.search_after is not None:
            headers["cmr-search-after"] = json.dumps(
                page.search_after, separators=(",", ":"), ensure_ascii=False
            )
        headers["content-type"] = (
            ATOM_CONTENT_TYPE
            if result_format == "json"
            else GRANULE_CONTENT_TYPE
            if concept_type == "granule"
            else COLLECTION_CONTENT_TYPE
        )
        entry["status"] = 200
        if fault is not None and fault.headers:
            headers.update(fault.headers)
        return Response(payload, status_code=200, headers=headers)

    async def requests_log(request: Request) -> Response:
        if request.method == "DELETE":
            state.requests.clear_log()
        return JSONResponse({"requests": state.requests.snapshot()})

    app = Starlette(
        routes=[
            Route("/search/collections.{format}", search, methods=["GET", "POST"]),
            Route("/search/granules.{format}", search, methods=["GET", "POST"]),
            Route("/_sandbox/faults", state.faults.endpoint, methods=["GET", "POST", "DELETE"]),
            Route("/_sandbox/requests", requests_log, methods=["GET", "DELETE"]),
        ]
    )
    app.state.cmr = emulator
    app.state.sandbox = state
    return app
