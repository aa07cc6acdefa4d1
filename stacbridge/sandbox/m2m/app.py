"""The M2M emulator's HTTP layer: the JSON API, download routes and sandbox controls.

Auth, idle expiry and download lifecycle need the clock and the state, so they live
here; the catalogue stays free of both.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import secrets
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from stacbridge.sandbox._kit import Recorder, RecordingMiddleware, SandboxClock, as_clock
from stacbridge.sandbox.datahost import file_response
from stacbridge.sandbox.files import FileSource
from stacbridge.sandbox.m2m.catalogue import M2MEmulator
from stacbridge.sandbox.m2m.downloads import _dds_error, _PaddedFiles, _TarFiles
from stacbridge.sandbox.m2m.errors import (
    _FAULT_MESSAGES,
    MSG_EXPIRED,
    MSG_KEY_INVALID,
    MSG_LOGIN_INVALID,
    MSG_UNAUTHORIZED,
    VERSION,
    M2MError,
    _dumps,
    _invalid,
    _php_map,
)
from stacbridge.sandbox.m2m.generator import SceneRenderer
from stacbridge.sandbox.m2m.recording import _redacted, _TagEntries
from stacbridge.sandbox.m2m.scene_lists import SceneLists
from stacbridge.sandbox.m2m.state import DEFAULT_USERS, _Download, _Session, _State

API_ROOT = "/api/api/json"


MAX_LABEL = 50
RECENT_WINDOW = 900.0  # "downloads requested in the past 15 minutes"
INITIAL_LIMITS = {
    "recentDownloadCount": 15_000,
    "pendingDownloadCount": 20_000,
    "unattemptedDownloadCount": 20_000,
}


_STATUS_TEXT = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
                503: "Service Unavailable", 504: "Gateway Timeout"}  # fmt: skip


def _envelope(request_id: int, session_id: int | None, data: bytes) -> bytes:
    sid = b"null" if session_id is None else str(session_id).encode()
    return b"".join(
        (
            b'{"requestId":%d,"version":"stable","sessionId":' % request_id,
            sid,
            b',"data":',
            data,
            b',"errorCode":null,"errorMessage":null}',
        )
    )


def _error_body(exc: M2MError, request_id: int, session_id: int | None) -> bytes:
    if exc.auth:  # the recorded auth-layer envelope
        return _dumps(
            {"errorCode": exc.code, "errorMessage": exc.message, "data": None,
             "requestId": 0, "sessionId": None, "version": None}
        )  # fmt: skip
    return _dumps(
        {"requestId": request_id, "version": VERSION, "sessionId": session_id, "data": None,
         "errorCode": exc.code, "errorMessage": exc.message}
    )  # fmt: skip


def _json(body: bytes, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body, status, headers=dict(headers or {}), media_type="application/json")


def create_m2m_app(
    *,
    clock: Callable[[], float] | None = None,
    generated_scenes: int = 200_000,
    key_idle_ttl: float = 7200.0,
    prepare_polls: int = 2,
    url_lifespan: float = 3600.0,
    users: dict[str, str] | None = None,
    files: FileSource | None = None,
    landsatlook_url: str | None = None,
) -> Starlette:
    """The M2M emulator (see the module docstring).

    `clock`: a `SandboxClock` to share with other sandbox apps (default: a new one over
    `time.time`). `users`: username → application token (default ``{"sandbox":
    "sandbox-app-token"}``). `files`: where downloads come from (default
    `files.default_files()`). `landsatlook_url`: rewrite the generated scenes'
    ``https://landsatlook.usgs.gov`` browse links to this base (``"self"``: this app, which
    serves ``/gen-browse``); default: the real links. ``app.state.m2m`` is the `M2MEmulator`,
    ``app.state.sandbox`` the mutable state, ``app.state.recorder`` the request log.
    """
    sandbox_clock: SandboxClock = as_clock(clock)
    emulator = M2MEmulator(generated_scenes=generated_scenes, files=files)
    source = _TarFiles(_PaddedFiles(emulator.files), emulator.bundle_members)
    recorder = Recorder(sandbox_clock)
    recorder.count("logins", 0)
    recorder.count("downloads", 0)
    state = _State(users if users is not None else DEFAULT_USERS)
    scene_lists = SceneLists(emulator, lambda: sandbox_clock())

    def now() -> float:
        return sandbox_clock()

    # -- auth --------------------------------------------------------------------------------------
    def session_for(key: str | None) -> _Session:
        if not key:
            raise M2MError("AUTH_UNAUTHROIZED", MSG_UNAUTHORIZED, auth=True)
        with state.lock:
            session = state.sessions.get(key)
            if session is None:
                raise M2MError("AUTH_INVALID", MSG_KEY_INVALID, auth=True)
            t = now()
            if t - session.last_used > key_idle_ttl:
                raise M2MError("AUTH_EXPIRED", MSG_EXPIRED, auth=True)
            session.last_used = t
            return session

    def login(body: dict, key: str | None) -> tuple[bytes, int]:
        if key:
            session_for(key)  # a stale key in the header fails the login (issues #59, #68)
        username, token = body.get("username"), body.get("token")
        known = state.users.get(str(username)) if username else None
        if known is None or not isinstance(token, str) or not secrets.compare_digest(known, token):
            raise M2MError("AUTH_INVALID", MSG_LOGIN_INVALID, status=200)
        with state.lock:
            state.session_id += 1
            sid = state.session_id
            contact = state.contacts.get(str(username), 676_404)
            t = now()
            payload = {
                "cid": contact, "s": str(int(t)), "permissions": [],
                "k": secrets.token_hex(8),
            }  # fmt: skip
            api_key = base64.b64encode(_dumps(payload)).decode()
            state.sessions[api_key] = _Session(api_key, str(username), sid, contact, t)
        recorder.count("logins")
        return _dumps(api_key), sid

    # -- downloads ---------------------------------------------------------------------------------
    def base_url(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def current_url(request: Request, d: _Download) -> str:
        """The download URL of `d`, re-issued when the last one has expired."""
        t = now()
        if d.token is None or t - d.issued > url_lifespan:
            d.issues += 1
            payload = {"id": d.download_id, "contactId": d.contact_id}
            if d.issues > 1:
                payload["issue"] = d.issues - 1
            raw = json.dumps(payload, separators=(",", ":")).encode()
            d.token, d.issued = base64.b64encode(raw).decode(), t
            state.tokens[d.token] = (d.download_id, t)
        return f"{base_url(request)}/download/{d.token}"

    def staging_url(request: Request, d: _Download) -> str:
        state.staging[d.staging_token] = d.download_id
        return f"{base_url(request)}/download-staging/{d.staging_token}"

    def link(request: Request, d: _Download) -> dict:
        url = current_url(request, d) if d.status == "available" else staging_url(request, d)
        return {"downloadId": d.download_id, "eulaCode": None,
                "entityId": d.product.entity_id, "url": url}  # fmt: skip

    def listed(request: Request, d: _Download, code: str, text: str) -> dict:
        p = d.product
        url = current_url(request, d) if d.status == "available" else staging_url(request, d)
        return {
            "downloadId": d.download_id, "collectionName": p.collection_name,
            "datasetId": p.dataset_id, "displayId": p.display_id, "entityId": p.entity_id,
            "eulaCode": None, "filesize": p.filesize, "label": d.label,
            "productCode": p.product_code, "productName": p.product_name,
            "statusCode": code, "statusText": text, "url": url,
        }  # fmt: skip

    def remaining(session: _Session, ip: str) -> list[dict]:
        t = now()

        def counts(pred: Callable[[_Download], bool]) -> dict[str, int]:
            mine = [d for d in state.downloads.values() if pred(d) and d.status != "removed"]
            recent = sum(1 for d in mine if t - d.created <= RECENT_WINDOW)
            pending = sum(1 for d in mine if d.status == "preparing")
            unattempted = sum(1 for d in mine if d.status == "available" and not d.downloaded)
            return {
                "recentDownloadCount": INITIAL_LIMITS["recentDownloadCount"] - recent,
                "pendingDownloadCount": INITIAL_LIMITS["pendingDownloadCount"] - pending,
                "unattemptedDownloadCount": INITIAL_LIMITS["unattemptedDownloadCount"]
                - unattempted,
            }

        return [
            {"username": session.username, "limitType": "user",
             **counts(lambda d: d.username == session.username)},
            {"ipAddress": ip, "limitType": "ip", **counts(lambda d: d.ip == ip)},
        ]  # fmt: skip

    def download_request(request: Request, body: dict, session: _Session, rid: int) -> bytes:
        ip = request.client.host if request.client else "127.0.0.1"
        stamp = dt.datetime.fromtimestamp(now(), dt.UTC).strftime("%Y%m%d%H%M%S")
        default_label = body.get("label") or f"m2m_{rid}_{stamp}"
        if len(str(default_label)) > MAX_LABEL:
            raise _invalid(f"label must be at most {MAX_LABEL} characters")
        available: list[dict] = []
        preparing: list[dict] = []
        failed: list[dict] = []
        new_records: dict[str, str] = {}
        duplicates: dict[str, str] = {}
        invalid = 0
        downloads = body.get("downloads") or []
        if not isinstance(downloads, list):
            raise _invalid("downloads must be a list")
        for item in downloads:
            item = item if isinstance(item, dict) else {}
            product = emulator.resolve(item.get("entityId"), item.get("productId"))
            if product is None:
                invalid += 1
                failed.append({"entityId": item.get("entityId"), "productId": item.get("productId"),
                               "errorMessage": "Invalid entity or product ID"})  # fmt: skip
                continue
            label = str(body.get("label") or item.get("label") or default_label)[:MAX_LABEL]
            with state.lock:
                existing = next(
                    (
                        d
                        for d in state.downloads.values()
                        if d.username == session.username
                        and d.status != "removed"
                        and d.product.entity_id == product.entity_id
                        and d.product.product_id == product.product_id
                    ),
                    None,
                )
                if existing is not None:
                    duplicates[str(existing.download_id)] = existing.label
                    d = existing
                else:
                    state.download_id += 1
                    d = _Download(
                        state.download_id, product, session.username, session.contact_id, ip,
                        label, now(), "preparing" if product.prepares else "available",
                    )  # fmt: skip
                    state.downloads[d.download_id] = d
                    new_records[str(d.download_id)] = label
                (available if d.status == "available" else preparing).append(link(request, d))
        data = {
            "availableDownloads": available,
            "duplicateProducts": _php_map(duplicates),
            "preparingDownloads": preparing,
            "failed": failed,
            "newRecords": _php_map(new_records),
            "numInvalidScenes": invalid,
            "remainingLimits": remaining(session, ip),
        }
        return _dumps(data)

    def mine(session: _Session, label: Any) -> list[_Download]:
        return [
            d
            for d in state.downloads.values()
            if d.username == session.username
            and d.status != "removed"
            and (not label or d.label == str(label))
        ]

    def download_retrieve(request: Request, body: dict, session: _Session) -> bytes:
        available, requested = [], []
        with state.lock:
            for d in mine(session, body.get("label")):
                if d.status == "preparing":
                    d.polls += 1
                    if d.polls >= prepare_polls:
                        d.status = "available"
                if d.status == "available":
                    available.append(listed(request, d, "A", "Available"))
                else:
                    requested.append(listed(request, d, "S", "Staging"))
        return _dumps({"available": available, "queueSize": len(requested),
                       "requested": requested, "eulas": []})  # fmt: skip

    def download_search(request: Request, body: dict, session: _Session) -> bytes:
        with state.lock:
            out = [
                listed(request, d, *(("A", "Available") if d.status == "available"
                                     else ("S", "Staging")))
                for d in mine(session, body.get("label"))
            ]  # fmt: skip
        return _dumps(out)

    def download_remove(body: dict, session: _Session) -> bytes:
        with state.lock:
            d = state.downloads.get(int(body.get("downloadId") or 0))
            if d is None or d.username != session.username or d.status == "removed":
                return b"false"
            d.status = "removed"
            return b"true"

    def download_order_remove(body: dict, session: _Session) -> bytes:
        label = body.get("label")
        if not label:
            raise _invalid("label is required")
        with state.lock:
            gone = mine(session, label)
            for d in gone:
                d.status = "removed"
        return str(len(gone)).encode()

    def rate_limit_summary(request: Request, session: _Session) -> bytes:
        ip = request.client.host if request.client else "127.0.0.1"
        with state.lock:
            counts = Counter(
                "Available" if d.status == "available" else "Staging"
                for d in state.downloads.values()
                if d.username == session.username
                and d.status != "removed"
                and now() - d.created <= RECENT_WINDOW
            )
            limits = remaining(session, ip)
        per_status = [{"status": s, "downloadCount": n} for s, n in sorted(counts.items())]
        return _dumps({
            "initialLimits": [INITIAL_LIMITS],
            "remainingLimits": limits,
            "recentDownloadCounts": [
                {"countType": "username", "username": session.username,
                 "downloadCounts": per_status},
                {"countType": "ip", "ipAddress": ip, "downloadCounts": per_status},
            ],
        })  # fmt: skip

    # -- the API route -----------------------------------------------------------------------------
    def browse_base(request: Request) -> bytes | None:
        if not landsatlook_url:
            return None
        base = base_url(request) if landsatlook_url == "self" else landsatlook_url.rstrip("/")
        return base.encode()

    async def api(request: Request) -> Response:
        version = request.path_params["version"]
        endpoint = request.path_params["endpoint"].strip("/")
        entry = request.scope.get("state", {}).get("m2m_entry")
        raw = await request.body()
        body: Any = None
        parse_error = None
        if raw.strip():
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                parse_error = M2MError("INPUT_FORMAT", "Invalid JSON in request body")
        body = body if body is not None else {}
        if entry is not None:
            entry.update(endpoint=endpoint, body=_redacted(body), errorCode=None, user=None)
        with state.lock:
            state.by_endpoint[endpoint] += 1
        rid = state.next_request_id()
        key = request.headers.get("x-auth-token")
        session_id: int | None = None

        def fail(exc: M2MError, headers: Mapping[str, str] | None = None) -> Response:
            with state.lock:
                state.errors[exc.code] += 1
            if entry is not None:
                entry["errorCode"] = exc.code
            return _json(_error_body(exc, rid, session_id), exc.status, headers)

        fault = state.faults.take(endpoint=endpoint)
        if fault is not None:
            await fault.pause()
            headers = fault.retry_after_header()
            if fault.body is not None:  # a crafted (malformed) answer, sent as it is
                return Response(
                    fault.body, fault.status or 200, headers=headers, media_type="application/json"
                )
            if fault.error_code:
                message = fault.message or _FAULT_MESSAGES.get(fault.error_code, "Error")
                return fail(M2MError(fault.error_code, message, fault.status or 500), headers)
            if fault.status:
                text = _STATUS_TEXT.get(fault.status, "Error")
                page = (f"<html><head><title>{fault.status} {text}</title></head><body>"
                        f"<h1>{text}</h1></body></html>")  # fmt: skip
                return Response(page, fault.status, headers=headers, media_type="text/html")
        try:
            if version != VERSION:
                raise M2MError("VERSION_UNKNOWN", "Unknown version used")
            if parse_error is not None:
                raise parse_error
            if not isinstance(body, dict):
                raise M2MError("INPUT_FORMAT", "The request body must be a JSON object")
            if endpoint == "login-token":
                if request.method != "POST":
                    raise M2MError("INPUT_PARAMETER_INVALID", "login-token requires POST")
                data, session_id = login(body, key)
                if entry is not None:
                    entry["user"] = body.get("username")
                return _json(_envelope(rid, session_id, data))
            handler = HANDLERS.get(endpoint)
            if handler is None:
                raise M2MError("NOT_FOUND", f"Endpoint not found: {endpoint}", status=404)
            session = session_for(key)
            session_id = session.session_id
            if entry is not None:
                entry["user"] = session.username
            data = handler(request, body, session, rid)
            base = browse_base(request)
            if base is not None and endpoint in (
                "scene-search",
                "scene-metadata",
                "scene-metadata-list",
            ):
                data = data.replace(SceneRenderer.LANDSATLOOK.encode(), base)
            return _json(_envelope(rid, session_id, data))
        except M2MError as exc:
            return fail(exc)

    def scene_list(action: str) -> Callable[[Request, dict, _Session, int], bytes]:
        """A scene-list endpoint: the lists are the user's, under the state's lock."""

        def handle(request: Request, body: dict, session: _Session, rid: int) -> bytes:
            with state.lock:
                if action == "add":
                    return _dumps(scene_lists.add(body, session.username))
                if action == "get":
                    return _dumps(scene_lists.get(body, session.username))
                if action == "remove":
                    scene_lists.remove(body, session.username)
                    return b"null"
                return scene_lists.metadata(body, session.username)

        return handle

    def logout(request: Request, body: dict, session: _Session, rid: int) -> bytes:
        with state.lock:
            state.sessions.pop(session.key, None)
        return b"null"

    HANDLERS: dict[str, Callable[[Request, dict, _Session, int], bytes]] = {
        "logout": logout,
        "dataset-search": lambda r, b, s, i: emulator.dataset_search(b),
        "dataset": lambda r, b, s, i: (
            emulator.dataset(b.get("datasetName") or b.get("datasetId")).raw
        ),
        "dataset-filters": lambda r, b, s, i: emulator.dataset_filters(b),
        "dataset-download-options": lambda r, b, s, i: emulator.dataset_download_options(b),
        "scene-search": lambda r, b, s, i: emulator.scene_search(b),
        "scene-metadata": lambda r, b, s, i: emulator.scene_metadata(b),
        "scene-list-add": scene_list("add"),
        "scene-list-get": scene_list("get"),
        "scene-list-remove": scene_list("remove"),
        "scene-metadata-list": scene_list("metadata"),
        "download-options": lambda r, b, s, i: emulator.download_options(b),
        "download-request": download_request,
        "download-retrieve": lambda r, b, s, i: download_retrieve(r, b, s),
        "download-search": lambda r, b, s, i: download_search(r, b, s),
        "download-remove": lambda r, b, s, i: download_remove(b, s),
        "download-order-remove": lambda r, b, s, i: download_order_remove(b, s),
        "permissions": lambda r, b, s, i: b'["download","order"]',
        "rate-limit-summary": lambda r, b, s, i: rate_limit_summary(r, s),
    }

    # -- files -------------------------------------------------------------------------------------
    async def download(request: Request) -> Response:
        fault = state.faults.take(endpoint="download")
        if fault is not None:
            await fault.pause()
            if fault.status:
                return _dds_error(request, fault.status, "ServiceUnavailable", "Try again", {})
        token = request.path_params["token"]
        with state.lock:
            found = state.tokens.get(token)
            d = state.downloads.get(found[0]) if found else None
        if found is None or d is None or d.status == "removed":
            return _dds_error(request, 404, "NotFound", "The requested download was not found", {})
        if now() - found[1] > url_lifespan:
            return _dds_error(request, 403, "AccessDenied", "Request has expired", {})
        info = source.stat(d.product.path)
        if info is None:
            return _dds_error(request, 404, "NotFound", "The requested file was not found", {})
        extra = {"Content-Disposition": f'attachment; filename="{d.product.filename}"'}
        response = file_response(request, source, d.product.path, info, _dds_error, extra)
        if request.method == "GET" and response.status_code in (200, 206):
            d.downloaded = True
            recorder.count("downloads")
        return response

    async def staging(request: Request) -> Response:
        with state.lock:
            d = state.downloads.get(state.staging.get(request.path_params["token"], -1))
        if d is None or d.status == "removed":
            return _dds_error(request, 404, "NotFound", "The requested download was not found", {})
        if d.status == "available":
            return RedirectResponse(current_url(request, d), status_code=302)
        return Response(
            "Your download is being prepared. Please try again later.\n",
            202,
            headers={"Retry-After": "30"},
            media_type="text/plain",
        )

    async def gen_browse(request: Request) -> Response:
        q = request.query_params
        name = re.sub(r"[^\w.-]", "_", f"{q.get('product_id', 'x')}_{q.get('type', 'refl')}")
        path = f"m2m/browse/{q.get('size', 'thumb')}/{name}.jpg"
        info = emulator.files.stat(path)
        if info is None:
            return _dds_error(request, 404, "NotFound", "No browse", {})
        return file_response(request, emulator.files, path, info, _dds_error)

    # -- sandbox controls --------------------------------------------------------------------------
    async def requests_log(request: Request) -> Response:
        if request.method == "DELETE":
            recorder.clear_log()
        endpoint = request.query_params.get("endpoint")
        entries = [
            e
            for e in recorder.snapshot(request.query_params.get("path"))
            if endpoint is None or e.get("endpoint") == endpoint
        ]
        return Response(_dumps(entries), media_type="application/json")

    async def stats(request: Request) -> Response:
        with state.lock:
            t = now()
            extra = {
                "requests_by_endpoint": dict(state.by_endpoint),
                "errors_by_code": dict(state.errors),
                "active_keys": sum(
                    1 for s in state.sessions.values() if t - s.last_used <= key_idle_ttl
                ),
                "downloads_queued": sum(
                    1 for d in state.downloads.values() if d.status != "removed"
                ),
            }
        return JSONResponse({**recorder.stats(), **extra})

    async def reset(request: Request) -> Response:
        recorder.reset()
        with state.lock:
            state.reset()
            scene_lists.clear()
        return JSONResponse({"reset": True})

    async def orders_ready(request: Request) -> Response:
        with state.lock:
            waiting = [d for d in state.downloads.values() if d.status == "preparing"]
            for d in waiting:
                d.status = "available"
        return JSONResponse({"ready": len(waiting)})

    clock_routes = [r for r in recorder.routes() if r.path == "/_sandbox/clock"]
    routes = [
        *clock_routes,
        Route("/_sandbox/requests", requests_log, methods=["GET", "DELETE"]),
        Route("/_sandbox/stats", stats),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/faults", state.faults.endpoint, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/orders/ready", orders_ready, methods=["POST"]),
        Route(API_ROOT + "/{version}/{endpoint:path}", api, methods=["GET", "POST"]),
        Route("/download/{token:path}", download, methods=["GET", "HEAD"]),
        Route("/download-staging/{token:path}", staging, methods=["GET", "HEAD"]),
        Route("/gen-browse", gen_browse, methods=["GET", "HEAD"]),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(_TagEntries, recorder=recorder)
    app.add_middleware(RecordingMiddleware, recorder=recorder)
    app.state.m2m = emulator
    app.state.sandbox = state
    app.state.recorder = recorder
    app.state.clock = sandbox_clock
    return app
