"""EGI over HTTP with Earthdata Login: one bearer token, sent only to the EGI host.

The token is the deployment's EDL token (`[earthdata] token`) or, with a username/password,
an EDL user token from `find_or_create_token` — cached in the state store, fetched by one
caller at a time (single flight across workers), and fetched again once when EGI answers 401
(it expired mid-poll).  It rides in the `Authorization` header, never in a URL, so it reaches
no log line and no href.  A result on another host than EGI's is never sent the token.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from stacbridge.assets.fetch import hostport
from stacbridge.config import EarthdataSettings
from stacbridge.errors import Unauthorized
from stacbridge.http import send_with_retries
from stacbridge.protocols import ProviderError
from stacbridge.providers.egi.config import EGISettings
from stacbridge.providers.egi.translate import PROVIDER
from stacbridge.store import Store, cached_token, invalidate

#: the most bytes of an XML answer read (status, errors, capabilities).
MAX_XML = 1 << 20
#: seconds an EDL user token is cached (EDL's answer gives only an expiry *date*); a token that
#: dies sooner is replaced on EGI's 401.
TOKEN_TTL = 3600.0


class EGIClient:
    def __init__(
        self,
        settings: EGISettings,
        earthdata: EarthdataSettings,
        store: Store,
        client: httpx.AsyncClient,
        username: str | None,
        password: str | None,
    ) -> None:
        self.settings = settings
        self.earthdata = earthdata
        self.store = store
        self.http = client
        self.username, self.password = username, password
        self.host = hostport(settings.url)
        base = settings.url.rstrip("/")
        self.root = base[: -len("/egi/request")] if base.endswith("/egi/request") else base
        self._token_key = f"token:egi-edl:{hostport(earthdata.url)}:{username or 'token'}"

    def status_url(self, order_id: str) -> str:
        return f"{self.settings.url.rstrip('/')}/{order_id}"

    def capabilities_url(self, short_name: str, version: str) -> str:
        return f"{self.root}/egi/capabilities/{short_name}.{version}.xml"

    def on_egi_host(self, url: str) -> bool:
        return hostport(url) == self.host and urlsplit(url).scheme in ("http", "https")

    async def _token(self) -> str:
        if self.earthdata.token is not None:
            return self.earthdata.token.get_secret_value()
        if not (self.username and self.password):
            raise Unauthorized("EGI needs Earthdata Login: configure [earthdata] credentials")
        value = await cached_token(self.store, self._token_key, self._fetch_token, lock_ttl=60.0)
        return value.decode()

    async def _fetch_token(self) -> tuple[bytes, float]:
        url = f"{self.earthdata.url.rstrip('/')}/api/users/find_or_create_token"
        request = self.http.build_request("POST", url)
        auth = httpx.BasicAuth(self.username or "", self.password or "")
        request = next(auth.auth_flow(request))
        response = await send_with_retries(self.http, PROVIDER, request, self.earthdata.http)
        if response.status_code in (401, 403):
            raise ProviderError(PROVIDER, "Earthdata Login rejected the configured credentials")
        try:
            token = response.json()["access_token"]
        except (ValueError, KeyError, TypeError):
            raise ProviderError(PROVIDER, "Earthdata Login answered no token") from None
        return str(token).encode(), self.store.clock() + TOKEN_TTL

    async def send(
        self,
        method: str,
        url: str,
        *,
        stream: bool = False,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """`method url` with the EDL token when `url` is on the EGI host; one re-login on 401."""
        for attempt in range(2):
            headers = dict(headers or {})
            token = None
            if self.on_egi_host(url):
                token = await self._token()
                headers["Authorization"] = f"Bearer {token}"
            request = self.http.build_request(method, url, headers=headers)
            response = await send_with_retries(
                self.http, PROVIDER, request, self.settings.http, stream=stream
            )
            if response.status_code != 401 or token is None or attempt:
                return response
            await response.aclose()
            if self.earthdata.token is not None:
                break
            await invalidate(self.store, self._token_key, token.encode())
        raise ProviderError(PROVIDER, "EGI did not accept the gateway's Earthdata Login token")

    async def read_xml(self, url: str) -> tuple[int, bytes]:
        response = await self.send("GET", url, stream=True)
        try:
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_XML:
                    raise ProviderError(PROVIDER, "EGI answered more than 1 MiB of XML")
            return response.status_code, body
        finally:
            await response.aclose()
