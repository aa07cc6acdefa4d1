"""Client-facing errors and the handlers that turn every failure into STAC-style JSON.

STAC API errors are `{"code": ..., "description": ...}`.  Bad input is the client's fault (4xx,
saying what is wrong); upstream faults are 502/503/504 naming the provider.  Nothing answers a
bare 500: an unexpected exception is logged and reported as a 500 JSON body without internals.
Upstream text quoted in a provider error goes through `scrub()` first: no credentials relayed.
"""

from __future__ import annotations

import logging
import re

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from stacbridge.api.openapi import allowed_methods
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
    """A STAC error body, always JSON and never sniffed as anything else (it may quote text
    that came from upstream, such as an HTML page with a script in it)."""
    body = {"code": code, "description": description, **extra}
    response = Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# --- upstream text, quoted without its secrets ------------------------------------------------

REDACTED = "[redacted]"

#: the longest upstream text quoted to a client; the rest is cut (an HTML error page, a dump).
MAX_QUOTED = 500

#: a value that names a credential: api keys, tokens, secrets, passwords, signatures (AWS
#: `X-Amz-Signature`, `X-Amz-Credential`, `X-Amz-Security-Token`, `AWSAccessKeyId`), sessions,
#: `Authorization`/`Cookie` headers; as `key=value`, `key: value` or JSON `"key": "value"`.
_CREDENTIAL = re.compile(
    r"""(?ix)
    (?P<key>\b[\w.-]*(?:api[_-]?key|access[_-]?key(?:[_-]?id)?|token|secret|passw(?:or)?d
        |signature|credential|session(?:[_-]?id)?)[\w.-]*
      |\bsig|\bauthorization|\bset-cookie|\bcookie)
    (?P<kq>["']?)(?P<sep>\s*[=:]\s*)(?P<q>["']?)
    (?P<value>(?:(?:bearer|basic|token)\s+)?[^\s&"',;<>]+)
    """
)
#: a bare `Bearer <token>` / `Basic <credentials>` wherever it appears.
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
#: a URL's query string (pre-signed URLs carry their signature there).
_URL_QUERY = re.compile(r"(?i)\b(https?://[^\s?#\"'<>]+)\?[^\s#\"'<>]+")
#: secret-looking blobs: JWTs, AWS access key ids, 32+ hex digits, and 32+ base64 characters
#: mixing upper case, lower case and digits (identifiers such as Landsat product ids or CMR
#: concept ids are upper case or short, and stay readable).
_JWT = re.compile(r"\beyJ[\w-]{6,}\.[\w-]{6,}\.[\w-]*")
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
_HEX = re.compile(r"\b[0-9a-fA-F]{32,}\b")
_BASE64 = re.compile(
    r"(?<![\w+/=-])(?=[\w+/=-]*[a-z])(?=[\w+/=-]*[A-Z])(?=[\w+/=-]*\d)"
    r"[\w+/-]{32,}={0,2}(?![\w+/=-])"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def scrub(text: str, limit: int = MAX_QUOTED) -> str:
    """Upstream text fit to quote to a client and to log: credential-looking values redacted.

    Upstreams echo what they were sent (an M2M error may repeat the `X-Auth-Token`; a data host's
    error page may print a pre-signed URL), and their text is relayed verbatim in error
    descriptions, so a secret in it would reach every client (issue 10 #14).  What stays is
    enough to see what went wrong.  Control characters go; the result is cut at `limit`.
    """
    text = _CONTROL.sub(" ", text)
    text = _URL_QUERY.sub(rf"\1?{REDACTED}", text)
    text = _CREDENTIAL.sub(lambda m: f"{m['key']}{m['kq']}{m['sep']}{m['q']}{REDACTED}", text)
    text = _AUTH_SCHEME.sub(rf"\1 {REDACTED}", text)
    for pattern in (_JWT, _AWS_KEY_ID, _HEX, _BASE64):
        text = pattern.sub(REDACTED, text)
    if len(text) > limit:
        text = text[:limit].rstrip() + " …"
    return text


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
        message = scrub(exc.message)
        log.warning("provider %s: %s (%s)", exc.provider, message, exc.status_code)
        return error_response(
            exc.status_code, code, f"{exc.provider}: {message}", headers, provider=exc.provider
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return error_response(400, "BadRequest", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {400: "BadRequest", 404: "NotFound", 405: "MethodNotAllowed"}.get(
            exc.status_code, "Error"
        )
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405 and hasattr(request.app, "openapi"):
            # every method the path serves, not just those of the first route Starlette tried
            methods = allowed_methods(request.app.openapi(), request.url.path)
            if methods:
                headers["Allow"] = ", ".join(methods)
        return error_response(exc.status_code, code, str(exc.detail), headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "InternalError", "internal error; see the gateway's logs")
