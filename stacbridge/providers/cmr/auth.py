"""Earthdata Login for NASA data hosts: how the proxy gets bytes a client could not.

Three ways to authorise, chosen by configuration (`cmr.credentials`, `cmr.edl_*`):

* a service **bearer token** (`edl_token`) sent as `Authorization: Bearer` to the data host;
* service **username/password** (from settings or `.netrc`): the real EDL OAuth redirect flow —
  data host → `urs/oauth/authorize` with Basic auth (sent to the EDL host only) → back to the
  data host's `/login?code=` → session cookie — with the cookie cached in the state store and
  shared by every request and worker (single flight: a burst after expiry logs in once);
* **passthrough**: the caller's own `Authorization` header.

Redirects are followed by hand so credentials only ever go to allow-listed hosts.  When the data
host hands out a pre-signed URL (LP DAAC cloud → S3/CloudFront), the client is redirected there
and no bytes pass through the gateway; when it serves the file itself, the proxy streams it.
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

from stacbridge.config import CMRSettings
from stacbridge.errors import Forbidden, NotFound, Unauthorized
from stacbridge.http import send_with_retries
from stacbridge.provider import (
    AssetRedirect,
    AssetRequest,
    AssetResolution,
    AssetStream,
    ProviderError,
)
from stacbridge.store import Store, cached_token, invalidate

log = logging.getLogger("stacbridge.cmr.auth")

PROVIDER = "cmr"
MAX_REDIRECTS = 6
FORWARDED_REQUEST_HEADERS = ("range", "if-none-match", "if-modified-since", "if-range")
SESSION_TTL = 3600.0


def host_allowed(host: str, allowed: list[str]) -> bool:
    """Suffix match: `.nasa.gov` allows `data.nasa.gov`; a bare name must match exactly."""
    host = host.lower()
    for entry in allowed:
        entry = entry.lower()
        if entry.startswith(".") and (host.endswith(entry) or host == entry[1:]):
            return True
        if host == entry:
            return True
    return False


def _hostport(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.lower()


class EarthdataAuth:
    """Authorises requests to Earthdata data hosts and resolves asset references."""

    def __init__(self, settings: CMRSettings, store: Store, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.store = store
        self.client = client
        self.edl_host = _hostport(settings.edl_url)
        self.allowed = [*settings.data_hosts, self.edl_host]
        self._allowed_hosts: dict[str, bool] = {}
        #: hosts seen redirecting to Earthdata Login (login mode logs in up front for them).
        self._login_hosts: set[str] = set()
        self.username, self.password = self._credentials()

    def _credentials(self) -> tuple[str | None, str | None]:
        s = self.settings
        if s.edl_username and s.edl_password:
            return s.edl_username, s.edl_password.get_secret_value()
        if s.netrc is not None:
            try:
                entry = netrc.netrc(str(s.netrc)).authenticators(urlsplit(s.edl_url).hostname
                                                                 or "")
            except (OSError, netrc.NetrcParseError) as exc:
                log.warning("cmr: cannot read the .netrc file: %s", type(exc).__name__)
                return None, None
            if entry:
                return entry[0], entry[2]
        return None, None

    @property
    def mode(self) -> str:
        if self.settings.credentials == "passthrough":
            return "passthrough"
        if self.settings.edl_token is not None:
            return "token"
        if self.username and self.password:
            return "login"
        return "none"

    def allowed_url(self, url: str) -> bool:
        """Whether `url` is http(s) on an allow-listed host (cached per host: hot path)."""
        if url.startswith("https://"):
            rest = url[8:]
        elif url.startswith("http://"):
            rest = url[7:]
        else:
            return False
        netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        allowed = self._allowed_hosts.get(netloc)
        if allowed is None:
            host = urlsplit(url).netloc  # the careful parse, once per host
            allowed = host == netloc and "@" not in netloc and host_allowed(host,
                                                                           self.allowed)
            if len(self._allowed_hosts) < 10_000:
                self._allowed_hosts[netloc] = allowed
        return allowed

    # -- resolution ------------------------------------------------------------------------
    async def resolve(self, request: AssetRequest) -> AssetResolution:
        if not self.allowed_url(request.ref):
            raise Forbidden("this asset's host is not on the provider's allow-list")
        forwarded = {k: v for k, v in request.headers.items()
                     if k.lower() in FORWARDED_REQUEST_HEADERS}
        host = _hostport(request.ref)
        # In login mode a host is only logged in to once it has asked for Earthdata Login:
        # public hosts on the allow-list are fetched without a session.
        login_first = self.mode != "login" or host in self._login_hosts
        credentials = await self._credentials_for(request) if login_first else {}
        outcome = await self._follow(request.ref, request.method, forwarded, credentials)
        if outcome == "login-required" and self.mode == "login":
            self._login_hosts.add(host)
            if credentials.get("cookie"):
                # the session died upstream: forget exactly that session, log in once more
                await invalidate(self.store, self._session_key(request.ref),
                                 credentials["cookie"].encode())
            credentials = await self._credentials_for(request)
            outcome = await self._follow(request.ref, request.method, forwarded, credentials)
        if outcome != "login-required":
            return outcome  # type: ignore[return-value]
        if self.mode == "passthrough":
            if "authorization" not in credentials:
                raise Unauthorized("this asset needs Earthdata Login: send your EDL token as "
                                   "'Authorization: Bearer <token>'",
                                   headers={"WWW-Authenticate": 'Bearer realm="Earthdata Login"'})
            raise Unauthorized("Earthdata Login did not accept your token for this data host",
                               headers={"WWW-Authenticate":
                                        'Bearer realm="Earthdata Login", error="invalid_token"'})
        raise ProviderError(PROVIDER, "Earthdata Login did not accept the gateway's credentials "
                            "for this data host")

    async def _credentials_for(self, request: AssetRequest) -> dict[str, str]:
        if self.mode == "token":
            return {"authorization": f"Bearer {self.settings.edl_token.get_secret_value()}"}  # type: ignore[union-attr]
        if self.mode == "passthrough":
            auth = next((v for k, v in request.headers.items() if k.lower() == "authorization"),
                        None)
            return {"authorization": auth} if auth else {}
        if self.mode == "login":
            key = self._session_key(request.ref)
            cookie = await cached_token(self.store, key, lambda: self._oauth_login(request.ref),
                                        refresh_margin=60.0, lock_ttl=60.0)
            return {"cookie": cookie.decode()}
        return {}

    def _session_key(self, url: str) -> str:
        return f"token:cmr:edl-session:{_hostport(url)}"

    async def _send(self, method: str, url: str, headers: dict[str, str],
                    stream: bool = False) -> httpx.Response:
        request = httpx.Request(method, url, headers=headers)
        return await send_with_retries(self.client, PROVIDER, request, self.settings.http,
                                       stream=stream)

    async def _follow(self, url: str, method: str, forwarded: dict[str, str],
                      credentials: dict[str, str]) -> AssetResolution | str:
        """Follow redirects by hand, attaching credentials only where they belong.

        A bearer token goes to any allow-listed data host; a session cookie only to the host
        that issued it (the asset's own host); nothing to the EDL host or anywhere else, and
        nothing over plain http unless the deployment allows it (the local sandbox).
        """
        session_host = _hostport(url)
        for _ in range(MAX_REDIRECTS):
            host = _hostport(url)
            send_creds = (self.allowed_url(url) and host != self.edl_host
                          and self._secure_enough(url))
            attached = {k: v for k, v in credentials.items()
                        if send_creds and (k != "cookie" or host == session_host)}
            response = await self._send(method, url, {**forwarded, **attached}, stream=True)
            status = response.status_code
            if status in (301, 302, 303, 307, 308):
                raw_location = response.headers.get("location", "")
                await response.aclose()
                try:
                    location = urljoin(url, raw_location)
                    location_host = _hostport(location)
                except ValueError as exc:
                    raise ProviderError(PROVIDER, "the data host redirected to an invalid "
                                        "URL") from exc
                if location_host == self.edl_host:
                    return "login-required"
                if not self.allowed_url(location):
                    # a pre-signed URL on S3/CloudFront: the client goes there itself
                    return AssetRedirect(location, status=307 if status != 303 else 303)
                url = location
                continue
            if status == 401 and host != self.edl_host:
                await response.aclose()
                return "login-required"
            if status == 403:
                await response.aclose()
                raise Forbidden("the data host refused access to this file (HTTP 403: the "
                                "account may lack permission or an accepted EULA)")
            if status == 404:
                await response.aclose()
                raise NotFound("the data host has no such file")
            if status >= 400 and status not in (412, 416):
                await response.aclose()
                raise ProviderError(PROVIDER, f"data host answered {status}")
            return AssetStream(response)
        raise ProviderError(PROVIDER, "too many redirects from the data host")

    def _secure_enough(self, url: str) -> bool:
        return url.startswith("https://") or self.settings.allow_insecure_http

    # -- the OAuth redirect flow -------------------------------------------------------------
    async def _oauth_login(self, url: str) -> tuple[bytes, float]:
        """Run EDL's authorize flow for the data host serving `url`; returns its cookies."""
        response = await self._send("GET", url, {}, stream=True)  # never read the body
        await response.aclose()
        location = response.headers.get("location", "")
        if response.status_code not in (302, 303, 307) or _hostport(
                urljoin(url, location)) != self.edl_host:
            raise ProviderError(PROVIDER, "the data host did not redirect to Earthdata Login")
        authorize = urljoin(url, location)
        edl_scheme = urlsplit(self.settings.edl_url).scheme
        if urlsplit(authorize).scheme != edl_scheme or not self._secure_enough(authorize):
            raise ProviderError(PROVIDER, "the data host redirected to Earthdata Login over an "
                                "insecure scheme; the password was not sent")
        auth = httpx.BasicAuth(self.username or "", self.password or "")
        request = httpx.Request("GET", authorize)
        request = next(auth.auth_flow(request))
        response = await send_with_retries(self.client, PROVIDER, request, self.settings.http)
        if response.status_code in (401, 403):
            raise ProviderError(PROVIDER, "Earthdata Login rejected the configured username "
                                "or password")
        back = urljoin(authorize, response.headers.get("location", ""))
        if response.status_code not in (302, 303, 307) or not self.allowed_url(back):
            raise ProviderError(PROVIDER, "Earthdata Login did not redirect back to the data "
                                "host")
        response = await self._send("GET", back, {})
        cookies, expires = _cookies_from(response, time.time() + SESSION_TTL)
        if not cookies:
            raise ProviderError(PROVIDER, "the data host set no session cookie after login")
        log.info("cmr: logged in to Earthdata Login for %s", _hostport(url))
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

