"""The EGI emulator's HTTP face: `/egi/request`, order status, results, capabilities."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from stacbridge.sandbox._kit import Recorder, as_clock, sandbox_app
from stacbridge.sandbox.edl import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, bearer_token
from stacbridge.sandbox.egi import rasters, xml

#: EGI-enabled collections (short name, version) → their subsettable variables.  ATL03 V005 is
#: the recorded ICESat-2 collection (NSIDC's EGI served it); NLDAS_NOAH0125_H V002 is a
#: sandbox-only stand-in (EGI never served it) whose recorded granule has a footprint, so
#: spatial searches can be exercised while orbit-only ATL03 granules have none in STAC.
COLLECTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("ATL03", "005"): ("/gt1l/heights/h_ph", "/gt1l/heights/lat_ph", "/gt1l/heights/lon_ph"),
    ("NLDAS_NOAH0125_H", "002"): ("/TMP", "/SPFH", "/PRES"),
}
FORMATS = tuple(rasters.FORMATS)
PROJECTIONS = ("GEOGRAPHIC",)

#: CMR's parameters (passed to the CMR search) and EGI's own.
CMR_PARAMS = ("short_name", "version", "bounding_box", "temporal", "producer_granule_id")
PAGING = ("page_size", "page_num")
EGI_PARAMS = (
    "bbox", "time", "Coverage", "format", "projection", "request_mode", "agent", "token",
    "email", "client_string", "include_meta",
)  # fmt: skip
MODES = ("stream", "sync", "async")
#: granules one stream or sync request may process (larger requests must be async).
MAX_SYNC_GRANULES = 100
MAX_PAGE_SIZE = 2000
#: status polls an async order takes to finish.
POLLS_TO_FINISH = 2


class EgiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Granule:
    producer_granule_id: str
    footprint: rasters.Bounds
    start: dt.datetime | None
    end: dt.datetime | None
    data_url: str | None


@dataclass
class EgiRequest:
    short_name: str
    version: str
    variables: list[tuple[int, str]]
    fmt: str
    bbox: rasters.Bounds | None
    window: tuple[dt.datetime | None, dt.datetime | None] | None
    mode: str
    processing: bool
    cmr: dict[str, str]


@dataclass
class EgiOrder:
    id: str
    request: EgiRequest
    granules: list[Granule]
    outcome: dict[str, Any]
    polls: int = 0
    status: str = "pending"
    messages: list[str] = field(default_factory=list)


@dataclass
class EgiState:
    """What the emulator remembers, and the test controls (`fail_next`, `submitted`)."""

    orders: dict[str, EgiOrder] = field(default_factory=dict)
    results: dict[str, bytes] = field(default_factory=dict)
    outcomes: deque[dict[str, Any]] = field(default_factory=deque)
    submitted: int = 0
    streamed: int = 0
    ids: Any = field(default_factory=lambda: itertools.count(5000005341100))

    def next_outcome(self, status: str, message: str) -> None:
        """The next async order ends `failed` or `complete_with_errors` with `message`."""
        self.outcomes.append({"status": status, "message": message})


def _iso(value: str) -> dt.datetime:
    v = value.strip()
    if v.endswith("Z"):
        v = v[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(v)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _bbox(value: str, name: str) -> rasters.Bounds:
    try:
        w, s, e, n = (float(x) for x in value.split(","))
    except ValueError:
        raise EgiError(
            400, "InvalidParameterValue", f"{name} must be W,S,E,N in degrees: {value!r}"
        ) from None
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise EgiError(
            400,
            "InvalidParameterValue",
            f"{name} {value!r} is not a valid bounding box (west < east, south < north, "
            "within -180..180 and -90..90)",
        )
    return w, s, e, n


def parse_request(params: Mapping[str, str]) -> EgiRequest:
    """Validate `/egi/request` parameters the way EGI refuses them (an `EgiError`)."""
    known = {*CMR_PARAMS, *PAGING, *EGI_PARAMS}
    for name in params:
        if name not in known:
            raise EgiError(400, "InvalidParameter", f"Unknown parameter: {name}")
    short, version = params.get("short_name", ""), params.get("version", "")
    if not short or not version:
        raise EgiError(400, "MissingParameter", "short_name and version are required")
    variables_of = COLLECTIONS.get((short, version))
    if variables_of is None:
        raise EgiError(
            400,
            "InvalidParameterValue",
            f"{short} version {version} has no EGI services",
        )
    mode = params.get("request_mode", "stream")
    if mode not in MODES:
        raise EgiError(
            400, "InvalidParameterValue", f"request_mode must be one of {', '.join(MODES)}"
        )
    agent = params.get("agent")
    if agent not in (None, "NO"):
        raise EgiError(400, "InvalidParameterValue", "agent may only be NO")
    fmt = params.get("format") or FORMATS[0]
    if fmt not in FORMATS:
        raise EgiError(
            400,
            "InvalidParameterValue",
            f"format {fmt!r} is not offered for {short}.{version}; allowed: {', '.join(FORMATS)}",
        )
    projection = params.get("projection")
    if projection and projection not in PROJECTIONS:
        raise EgiError(
            400,
            "InvalidParameterValue",
            f"projection {projection!r} is not offered; allowed: {', '.join(PROJECTIONS)}",
        )
    coverage = [v for v in params.get("Coverage", "").split(",") if v]
    unknown = [v for v in coverage if v not in variables_of]
    if unknown:
        raise EgiError(
            400,
            "InvalidParameterValue",
            f"Coverage variable(s) {', '.join(unknown)} not in {short}.{version}; "
            f"allowed: {', '.join(variables_of)}",
        )
    chosen = [(i, v) for i, v in enumerate(variables_of) if not coverage or v in coverage]
    if params.get("include_meta", "N") not in ("Y", "N"):
        raise EgiError(400, "InvalidParameterValue", "include_meta must be Y or N")
    bbox = _bbox(params["bbox"], "bbox") if params.get("bbox") else None
    window = None
    if params.get("time"):
        start, sep, end = params["time"].partition(",")
        try:
            window = (_iso(start) if start else None, _iso(end) if end else None)
        except ValueError:
            raise EgiError(
                400, "InvalidParameterValue", f"time must be ISO 8601 start,end: {params['time']}"
            ) from None
        if not sep:
            raise EgiError(400, "InvalidParameterValue", "time must be start,end")
    if params.get("bounding_box"):
        _bbox(params["bounding_box"], "bounding_box")
    for name, top in (("page_size", MAX_PAGE_SIZE), ("page_num", 10**6)):
        if name in params and not (params[name].isdigit() and 1 <= int(params[name]) <= top):
            raise EgiError(400, "InvalidParameterValue", f"{name} must be 1..{top}")
    processing = agent != "NO" and bool(
        bbox or window or coverage or params.get("format") or projection
    )
    cmr = {k: params[k] for k in (*CMR_PARAMS, *PAGING) if params.get(k)}
    return EgiRequest(short, version, chosen, fmt, bbox, window, mode, processing, cmr)


def _footprint(entry: Mapping[str, Any]) -> rasters.Bounds | None:
    """The bounding box of CMR's ATOM `boxes` ("S W N E") or `polygons` ("lat lon ...")."""
    lons: list[float] = []
    lats: list[float] = []
    for box in entry.get("boxes") or []:
        s, w, n, e = (float(x) for x in box.split())
        lats += [s, n]
        lons += [w, e]
    for rings in entry.get("polygons") or []:
        numbers = [float(x) for x in rings[0].split()]
        lats += numbers[0::2]
        lons += numbers[1::2]
    if not lons:
        return None
    return min(lons), min(lats), max(lons), max(lats)


def _granule(entry: Mapping[str, Any]) -> Granule | None:
    footprint = _footprint(entry)
    pgid = entry.get("producer_granule_id") or entry.get("title")
    if footprint is None or not pgid:
        return None
    data = next(
        (
            link["href"]
            for link in entry.get("links") or []
            if str(link.get("rel", "")).endswith("/data#")
        ),
        None,
    )
    start, end = entry.get("time_start"), entry.get("time_end")
    return Granule(
        str(pgid), footprint, _iso(start) if start else None, _iso(end) if end else None, data
    )


def create_egi_app(
    cmr_url: str,
    edl_url: str,
    *,
    clock: Callable[[], float] | None = None,
    state: EgiState | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """The emulator: `cmr_url` is the CMR search root (`.../search`), `edl_url` EDL's root."""
    recorder = Recorder(as_clock(clock))
    state = state or EgiState()
    holder: dict[str, httpx.AsyncClient] = {}

    def http() -> httpx.AsyncClient:
        if "client" not in holder:
            holder["client"] = httpx.AsyncClient(transport=transport, timeout=30.0)
        return holder["client"]

    def error(exc: EgiError) -> Response:
        return Response(xml.exception(exc.code, exc.message), exc.status, media_type=xml.XML_TYPE)

    async def authorise(request: Request) -> None:
        """An EDL token (`token` parameter or bearer header), checked at EDL every time."""
        token = request.query_params.get("token") or bearer_token(
            request.headers.get("authorization")
        )
        if not token:
            raise EgiError(
                401, "AuthenticationRequired", "Earthdata Login is required for this service"
            )
        answer = await http().post(
            f"{edl_url.rstrip('/')}/oauth/tokens/user",
            auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
            data={"token": token, "client_id": DEFAULT_CLIENT_ID},
        )
        if answer.status_code != 200:
            raise EgiError(
                401,
                "InvalidToken",
                f"Earthdata Login did not accept the token: {answer.json().get('error')}",
            )

    async def granules(req: EgiRequest) -> list[Granule]:
        params = {"page_size": "100", **req.cmr}
        answer = await http().get(f"{cmr_url.rstrip('/')}/granules.json", params=params)
        if answer.status_code != 200:
            raise EgiError(
                502, "CmrError", f"CMR answered {answer.status_code}: {answer.text[:300]}"
            )
        found = [_granule(e) for e in answer.json()["feed"]["entry"]]
        hits = int(answer.headers.get("cmr-hits", len(found)))
        if not found:
            raise EgiError(400, "NoMatchingData", "No granules matched the search criteria")
        if req.mode != "async" and hits > MAX_SYNC_GRANULES:
            raise EgiError(
                400,
                "TooManyGranules",
                f"{hits} granules match; at most {MAX_SYNC_GRANULES} are processed in "
                f"{req.mode} mode: use request_mode=async",
            )
        return [g for g in found if g is not None]

    def process(req: EgiRequest, found: list[Granule], order_id: str) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        for g in found:
            if req.window is not None and g.start and g.end:
                start, end = req.window
                if (start and g.end < start) or (end and g.start > end):
                    continue
            data = rasters.render(
                g.footprint,
                req.bbox,
                req.variables,
                req.fmt,
                {
                    "producer_granule_id": g.producer_granule_id,
                    "egi_order": order_id,
                    "synthetic": "stacbridge sandbox",
                },
            )
            if data is not None:
                stem = g.producer_granule_id.rsplit(".", 1)[0]
                files[f"processed_{stem}.{rasters.FORMATS[req.fmt][1]}"] = data
        if not files:
            raise EgiError(
                400,
                "NoMatchingData",
                "No data found that matched subset constraints (check bbox and time)",
            )
        return files

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def urls(request: Request, order_id: str) -> list[str]:
        return [f"{base(request)}/esir/{order_id}.zip", f"{base(request)}/esir/{order_id}.html"]

    async def egi_request(request: Request) -> Response:
        try:
            req = parse_request(request.query_params)
            await authorise(request)
            found = await granules(req)
            if not req.processing:
                # nothing to customise: EGI hands the client to the files as CMR lists them
                if found[0].data_url is None:
                    raise EgiError(400, "NoMatchingData", "the granule lists no data file")
                return RedirectResponse(found[0].data_url, status_code=303)
            order_id = str(next(state.ids))
            if req.mode == "async":
                outcome = state.outcomes.popleft() if state.outcomes else {"status": "complete"}
                state.orders[order_id] = EgiOrder(order_id, req, found, outcome)
                state.submitted += 1
                body = xml.agent_response(order_id, "pending", 0, len(found))
                return Response(body, 201, media_type=xml.XML_TYPE)
            files = await asyncio.to_thread(process, req, found, order_id)
            archive = rasters.zipped(files)
            if req.mode == "sync":
                state.results[order_id] = archive
                n = len(found)
                done = urls(request, order_id)
                body = xml.agent_response(order_id, "complete", n, n, download_urls=done)
                return Response(body, 200, media_type=xml.XML_TYPE)
            state.streamed += 1
            return Response(
                archive,
                200,
                media_type="application/zip",
                headers={"Content-Disposition": f'attachment; filename="{order_id}.zip"'},
            )
        except EgiError as exc:
            return error(exc)

    async def order_status(request: Request) -> Response:
        try:
            await authorise(request)
            order = state.orders.get(request.path_params["order_id"])
            if order is None:
                raise EgiError(404, "OrderNotFound", "No order with this id")
            if order.status in ("pending", "processing"):
                order.polls += 1
                order.status = "processing"
                if order.polls > POLLS_TO_FINISH:
                    await finish(order)
            total = len(order.granules)
            done = total if order.status not in ("pending", "processing") else 0
            body = xml.agent_response(
                order.id,
                order.status,
                min(done, total),
                total,
                messages=order.messages,
                download_urls=urls(request, order.id) if order.id in state.results else (),
            )
            return Response(body, 201, media_type=xml.XML_TYPE)
        except EgiError as exc:
            return error(exc)

    async def finish(order: EgiOrder) -> None:
        wanted = order.outcome.get("status", "complete")
        message = order.outcome.get("message", "")
        if wanted == "failed":
            order.status, order.messages = "failed", [message or "processing failed"]
            return
        try:
            files = await asyncio.to_thread(process, order.request, order.granules, order.id)
        except EgiError as exc:
            order.status, order.messages = "failed", [exc.message]
            return
        state.results[order.id] = rasters.zipped(files)
        order.status = wanted
        order.messages = [message] if message else []

    async def result(request: Request) -> Response:
        try:
            await authorise(request)
            order_id, ext = request.path_params["order_id"], request.path_params["ext"]
            archive = state.results.get(order_id)
            if archive is None or ext not in ("zip", "html"):
                raise EgiError(404, "NotFound", "No such result")
            if ext == "html":
                link = f'<a href="{order_id}.zip">{order_id}.zip</a>'
                return Response(f"<html><body>{link}</body></html>", media_type="text/html")
            return Response(
                archive,
                media_type="application/zip",
                headers={"Content-Disposition": f'attachment; filename="{order_id}.zip"'},
            )
        except EgiError as exc:
            return error(exc)

    async def capabilities(request: Request) -> Response:
        name = request.path_params["name"]
        match = re.fullmatch(r"(.+)\.([^.]+)\.xml", name)
        variables = COLLECTIONS.get((match.group(1), match.group(2))) if match else None
        if match is None or variables is None:
            return error(EgiError(404, "NotFound", f"no capabilities for {name}"))
        body = xml.capabilities(match.group(1), match.group(2), FORMATS, variables, PROJECTIONS)
        return Response(body, media_type=xml.XML_TYPE)

    async def control(request: Request) -> Response:
        if request.method == "POST":
            spec = await request.json()
            state.next_outcome(str(spec["status"]), str(spec.get("message", "")))
        return JSONResponse(
            {"submitted": state.submitted, "streamed": state.streamed, "orders": len(state.orders)}
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if "client" in holder:
            await holder.pop("client").aclose()

    routes = [
        Route("/_sandbox/egi", control, methods=["GET", "POST"]),
        Route("/egi/request", egi_request, methods=["GET", "HEAD"]),
        Route("/egi/request/{order_id}", order_status, methods=["GET"]),
        Route("/egi/capabilities/{name}", capabilities, methods=["GET"]),
        Route("/esir/{order_id}.{ext}", result, methods=["GET", "HEAD"]),
    ]
    app = sandbox_app(routes, recorder, lifespan=lifespan)
    app.state.egi = state
    return app
