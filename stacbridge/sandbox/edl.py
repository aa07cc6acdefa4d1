"""Earthdata Login (URS) emulator: OAuth2 code flow, user tokens, token introspection.

The endpoints and answers follow https://urs.earthdata.nasa.gov as NASA's data hosts and clients
(TEA, earthaccess, curl with `.netrc`) see them:

- `GET /oauth/authorize?client_id&redirect_uri&response_type=code&state` — HTTP Basic user
  credentials, or the EDL session cookie from an earlier login → `302` to
  `redirect_uri?code=<one-time code>&state=<state>`. No credentials → `401` with
  `WWW-Authenticate: Basic realm="Please enter your Earthdata Login credentials..."` and an HTML
  login page (what makes `curl -n -L -c jar -b jar` work); wrong ones → `401`. Unknown `client_id`
  or a `redirect_uri` not registered for that client → `400`.
- `POST /oauth/token` (Basic `client_id:client_secret`; form `grant_type=authorization_code`,
  `code`, `redirect_uri`, or `grant_type=refresh_token`, `refresh_token`) →
  `{"access_token", "token_type": "Bearer", "expires_in", "refresh_token",
  "endpoint": "/api/users/<uid>"}`. A code is single-use and lives 10 minutes.
- `POST /oauth/tokens/user` (Basic client credentials; `token`, `client_id` as query or form) →
  `{"uid": ...}`, or `401` `{"error": "invalid_token" | "token_expired", ...}`. This is how the
  data hosts (TEA) check a bearer token; `EarthdataLogin.token_status` is the in-process twin.
- `GET /api/users/<uid>` with `Authorization: Bearer` → the user's profile.
- `POST /api/users/find_or_create_token`, `POST /api/users/token`, `GET /api/users/tokens`,
  `POST /api/users/revoke_token?token=` (Basic user credentials) → EDL user tokens: JWTs with
  `uid` and `exp`, answered as `{"access_token", "token_type": "Bearer",
  "expiration_date": "M/D/YYYY"}`; at most two per user; they expire after `token_ttl` seconds.

Every sandbox host also answers (outside the emulated API; the clock and the recorder are
``stacbridge.sandbox._kit``'s):
`GET /_sandbox/requests` (recent requests: method, path, query, headers, range, status, bytes),
`GET /_sandbox/stats` (`{"requests", "by_path", "by_status", "ranged", "unranged", "bytes_sent",
...}`; EDL adds `logins`, the count of authorize-with-credentials and user-token calls, and
`tokens_issued`), `POST /_sandbox/clock` `{"advance": seconds}` (moves the emulator's clock; shared
by every app given the same `SandboxClock`), `POST /_sandbox/reset` (clears log and counters),
and, EDL only, `POST /_sandbox/clients` `{"client_id", "client_secret", "redirect_uris"}`:
registering an application, which a data host does for itself.

Guesses (no recording; kept here so they stay visible): the login page's HTML and the exact
`WWW-Authenticate` realm text, the lifetimes (10-minute codes, `token_ttl` user tokens), the JWT
claims beyond `uid`/`exp`, the profile's fields, and the JSON error bodies' wording.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from stacbridge.sandbox._kit import Recorder, as_clock, sandbox_app
from stacbridge.sandbox._kit import SandboxClock as SandboxClock  # re-export: its first home

DEFAULT_CLIENT_ID = "sandbox-data-host"
DEFAULT_CLIENT_SECRET = "sandbox-data-host-secret"
SESSION_COOKIE = "_urs-gui_session"
MAX_USER_TOKENS = 2


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic ...` header, None if absent or malformed."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        user, sep, password = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def bearer_token(header: str | None) -> str | None:
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


def with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


# --- Earthdata Login ----------------------------------------------------------------------------


@dataclass
class _Client:
    secret: str
    redirect_uris: set[str] = field(default_factory=set)


@dataclass
class _Token:
    value: str
    uid: str
    expires_at: float
    client_id: str | None  # None: a user token from /api/users/*
    refresh_token: str | None = None


@dataclass
class _Code:
    uid: str
    client_id: str
    redirect_uri: str
    expires_at: float


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class EarthdataLogin:
    """The emulator's state and rules; `create_edl_app` puts HTTP in front of one."""

    def __init__(
        self,
        users: Mapping[str, str],
        *,
        clock: Callable[[], float] | None = None,
        token_ttl: float = 3600.0,
        session_ttl: float | None = None,
        code_ttl: float = 600.0,
        clients: Mapping[str, str] | None = None,
    ) -> None:
        self.users = dict(users)
        self.clock = as_clock(clock)
        self.token_ttl = token_ttl
        self.session_ttl = token_ttl if session_ttl is None else session_ttl
        self.code_ttl = code_ttl
        clients = {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET} if clients is None else clients
        self.clients = {cid: _Client(secret) for cid, secret in clients.items()}
        self.tokens: dict[str, _Token] = {}
        self.refresh_tokens: dict[str, _Token] = {}
        self.codes: dict[str, _Code] = {}
        self.sessions: dict[str, tuple[str, float]] = {}
        self.recorder = Recorder(self.clock)
        self.recorder.count("logins", 0)
        self.recorder.count("tokens_issued", 0)
        self._jwt_key = secrets.token_bytes(32)

    # applications
    def register_client(
        self, client_id: str, secret: str, redirect_uris: Iterable[str] = ()
    ) -> None:
        """Register an application (or add redirect URIs to it); a known id needs its secret."""
        client = self.clients.setdefault(client_id, _Client(secret))
        if not hmac.compare_digest(client.secret, secret):
            raise PermissionError(f"client {client_id!r} exists with another secret")
        client.redirect_uris.update(redirect_uris)

    def client_auth(self, header: str | None) -> str | None:
        creds = basic_credentials(header)
        if creds is None or creds[0] not in self.clients:
            return None
        return creds[0] if hmac.compare_digest(self.clients[creds[0]].secret, creds[1]) else None

    # users
    def check_user(self, user: str, password: str) -> bool:
        known = self.users.get(user)
        return known is not None and hmac.compare_digest(known, password)

    def user_from_basic(self, header: str | None) -> str | None:
        creds = basic_credentials(header)
        return creds[0] if creds and self.check_user(*creds) else None

    def new_session(self, uid: str) -> str:
        sid = secrets.token_urlsafe(24)
        self.sessions[sid] = (uid, self.clock() + self.session_ttl)
        return sid

    def session_user(self, sid: str | None) -> str | None:
        uid, expires_at = self.sessions.get(sid or "", (None, 0.0))
        return uid if uid is not None and self.clock() < expires_at else None

    # codes and tokens
    def issue_code(self, uid: str, client_id: str, redirect_uri: str) -> str:
        code = secrets.token_urlsafe(32)
        self.codes[code] = _Code(uid, client_id, redirect_uri, self.clock() + self.code_ttl)
        return code

    def redeem_code(self, code: str, client_id: str, redirect_uri: str) -> _Token | None:
        grant = self.codes.pop(code, None)  # single use, whatever happens next
        if (
            grant is None
            or grant.client_id != client_id
            or grant.redirect_uri != redirect_uri
            or self.clock() >= grant.expires_at
        ):
            return None
        return self._issue(grant.uid, client_id)

    def refresh(self, refresh_token: str, client_id: str) -> _Token | None:
        old = self.refresh_tokens.get(refresh_token)
        if old is None or old.client_id != client_id:
            return None
        return self._issue(old.uid, client_id, refresh_token=refresh_token)

    def _issue(self, uid: str, client_id: str, refresh_token: str | None = None) -> _Token:
        token = _Token(
            value=secrets.token_urlsafe(32),
            uid=uid,
            expires_at=self.clock() + self.token_ttl,
            client_id=client_id,
            refresh_token=refresh_token or secrets.token_urlsafe(32),
        )
        self.tokens[token.value] = token
        self.refresh_tokens[str(token.refresh_token)] = token
        self.recorder.count("tokens_issued")
        return token

    def user_tokens(self, uid: str) -> list[_Token]:
        now = self.clock()
        live = [t for t in self.tokens.values() if t.client_id is None and t.uid == uid]
        return sorted((t for t in live if now < t.expires_at), key=lambda t: t.expires_at)

    def create_user_token(self, uid: str, issuer: str) -> _Token | None:
        if len(self.user_tokens(uid)) >= MAX_USER_TOKENS:
            return None
        now = self.clock()
        expires_at = now + self.token_ttl
        header = {"typ": "JWT", "origin": "Earthdata Login", "alg": "HS256"}
        payload = {
            "type": "User",
            "uid": uid,
            "exp": int(expires_at),
            "iat": int(now),
            "iss": issuer,
            "identity_provider": "edl_ops",
            "acr": "edl",
            "assurance_level": 3,
            "jti": secrets.token_hex(8),
        }
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, payload)
        )
        signature = hmac.new(self._jwt_key, signing_input.encode(), hashlib.sha256).digest()
        token = _Token(f"{signing_input}.{_b64url(signature)}", uid, expires_at, None)
        self.tokens[token.value] = token
        self.recorder.count("tokens_issued")
        return token

    def token_status(self, token: str | None) -> tuple[str, str | None]:
        """`("ok", uid)`, `("expired", uid)` or `("invalid", None)` for an access token."""
        found = self.tokens.get(token or "")
        if found is None:
            return "invalid", None
        return ("ok" if self.clock() < found.expires_at else "expired"), found.uid

    def validate(self, token: str | None) -> str | None:
        """The uid a live token belongs to, else None."""
        status, uid = self.token_status(token)
        return uid if status == "ok" else None

    def revoke(self, token: str) -> bool:
        found = self.tokens.pop(token, None)
        if found and found.refresh_token:
            self.refresh_tokens.pop(found.refresh_token, None)
        return found is not None


def _expiration_date(ts: float) -> str:
    day = datetime.fromtimestamp(ts, UTC)
    return f"{day.month}/{day.day}/{day.year}"


async def _form(request: Request) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body (without needing python-multipart)."""
    return dict(parse_qsl((await request.body()).decode("latin-1"), keep_blank_values=True))


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


_LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Earthdata Login</title></head>
<body><h1>Earthdata Login</h1>
<form action="{base}/login" method="post">
<label>Username <input name="username" type="text"></label>
<label>Password <input name="password" type="password"></label>
<input type="hidden" name="client_id" value="{client_id}">
<input type="submit" value="Log in"></form>
<p>{message}</p></body></html>
"""


def create_edl_app(
    users: Mapping[str, str],
    *,
    clock: Callable[[], float] | None = time.time,
    token_ttl: float = 3600.0,
    clients: Mapping[str, str] | None = None,
    session_ttl: float | None = None,
) -> Starlette:
    """An Earthdata Login emulator; `app.state.edl` is its `EarthdataLogin` for in-process use.

    `clients` maps application ids to secrets (default: the sandbox data host's
    `DEFAULT_CLIENT_ID`/`DEFAULT_CLIENT_SECRET`); their redirect URIs are registered with
    `EarthdataLogin.register_client` or `POST /_sandbox/clients`.
    """
    edl = EarthdataLogin(
        users, clock=clock, token_ttl=token_ttl, clients=clients, session_ttl=session_ttl
    )
    recorder = edl.recorder

    def base_url(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def login_required(request: Request, message: str) -> HTMLResponse:
        realm = (
            "Please enter your Earthdata Login credentials. If you do not have a Earthdata Login,"
            f" create one at {base_url(request)}//users/new"
        )
        page = _LOGIN_PAGE.format(
            base=base_url(request),
            client_id=request.query_params.get("client_id", ""),
            message=message,
        )
        return HTMLResponse(page, 401, headers={"WWW-Authenticate": f'Basic realm="{realm}"'})

    async def authorize(request: Request) -> Response:
        params = request.query_params
        client = edl.clients.get(params.get("client_id", ""))
        if client is None:
            return _oauth_error(400, "invalid_client", "Invalid client_id")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            return _oauth_error(400, "invalid_request", "Invalid redirect_uri")
        if params.get("response_type") != "code":
            return _oauth_error(400, "unsupported_response_type", "response_type must be code")
        header = request.headers.get("authorization")
        uid: str | None
        sid: str | None
        if basic_credentials(header) is not None:
            recorder.count("logins")
            uid = edl.user_from_basic(header)
            if uid is None:
                return login_required(request, "Invalid user credentials")
            sid = edl.new_session(uid)
        else:
            sid = request.cookies.get(SESSION_COOKIE)
            uid = edl.session_user(sid)
            if uid is None:
                return login_required(request, "Please log in")
        code = edl.issue_code(uid, params["client_id"], redirect_uri)
        target = {"code": code}
        if "state" in params:
            target["state"] = params["state"]
        response = RedirectResponse(with_query(redirect_uri, target), status_code=302)
        response.set_cookie(SESSION_COOKIE, sid or "", httponly=True, path="/")
        response.set_cookie("urs_user_already_logged", "yes", path="/")
        return response

    async def token(request: Request) -> Response:
        client_id = edl.client_auth(request.headers.get("authorization"))
        if client_id is None:
            return _oauth_error(401, "invalid_client", "Client authentication failed")
        form = await _form(request)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            issued = edl.redeem_code(form.get("code", ""), client_id, form.get("redirect_uri", ""))
        elif grant_type == "refresh_token":
            issued = edl.refresh(form.get("refresh_token", ""), client_id)
        else:
            return _oauth_error(400, "unsupported_grant_type", f"Unsupported grant {grant_type}")
        if issued is None:
            return _oauth_error(400, "invalid_grant", "Invalid, used or expired grant")
        return JSONResponse(
            {
                "access_token": issued.value,
                "token_type": "Bearer",
                "expires_in": int(edl.token_ttl),
                "refresh_token": issued.refresh_token,
                "endpoint": f"/api/users/{issued.uid}",
            }
        )

    async def token_user(request: Request) -> Response:
        if edl.client_auth(request.headers.get("authorization")) is None:
            return _oauth_error(401, "invalid_client", "Client authentication failed")
        form = await _form(request)
        value = request.query_params.get("token") or form.get("token", "")
        status, uid = edl.token_status(value)
        if status == "invalid":
            return _oauth_error(
                401, "invalid_token", "The token is either malformed or does not exist"
            )
        if status == "expired":
            return _oauth_error(401, "token_expired", "The token has expired")
        return JSONResponse({"uid": uid})

    def user_auth(request: Request) -> str | None:
        header = request.headers.get("authorization")
        if basic_credentials(header) is not None:
            recorder.count("logins")
        return edl.user_from_basic(header)

    def token_json(t: Any) -> dict[str, str]:
        return {
            "access_token": t.value,
            "token_type": "Bearer",
            "expiration_date": _expiration_date(t.expires_at),
        }

    def bad_credentials() -> JSONResponse:
        return _oauth_error(401, "invalid_credentials", "Invalid user credentials")

    async def find_or_create_token(request: Request) -> Response:
        uid = user_auth(request)
        if uid is None:
            return bad_credentials()
        existing = edl.user_tokens(uid)
        found = existing[-1] if existing else edl.create_user_token(uid, base_url(request))
        return JSONResponse(token_json(found))

    async def create_token(request: Request) -> Response:
        uid = user_auth(request)
        if uid is None:
            return bad_credentials()
        created = edl.create_user_token(uid, base_url(request))
        if created is None:
            return _oauth_error(
                403, "max_token_limit", "You are only allowed to have two tokens at a time"
            )
        return JSONResponse(token_json(created))

    async def list_tokens(request: Request) -> Response:
        uid = edl.user_from_basic(request.headers.get("authorization"))
        if uid is None:
            return bad_credentials()
        return JSONResponse([token_json(t) for t in edl.user_tokens(uid)])

    async def revoke_token(request: Request) -> Response:
        uid = edl.user_from_basic(request.headers.get("authorization"))
        if uid is None:
            return bad_credentials()
        value = request.query_params.get("token", "")
        found = edl.tokens.get(value)
        if found is None or found.uid != uid or not edl.revoke(value):
            return _oauth_error(400, "invalid_token", "Token not found")
        return JSONResponse({})

    async def profile(request: Request) -> Response:
        status, uid = edl.token_status(bearer_token(request.headers.get("authorization")))
        if status != "ok":
            return _oauth_error(401, "invalid_token", "Access token is invalid or expired")
        if uid != request.path_params["uid"]:
            return _oauth_error(403, "forbidden", "Token does not belong to this user")
        return JSONResponse(
            {
                "uid": uid,
                "first_name": str(uid).capitalize(),
                "last_name": "Sandbox",
                "email_address": f"{uid}@example.org",
                "country": "United States",
                "user_groups": [],
                "allow_auth_app_emails": True,
            }
        )

    async def register(request: Request) -> Response:
        body = await request.json()
        try:
            edl.register_client(
                body["client_id"], body["client_secret"], list(body.get("redirect_uris", []))
            )
        except PermissionError as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        client = edl.clients[body["client_id"]]
        return JSONResponse(
            {"client_id": body["client_id"], "redirect_uris": sorted(client.redirect_uris)}
        )

    routes = [
        Route("/oauth/authorize", authorize),
        Route("/oauth/token", token, methods=["POST"]),
        Route("/oauth/tokens/user", token_user, methods=["POST"]),
        Route("/api/users/find_or_create_token", find_or_create_token, methods=["POST"]),
        Route("/api/users/token", create_token, methods=["POST"]),
        Route("/api/users/tokens", list_tokens),
        Route("/api/users/revoke_token", revoke_token, methods=["POST"]),
        Route("/api/users/{uid}", profile),
        Route("/_sandbox/clients", register, methods=["POST"]),
    ]
    app = sandbox_app(routes, recorder)
    app.state.edl = edl
    return app
