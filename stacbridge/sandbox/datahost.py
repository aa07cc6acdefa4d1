"""Data hosts behind Earthdata Login, the S3 they redirect to, and a plain foreign host.

`create_protected_host_app` behaves like NASA's Thin Egress App / Cumulus distribution
(`https://data.lpdaac.earthdatacloud.nasa.gov/<bucket>/<key>`):

- `GET|HEAD /<bucket>/<key>` without credentials → `302` to
  `{edl}/oauth/authorize?client_id=..&redirect_uri={self}/login&response_type=code&state=/<path>`.
- `GET /login?code&state` → exchanges the code at `{edl}/oauth/token` (HTTP, client Basic auth),
  reads the profile at `{edl}/api/users/<uid>`, sets the session cookie
  `accessToken=<opaque>; HttpOnly; Path=/` and `302`s back to `state`.
- with a live session cookie, or `Authorization: Bearer <EDL token>` (checked on every request at
  `{edl}/oauth/tokens/user`, as TEA does):
  `mode="redirect"` → `307` to a pre-signed URL `{s3}/<bucket>/<key>?A-userid=..&X-Amz-Algorithm=
  AWS4-HMAC-SHA256&X-Amz-Credential=..&X-Amz-Date=..&X-Amz-Expires=3600&..&X-Amz-Signature=..`
  signed for the request's method (a GET URL does not work for HEAD, as on S3);
  `mode="stream"` → the bytes themselves (Range, ETag, Last-Modified, conditionals), like an
  on-premises DAAC.
- an invalid or expired bearer token → `401` (HTML for browsers, else JSON); an expired session
  cookie → the login redirect again; a missing file → `404`.

`create_s3_app` checks the pre-signed query (`403 SignatureDoesNotMatch`, `403 AccessDenied`
"Request has expired", unsigned → `403 AccessDenied`) and serves objects like S3: single `Range`
(`bytes=a-b`, `a-`, `-n`; several ranges → the whole object; unsatisfiable → `416` with
`Content-Range: bytes */size`), `Accept-Ranges`, quoted `ETag`, `Last-Modified`, `If-None-Match`
/ `If-Modified-Since` → `304`, `If-Match` / `If-Unmodified-Since` → `412`, `If-Range`.
`create_plain_host_app` serves the same way with no authentication at all: a foreign host whose
log shows whether credentials leaked to it.

Every app has the `/_sandbox/requests|stats|clock|reset` endpoints described in `edl.py`
(`_kit.sandbox_app`).
`EarthdataSandbox` starts EDL, S3, a redirecting host, a streaming host and a plain host on
loopback, sharing one clock and one `FileSource`.

Guesses (no recording; kept here so they stay visible): the session cookie's name and
attributes, the 401 bodies (HTML for browsers, JSON otherwise), the 307 (not 302/303) to S3, the
pre-signed query's `A-userid` and its one-hour expiry, S3's XML error wording, serving several
ranges as the whole object; the files themselves are `files.py`'s deterministic stand-ins (an
HLS granule file is a full 3660 x 3660 tile so that it agrees with its granule's metadata; the
pixel values are invented).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from html import escape
from typing import Any, Literal
from urllib.parse import quote

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from ._kit import Recorder, SandboxClock, as_clock, sandbox_app
from .edl import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    EarthdataLogin,
    bearer_token,
    create_edl_app,
    with_query,
)
from .files import FileInfo, FileSource, default_files
from .server import ServerThread

DEFAULT_SIGNING_KEY = "sandbox-s3-signing-key"
ACCESS_KEY_ID = "ASIASANDBOXKEY000000"
REGION = "us-west-2"
SESSION_COOKIE = "accessToken"
MAX_PRESIGN_EXPIRES = 604_800  # S3: a pre-signed URL lives at most a week

ErrorRenderer = Callable[[Request, int, str, str, Mapping[str, str]], Response]


# --- pre-signed URLs ----------------------------------------------------------------------------


def _amz_date(ts: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(int(ts)))


def _quote(value: str, safe: str = "-_.~") -> str:
    return quote(value, safe=safe)


def _signature(signing_key: str, method: str, path: str, params: Mapping[str, str]) -> str:
    canonical_query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(params.items()))
    canonical_request = "\n".join(
        [method, _quote(path, "/-_.~"), canonical_query, "host", "UNSIGNED-PAYLOAD"]
    )
    scope = params.get("X-Amz-Credential", "").partition("/")[2]
    string_to_sign = "\n".join(
        [
            params.get("X-Amz-Algorithm", ""),
            params.get("X-Amz-Date", ""),
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    return hmac.new(signing_key.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


def presign_url(
    s3_url: str,
    key: str,
    *,
    signing_key: str = DEFAULT_SIGNING_KEY,
    now: float,
    expires: int = 3600,
    method: str = "GET",
    user_id: str | None = None,
) -> str:
    """A SigV4-shaped pre-signed URL for `{s3_url}/{key}` (key = `<bucket>/<object key>`)."""
    path = "/" + key.lstrip("/")
    amz_date = _amz_date(now)
    params = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{ACCESS_KEY_ID}/{amz_date[:8]}/{REGION}/s3/aws4_request",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(int(expires)),
        "X-Amz-Security-Token": "FwoGZXIvYXdzEsandbox" + hashlib.sha1(path.encode()).hexdigest(),
        "X-Amz-SignedHeaders": "host",
    }
    if user_id is not None:
        params["A-userid"] = user_id  # TEA adds the EDL user to the signed URL, for metrics
    params["X-Amz-Signature"] = _signature(signing_key, method.upper(), path, params)
    query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in params.items())
    return f"{s3_url.rstrip('/')}{_quote(path, '/-_.~')}?{query}"


@dataclass(frozen=True)
class PresignError:
    status: int
    code: str
    message: str
    extra: Mapping[str, str]


def check_presigned(
    method: str, path: str, params: Mapping[str, str], signing_key: str, now: float
) -> PresignError | None:
    """None when the pre-signed query is valid now, else the error S3 would answer."""
    if "X-Amz-Signature" not in params or "X-Amz-Algorithm" not in params:
        return PresignError(403, "AccessDenied", "Access Denied", {})
    try:
        signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires = int(params["X-Amz-Expires"])
    except (KeyError, ValueError):
        return PresignError(
            400,
            "AuthorizationQueryParametersError",
            "X-Amz-Date and X-Amz-Expires must be present and valid",
            {},
        )
    if not 0 < expires <= MAX_PRESIGN_EXPIRES:
        return PresignError(
            400,
            "AuthorizationQueryParametersError",
            "X-Amz-Expires must be less than a week (in seconds) that is; 604800",
            {},
        )
    unsigned = {k: v for k, v in params.items() if k != "X-Amz-Signature"}
    expected = _signature(signing_key, method.upper(), path, unsigned)
    if not hmac.compare_digest(expected, params["X-Amz-Signature"]):
        return PresignError(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            {"AWSAccessKeyId": ACCESS_KEY_ID},
        )
    expiry = signed_at.timestamp() + expires
    if now > expiry:
        return PresignError(
            403,
            "AccessDenied",
            "Request has expired",
            {
                "X-Amz-Expires": str(expires),
                "Expires": _iso(expiry),
                "ServerTime": _iso(now),
            },
        )
    return None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- serving a file like S3 ---------------------------------------------------------------------


class _Unsatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """`(start, end_exclusive)` of a single byte range, None to serve the whole file.

    Raises `_Unsatisfiable` for a range outside the file. Malformed or multiple ranges are
    ignored (whole file), as S3 does.
    """
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, sep, last = header[6:].strip().partition("-")
    if not sep:
        return None
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0 or size == 0:
                raise _Unsatisfiable
            return max(0, size - suffix), size
        start = int(first)
        end = int(last) + 1 if last else None
    except ValueError:
        return None
    if start < 0 or (end is not None and end <= start):
        return None
    if start >= size:
        raise _Unsatisfiable
    end = size if end is None else end
    return start, min(end, size)


def http_date(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC), usegmt=True)


def _parse_http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _etag_matches(header: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


_PRECONDITION = "At least one of the pre-conditions you specified did not hold"


def file_response(
    request: Request,
    files: FileSource,
    path: str,
    info: FileInfo,
    error: ErrorRenderer,
    extra_headers: Mapping[str, str] | None = None,
) -> Response:
    """GET/HEAD of one file with S3's Range and conditional-request semantics, streamed."""
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": info.etag,
        "Last-Modified": http_date(info.last_modified),
        **(extra_headers or {}),
    }
    req = request.headers
    if_match, if_none_match = req.get("if-match"), req.get("if-none-match")
    if if_match is not None and not _etag_matches(if_match, info.etag):
        return error(request, 412, "PreconditionFailed", _PRECONDITION, headers)
    unmodified_since = _parse_http_date(req.get("if-unmodified-since"))
    if if_match is None and unmodified_since and info.last_modified > unmodified_since:
        return error(request, 412, "PreconditionFailed", _PRECONDITION, headers)
    modified_since = _parse_http_date(req.get("if-modified-since"))
    if (if_none_match is not None and _etag_matches(if_none_match, info.etag)) or (
        if_none_match is None and modified_since and info.last_modified <= modified_since
    ):
        return Response(status_code=304, headers=headers)

    range_header = req.get("range")
    if_range = req.get("if-range")
    if range_header and if_range:
        validator = _parse_http_date(if_range)
        fresh = info.last_modified <= validator if validator else if_range.strip() == info.etag
        range_header = range_header if fresh else None
    try:
        byte_range = parse_range(range_header, info.size)
    except _Unsatisfiable:
        headers["Content-Range"] = f"bytes */{info.size}"
        message = "The requested range is not satisfiable"
        return error(request, 416, "InvalidRange", message, headers)
    headers["Content-Type"] = info.content_type
    status, (start, end) = 200, (0, info.size)
    if byte_range is not None:
        status, (start, end) = 206, byte_range
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{info.size}"
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)
    return StreamingResponse(files.read(path, start, end), status_code=status, headers=headers)


# --- S3 -----------------------------------------------------------------------------------------


def _s3_error(
    request: Request, status: int, code: str, message: str, headers: Mapping[str, str]
) -> Response:
    request_id = secrets.token_hex(8).upper()
    base = {"x-amz-request-id": request_id}
    keep = {k: v for k, v in headers.items() if k in ("Content-Range",)}
    if request.method == "HEAD":
        return Response(status_code=status, headers={**base, **keep})
    extra = "".join(
        f"<{k}>{escape(v)}</{k}>" for k, v in getattr(request.state, "s3_extra", {}).items()
    )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>{extra}"
        f"<RequestId>{request_id}</RequestId><HostId>{secrets.token_urlsafe(48)}</HostId></Error>"
    )
    return Response(body, status, headers={**base, **keep}, media_type="application/xml")


def create_s3_app(
    files: FileSource,
    *,
    signing_key: str = DEFAULT_SIGNING_KEY,
    clock: Callable[[], float] | None = time.time,
) -> Starlette:
    """S3 path-style: `GET|HEAD /<bucket>/<key>?<pre-signed query>`; the file path is the
    whole `<bucket>/<key>`. `app.state.recorder` holds the log."""
    clock = as_clock(clock)
    recorder = Recorder(clock)

    async def get_object(request: Request) -> Response:
        path = request.path_params["key"]
        params = dict(request.query_params)
        problem = check_presigned(request.method, "/" + path, params, signing_key, clock())
        if problem is not None:
            request.state.s3_extra = problem.extra
            return _s3_error(request, problem.status, problem.code, problem.message, {})
        info = files.stat(path)
        if info is None:
            request.state.s3_extra = {"Key": path.partition("/")[2]}
            return _s3_error(request, 404, "NoSuchKey", "The specified key does not exist.", {})
        overrides = {
            "Content-Disposition": params.get("response-content-disposition"),
            "Cache-Control": params.get("response-cache-control"),
        }
        extra = {k: v for k, v in overrides.items() if v}
        extra["x-amz-request-id"] = secrets.token_hex(8).upper()
        response = file_response(request, files, path, info, _s3_error, extra)
        if "response-content-type" in params:
            response.headers["Content-Type"] = params["response-content-type"]
        return response

    return sandbox_app([Route("/{key:path}", get_object, methods=["GET", "HEAD"])], recorder)


# --- plain (foreign) host -----------------------------------------------------------------------


def _html_error(
    request: Request, status: int, code: str, message: str, headers: Mapping[str, str]
) -> Response:
    keep = {k: v for k, v in headers.items() if k in ("Content-Range",)}
    if request.method == "HEAD":
        return Response(status_code=status, headers=keep)
    page = (
        f"<!DOCTYPE html><html><head><title>{escape(message)}</title></head>"
        f"<body><h2>{escape(message)}</h2><p>{escape(code)}</p></body></html>"
    )
    return HTMLResponse(page, status, headers=keep)


def create_plain_host_app(
    files: FileSource, *, clock: Callable[[], float] | None = time.time
) -> Starlette:
    """Any path, no authentication: a host outside every allow-list. Its log keeps the request
    headers, so a test can assert that no `Authorization` or cookie reached it."""
    recorder = Recorder(as_clock(clock))

    async def get_file(request: Request) -> Response:
        path = request.path_params["path"]
        info = files.stat(path)
        if info is None:
            return _html_error(request, 404, "NotFound", "File not found", {})
        return file_response(request, files, path, info, _html_error)

    return sandbox_app([Route("/{path:path}", get_file, methods=["GET", "HEAD"])], recorder)


# --- the EDL-protected host ---------------------------------------------------------------------


@dataclass
class _Session:
    uid: str
    access_token: str
    expires_at: float


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def create_protected_host_app(
    edl_url: str,
    s3_url: str,
    files: FileSource,
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    clock: Callable[[], float] | None = time.time,
    mode: Literal["redirect", "stream"] = "redirect",
    signing_key: str = DEFAULT_SIGNING_KEY,
    url_lifespan: int = 3600,
    public_url: str | None = None,
    register: bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """A TEA-like EDL-protected distribution host (see the module docstring).

    `public_url`: this host's own base URL (default: from each request's Host). `register`:
    register `{self}/login` as a redirect URI of `client_id` at the EDL emulator
    (`POST {edl}/_sandbox/clients`) before the first login redirect. `transport`: for the httpx
    client that talks to EDL. `app.state.sessions` maps cookie values to sessions.
    """
    if mode not in ("redirect", "stream"):
        raise ValueError(f"mode must be 'redirect' or 'stream', not {mode!r}")
    clock = as_clock(clock)
    recorder = Recorder(clock)
    edl_url = edl_url.rstrip("/")
    sessions: dict[str, _Session] = {}
    registered: set[str] = set()
    state: dict[str, httpx.AsyncClient] = {}
    register_lock = asyncio.Lock()

    def http() -> httpx.AsyncClient:
        if "client" not in state:
            state["client"] = httpx.AsyncClient(transport=transport, timeout=30.0)
        return state["client"]

    def self_url(request: Request) -> str:
        return (public_url or str(request.base_url)).rstrip("/")

    async def login_redirect(request: Request) -> Response:
        redirect_uri = self_url(request) + "/login"
        if register and redirect_uri not in registered:
            async with register_lock:
                if redirect_uri not in registered:
                    await http().post(
                        f"{edl_url}/_sandbox/clients",
                        json={
                            "client_id": client_id,
                            "client_secret": client_secret,
                            "redirect_uris": [redirect_uri],
                        },
                    )
                    registered.add(redirect_uri)
        target = with_query(
            f"{edl_url}/oauth/authorize",
            {
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "state": request.url.path,
            },
        )
        return RedirectResponse(target, status_code=302)

    def denied(request: Request, status: int, error: str, description: str) -> Response:
        if _wants_html(request):
            return _html_error(request, status, error, description, {})
        return JSONResponse({"error": error, "error_description": description}, status)

    async def login(request: Request) -> Response:
        params = request.query_params
        if "error" in params or "code" not in params:
            message = params.get("error_description") or params.get("error") or "No code"
            return _html_error(request, 401, "Could not log in", message, {})
        response = await http().post(
            f"{edl_url}/oauth/token",
            auth=(client_id, client_secret),
            data={
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": self_url(request) + "/login",
            },
        )
        if response.status_code != 200:
            return _html_error(request, 401, "Could not log in", response.text, {})
        grant = response.json()
        profile = await http().get(
            edl_url + grant["endpoint"],
            headers={"Authorization": f"Bearer {grant['access_token']}"},
        )
        if profile.status_code != 200:
            return _html_error(request, 401, "Could not log in", profile.text, {})
        sid = secrets.token_urlsafe(32)
        sessions[sid] = _Session(
            profile.json()["uid"], grant["access_token"], clock() + float(grant["expires_in"])
        )
        back = params.get("state", "/")
        if not back.startswith("/") or back.startswith("//"):
            back = "/"
        redirect = RedirectResponse(back, status_code=302)
        redirect.set_cookie(SESSION_COOKIE, sid, httponly=True, path="/")
        return redirect

    async def check_bearer(token: str) -> tuple[str | None, str, str]:
        """(uid, "", "") for a live EDL token, else (None, error, description) from EDL."""
        response = await http().post(
            f"{edl_url}/oauth/tokens/user",
            auth=(client_id, client_secret),
            data={"token": token, "client_id": client_id},
        )
        if response.status_code == 200:
            return response.json()["uid"], "", ""
        try:
            body = response.json()
        except ValueError:
            body = {}
        return (
            None,
            body.get("error", "invalid_token"),
            body.get("error_description", "Invalid token"),
        )

    async def get_file(request: Request) -> Response:
        path = request.path_params["path"]
        session = sessions.get(request.cookies.get(SESSION_COOKIE, ""))
        if session is not None and clock() < session.expires_at:
            uid = session.uid
        else:
            token = bearer_token(request.headers.get("authorization"))
            if token is None:
                return await login_redirect(request)
            # Checked at EDL on every request; unlike TEA no cookie is set in return, so a
            # client that keeps cookies still sees its token expire.
            found, error, description = await check_bearer(token)
            if found is None:
                return denied(request, 401, error, description)
            uid = found
        info = files.stat(path)
        if info is None:
            return _html_error(request, 404, "NotFound", "File not found", {})
        if mode == "stream":
            return file_response(request, files, path, info, _html_error)
        url = presign_url(
            s3_url,
            path,
            signing_key=signing_key,
            now=clock(),
            expires=url_lifespan,
            method=request.method,
            user_id=uid,
        )
        return RedirectResponse(url, status_code=307)

    async def root(request: Request) -> Response:
        return HTMLResponse("<html><body><h2>Welcome to the sandbox data host</h2></body></html>")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if "client" in state:
            await state.pop("client").aclose()

    routes = [
        Route("/", root),
        Route("/login", login),
        Route("/{path:path}", get_file, methods=["GET", "HEAD"]),
    ]
    app = sandbox_app(routes, recorder, lifespan=lifespan)
    app.state.sessions = sessions
    return app


# --- everything together ------------------------------------------------------------------------


def loopback_host(n: int) -> str:
    """`127.0.0.<n>` when this system routes it (Linux: all of 127/8), else `127.0.0.1`.

    Cookies ignore ports, so hosts sharing one address would see each other's cookies (a
    client's EDL session cookie sent to S3); distinct addresses keep them apart as real domains do.
    """
    host = f"127.0.0.{n}"
    try:
        with socket.socket() as sock:
            sock.bind((host, 0))
    except OSError:
        return "127.0.0.1"
    return host


class EarthdataSandbox:
    """EDL, S3, a redirecting (TEA-like) host, a streaming (on-prem) host and a plain host, each a
    real HTTP server on its own loopback address, sharing one `SandboxClock` and one `FileSource`.

        with EarthdataSandbox({"alice": "secret"}) as sb:
            sb.host.url, sb.onprem.url, sb.s3.url, sb.edl.url, sb.plain.url
            sb.login   # the EarthdataLogin state; sb.clock.advance(3601)
    """

    def __init__(
        self,
        users: Mapping[str, str] | None = None,
        *,
        files: FileSource | None = None,
        clock: Callable[[], float] | None = None,
        token_ttl: float = 3600.0,
        signing_key: str = DEFAULT_SIGNING_KEY,
        url_lifespan: int = 3600,
    ) -> None:
        self.clock: SandboxClock = as_clock(clock)
        self.files = files if files is not None else default_files()
        edl_app = create_edl_app(
            users if users is not None else {"sandbox": "sandbox-password"},
            clock=self.clock,
            token_ttl=token_ttl,
        )
        self.login: EarthdataLogin = edl_app.state.edl
        self.edl = ServerThread(edl_app, host=loopback_host(1))
        s3_app = create_s3_app(self.files, signing_key=signing_key, clock=self.clock)
        self.s3 = ServerThread(s3_app, host=loopback_host(2))
        common: dict[str, Any] = {
            "clock": self.clock,
            "signing_key": signing_key,
            "url_lifespan": url_lifespan,
        }
        host_app = create_protected_host_app(self.edl.url, self.s3.url, self.files, **common)
        self.host = ServerThread(host_app, host=loopback_host(3))
        onprem_app = create_protected_host_app(
            self.edl.url, self.s3.url, self.files, mode="stream", **common
        )
        self.onprem = ServerThread(onprem_app, host=loopback_host(4))
        plain_app = create_plain_host_app(self.files, clock=self.clock)
        self.plain = ServerThread(plain_app, host=loopback_host(5))
        self._servers = [self.edl, self.s3, self.host, self.onprem, self.plain]

    def start(self) -> EarthdataSandbox:
        for server in self._servers:
            server.start()
        return self

    def stop(self) -> None:
        # uvicorn notices `should_exit` within a tick; stopping all at once saves the ticks.
        with ThreadPoolExecutor(len(self._servers)) as pool:
            list(pool.map(ServerThread.stop, self._servers))

    def __enter__(self) -> EarthdataSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
