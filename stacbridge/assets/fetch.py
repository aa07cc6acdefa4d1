"""The allow-listed redirect follower: how the proxy reaches bytes without leaking credentials.

Every provider that streams or redirects upstream files uses this one piece.  Redirects are
followed by hand, hop by hop, so that each hop's credentials are decided for that hop's host:

* an `authorization` credential goes only to allow-listed hosts, never to the login host, and,
  when the caller names them (`auth_hosts`), only to hosts known to want it: a host that merely
  redirects onward never sees the bearer;
* a `cookie` only to the host whose session it is (the asset's own host);
* nothing over plain http unless the deployment allows it (the local sandbox);
* nothing at all to a `public_hosts` host, even one the allow-list covers.

The outcome is typed: a redirect the client can follow alone (a pre-signed URL on a host
outside the allow-list), an open stream, or `LoginRequired` when the host sent the client to
the login host (or answered 401) — the caller decides whether to log in and try again.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from stacbridge.config import HttpSettings
from stacbridge.errors import Forbidden, NotFound
from stacbridge.http import StreamSlots, send_with_retries
from stacbridge.protocols import AssetRedirect, AssetStream, ProviderError

MAX_REDIRECTS = 6
#: client request headers passed upstream (ranged and conditional reads).
FORWARDED_REQUEST_HEADERS = ("range", "if-none-match", "if-modified-since", "if-range")


def host_allowed(host: str, allowed: Sequence[str]) -> bool:
    """Suffix match: `.nasa.gov` allows `data.nasa.gov`; a bare name must match exactly."""
    host = host.lower()
    for entry in allowed:
        entry = entry.lower()
        if entry.startswith(".") and (host.endswith(entry) or host == entry[1:]):
            return True
        if host == entry:
            return True
    return False


def hostport(url: str) -> str:
    """The `host[:port]` of `url`, lower-cased (what allow-lists and sessions are keyed by)."""
    return urlsplit(url).netloc.lower()


def forwarded_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The client's headers that are passed upstream (Range and validators, nothing else)."""
    return {k: v for k, v in headers.items() if k.lower() in FORWARDED_REQUEST_HEADERS}


@dataclass(frozen=True, slots=True)
class LoginRequired:
    """The host wants a login first (it redirected to the login host, or answered 401)."""

    host: str


@dataclass(slots=True)
class CredentialedRedirect(AssetRedirect):
    """A redirect the upstream issued in answer to credentials the gateway sent.

    Its URL was minted for an account: pre-signed S3 URLs from TEA carry the EDL user id
    (`A-userid`), M2M download URLs the USGS contact id, both inside the signature, so they
    cannot be stripped.  `service_account`: that account is the gateway's own (not the
    caller's passthrough token), so a client that follows the redirect learns it; the proxy
    streams instead when `[proxy] redirects_reveal_account` is false.
    """

    service_account: bool = True


@dataclass(slots=True)
class CredentialedStream(AssetStream):
    """A stream fetched with credentials: its bytes must never be stored by a shared cache."""


FetchOutcome = AssetRedirect | AssetStream | LoginRequired


def _link_local(host: str) -> bool:
    """Whether `host` is a link-local address literal (cloud metadata lives there)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_link_local
    except ValueError:
        return False


async def hold_slot(slots: StreamSlots | None, response: httpx.Response, provider: str) -> None:
    """Count `response` as an open stream, or close it and answer 503 when all are taken."""
    if slots is None or slots.hold(response):
        return
    await response.aclose()
    raise ProviderError(
        provider,
        f"too many downloads streaming at once ({slots.limit}); retry shortly",
        status_code=503,
        retry_after=2,
    )


class AllowListedFetcher:
    """Follows one asset's redirects, attaching credentials only where they belong."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        provider: str,
        http: HttpSettings,
        allowed: Sequence[str],
        *,
        login_host: str | None = None,
        allow_insecure_http: bool = False,
        public: Sequence[str] = (),
        slots: StreamSlots | None = None,
    ) -> None:
        self.client = client
        self.provider = provider
        self.http = http
        self.login_host = login_host
        self.allowed = [*allowed, *([login_host] if login_host else [])]
        self.public = list(public)
        self.allow_insecure_http = allow_insecure_http
        self.slots = slots
        self._allowed_hosts: dict[str, bool] = {}

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
            allowed = (
                host == netloc
                and "@" not in netloc
                and host_allowed(host, self.allowed)
                and not self.is_public(url)
            )
            if len(self._allowed_hosts) < 10_000:
                self._allowed_hosts[netloc] = allowed
        return allowed

    def is_public(self, url: str) -> bool:
        """Whether `url` is on a public host: never proxied, never given credentials."""
        return bool(self.public) and host_allowed(urlsplit(url).netloc, self.public)

    def secure_enough(self, url: str) -> bool:
        return url.startswith("https://") or self.allow_insecure_http

    async def send(
        self, method: str, url: str, headers: Mapping[str, str], *, stream: bool = False
    ) -> httpx.Response:
        request = httpx.Request(method, url, headers=dict(headers))
        return await send_with_retries(
            self.client, self.provider, request, self.http, stream=stream
        )

    async def follow(
        self,
        url: str,
        method: str,
        forwarded: Mapping[str, str],
        credentials: Mapping[str, str],
        *,
        auth_hosts: Collection[str] | None = None,
        service_account: bool = True,
    ) -> FetchOutcome:
        """Request `url`, following redirects by hand; see the module docstring for the rules.

        `auth_hosts`: the hosts an `authorization` credential may go to (None: any
        allow-listed host).  `service_account`: the credentials are the gateway's own, not
        the caller's (see `CredentialedRedirect`).
        """
        session_host = hostport(url)
        for _ in range(MAX_REDIRECTS):
            host = hostport(url)
            send_creds = (
                self.allowed_url(url) and host != self.login_host and self.secure_enough(url)
            )
            attached = {
                k: v
                for k, v in credentials.items()
                if send_creds
                and (k != "cookie" or host == session_host)
                and (k != "authorization" or auth_hosts is None or host in auth_hosts)
            }
            response = await self.send(method, url, {**forwarded, **attached}, stream=True)
            status = response.status_code
            if status in (301, 302, 303, 307, 308):
                raw_location = response.headers.get("location", "")
                await response.aclose()
                try:
                    location = urljoin(url, raw_location)
                    location_host = hostport(location)
                    scheme = urlsplit(location).scheme.lower()
                except ValueError as exc:
                    raise ProviderError(
                        self.provider, "the data host redirected to an invalid URL"
                    ) from exc
                if scheme not in ("http", "https") or not location_host:
                    # never hand a client a javascript:/data:/file: "download" link
                    raise ProviderError(
                        self.provider, "the data host redirected to a URL that is not http(s)"
                    )
                if self.login_host is not None and location_host == self.login_host:
                    return LoginRequired(host)
                if not self.allowed_url(location):
                    # a pre-signed URL on S3/CloudFront: the client goes there itself
                    code = 307 if status != 303 else 303
                    if attached:
                        return CredentialedRedirect(location, code, service_account)
                    return AssetRedirect(location, status=code)
                url = location
                continue
            if status == 401 and host != self.login_host:
                await response.aclose()
                return LoginRequired(host)
            if status == 403:
                await response.aclose()
                raise Forbidden(
                    "the data host refused access to this file (HTTP 403: the account may "
                    "lack permission or an accepted EULA)"
                )
            if status == 404:
                await response.aclose()
                raise NotFound("the data host has no such file")
            if status >= 400 and status not in (412, 416):
                await response.aclose()
                raise ProviderError(self.provider, f"data host answered {status}")
            if method != "HEAD" and status < 300:
                await hold_slot(self.slots, response, self.provider)
            return CredentialedStream(response) if attached else AssetStream(response)
        raise ProviderError(self.provider, "too many redirects from the data host")


class TargetFetcher:
    """Fetches a redirect target for a client that cannot follow the redirect itself.

    A HEAD (a redirect pre-signed for HEAD is useless for the GETs that follow it), a browser
    (pre-signed hosts send no CORS headers), or a URL that would show the client the service
    account: the proxy then requests the target itself and streams the answer.  The target
    URL is its own credential: nothing of the gateway's is ever attached, on any hop.
    Redirects are followed (http/https only, never to a link-local address, never from https
    down to http); the client's Range and validators are forwarded.
    """

    def __init__(
        self, client: httpx.AsyncClient, http: HttpSettings, slots: StreamSlots | None = None
    ) -> None:
        self.client = client
        self.http = http
        self.slots = slots

    async def open(
        self, provider: str, url: str, method: str, forwarded: Mapping[str, str]
    ) -> AssetStream:
        for _ in range(MAX_REDIRECTS):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ProviderError(provider, "the download URL is not http(s)")
            if _link_local(parts.hostname) or "@" in parts.netloc:
                raise ProviderError(provider, "the download URL points at a forbidden address")
            request = httpx.Request(method, url, headers=dict(forwarded))
            response = await send_with_retries(
                self.client, provider, request, self.http, stream=True
            )
            status = response.status_code
            if status in (301, 302, 303, 307, 308):
                location = urljoin(url, response.headers.get("location", ""))
                await response.aclose()
                if parts.scheme == "https" and not location.startswith("https://"):
                    raise ProviderError(provider, "the download URL redirected to plain http")
                url = location
                continue
            if status in (401, 403):
                await response.aclose()
                raise Forbidden(
                    f"the download host refused this file (HTTP {status}: the link may have "
                    "expired; request the asset again)"
                )
            if status == 404:
                await response.aclose()
                raise NotFound("the download host has no such file")
            if status >= 400 and status not in (412, 416):
                await response.aclose()
                raise ProviderError(provider, f"the download host answered {status}")
            if method != "HEAD" and status < 300:
                await hold_slot(self.slots, response, provider)
            return AssetStream(response)
        raise ProviderError(provider, "too many redirects from the download host")
