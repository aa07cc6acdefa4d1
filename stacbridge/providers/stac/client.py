"""HTTP access to one STAC API upstream: JSON in, upstream faults mapped to gateway errors.

A 4xx to a search means the query was refused (the client's fault, quoted in a 400); 404 is
"no such thing"; 401/403 with `api_auth` drops the bearer and retries once with a fresh one;
anything else (5xx after retries, timeouts, non-JSON) is the upstream's fault (502/504, naming
the provider).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

import httpx
import orjson

from stacbridge.auth.oidc import OIDCTokens
from stacbridge.config import HttpSettings
from stacbridge.http import send_with_retries
from stacbridge.protocols import ProviderError, UpstreamRejected


class NotFoundUpstream(LookupError):
    """The upstream answered 404."""


def _message(response: httpx.Response) -> str:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return ""
    if isinstance(body, dict):
        text = body.get("description") or body.get("detail") or body.get("message") or ""
        return str(text)[:300]
    return ""


class UpstreamClient:
    """GET/POST JSON against the upstream's base URL."""

    def __init__(
        self,
        provider: str,
        url: str,
        http: HttpSettings,
        client: httpx.AsyncClient,
        tokens: OIDCTokens | None = None,
    ) -> None:
        self.provider = provider
        self.base = url if url.endswith("/") else url + "/"
        self.http = http
        self.client = client
        self.tokens = tokens

    def url(self, path: str) -> str:
        """`path` resolved against the upstream (a path from a next link keeps its own root)."""
        return urljoin(self.base, path)

    async def _send(self, method: str, url: str, params: Any, body: Any, token: str | None) -> Any:
        headers = {"Accept": "application/geo+json, application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = orjson.dumps(body)
        request = self.client.build_request(
            method, url, params=params, content=content, headers=headers
        )
        return await send_with_retries(self.client, self.provider, request, self.http)

    async def call(self, method: str, path: str, *, params: Any = None, body: Any = None) -> Any:
        """The decoded JSON of a successful call; see the module docstring for the faults."""
        url = self.url(path)
        token = await self.tokens.access_token() if self.tokens is not None else None
        response = await self._send(method, url, params, body, token)
        if response.status_code in (401, 403) and self.tokens is not None and token is not None:
            await self.tokens.invalidate(token)
            token = await self.tokens.access_token()
            response = await self._send(method, url, params, body, token)
        status = response.status_code
        if status == 404:
            raise NotFoundUpstream(path)
        if status in (401, 403):
            raise ProviderError(
                self.provider, f"{self.provider} refused the gateway's credentials ({status})"
            )
        if 400 <= status < 500:
            detail = _message(response)
            raise UpstreamRejected(
                self.provider,
                f"{self.provider} refused the query ({status})" + (f": {detail}" if detail else ""),
            )
        if status >= 300:
            raise ProviderError(self.provider, f"{self.provider} answered HTTP {status}")
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise ProviderError(self.provider, f"{self.provider} answered without JSON") from exc
