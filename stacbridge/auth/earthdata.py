"""Earthdata Login for NASA data hosts: how the proxy gets bytes a client could not.

Shared by every NASA provider (CMR today; EGI and AppEEARS use the same account), configured
by the `[earthdata]` settings section.  Three ways to authorise:

* a service **bearer token** (`token`) sent as `Authorization: Bearer` to the data host;
* service **username/password** (from settings or `.netrc`): the real EDL OAuth redirect flow —
  data host → `urs/oauth/authorize` with Basic auth (sent to the EDL host only) → back to the
  data host's `/login?code=` → session cookie — with the cookie cached in the state store and
  shared by every request, provider and worker (single flight: a burst after expiry logs in
  once);
* **passthrough**: the caller's own `Authorization` header.

Redirects are followed by `assets.fetch.AllowListedFetcher`, so credentials only ever go to
allow-listed hosts, and only to those that asked for them: whatever the mode, a host is first
asked with no credentials and gets them once it has sent the gateway to Earthdata Login (or
answered 401) — remembered per host and process.  A host that only redirects onward, or one
that serves public files (`public_hosts`, e.g. the browse-image CDN under `.nasa.gov`), never
sees the bearer token or the caller's own.  When the data host hands out a pre-signed URL
(LP DAAC cloud → S3/CloudFront), the client is redirected there and no bytes pass through the
gateway; when it serves the file itself, the proxy streams it.
"""

from __future__ import annotations

import contextlib
import logging
import netrc
import time
from email.utils import parsedate_to_datetime
from http.cookies import SimpleCookie
from urllib.parse import urljoin, urlsplit

import httpx

from stacbridge.assets.fetch import (
    AllowListedFetcher,
    FetchOutcome,
    LoginRequired,
    forwarded_headers,
    hostport,
)
from stacbridge.config import EarthdataSettings
from stacbridge.errors import Forbidden, Unauthorized
from stacbridge.http import StreamSlots, send_with_retries
from stacbridge.protocols import AssetRedirect, AssetRequest, AssetResolution, ProviderError
from stacbridge.store import Store, cached_token, invalidate

log = logging.getLogger("stacbridge.earthdata")

SESSION_TTL = 3600.0
#: hosts remembered as wanting Earthdata Login (per process; refs are signed, so few).
MAX_AUTH_HOSTS = 10_000


class EarthdataLogin:
    """Authorises requests to Earthdata data hosts and resolves asset references to them."""

    def __init__(
        self,
        settings: EarthdataSettings,
        store: Store,
        client: httpx.AsyncClient,
        *,
        provider: str,
    ) -> None:
        self.settings = settings
        self.store = store
        self.provider = provider
        self.edl_host = hostport(settings.url)
        self.fetcher = AllowListedFetcher(
            client,
            provider,
            settings.http,
            settings.data_hosts,
            login_host=self.edl_host,
            allow_insecure_http=settings.allow_insecure_http,
            public=settings.public_hosts,
            slots=StreamSlots(settings.http.max_streams),
        )
        #: hosts seen redirecting to Earthdata Login (login mode logs in up front for them).
        self._login_hosts: set[str] = set()
        #: hosts that asked for Earthdata auth: the only ones a bearer token is sent to.
        self._auth_hosts: set[str] = set()
        self.username, self.password = self._credentials()

    def _credentials(self) -> tuple[str | None, str | None]:
        s = self.settings
        if s.username and s.password:
            return s.username, s.password.get_secret_value()
        if s.netrc is not None:
            try:
                host = urlsplit(s.url).hostname or ""
                entry = netrc.netrc(str(s.netrc.expanduser())).authenticators(host)
            except (OSError, netrc.NetrcParseError) as exc:
                log.warning("earthdata: cannot read the .netrc file: %s", type(exc).__name__)
                return None, None
            if entry:
                return entry[0], entry[2]
        return None, None

    @property
    def mode(self) -> str:
        if self.settings.credentials == "passthrough":
            return "passthrough"
        if self.settings.token is not None:
            return "token"
        if self.username and self.password:
            return "login"
        return "none"

    def allowed_url(self, url: str) -> bool:
        """Whether `url` is on the Earthdata allow-list (hot path: cached per host)."""
        return self.fetcher.allowed_url(url)

    # -- resolution ------------------------------------------------------------------------
    async def resolve(self, request: AssetRequest) -> AssetResolution:
        if self.fetcher.is_public(request.ref) and request.ref.startswith(("https://", "http://")):
            # a public file (hrefs signed before public_hosts existed): the client goes there
            return AssetRedirect(request.ref, status=307)
        if not self.allowed_url(request.ref):
            raise Forbidden("this asset's host is not on the provider's allow-list")
        forwarded = forwarded_headers(request.headers)
        host = hostport(request.ref)
        if self.mode != "login":
            return await self._resolve_bearer(request, forwarded)
        # In login mode a host is only logged in to once it has asked for Earthdata Login:
        # public hosts on the allow-list are fetched without a session.
        login_first = host in self._login_hosts
        credentials = await self._credentials_for(request) if login_first else {}
        outcome = await self.fetcher.follow(request.ref, request.method, forwarded, credentials)
        if isinstance(outcome, LoginRequired):
            self._login_hosts.add(host)
            # Twice at most: a worker that had not used this host yet first gets the session
            # another worker stored, which may itself have died upstream since.
            for _ in range(2):
                if credentials.get("cookie"):
                    # the session died upstream: forget exactly that session, log in once more
                    await invalidate(
                        self.store, self._session_key(request.ref), credentials["cookie"].encode()
                    )
                credentials = await self._credentials_for(request)
                outcome = await self.fetcher.follow(
                    request.ref, request.method, forwarded, credentials
                )
                if not isinstance(outcome, LoginRequired):
                    break
        if not isinstance(outcome, LoginRequired):
            return outcome
        raise ProviderError(
            self.provider,
            "Earthdata Login did not accept the gateway's credentials for this data host",
        )

    async def _resolve_bearer(
        self, request: AssetRequest, forwarded: dict[str, str]
    ) -> AssetResolution:
        """Token and passthrough modes: the bearer goes only to hosts that asked for it.

        Each host of the redirect chain that answers "log in first" is remembered and the
        chain is asked again, so the bearer reaches exactly the hosts that need it.
        """
        credentials = await self._credentials_for(request)
        outcome = await self._follow_bearer(request, forwarded, credentials)
        for _ in range(3):  # a chain with more hosts asking for auth than this is refused
            if not isinstance(outcome, LoginRequired) or outcome.host in self._auth_hosts:
                break
            if len(self._auth_hosts) < MAX_AUTH_HOSTS:
                self._auth_hosts.add(outcome.host)
            if "authorization" not in credentials:
                break
            outcome = await self._follow_bearer(request, forwarded, credentials)
        if not isinstance(outcome, LoginRequired):
            return outcome
        if self.mode == "passthrough":
            if "authorization" not in credentials:
                raise Unauthorized(
                    "this asset needs Earthdata Login: send your EDL token as "
                    "'Authorization: Bearer <token>'",
                    headers={"WWW-Authenticate": 'Bearer realm="Earthdata Login"'},
                )
            raise Unauthorized(
                "Earthdata Login did not accept your token for this data host",
                headers={
                    "WWW-Authenticate": 'Bearer realm="Earthdata Login", error="invalid_token"'
                },
            )
        raise ProviderError(
            self.provider,
            "Earthdata Login did not accept the gateway's credentials for this data host",
        )

    async def _follow_bearer(
        self, request: AssetRequest, forwarded: dict[str, str], credentials: dict[str, str]
    ) -> FetchOutcome:
        return await self.fetcher.follow(
            request.ref,
            request.method,
            forwarded,
            credentials,
            auth_hosts=self._auth_hosts,
            service_account=self.mode != "passthrough",
        )

    async def _credentials_for(self, request: AssetRequest) -> dict[str, str]:
        if self.mode == "token" and self.settings.token is not None:
            return {"authorization": f"Bearer {self.settings.token.get_secret_value()}"}
        if self.mode == "passthrough":
            auth = next(
                (v for k, v in request.headers.items() if k.lower() == "authorization"), None
            )
            return {"authorization": auth} if auth else {}
        if self.mode == "login":
            key = self._session_key(request.ref)
            cookie = await cached_token(
                self.store,
                key,
                lambda: self._oauth_login(request.ref),
                refresh_margin=60.0,
                lock_ttl=60.0,
            )
            return {"cookie": cookie.decode()}
        return {}

    def _session_key(self, url: str) -> str:
        # one session per data host, whichever provider's asset needed it
        return f"token:edl-session:{self.edl_host}:{hostport(url)}"

    # -- the OAuth redirect flow -------------------------------------------------------------
    async def _oauth_login(self, url: str) -> tuple[bytes, float]:
        """Run EDL's authorize flow for the data host serving `url`; returns its cookies."""
        response = await self.fetcher.send("GET", url, {}, stream=True)  # never read the body
        await response.aclose()
        location = response.headers.get("location", "")
        if (
            response.status_code not in (302, 303, 307)
            or hostport(urljoin(url, location)) != self.edl_host
        ):
            raise ProviderError(self.provider, "the data host did not redirect to Earthdata Login")
        authorize = urljoin(url, location)
        edl_scheme = urlsplit(self.settings.url).scheme
        if urlsplit(authorize).scheme != edl_scheme or not self.fetcher.secure_enough(authorize):
            raise ProviderError(
                self.provider,
                "the data host redirected to Earthdata Login over an insecure scheme; the "
                "password was not sent",
            )
        auth = httpx.BasicAuth(self.username or "", self.password or "")
        request = next(auth.auth_flow(httpx.Request("GET", authorize)))
        response = await send_with_retries(
            self.fetcher.client, self.provider, request, self.settings.http
        )
        if response.status_code in (401, 403):
            raise ProviderError(
                self.provider, "Earthdata Login rejected the configured username or password"
            )
        back = urljoin(authorize, response.headers.get("location", ""))
        if response.status_code not in (302, 303, 307) or not self.allowed_url(back):
            raise ProviderError(
                self.provider, "Earthdata Login did not redirect back to the data host"
            )
        response = await self.fetcher.send("GET", back, {})
        cookies, expires = _cookies_from(response, time.time() + SESSION_TTL)
        if not cookies:
            raise ProviderError(self.provider, "the data host set no session cookie after login")
        log.info("earthdata: logged in for %s", hostport(url))
        return cookies.encode(), min(expires, self.store.clock() + SESSION_TTL)


def _cookies_from(response: httpx.Response, default_expiry: float) -> tuple[str, float]:
    jar: SimpleCookie = SimpleCookie()
    expiry = default_expiry
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    for morsel in jar.values():
        if morsel["max-age"]:
            expiry = min(expiry, time.time() + float(morsel["max-age"]))
        elif morsel["expires"]:
            with contextlib.suppress(TypeError, ValueError):
                expiry = min(expiry, parsedate_to_datetime(morsel["expires"]).timestamp())
    return "; ".join(f"{k}={m.value}" for k, m in jar.items()), expiry
