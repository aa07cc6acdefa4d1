"""OpenID Connect access tokens for upstreams that want a bearer (ESA MAAP's Keycloak).

Two grants, both at a configured token endpoint (`POST`, form-encoded, RFC 6749 §4.4/§6):

* ``refresh_token`` — the operator's long-lived (offline) refresh token is exchanged for a
  short-lived access token.  Keycloak answers ``access_token``, ``expires_in``,
  ``refresh_token`` and ``refresh_expires_in``; with refresh-token rotation on, the refresh
  token it returns *replaces* the one sent (the old one is then "stale"), so the newest is kept
  in the store and used from then on, by every worker;
* ``client_credentials`` — a confidential client's id and secret.

The access token is cached in the `Store` and refreshed before it expires, single flight
(`cached_token`): a burst of downloads after expiry costs one token request, across workers.
An ``invalid_grant`` (the refresh token expired or was revoked) or ``invalid_client`` answer is
not a transient fault: it is remembered in the store and every later call fails at once with a
message telling the operator what to renew — never a loop of refresh attempts.  A new refresh
token in the configuration (a restart) clears that state, because everything stored is keyed
by a fingerprint of the configured credential.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Literal

import httpx
import orjson
from pydantic import Field, SecretStr

from stacbridge.config import HttpSettings, Section
from stacbridge.http import send_with_retries
from stacbridge.protocols import ProviderError
from stacbridge.store import Store, cached_token, invalidate

log = logging.getLogger("stacbridge.oidc")

#: assumed access-token lifetime when the endpoint states none (Keycloak's default is 300 s).
DEFAULT_LIFETIME = 300.0
#: OAuth error codes that mean "the credential itself is no good": no retry until reconfigured.
FATAL_ERRORS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})


class OIDCSettings(Section):
    """One OIDC client at one token endpoint."""

    #: the token endpoint, e.g. `https://iam.maap.eo.esa.int/realms/esa-maap/protocol/openid-connect/token`.
    token_url: str
    grant: Literal["refresh_token", "client_credentials"] = "refresh_token"
    #: MAAP's offline tokens belong to the public client `offline-token`.
    client_id: str = "offline-token"
    client_secret: SecretStr | None = None
    #: the offline / long-lived refresh token (`refresh_token` grant).
    refresh_token: SecretStr | None = None
    scope: str | None = None
    #: seconds before expiry an access token is replaced (capped at half its lifetime).
    refresh_margin: float = 30.0
    http: HttpSettings = Field(default_factory=HttpSettings)


class OIDCError(ProviderError):
    """The token endpoint refused the credential (`code` is the OAuth error)."""

    def __init__(self, provider: str, code: str, message: str, status_code: int = 502) -> None:
        super().__init__(provider, message, status_code=status_code)
        self.code = code


def _fingerprint(settings: OIDCSettings) -> str:
    secret = settings.refresh_token or settings.client_secret
    material = f"{settings.grant}\x00{settings.client_id}\x00"
    material += secret.get_secret_value() if secret is not None else ""
    return hashlib.sha256(material.encode()).hexdigest()[:16]


class OIDCTokens:
    """The cached access token of one OIDC client, for one provider."""

    def __init__(
        self, settings: OIDCSettings, store: Store, client: httpx.AsyncClient, provider: str
    ) -> None:
        self.settings = settings
        self.store = store
        self.client = client
        self.provider = provider
        base = f"token:oidc:{settings.token_url}:{settings.client_id}:{_fingerprint(settings)}"
        self.key = f"{base}:access"
        self.refresh_key = f"{base}:refresh"
        self.failed_key = f"{base}:failed"
        #: token requests this object sent (tests and `stacbridge providers` read it).
        self.grants = 0

    # -- state ----------------------------------------------------------------------------
    async def failure(self) -> str | None:
        """Why the credential is unusable (an `invalid_grant`...), or None."""
        raw = await self.store.get(self.failed_key)
        return raw.decode() if raw is not None else None

    async def ready(self) -> None:
        """Raise when the credential is known to be dead (readiness probes call this)."""
        why = await self.failure()
        if why is not None:
            raise OIDCError(self.provider, "invalid_grant", why)

    async def _refresh_token(self) -> str | None:
        """The newest refresh token: a rotated one from the store, else the configured one."""
        raw = await self.store.get(self.refresh_key)
        if raw is not None:
            return raw.decode()
        configured = self.settings.refresh_token
        return configured.get_secret_value() if configured is not None else None

    # -- tokens ---------------------------------------------------------------------------
    async def access_token(self) -> str:
        """A valid access token (cached; one token request per expiry, whoever asks)."""
        why = await self.failure()
        if why is not None:
            raise OIDCError(self.provider, "invalid_grant", why)
        value = await cached_token(
            self.store, self.key, self._fetch, refresh_margin=self.settings.refresh_margin
        )
        return value.decode()

    async def invalidate(self, token: str) -> None:
        """Forget `token` (the upstream answered 401 to it), if it is still the cached one."""
        await invalidate(self.store, self.key, token.encode())

    def _form(self, refresh_token: str | None) -> dict[str, str]:
        s = self.settings
        form = {"grant_type": s.grant, "client_id": s.client_id}
        if s.client_secret is not None:
            form["client_secret"] = s.client_secret.get_secret_value()
        if s.scope:
            form["scope"] = s.scope
        if s.grant == "refresh_token":
            if not refresh_token:
                raise OIDCError(
                    self.provider,
                    "invalid_grant",
                    f"{self.provider}: no OIDC refresh token is configured (set the offline "
                    "token in the provider's `auth.refresh_token`)",
                )
            form["refresh_token"] = refresh_token
        elif s.client_secret is None:
            raise OIDCError(
                self.provider,
                "invalid_client",
                f"{self.provider}: the client_credentials grant needs a client_secret",
            )
        return form

    async def _fetch(self) -> tuple[bytes, float]:
        """One token request (runs under the single-flight lock)."""
        refresh = await self._refresh_token() if self.settings.grant == "refresh_token" else None
        request = self.client.build_request(
            "POST",
            self.settings.token_url,
            data=self._form(refresh),
            headers={"Accept": "application/json"},
        )
        self.grants += 1
        response = await send_with_retries(self.client, self.provider, request, self.settings.http)
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            raise ProviderError(
                self.provider,
                f"the OIDC token endpoint answered HTTP {response.status_code} without JSON",
            )
        if response.status_code >= 400 or "error" in body:
            await self._refused(response.status_code, body)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise ProviderError(self.provider, "the OIDC token endpoint sent no access_token")
        lifetime = body.get("expires_in")
        seconds = (
            float(lifetime)
            if isinstance(lifetime, int | float) and not isinstance(lifetime, bool)
            else DEFAULT_LIFETIME
        )
        rotated = body.get("refresh_token")
        if (
            self.settings.grant == "refresh_token"
            and isinstance(rotated, str)
            and rotated
            and rotated != refresh
        ):
            ttl = body.get("refresh_expires_in")
            # 0 means "no expiry" to Keycloak (offline tokens without a max lifetime)
            keep = float(ttl) if isinstance(ttl, int | float) and ttl > 0 else None
            await self.store.set(self.refresh_key, rotated.encode(), ttl=keep)
            log.info("%s: the OIDC refresh token was rotated; the new one is kept", self.provider)
        return token.encode(), self.store.clock() + seconds

    async def _refused(self, status: int, body: dict[str, object]) -> None:
        code = str(body.get("error") or f"HTTP {status}")
        detail = str(body.get("error_description") or "")[:200]
        if code in FATAL_ERRORS:
            what = (
                "renew the offline token (refresh_token) in its configuration"
                if self.settings.grant == "refresh_token"
                else "check the client id and secret in its configuration"
            )
            why = (
                f"{self.provider}: the OIDC token endpoint refused the credential ({code}"
                f"{': ' + detail if detail else ''}); {what} and restart"
            )
            await self.store.set(self.failed_key, why.encode())
            log.error("%s", why)
            raise OIDCError(self.provider, code, why)
        raise OIDCError(
            self.provider,
            code,
            f"{self.provider}: the OIDC token endpoint answered {status} ({code})",
            status_code=503 if status in (429, 503) else 502,
        )
