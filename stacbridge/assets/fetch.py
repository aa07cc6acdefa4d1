"""The allow-listed redirect follower: how the proxy reaches bytes without leaking credentials.

Every provider that streams or redirects upstream files uses this one piece.  Redirects are
followed by hand, hop by hop, so that each hop's credentials are decided for that hop's host:

* an `authorization` credential goes only to allow-listed hosts, never to the login host;
* a `cookie` only to the host whose session it is (the asset's own host);
* nothing over plain http unless the deployment allows it (the local sandbox).

The outcome is typed: a redirect the client can follow alone (a pre-signed URL on a host
outside the allow-list), an open stream, or `LoginRequired` when the host sent the client to
the login host (or answered 401) — the caller decides whether to log in and try again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from stacbridge.config import HttpSettings
from stacbridge.errors import Forbidden, NotFound
from stacbridge.http import send_with_retries
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


FetchOutcome = AssetRedirect | AssetStream | LoginRequired


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
    ) -> None:
        self.client = client
        self.provider = provider
        self.http = http
        self.login_host = login_host
        self.allowed = [*allowed, *([login_host] if login_host else [])]
        self.allow_insecure_http = allow_insecure_http
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
            allowed = host == netloc and "@" not in netloc and host_allowed(host, self.allowed)
            if len(self._allowed_hosts) < 10_000:
                self._allowed_hosts[netloc] = allowed
        return allowed

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
    ) -> FetchOutcome:
        """Request `url`, following redirects by hand; see the module docstring for the rules."""
        session_host = hostport(url)
        for _ in range(MAX_REDIRECTS):
            host = hostport(url)
            send_creds = (
                self.allowed_url(url) and host != self.login_host and self.secure_enough(url)
            )
            attached = {
                k: v
                for k, v in credentials.items()
                if send_creds and (k != "cookie" or host == session_host)
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
                    return AssetRedirect(location, status=307 if status != 303 else 303)
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
            return AssetStream(response)
        raise ProviderError(self.provider, "too many redirects from the data host")
