"""Which host and scheme the gateway's links use: forwarded headers only from trusted proxies.

Every link and every asset href the gateway emits is built from the request's base URL, so the
headers that set it decide where clients are sent next.  stac-fastapi's ProxyHeaderMiddleware
honours `Forwarded`, `X-Forwarded-Host`/`-Proto`/`-Port` from anyone, and Starlette takes `Host`
as sent: any anonymous client could have the gateway hand out
`https://evil.example/assets/<a valid token>` (issue 10 #11) — to itself, or, through a shared
cache, to others.  This middleware replaces it:

* The forwarded headers are honoured only when the TCP peer (`scope["client"]`) is in
  `trusted_proxies` (IPs or CIDRs).  From anyone else they are removed, so nothing downstream
  can read them either.  Of a list (`Forwarded: host=a, host=b`, `X-Forwarded-Host: a, b`) the
  last element counts: it is the one the trusted proxy next to us added; earlier ones came from
  further away, possibly from the client.
* The resulting host (forwarded or `Host`) must be a syntactically valid `host[:port]`, and, if
  `allowed_hosts` is set, one of them (`*.example.org` matches subdomains); otherwise 400.
  The scheme must be http or https.

The ASGI server must hand the app the real peer: uvicorn's own `--proxy-headers` (on by default,
trusting `FORWARDED_ALLOW_IPS`, loopback by default) replaces `scope["client"]` with the
`X-Forwarded-For` client before the app runs; behind a proxy, run uvicorn with
`--no-proxy-headers` and list the proxy in `trusted_proxies` (docs/security.md).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["DEFAULT_TRUSTED_PROXIES", "ForwardedHeadersMiddleware", "parse_networks"]

#: the default: a proxy on the same host (nginx, Caddy, a Kubernetes sidecar) only.
DEFAULT_TRUSTED_PROXIES = ["127.0.0.1", "::1"]

FORWARDED_HEADERS = (b"forwarded", b"x-forwarded-host", b"x-forwarded-proto", b"x-forwarded-port")

# a DNS name, an IPv4 address or a bracketed IPv6 address, with an optional port: nothing that
# could carry a path, a user or a second host into a link.
_HOST = re.compile(
    r"^(?:(?P<name>[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*\.?)"
    r"|\[(?P<ipv6>[0-9A-Fa-f:.]+)\])(?::(?P<port>\d{1,5}))?$"
)
_PAIR = re.compile(r'\s*([A-Za-z]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)\s*')

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> list[Network]:
    """IPs and CIDRs as networks; a bad entry is a ValueError (a setting, checked at start)."""
    return [ipaddress.ip_network(v.strip(), strict=False) for v in values]


def _trusted(peer: str | None, networks: Sequence[Network]) -> bool:
    if not peer or not networks:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False  # a unix socket or a test transport: not an IP, not a proxy we know
    return any(address in network for network in networks)


def _last(value: str) -> str:
    return value.rsplit(",", 1)[-1].strip()


def _forwarded_pairs(value: str) -> dict[str, str]:
    """The last element of an RFC 7239 `Forwarded` header, its keys lower-cased."""
    element = value.rsplit(",", 1)[-1]
    pairs: dict[str, str] = {}
    for part in element.split(";"):
        match = _PAIR.fullmatch(part)
        if match:
            raw = match.group(2)
            pairs[match.group(1).lower()] = raw[1:-1] if raw.startswith('"') else raw
    return pairs


def _host_allowed(host: str, allowed: Sequence[str]) -> bool:
    name = host.lower().rstrip(".")
    for pattern in allowed:
        pattern = pattern.lower().rstrip(".")
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


class ForwardedHeadersMiddleware:
    """Set the request's scheme and `Host` from trusted forwarded headers; validate the host.

    `trusted_proxies`: IPs/CIDRs whose forwarded headers count (empty: nobody's).
    `allowed_hosts`: host names the gateway answers for (None: any valid name).
    """

    def __init__(
        self,
        app: ASGIApp,
        trusted_proxies: Iterable[str] = DEFAULT_TRUSTED_PROXIES,
        allowed_hosts: Sequence[str] | None = None,
    ) -> None:
        self.app = app
        self.networks = parse_networks(trusted_proxies)
        self.allowed_hosts = list(allowed_hosts) if allowed_hosts else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", ()))
        found = {name: value.decode("latin-1") for name, value in headers}
        host = found.get(b"host") or _server_host(scope)
        scheme: str = scope.get("scheme", "http")
        if _trusted(client[0] if client else None, self.networks):
            if b"forwarded" in found:
                pairs = _forwarded_pairs(found[b"forwarded"])
                scheme = pairs.get("proto", scheme).lower()
                host = pairs.get("host", host)
            else:
                scheme = _last(found.get(b"x-forwarded-proto", scheme)).lower()
                host = _last(found.get(b"x-forwarded-host", host))
                port = found.get(b"x-forwarded-port")
                if port and b"x-forwarded-host" in found:
                    host = f"{_without_port(host)}:{_last(port)}"
        problem = self._problem(host, scheme)
        if problem:
            await _refuse(send, problem)
            return
        host = _without_default_port(host, scheme)
        kept = [(n, v) for n, v in headers if n not in FORWARDED_HEADERS and n != b"host"]
        kept.append((b"host", host.encode("latin-1")))
        # in place, as uvicorn's own proxy-headers middleware does: the outer middlewares
        # (metrics, access log) read the matched route from this same scope afterwards
        scope["scheme"], scope["headers"] = scheme, kept
        await self.app(scope, receive, send)

    def _problem(self, host: str, scheme: str) -> str | None:
        if scheme not in ("http", "https"):
            return f"forwarded scheme {scheme!r} is not http or https"
        match = _HOST.match(host)
        if not match or (match.group("port") and not 0 < int(match.group("port")) < 65536):
            return f"the request's host {host!r} is not a valid host name"
        if self.allowed_hosts is not None:
            name = match.group("name") or f"[{match.group('ipv6')}]"
            if not _host_allowed(name, self.allowed_hosts):
                return f"this gateway does not answer for host {name!r}"
        return None


def _server_host(scope: Scope) -> str:
    server = scope.get("server")
    if not server:
        return "localhost"
    host, port = server[0], server[1]
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


def _without_port(host: str) -> str:
    match = _HOST.match(host)
    if match and match.group("port"):
        return host[: -len(match.group("port")) - 1]
    return host


def _without_default_port(host: str, scheme: str) -> str:
    default = {"http": "80", "https": "443"}[scheme]
    match = _HOST.match(host)
    if match and match.group("port") == default:
        return _without_port(host)
    return host


async def _refuse(send: Send, description: str) -> None:
    """A 400 in the gateway's STAC error form, answered before any routing."""
    body = orjson.dumps({"code": "BadRequest", "description": description})
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
