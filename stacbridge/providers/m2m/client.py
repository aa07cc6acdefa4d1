"""HTTP access to the USGS M2M JSON API, with its envelope checked on every answer.

Every M2M response is `{"requestId", "version", "sessionId", "data", "errorCode",
"errorMessage"}`; an error code is never mistaken for data.  The API key comes from
`auth.APIKey` (cached in the state store, shared by every request and worker); an
`AUTH_EXPIRED`/`AUTH_INVALID`/`AUTH_UNAUTHROIZED` answer drops exactly that key and retries
once with a fresh one (single flight: a burst after expiry logs in once).
"""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import orjson

from stacbridge.http import make_client, send_with_retries
from stacbridge.perf import gc_paused
from stacbridge.protocols import ProviderError
from stacbridge.providers.m2m.auth import AUTH_ERRORS, APIKey
from stacbridge.providers.m2m.config import M2MSettings
from stacbridge.store import Store

PROVIDER = "m2m"
_decode = msgspec.json.Decoder().decode

#: M2M sends its error envelopes (AUTH_EXPIRED, RATE_LIMIT...) with HTTP 500, so 500 is read,
#: not retried; gateway-level faults (502/503/504, 429) are retried.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: a scene or product that does not exist.
NOT_FOUND_ERRORS = frozenset({"NOT_FOUND", "SCENE_INVALID", "ENTITY_INVALID", "DATASET_INVALID"})

#: error codes caused by the client's own query (answered as 400, quoting M2M).
QUERY_ERRORS = frozenset(
    {
        "DATASET_UNAUTHORIZED",
        "SEARCH_ERROR",
        "SEARCH_FAILED",
        "SEARCH_UNAVAILABLE",
        "INPUT_FORMAT",
        "INPUT_PARAMETER_INVALID",
        "INPUT_INVALID",
        "INPUT_PARAMETER_REQUIRED",
        "SCENE_INVALID",
    }
)


class M2MError(ProviderError):
    """An M2M error envelope, with its code."""

    def __init__(
        self, code: str, message: str, *, status_code: int = 502, retry_after: int | None = None
    ) -> None:
        super().__init__(
            PROVIDER, f"M2M {code}: {message}", status_code=status_code, retry_after=retry_after
        )
        self.code = code


class M2MClient:
    """Calls M2M endpoints (`POST <base>/<endpoint>` with a JSON body)."""

    def __init__(
        self, settings: M2MSettings, store: Store, client: httpx.AsyncClient | None = None
    ) -> None:
        self.settings = settings
        self.base_url = settings.url.rstrip("/") + "/"
        self._client = client or make_client(settings.http)
        self.key = APIKey(settings, store, self._login)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _post(self, endpoint: str, payload: Any, api_key: str | None) -> Any:
        headers = {"Content-Type": "application/json"}
        if api_key is not None:
            headers["X-Auth-Token"] = api_key
        request = self._client.build_request(
            "POST", self.base_url + endpoint, content=orjson.dumps(payload), headers=headers
        )
        response = await send_with_retries(
            self._client, PROVIDER, request, self.settings.http, retry_statuses=RETRY_STATUSES
        )
        try:
            # a 1,000-scene page decodes into millions of containers: no cyclic GC meanwhile;
            # msgspec's untyped decoder builds the same dicts and lists as orjson, ~25 % faster
            # on M2M's bodies (13 MB of scene metadata a page)
            with gc_paused():
                envelope = _decode(response.content)
        except (msgspec.MsgspecError, RecursionError) as exc:  # nesting too deep is junk too
            raise ProviderError(
                PROVIDER,
                f"{endpoint}: M2M answered HTTP {response.status_code} without a JSON envelope",
            ) from exc
        if not isinstance(envelope, dict) or "errorCode" not in envelope:
            raise ProviderError(PROVIDER, f"{endpoint}: not an M2M response envelope")
        code = envelope.get("errorCode")
        if code:
            message = str(envelope.get("errorMessage") or code)
            if code in AUTH_ERRORS:
                raise M2MError(code, message)
            if code == "RATE_LIMIT" or code.startswith("RATE_LIMIT"):
                raise M2MError(code, message, status_code=503, retry_after=60)
            if code in NOT_FOUND_ERRORS:
                raise M2MError(code, message, status_code=404)
            if code in QUERY_ERRORS:
                raise M2MError(code, message, status_code=400)
            raise M2MError(code, message)
        if response.status_code >= 400:
            raise ProviderError(
                PROVIDER,
                f"{endpoint}: M2M answered HTTP {response.status_code} without an error code",
            )
        return envelope.get("data")

    async def _login(self) -> str:
        if not self.settings.username or self.settings.token is None:
            raise ProviderError(
                PROVIDER, "M2M credentials are not configured (username and application token)"
            )
        payload = {
            "username": self.settings.username,
            "token": self.settings.token.get_secret_value(),
        }
        try:
            data = await self._post("login-token", payload, None)
        except M2MError as exc:
            raise ProviderError(
                PROVIDER, "M2M login-token was refused: check the username and application token"
            ) from exc
        if not isinstance(data, str) or not data:
            raise ProviderError(PROVIDER, "M2M login-token returned no API key")
        return data

    async def call(self, endpoint: str, payload: dict[str, Any]) -> Any:
        """`data` of a successful call; logs in (once, shared) when the key is missing or dead."""
        key = await self.key.get()
        try:
            return await self._post(endpoint, payload, key)
        except M2MError as exc:
            if exc.code not in AUTH_ERRORS:
                raise
            await self.key.invalidate(key)
        key = await self.key.get()
        try:
            return await self._post(endpoint, payload, key)
        except M2MError as exc:
            if exc.code in AUTH_ERRORS:
                raise ProviderError(PROVIDER, "M2M refused a freshly issued API key") from exc
            raise
