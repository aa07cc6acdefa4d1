"""HTTP access to NASA CMR search: umm_json collection and granule searches with search-after.

CMR caps a page at 2,000 results and refuses `page_num × page_size` past 1,000,000, so deep
paging must follow the `CMR-Search-After` response header: this client never sends `page_num`.
Each call returns the decoded `items`, the `CMR-Hits` count and the search-after value that
continues the search (None on the last page).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from stacbridge.checks import count_of, records_of
from stacbridge.http import make_client, send_with_retries
from stacbridge.perf import gc_paused
from stacbridge.protocols import ProviderError, UpstreamRejected
from stacbridge.providers.cmr.config import CMRSettings

PROVIDER = "cmr"

Params = list[tuple[str, str]]


@dataclass(slots=True)
class CMRPage:
    items: list[dict[str, Any]]
    hits: int | None
    search_after: str | None


class CMRClient:
    """A thin async client for `/search/{collections,granules}.umm_json`."""

    def __init__(self, settings: CMRSettings, client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.base_url = settings.url.rstrip("/")
        self._client = client or make_client(
            settings.http,
            headers={
                "Accept": "application/vnd.nasa.cmr.umm_results+json",
                "Client-Id": "stacbridge",
            },
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def search(
        self, kind: str, params: Params, *, page_size: int, search_after: str | None = None
    ) -> CMRPage:
        """One page of `kind` ("collections" or "granules") matching `params`."""
        page_size = max(1, min(page_size, self.settings.max_page_size))
        query = [*params, ("page_size", str(page_size))]
        headers = {"CMR-Search-After": search_after} if search_after else {}
        # POST with a form body: long polygons and id lists never hit URL length limits.
        request = self._client.build_request(
            "POST", f"{self.base_url}/{kind}.umm_json", data=_form(query), headers=headers
        )
        response = await send_with_retries(self._client, PROVIDER, request, self.settings.http)
        if response.status_code >= 400:
            raise _error_from(response)
        try:
            with gc_paused():
                body = orjson.loads(response.content)
            items = body["items"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise ProviderError(PROVIDER, "CMR answered with a body that is not umm_json") from exc
        # the envelope's shape is CMR's promise: a wrong one fails the page as a 502, while a
        # malformed record inside it is skipped by the provider
        items = records_of(PROVIDER, items, f"CMR {kind} search: items")
        hits_header = response.headers.get("cmr-hits")
        hits = (
            count_of(PROVIDER, hits_header, "CMR's CMR-Hits header")
            if hits_header is not None
            else count_of(PROVIDER, body.get("hits"), f"CMR {kind} search: hits")
        )
        next_after = response.headers.get("cmr-search-after") if items else None
        return CMRPage(items=items, hits=hits, search_after=next_after)

    async def search_all(
        self, kind: str, params: Params, *, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Every result of a (small) search, following search-after; stops at `limit`."""
        out: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            want = (
                self.settings.max_page_size
                if limit is None
                else min(self.settings.max_page_size, limit - len(out))
            )
            page = await self.search(kind, params, page_size=want, search_after=after)
            out.extend(page.items)
            after = page.search_after
            if not after or len(page.items) < want or (limit is not None and len(out) >= limit):
                return out


def _form(params: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    form: dict[str, list[str]] = {}
    for key, value in params:
        form.setdefault(key, []).append(value)
    return form


def _error_from(response: httpx.Response) -> ProviderError:
    """CMR's `{"errors": [...]}` as a gateway error: 4xx is the query's fault, 5xx CMR's."""
    try:
        errors = orjson.loads(response.content).get("errors") or []
        message = "; ".join(str(e) for e in errors) or response.reason_phrase
    except (orjson.JSONDecodeError, AttributeError):
        message = response.reason_phrase or f"HTTP {response.status_code}"
    if 400 <= response.status_code < 500:
        return UpstreamRejected(PROVIDER, f"CMR rejected the query: {message}")
    return ProviderError(PROVIDER, f"CMR error {response.status_code}: {message}")
