"""A Keycloak realm's token endpoint, as ESA MAAP's IAM is one (`/realms/esa-maap/...`).

SYNTHETIC: no recorded Keycloak exchange exists in /work/shared/fixtures/maap (see its
SOURCES.md).  Everything here follows the documented protocol — RFC 6749 (§4.4 client
credentials, §5.2 error responses, §6 refresh) and Keycloak's response fields as MAAP's
documentation names them: `access_token`, `expires_in`, `refresh_token`,
`refresh_expires_in`, `token_type`; the public client `offline-token`.  Guesses, listed:

* tokens are opaque random strings (Keycloak issues JWTs; nothing in the gateway reads them);
* error descriptions are Keycloak's usual wording ("Token is not active", "Stale token",
  "Invalid client or Invalid client credentials", "Missing form parameter: grant_type");
* an offline (refresh) token lives 90 days, an access token 300 s (`access_ttl`);
* with `rotate` on ("Revoke Refresh Token" in Keycloak) every refresh answers a new refresh
  token and the one sent becomes stale: using it again is `invalid_grant`.

Test controls: `issue_offline_token()`, `revoke()`, `valid(access_token)` (what protected hosts
ask, in process), `grants` (token requests answered), the shared `SandboxClock`.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stacbridge.sandbox._kit import Recorder, SandboxClock, as_clock, sandbox_app

REALM = "esa-maap"
#: the public client MAAP's offline tokens belong to, and a confidential one for
#: `client_credentials`.
PUBLIC_CLIENT = "offline-token"
SERVICE_CLIENT = ("stacbridge-service", "sandbox-client-secret")
OFFLINE_TTL = 90 * 24 * 3600.0


def _error(status: int, code: str, description: str) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=status)


@dataclass
class Keycloak:
    """The realm's state: clients, refresh and access tokens, on one clock."""

    clock: SandboxClock = field(default_factory=SandboxClock)
    access_ttl: float = 300.0
    rotate: bool = True
    clients: dict[str, str | None] = field(
        default_factory=lambda: {PUBLIC_CLIENT: None, SERVICE_CLIENT[0]: SERVICE_CLIENT[1]}
    )
    #: refresh token -> (client id, expiry, "active" | "stale" | "revoked")
    refresh: dict[str, list[Any]] = field(default_factory=dict)
    #: access token -> expiry
    access: dict[str, float] = field(default_factory=dict)
    grants: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issue_offline_token(self, ttl: float = OFFLINE_TTL) -> str:
        """A new offline token for `offline-token` (what a MAAP user downloads once)."""
        token = "offline-" + secrets.token_urlsafe(24)
        with self.lock:
            self.refresh[token] = [PUBLIC_CLIENT, self.clock() + ttl, "active"]
        return token

    def revoke(self, token: str) -> None:
        with self.lock:
            if token in self.refresh:
                self.refresh[token][2] = "revoked"

    def valid(self, access_token: str | None) -> bool:
        """Whether `access_token` is one this realm issued and has not expired."""
        if not access_token:
            return False
        with self.lock:
            expiry = self.access.get(access_token)
        return expiry is not None and expiry > self.clock()

    def _access(self) -> tuple[str, float]:
        token = "at-" + secrets.token_urlsafe(24)
        self.access[token] = self.clock() + self.access_ttl
        return token, self.access_ttl

    def grant(self, form: dict[str, str]) -> JSONResponse:
        grant_type = form.get("grant_type")
        if not grant_type:
            return _error(400, "invalid_request", "Missing form parameter: grant_type")
        client = form.get("client_id")
        if client not in self.clients:
            return _error(401, "invalid_client", "Invalid client or Invalid client credentials")
        secret = self.clients[client]
        if secret is not None and form.get("client_secret") != secret:
            return _error(401, "invalid_client", "Invalid client or Invalid client credentials")
        with self.lock:
            self.grants += 1
            if grant_type == "client_credentials":
                if secret is None:
                    return _error(
                        400, "unauthorized_client", "Client not enabled to retrieve service account"
                    )
                token, ttl = self._access()
                return JSONResponse(
                    {
                        "access_token": token,
                        "expires_in": int(ttl),
                        "refresh_expires_in": 0,
                        "token_type": "Bearer",
                        "not-before-policy": 0,
                        "scope": "profile email",
                    }
                )
            if grant_type != "refresh_token":
                return _error(400, "unsupported_grant_type", "Unsupported grant_type")
            sent = form.get("refresh_token")
            if not sent:
                return _error(400, "invalid_request", "Missing parameter: refresh_token")
            record = self.refresh.get(sent)
            if record is None or record[1] <= self.clock() or record[0] != client:
                return _error(400, "invalid_grant", "Token is not active")
            if record[2] == "revoked":
                return _error(400, "invalid_grant", "Session not active")
            if record[2] == "stale":
                return _error(400, "invalid_grant", "Stale token")
            refresh_token, expiry = sent, record[1]
            if self.rotate:
                record[2] = "stale"
                refresh_token = "offline-" + secrets.token_urlsafe(24)
                self.refresh[refresh_token] = [client, expiry, "active"]
            token, ttl = self._access()
            return JSONResponse(
                {
                    "access_token": token,
                    "expires_in": int(ttl),
                    "refresh_expires_in": int(expiry - self.clock()),
                    "refresh_token": refresh_token,
                    "token_type": "Bearer",
                    "not-before-policy": 0,
                    "session_state": "sandbox-session",
                    "scope": "openid offline_access profile email",
                }
            )


def create_oidc_app(realm: Keycloak | None = None, *, clock: Any = None) -> Any:
    """The realm's token endpoint and discovery document (`app.state.keycloak`)."""
    keycloak = realm or Keycloak(clock=as_clock(clock))
    recorder = Recorder(keycloak.clock)

    async def token(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0] != (
            "application/x-www-form-urlencoded"
        ):
            return _error(400, "invalid_request", "Missing form parameter: grant_type")
        form = parse_qs((await request.body()).decode("latin-1"), keep_blank_values=True)
        return keycloak.grant({k: v[0] for k, v in form.items()})

    async def discovery(request: Request) -> Response:
        base = str(request.base_url).rstrip("/") + f"/realms/{REALM}"
        return JSONResponse(
            {
                "issuer": base,
                "token_endpoint": f"{base}/protocol/openid-connect/token",
                "grant_types_supported": ["refresh_token", "client_credentials"],
            }
        )

    app = sandbox_app(
        [
            Route(f"/realms/{REALM}/protocol/openid-connect/token", token, methods=["POST"]),
            Route(f"/realms/{REALM}/.well-known/openid-configuration", discovery),
        ],
        recorder,
    )
    app.state.keycloak = keycloak
    return app
