"""The operator endpoints and the middleware, attached to the app in one call from `app.py`.

`install(app, registry)` adds `/metrics`, `/readyz`, an offline `/api.html` (Swagger UI's own
files served from the `swagger-ui-bundle` package instead of a CDN, so the page works on a
machine without internet, and without the OAuth2 redirect page no route serves) and the
`ObservabilityMiddleware`.  Kept out of `create_app` so the factory stays about the STAC API.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles

from stacbridge.observability.metrics import exposition
from stacbridge.observability.middleware import ObservabilityMiddleware
from stacbridge.observability.readiness import Readiness

SWAGGER_STATIC = "/_static/swagger-ui"


def install(
    app: FastAPI, registry: Any, *, docs_url: str = "/api.html", openapi_url: str = "/api"
) -> None:
    readiness = Readiness(registry)
    app.state.readiness = readiness

    @app.get("/metrics", tags=["Operations"], summary="Prometheus metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        body, content_type = exposition()
        return Response(body, media_type=content_type)

    @app.get("/readyz", tags=["Operations"], summary="Readiness: every provider answers")
    async def readyz() -> JSONResponse:
        ready, providers = await readiness.check()
        failing = sorted(name for name, state in providers.items() if state != "ok")
        body: dict[str, Any] = {"status": "ready" if ready else "unready", "providers": providers}
        if failing:
            body["failing"] = failing
        return JSONResponse(body, status_code=200 if ready else 503)

    try:
        import swagger_ui_bundle

        app.mount(
            SWAGGER_STATIC,
            StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
            name="swagger-ui",
        )
        static = SWAGGER_STATIC
    except ImportError:  # pragma: no cover - a declared dependency; the page then needs a CDN
        static = None

    @app.get(docs_url, include_in_schema=False)
    async def api_html(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        assets = f"{root}{static}" if static else "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - API",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon-32x32.png",
            oauth2_redirect_url=None,
        )

    app.add_middleware(ObservabilityMiddleware)
