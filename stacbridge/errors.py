"""Client-facing errors and the handlers that turn every failure into STAC-style JSON.

STAC API errors are `{"code": ..., "description": ...}`.  Bad input is the client's fault (4xx,
saying what is wrong); upstream faults are 502/503/504 naming the provider.  Nothing answers a
bare 500: an unexpected exception is logged and reported as a 500 JSON body without internals.
"""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from stacbridge.protocols import CollectionNotFound, ProviderError

log = logging.getLogger("stacbridge")


class StacError(Exception):
    """An error answered to the client with `status_code` and a STAC-style body."""

    status_code = 400
    code = "BadRequest"

    def __init__(self, description: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.headers = headers or {}


class BadRequest(StacError):
    status_code = 400
    code = "BadRequest"


class NotFound(StacError):
    status_code = 404
    code = "NotFound"


class Unauthorized(StacError):
    status_code = 401
    code = "Unauthorized"


class Forbidden(StacError):
    status_code = 403
    code = "Forbidden"


class Gone(StacError):
    status_code = 410
    code = "Gone"


def error_response(
    status: int, code: str, description: str, headers: dict[str, str] | None = None, **extra: object
) -> Response:
    body = {"code": code, "description": description, **extra}
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            parts.append("the request body is not valid JSON")
            continue
        if err.get("type") == "missing" and tuple(err.get("loc", ())) == ("body",):
            parts.append("the request body is missing: send a JSON object")
            continue
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query"))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts) or "invalid request"


def add_error_handlers(app: FastAPI) -> None:
    """Install handlers so that every error leaves as STAC-style JSON."""

    @app.exception_handler(StacError)
    async def _stac_error(request: Request, exc: StacError) -> Response:
        return error_response(exc.status_code, exc.code, exc.description, exc.headers)

    @app.exception_handler(CollectionNotFound)
    async def _collection_not_found(request: Request, exc: CollectionNotFound) -> Response:
        return error_response(404, "NotFound", f"collection {exc.collection_id!r} not found")

    @app.exception_handler(ProviderError)
    async def _provider_error(request: Request, exc: ProviderError) -> Response:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        code = {400: "UpstreamRejected", 503: "UpstreamUnavailable", 504: "UpstreamTimeout"}.get(
            exc.status_code, "UpstreamError"
        )
        log.warning("provider %s: %s (%s)", exc.provider, exc.message, exc.status_code)
        return error_response(
            exc.status_code, code, f"{exc.provider}: {exc.message}", headers, provider=exc.provider
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return error_response(400, "BadRequest", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {400: "BadRequest", 404: "NotFound", 405: "MethodNotAllowed"}.get(
            exc.status_code, "Error"
        )
        return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "InternalError", "internal error; see the gateway's logs")
