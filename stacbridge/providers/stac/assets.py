"""Asset auth schemes: how one STAC upstream's files are reached, chosen per upstream.

Each scheme answers the two questions the signing proxy asks an asset source — which hrefs go
through the proxy (`proxies`, no I/O) and how a signed one becomes bytes (`resolve`):

* `PublicAssets` (`none`): nothing is proxied, hrefs stay as the upstream wrote them;
* `BearerAssets` (`oidc`, ESA MAAP): the proxy requests the file with the provider's OIDC
  bearer (`assets/fetch.py` decides per hop who may see it) and streams it, Range and
  validators passed, or hands the client the pre-signed URL the host redirected to.  A 401
  drops that access token and tries once more with a fresh one; a second 401, or a credential
  the token endpoint refused (`invalid_grant`), is a 502 naming the provider;
* `SasAssets` (`sas`, Planetary Computer): a SAS token per collection (or storage container)
  from the SAS endpoint — `{"msft:expiry": ..., "token": ...}` — cached in the store until
  shortly before its expiry (single flight), appended to the blob URL, and the client is
  redirected there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol
from urllib.parse import quote, urlsplit

import httpx
import orjson

from stacbridge.assets.fetch import (
    AllowListedFetcher,
    LoginRequired,
    forwarded_headers,
    host_allowed,
)
from stacbridge.auth.oidc import OIDCTokens
from stacbridge.config import HttpSettings
from stacbridge.errors import Forbidden
from stacbridge.http import StreamSlots, send_with_retries
from stacbridge.protocols import AssetRedirect, AssetRequest, AssetResolution, ProviderError
from stacbridge.store import Store, cached_token

#: marks the collection of a SAS-signed href inside the signed reference (`#collection=<id>`);
#: a fragment is never sent to a server and the rewriter's file name ignores it.
COLLECTION_FRAGMENT = "#collection="


class AssetScheme(Protocol):
    """What a STAC upstream provider delegates its asset role to."""

    def proxies(self, href: str) -> bool: ...

    async def resolve(self, request: AssetRequest) -> AssetResolution: ...

    async def aclose(self) -> None: ...


def _on_hosts(href: str, hosts: Sequence[str]) -> bool:
    if not isinstance(href, str) or not href.startswith(("https://", "http://")):
        return False
    parts = urlsplit(href)
    return "@" not in parts.netloc and host_allowed(parts.netloc, hosts)


class PublicAssets:
    """`none`: the upstream's files need nothing; hrefs are passed through untouched."""

    def proxies(self, href: str) -> bool:
        return False

    async def resolve(self, request: AssetRequest) -> AssetResolution:
        raise Forbidden("this provider proxies no assets")

    async def aclose(self) -> None:
        return None


class BearerAssets:
    """`oidc`: stream (or redirect) with the provider's OIDC access token attached."""

    def __init__(
        self,
        provider: str,
        hosts: Sequence[str],
        tokens: OIDCTokens,
        http: HttpSettings,
        client: httpx.AsyncClient,
        *,
        allow_insecure_http: bool = False,
    ) -> None:
        self.provider = provider
        self.tokens = tokens
        self.client = client
        self.fetcher = AllowListedFetcher(
            client,
            provider,
            http,
            list(hosts),
            allow_insecure_http=allow_insecure_http,
            slots=StreamSlots(http.max_streams),
        )

    def proxies(self, href: str) -> bool:
        return self.fetcher.allowed_url(href)

    async def resolve(self, request: AssetRequest) -> AssetResolution:
        url = request.ref
        if not self.fetcher.allowed_url(url):
            raise Forbidden("not an asset of this provider")
        forwarded = forwarded_headers(request.headers)
        for _attempt in range(2):
            token = await self.tokens.access_token()
            outcome = await self.fetcher.follow(
                url, request.method, forwarded, {"authorization": f"Bearer {token}"}
            )
            if not isinstance(outcome, LoginRequired):
                return outcome
            await self.tokens.invalidate(token)
        raise ProviderError(
            self.provider,
            f"{self.provider}: the data host refused a freshly issued OIDC access token (401); "
            "the account may lack access to this collection",
        )

    async def aclose(self) -> None:
        await self.client.aclose()


def _expiry(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


class SasAssets:
    """`sas`: append a cached SAS token to blob URLs and redirect the client there."""

    def __init__(
        self,
        provider: str,
        hosts: Sequence[str],
        sas_url: str,
        store: Store,
        http: HttpSettings,
        client: httpx.AsyncClient,
        *,
        refresh_margin: float = 300.0,
    ) -> None:
        self.provider = provider
        self.hosts = list(hosts)
        self.sas_url = sas_url
        self.store = store
        self.http = http
        self.client = client
        self.refresh_margin = refresh_margin
        #: whether the SAS endpoint is per collection (the ref then carries the collection).
        self.per_collection = "{collection}" in sas_url
        #: SAS token requests sent (tests read it).
        self.fetches = 0

    def proxies(self, href: str) -> bool:
        return _on_hosts(href.split("#", 1)[0], self.hosts)

    def reference(self, href: str, collection: str) -> str:
        """The reference to sign for `href` of `collection` (which SAS token it needs)."""
        if not self.per_collection or not self.proxies(href):
            return href
        return href.split("#", 1)[0] + COLLECTION_FRAGMENT + quote(collection, safe="")

    def _token_url(self, ref: str) -> tuple[str, str]:
        url, _, fragment = ref.partition("#")
        parts = urlsplit(url)
        segments = [s for s in parts.path.split("/") if s]
        values = {
            "collection": fragment.removeprefix("collection=") if fragment else "",
            "account": (parts.hostname or "").split(".", 1)[0],
            "container": segments[0] if segments else "",
        }
        if self.per_collection and not values["collection"]:
            raise Forbidden("this asset reference names no collection")
        return url, self.sas_url.format(**{k: quote(v, safe="") for k, v in values.items()})

    async def _fetch(self, token_url: str) -> tuple[bytes, float]:
        self.fetches += 1
        request = self.client.build_request(
            "GET", token_url, headers={"Accept": "application/json"}
        )
        response = await send_with_retries(self.client, self.provider, request, self.http)
        if response.status_code >= 400:
            raise ProviderError(
                self.provider, f"{self.provider}: the SAS endpoint answered {response.status_code}"
            )
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise ProviderError(self.provider, "the SAS endpoint answered without JSON") from exc
        token = body.get("token") if isinstance(body, dict) else None
        expiry = _expiry(body.get("msft:expiry")) if isinstance(body, dict) else None
        if not isinstance(token, str) or not token or expiry is None:
            raise ProviderError(self.provider, "the SAS endpoint sent no token or msft:expiry")
        return token.lstrip("?").encode(), expiry

    async def resolve(self, request: AssetRequest) -> AssetResolution:
        if not self.proxies(request.ref):
            raise Forbidden("not an asset of this provider")
        url, token_url = self._token_url(request.ref)

        async def fetch() -> tuple[bytes, float]:
            return await self._fetch(token_url)

        token = await cached_token(
            self.store,
            f"token:sas:{self.provider}:{token_url}",
            fetch,
            refresh_margin=self.refresh_margin,
        )
        joiner = "&" if "?" in url else "?"
        return AssetRedirect(url + joiner + token.decode(), status=307)

    async def aclose(self) -> None:
        await self.client.aclose()
