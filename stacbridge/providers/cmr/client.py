"""HTTP access to NASA CMR search: umm_json collection and granule searches with search-after.

CMR caps a page at 2,000 results and refuses `page_num × page_size` past 1,000,000, so deep
paging must follow the `CMR-Search-After` response header: this client never sends `page_num`.
Each call returns the decoded `items`, the `CMR-Hits` count and the search-after value that
continues the search (None on the last page).

**Read-ahead.** A client paging through a search (pystac-client, `stacbridge search`) asks for
page N+1 as soon as it has decoded page N, and meanwhile the gateway sits idle.  So once a
granule search has been continued (a request *with* a search-after answered a full page), the
client fetches the next upstream page in the background, and the request for it takes the
answer instead of asking CMR again.  Bounded: one page ahead per search, at most
`PREFETCH_SLOTS` pages held at once (raw bytes, ≤ `PREFETCH_MAX_BYTES` each), each kept
`PREFETCH_TTL` seconds; only the exact same request (kind, every parameter, page size,
search-after) takes it, so it is never shared across queries; a failed read-ahead is
forgotten and the page fetched as usual; `aclose` cancels what is in flight.  First pages
never read ahead: a single-page search (STAC Browser, QGIS) costs CMR nothing extra.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import orjson

from stacbridge.checks import count_of, json_array_text, records_of
from stacbridge.http import make_client, send_with_retries
from stacbridge.perf import gc_paused
from stacbridge.protocols import ProviderError, UpstreamRejected
from stacbridge.providers.cmr.config import CMRSettings

PROVIDER = "cmr"

log = logging.getLogger("stacbridge.cmr")

Params = list[tuple[str, str]]

#: pages read ahead and held at once (across all searches), and how long one is kept.
PREFETCH_SLOTS = 2
PREFETCH_TTL = 30.0
#: msgspec decodes a 24 MB umm_json page into the same plain dicts as orjson in ~2/3 of the time
#: (bench/translate.py "decode"); untyped on purpose: the translator reads nearly every field.
_DECODE = msgspec.json.Decoder().decode

#: a page body larger than this is not held (a 2,000-granule HLS page is ~24 MB).
PREFETCH_MAX_BYTES = 64 << 20

_Key = tuple[str, tuple[tuple[str, str], ...], int, str]


@dataclass(slots=True)
class _Raw:
    """What a read-ahead keeps of CMR's answer: the body and the two headers a page needs."""

    content: bytes
    hits: str | None
    search_after: str | None


@dataclass(slots=True)
class CMRPage:
    items: list[dict[str, Any]]
    hits: int | None
    search_after: str | None


class CMRClient:
    """A thin async client for `/search/{collections,granules}.umm_json`."""

    def __init__(
        self,
        settings: CMRSettings,
        client: httpx.AsyncClient | None = None,
        *,
        prefetch: bool = True,
    ) -> None:
        self.settings = settings
        self.prefetch = prefetch
        self._ahead: dict[_Key, tuple[asyncio.Task[_Raw | None], asyncio.TimerHandle]] = {}
        self.base_url = settings.url.rstrip("/")
        self._client = client or make_client(
            settings.http,
            headers={
                "Accept": "application/vnd.nasa.cmr.umm_results+json",
                "Client-Id": "stacbridge",
            },
        )

    async def aclose(self) -> None:
        for task, timer in self._ahead.values():
            timer.cancel()
            task.cancel()
        self._ahead.clear()
        await self._client.aclose()

    async def search(
        self, kind: str, params: Params, *, page_size: int, search_after: str | None = None
    ) -> CMRPage:
        """One page of `kind` ("collections" or "granules") matching `params`."""
        page_size = max(1, min(page_size, self.settings.max_page_size))
        key: _Key = (kind, tuple(params), page_size, search_after or "")
        raw = await self._claim(key) if search_after else None
        if raw is None:
            raw = await self._fetch(kind, params, page_size, search_after)
        page = self._page(kind, raw)
        if (
            self.prefetch
            and kind == "granules"
            and search_after
            and page.search_after
            and len(page.items) >= page_size
        ):
            self._read_ahead((kind, key[1], page_size, page.search_after))
        return page

    async def _fetch(
        self, kind: str, params: Params, page_size: int, search_after: str | None
    ) -> _Raw:
        query = [*params, ("page_size", str(page_size))]
        headers = {"CMR-Search-After": search_after} if search_after else {}
        response = await self._post(f"{kind}.umm_json", query, headers)
        return _Raw(
            response.content,
            response.headers.get("cmr-hits"),
            response.headers.get("cmr-search-after"),
        )

    async def _post(
        self, path: str, query: Params, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """One search request, retried as the HTTP settings say; CMR's errors raised."""
        # POST with a form body: long polygons and id lists never hit URL length limits.
        request = self._client.build_request(
            "POST", f"{self.base_url}/{path}", data=_form(query), headers=headers or {}
        )
        response = await send_with_retries(self._client, PROVIDER, request, self.settings.http)
        if response.status_code >= 400:
            raise _error_from(response)
        return response

    @staticmethod
    def _page(kind: str, raw: _Raw) -> CMRPage:
        try:
            with gc_paused():
                body = _DECODE(raw.content)
            items = body["items"]
        except (msgspec.DecodeError, KeyError, TypeError) as exc:
            raise ProviderError(PROVIDER, "CMR answered with a body that is not umm_json") from exc
        # the envelope's shape is CMR's promise: a wrong one fails the page as a 502, while a
        # malformed record inside it is skipped by the provider
        items = records_of(PROVIDER, items, f"CMR {kind} search: items")
        hits = (
            count_of(PROVIDER, raw.hits, "CMR's CMR-Hits header")
            if raw.hits is not None
            else count_of(PROVIDER, body.get("hits"), f"CMR {kind} search: hits")
        )
        next_after = raw.search_after if items else None
        return CMRPage(items=items, hits=hits, search_after=next_after)

    # -- read-ahead ----------------------------------------------------------------------------

    def _read_ahead(self, key: _Key) -> None:
        """Start fetching the page `key` names, unless it is held already or no slot is free."""
        if key in self._ahead or len(self._ahead) >= PREFETCH_SLOTS:
            return
        kind, params, page_size, after = key
        task = asyncio.get_running_loop().create_task(
            self._fetch_quietly(kind, list(params), page_size, after)
        )
        timer = asyncio.get_running_loop().call_later(PREFETCH_TTL, self._expire, key, task)
        self._ahead[key] = (task, timer)

    async def _fetch_quietly(
        self, kind: str, params: Params, page_size: int, after: str
    ) -> _Raw | None:
        try:
            raw = await self._fetch(kind, params, page_size, after)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the request for this page asks again
            log.debug("cmr: read-ahead failed (%s); the page will be fetched when asked", exc)
            return None
        return raw if len(raw.content) <= PREFETCH_MAX_BYTES else None

    def _expire(self, key: _Key, task: asyncio.Task[_Raw | None]) -> None:
        held = self._ahead.get(key)
        if held is not None and held[0] is task:
            del self._ahead[key]
            task.cancel()

    async def _claim(self, key: _Key) -> _Raw | None:
        """The read-ahead answer for exactly `key` (waiting for it if in flight), or None."""
        held = self._ahead.pop(key, None)
        if held is None:
            return None
        task, timer = held
        timer.cancel()
        try:
            return await task
        except asyncio.CancelledError:
            if task.cancelled() and not _current_cancelling():
                return None  # the read-ahead was dropped, not this request
            raise

    async def granule_footprints(self, concept_ids: list[str]) -> Any:
        """CMR's legacy `.json` answer for these granules: it states the footprints CMR computes
        from orbits, which umm_json leaves out (`footprints.py`)."""
        query = [*(("concept_id[]", c) for c in concept_ids), ("page_size", str(len(concept_ids)))]
        response = await self._post("granules.json", query)
        try:
            return _DECODE(response.content)
        except msgspec.DecodeError as exc:
            raise ProviderError(
                PROVIDER, "CMR answered granules.json with a body that is not JSON"
            ) from exc

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
            # the cursor goes back to CMR as it came: a malformed one is CMR's fault, said now
            after = json_array_text(PROVIDER, page.search_after, "CMR's CMR-Search-After header")
            if not after or len(page.items) < want or (limit is not None and len(out) >= limit):
                return out


def _current_cancelling() -> bool:
    current = asyncio.current_task()
    return bool(current is not None and current.cancelling())


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
