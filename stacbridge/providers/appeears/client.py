"""HTTP access to the AppEEARS API: login, products, tasks, status and bundles.

Every request goes through `send_with_retries` (connection faults, 429 and 5xx retried).  The
product catalogue is public and asked without a token; everything about tasks carries the
shared bearer token (`auth.BearerToken`).  A 403 on a token-bearing request is how AppEEARS
says the token is no longer good: that token is dropped, one fresh login is shared by every
waiting request, and the request is sent once more.  AppEEARS's own error text
(`{"message": ...}`) is quoted in every error, with the provider named; credentials and query
strings never are.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import orjson

from stacbridge.http import make_client, send_with_retries
from stacbridge.protocols import ProviderError, UpstreamRejected
from stacbridge.providers.appeears.auth import BearerToken, lifetime
from stacbridge.providers.appeears.config import AppEEARSSettings
from stacbridge.store import Store

PROVIDER = "appeears"


def upstream_message(response: httpx.Response) -> str:
    """AppEEARS's own words for an error answer: its `message`, else the status line."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            if isinstance(body.get(key), str) and body[key]:
                return body[key]
    return f"HTTP {response.status_code}"


class AppEEARSClient:
    """Calls `<url><path>`; tasks, status and bundles with the bearer token."""

    def __init__(
        self,
        settings: AppEEARSSettings,
        store: Store,
        *,
        username: str | None,
        password: str | None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings
        self.base_url = settings.url.rstrip("/") + "/"
        self.http = client or make_client(settings.http)
        self._username, self._password = username, password
        self.token = BearerToken(self.base_url, username, store, self._login)

    async def aclose(self) -> None:
        await self.http.aclose()

    def url(self, path: str) -> str:
        return self.base_url + path.lstrip("/")

    async def _send(self, request: httpx.Request) -> httpx.Response:
        return await send_with_retries(self.http, PROVIDER, request, self.settings.http)

    async def _login(self) -> tuple[str, float]:
        if not self._username or not self._password:
            raise ProviderError(
                PROVIDER,
                "AppEEARS needs Earthdata Login credentials: set [earthdata] username and "
                "password (or netrc)",
            )
        basic = base64.b64encode(f"{self._username}:{self._password}".encode()).decode()
        request = self.http.build_request(
            "POST", self.url("login"), headers={"Authorization": f"Basic {basic}"}
        )
        response = await self._send(request)
        if response.status_code in (401, 403):
            raise ProviderError(
                PROVIDER,
                f"AppEEARS refused the Earthdata Login credentials ({upstream_message(response)})",
            )
        body = self._json(response, "login")
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ProviderError(PROVIDER, "AppEEARS /login answered no token")
        return token, lifetime(body.get("expiration"), time.time())

    @staticmethod
    def _json(response: httpx.Response, what: str) -> Any:
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise ProviderError(PROVIDER, f"AppEEARS {what}: the answer is not JSON") from exc

    async def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        authorised: bool = True,
    ) -> httpx.Response:
        """The response to one request (not followed if it redirects); 403 → one re-login."""
        content = orjson.dumps(json) if json is not None else None
        headers = {"Content-Type": "application/json"} if content is not None else {}
        token = await self.token.get() if authorised else None
        for attempt in (1, 2):
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            request = self.http.build_request(
                method, self.url(path), content=content, params=params, headers=headers
            )
            response = await self._send(request)
            if response.status_code != 403 or token is None or attempt == 2:
                break
            await self.token.invalidate(token)
            token = await self.token.get()
        if response.status_code == 403:
            raise ProviderError(
                PROVIDER, f"AppEEARS refused a fresh token: {upstream_message(response)}"
            )
        return response

    def _raise_for(self, response: httpx.Response, what: str) -> None:
        status = response.status_code
        if status < 400:
            return
        message = f"AppEEARS {what}: {upstream_message(response)}"
        if status == 404:
            raise ProviderError(PROVIDER, message, status_code=404)
        if status < 500:
            raise UpstreamRejected(PROVIDER, message)
        raise ProviderError(PROVIDER, message)

    async def get_json(
        self, path: str, what: str, *, params: dict[str, Any] | None = None, authorised: bool = True
    ) -> Any | None:
        """The decoded body of a GET, or None for a 404."""
        response = await self.send("GET", path, params=params, authorised=authorised)
        if response.status_code == 404:
            return None
        self._raise_for(response, what)
        return self._json(response, what)

    # -- the endpoints --------------------------------------------------------------------
    async def products(self) -> Any:
        return await self.get_json("product", "product list", authorised=False) or []

    async def product_layers(self, product: str) -> Any | None:
        return await self.get_json(f"product/{product}", f"product {product}", authorised=False)

    async def tasks(self, limit: int, offset: int) -> Any:
        params = {"limit": limit, "offset": offset}
        return await self.get_json("task", "task list", params=params) or []

    async def task(self, task_id: str) -> Any | None:
        return await self.get_json(f"task/{task_id}", f"task {task_id}")

    async def submit(self, task: dict[str, Any]) -> Any:
        response = await self.send("POST", "task", json=task)
        self._raise_for(response, "task submission")
        return self._json(response, "task submission")

    async def status(self, task_id: str) -> tuple[bool, Any]:
        """`(done, body)`: AppEEARS answers a finished task's status with 303 to the task."""
        response = await self.send("GET", f"status/{task_id}")
        if response.status_code in (301, 302, 303, 307):
            return True, None
        self._raise_for(response, f"status of task {task_id}")
        return False, self._json(response, f"status of task {task_id}")

    async def bundle(self, task_id: str) -> Any | None:
        return await self.get_json(f"bundle/{task_id}", f"bundle of task {task_id}")

    async def file_location(self, task_id: str, file_id: str, method: str) -> str:
        """Where a bundle file's bytes are: AppEEARS redirects to a signed, short-lived URL."""
        response = await self.send(method, f"bundle/{task_id}/{file_id}")
        location = response.headers.get("location")
        if response.status_code in (301, 302, 303, 307, 308) and location:
            return str(response.url.join(location))
        if response.status_code == 404:
            raise ProviderError(
                PROVIDER,
                f"AppEEARS has no file {file_id} in task {task_id} (expired bundle?)",
                status_code=404,
            )
        self._raise_for(response, f"file {file_id} of task {task_id}")
        raise ProviderError(PROVIDER, "AppEEARS answered a bundle file without a redirect")
