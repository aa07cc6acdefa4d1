"""The AppEEARS API emulator (`/api/...`), a Starlette app over `AppEEARSState`.

Routes, as the real service has them: `POST /login` (Basic) and `POST /logout`, the public
`GET /product`, `/product/{id}`, `/spatial/proj`, `/quality/...`, and with a bearer token
`GET|POST /task`, `GET /task/{id}`, `GET /status/{id}` (303 to the task once done),
`GET /bundle/{id}` and `GET|HEAD /bundle/{id}/{file_id}` (307 to a signed URL on the data
host).  A token past its expiration, or unknown, is a 403; no token at all a 401.
`POST /_sandbox/faults` injects failures (`path`, `status`, `delay`, `count`, `body`).
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from stacbridge.sandbox._kit import FaultQueue, Recorder, SandboxClock, sandbox_app
from stacbridge.sandbox.appeears import catalogue
from stacbridge.sandbox.appeears.state import AppEEARSState, Invalid, OutputFiles
from stacbridge.sandbox.datahost import DEFAULT_SIGNING_KEY, presign_url

Handler = Callable[[Request], Awaitable[Response]]

#: Flask's 403 text, which AppEEARS (a Flask app) is assumed to answer; not recorded.
FORBIDDEN = (
    "You don't have the permission to access the requested resource. It is either "
    "read-protected or not readable by the server."
)
OUTPUT_BUCKET = "appeears-output"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


def create_appeears_app(
    state: AppEEARSState,
    *,
    data_url: str,
    signing_key: str = DEFAULT_SIGNING_KEY,
    url_lifespan: int = 3600,
) -> Starlette:
    """The emulator; `data_url` is the S3-like host its signed bundle URLs point at."""
    recorder = Recorder(state.clock)
    faults = FaultQueue(
        ("count", "status", "delay", "retry_after", "path", "message", "body"),
        error_body=lambda m: {"message": m},
    )

    def route(path: str, handler: Handler, methods: list[str] | None = None) -> Route:
        async def guarded(request: Request) -> Response:
            fault = faults.take(request.url.path)
            if fault is not None:
                await fault.pause()
                if fault.body is not None:
                    return Response(fault.body, fault.status or 200, media_type="application/json")
                if fault.status:
                    return JSONResponse(
                        {"message": fault.message or "Internal Server Error"},
                        status_code=fault.status,
                        headers=fault.retry_after_header(),
                    )
            return await handler(request)

        return Route("/api" + path, guarded, methods=methods or ["GET"])

    def user_of(request: Request) -> str | Response:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return _error(401, "A bearer token is required: POST /login first.")
        user = state.user_of(header[7:].strip())
        return user if user is not None else _error(403, FORBIDDEN)

    async def login(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            user = password = ""
        body = state.login(user, password) if header.lower().startswith("basic ") else None
        if body is None:
            return _error(401, "The username and password provided are not valid.")
        return JSONResponse(body)

    async def logout(request: Request) -> Response:
        user = user_of(request)
        if isinstance(user, Response):
            return user
        state.tokens.pop(request.headers["authorization"][7:].strip(), None)
        return Response(status_code=204)

    async def products(request: Request) -> Response:
        return JSONResponse(catalogue.PRODUCTS)

    async def product(request: Request) -> Response:
        layers = catalogue.LAYERS.get(request.path_params["product"])
        if layers is None:
            return _error(404, f"Product '{request.path_params['product']}' was not found.")
        return JSONResponse(layers)

    async def projections(request: Request) -> Response:
        return JSONResponse(catalogue.projections())

    async def quality(request: Request) -> Response:
        parts = [p for p in request.path_params.get("rest", "").split("/") if p]
        names = {
            (): "nasa-2025_quality_limit6-offset20.json",
            ("MCD15A3H.061",): "nasa-2025_quality_MCD15A3H.061.json",
            ("MCD15A3H.061", "FparLai_QC"): "nasa-2025_quality_MCD15A3H.061_FparLai_QC.json",
            ("MCD15A3H.061", "FparLai_QC", "1"): "nasa-2025_quality_MCD15A3H.061_FparLai_QC_1.json",
        }
        name = names.get(tuple(parts))
        if name is None:
            return _error(404, "No quality information was recorded for this request.")
        return JSONResponse(catalogue.load(name))

    def task_of(request: Request, user: str) -> Any:
        task = state.tasks.get(request.path_params["task_id"])
        if task is None or task.user != user:
            return _error(404, f"Task '{request.path_params['task_id']}' was not found.")
        return task

    async def tasks(request: Request) -> Response:
        user = user_of(request)
        if isinstance(user, Response):
            return user
        if request.method == "POST":
            try:
                body = await request.json()
            except ValueError:
                return _error(400, "The request body is not valid JSON.")
            try:
                return JSONResponse(state.submit(body, user), status_code=202)
            except Invalid as exc:
                return _error(400, str(exc))
        try:
            limit = int(request.query_params.get("limit", 1000))
            offset = int(request.query_params.get("offset", 0))
        except ValueError:
            return _error(400, "limit and offset must be integers.")
        mine = sorted(
            (t for t in state.tasks.values() if t.user == user),
            key=lambda t: t.created,
            reverse=True,
        )
        return JSONResponse([state.view(t) for t in mine[offset : offset + limit]])

    async def task(request: Request) -> Response:
        user = user_of(request)
        if isinstance(user, Response):
            return user
        found = task_of(request, user)
        return found if isinstance(found, Response) else JSONResponse(state.view(found))

    async def status(request: Request) -> Response:
        user = user_of(request)
        if isinstance(user, Response):
            return user
        found = task_of(request, user)
        if isinstance(found, Response):
            return found
        if state.phase(found)[0] == "done":
            return RedirectResponse(f"/api/task/{found.task_id}", status_code=303)
        return JSONResponse(state.status(found))

    def done_task(request: Request) -> Any:
        user = user_of(request)
        if isinstance(user, Response):
            return user
        found = task_of(request, user)
        if isinstance(found, Response):
            return found
        if state.phase(found)[0] != "done":
            return _error(404, f"The bundle of task '{found.task_id}' is not ready.")
        return found

    async def bundle(request: Request) -> Response:
        found = done_task(request)
        if isinstance(found, Response):
            return found
        return JSONResponse(state.bundle_of(found, OUTPUT_BUCKET))

    async def bundle_file(request: Request) -> Response:
        found = done_task(request)
        if isinstance(found, Response):
            return found
        listing = state.bundle_of(found, OUTPUT_BUCKET)
        entry = next(
            (f for f in listing["files"] if f["file_id"] == request.path_params["file"]), None
        )
        if entry is None:
            return _error(404, f"File '{request.path_params['file']}' was not found.")
        key = f"{OUTPUT_BUCKET}/{found.task_id}/{entry['file_name']}"
        url = presign_url(
            data_url,
            key,
            signing_key=signing_key,
            now=state.clock(),
            expires=url_lifespan,
            method=request.method,
        )
        return RedirectResponse(url, status_code=307)

    async def fault_endpoint(request: Request) -> Response:
        return await faults.endpoint(request)

    routes = [
        Route("/_sandbox/faults", fault_endpoint, methods=["GET", "POST", "DELETE"]),
        route("/login", login, ["POST"]),
        route("/logout", logout, ["POST"]),
        route("/product", products),
        route("/product/{product}", product),
        route("/spatial/proj", projections),
        route("/quality", quality),
        route("/quality/{rest:path}", quality),
        route("/task", tasks, ["GET", "POST"]),
        route("/task/{task_id}", task),
        route("/status/{task_id}", status),
        route("/bundle/{task_id}", bundle),
        route("/bundle/{task_id}/{file}", bundle_file, ["GET", "HEAD"]),
    ]
    app = sandbox_app(routes, recorder)
    app.state.appeears = state
    app.state.faults = faults
    return app


def seed_recorded_tasks(state: AppEEARSState, user: str) -> None:
    """The recorded tasks, in their recorded states: the 2020 list (one area task processing,
    one point task pending) and the two 2025 tasks whose bundles were recorded (done).

    The 2025 task bodies were not recorded whole (SOURCES.md): their keys are the recorded
    ones, their `params` a guess from the bundle (products, layers, dates) without `geo`.
    """
    listed = catalogue.load("eriita-2020_task-list_limit2.json")
    statuses = {
        "2c6e29a3-262a-448a-9887-ae0f5722282b": "eriita-2020_status-get_processing.json",
        "18f9e5ca-06a3-4ef2-8e66-2149ddc44d44": "eriita-2020_status-get_pending.json",
    }
    for record in listed:
        state.seed(record, status=catalogue.load(statuses[record["task_id"]]), user=user)
    for bundle_name, name, kind, layers, dates in (
        (
            "nasa-2025_bundle_area.json",
            "NPS Vegetation Area",
            "area",
            [("MCD15A3H.061", "Lai_500m"), ("MOD11A2.061", "LST_Day_1km")],
            ("06-28-2017", "07-31-2017"),
        ),
        (
            "nasa-2025_bundle_point.json",
            "point-tutorial-test",
            "point",
            [("MCD15A3H.061", "Lai_500m"), ("MOD11A2.061", "LST_Day_1km")],
            ("01-01-2018", "12-31-2018"),
        ),
    ):
        bundle = catalogue.load(bundle_name)
        record = {
            "error": None,
            "params": {
                "dates": [{"endDate": dates[1], "startDate": dates[0]}],
                "layers": [{"layer": la, "product": p} for p, la in layers],
            },
            "status": "done",
            "created": bundle["created"],
            "task_id": bundle["task_id"],
            "updated": bundle["updated"],
            "user_id": "REDACTED",
            "task_name": name,
            "task_type": kind,
            "api_version": "v1",
            "svc_version": "3.86",
            "web_version": None,
            "expires_on": bundle["updated"].replace("2025-06", "2025-07", 1),
        }
        state.seed(record, bundle=bundle, user=user)


def new_state(users: dict[str, str], clock: SandboxClock) -> AppEEARSState:
    return AppEEARSState(clock=clock, users=dict(users), files=OutputFiles())
