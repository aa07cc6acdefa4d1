"""One STAC API upstream (ESA MAAP, Planetary Computer, any other) as a stacbridge catalogue.

Collections come from the upstream's `/collections` (following its next links, cached),
items from its `/search` (GET or POST, as configured) or, when it does not declare item
search, `/collections/{id}/items`.  What the query asks is sent upstream only where the
upstream's conformance says it understands it:

* `filter` — sent (CQL2-JSON by POST, CQL2 text by GET) only when the upstream declares the
  filter class; the gateway evaluates the whole filter on the results either way, so an
  upstream without it costs time, never correctness;
* `sortby` — sent when the upstream declares sort, and the provider's `Capabilities` then
  list the configured sortable fields; without it a sort is refused by the API with a 400;
* `fields` — never sent: the gateway needs whole items to check them, and applies fields
  itself.

The upstream's `next` link (GET href, or POST body) is the cursor the API seals into its own
signed token, so a client only ever sees the gateway's links.  Assets are the asset scheme's
business (`assets.py`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import cql2
import httpx
import orjson

from stacbridge.auth.oidc import OIDCTokens
from stacbridge.errors import BadRequest
from stacbridge.http import make_client
from stacbridge.protocols import (
    CATALOG,
    JSON,
    UNTRANSLATABLE,
    AssetRequest,
    AssetResolution,
    Capabilities,
    CollectionNotFound,
    CollectionQuery,
    ItemPage,
    ItemQuery,
    ProviderError,
    UpstreamRejected,
)
from stacbridge.providers.stac import translate
from stacbridge.providers.stac.assets import AssetScheme, BearerAssets, PublicAssets, SasAssets
from stacbridge.providers.stac.client import NotFoundUpstream, UpstreamClient
from stacbridge.providers.stac.config import UpstreamSettings
from stacbridge.stac import cql2 as cql2_kit
from stacbridge.store import MemoryStore, Store

log = logging.getLogger("stacbridge.stac")

#: the search keys of a CQL2 filter (dropped together when the upstream refuses one).
FILTER_KEYS = ("filter", "filter-lang", "filter-crs")
#: pages of `/collections` read at most (a catalogue with more is cut, with a warning).
MAX_COLLECTION_PAGES = 50


def _declares(conformance: list[str], suffix: str) -> bool:
    return any(c.endswith(suffix) for c in conformance)


def _rfc3339(value: dt.datetime | None) -> str:
    if value is None:
        return ".."
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _overlaps(collection: JSON, query: CollectionQuery) -> bool:
    """Whether a collection matches the collection search (q, bbox, datetime) by its extent."""
    if query.q:
        text = (
            " ".join(str(collection.get(k) or "") for k in ("id", "title", "description"))
            + " "
            + " ".join(map(str, collection.get("keywords") or []))
        )
        if not any(term.lower() in text.lower() for term in query.q):
            return False
    extent = collection.get("extent") or {}
    if query.bbox is not None:
        try:
            b = query.bbox
            w, s, e, n = (b[0], b[1], b[3], b[4]) if len(b) == 6 else b
            cw, cs, ce, cn = extent["spatial"]["bbox"][0][:4]
            if cw > e or ce < w or cs > n or cn < s:
                return False
        except (KeyError, IndexError, TypeError, ValueError):
            pass  # no readable extent: not excluded
    if query.datetime is not None:
        try:
            start, end = extent["temporal"]["interval"][0]
            if query.datetime.end is not None and start and _time(start) > query.datetime.end:
                return False
            if query.datetime.start is not None and end and _time(end) < query.datetime.start:
                return False
        except (KeyError, IndexError, TypeError, ValueError):
            pass
    return True


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


class StacUpstreamProvider:
    """A STAC API behind the gateway: pass-through items, gateway links, proxied assets."""

    roles = frozenset({CATALOG})

    def __init__(
        self,
        name: str,
        settings: UpstreamSettings,
        *,
        store: Store | None = None,
        client: httpx.AsyncClient | None = None,
        asset_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.name = name
        self.title = settings.title or name
        self.settings = settings
        self.store = store or MemoryStore()
        self.upstream = settings.url if settings.url.endswith("/") else settings.url + "/"
        self.prefix = settings.id_prefix
        self._http = client or make_client(settings.http)
        auth = settings.auth
        self.tokens = (
            OIDCTokens(auth, self.store, make_client(auth.http), name) if auth is not None else None
        )
        self.client = UpstreamClient(
            name,
            self.upstream,
            settings.http,
            self._http,
            self.tokens if settings.api_auth else None,
        )
        self.assets = self._asset_scheme(asset_client)
        self.capabilities = Capabilities(matches_area=True)  # a STAC API applies bbox itself
        self.conformance: list[str] | None = None
        self._records: tuple[float, dict[str, JSON]] | None = None

    def _asset_scheme(self, client: httpx.AsyncClient | None) -> AssetScheme:
        a, http = self.settings.assets, self.settings.http
        if a.scheme == "oidc":
            assert self.tokens is not None  # the settings validator insists
            hosts = a.hosts or [translate.origin(self.upstream).split("://", 1)[1]]
            return BearerAssets(
                self.name,
                hosts,
                self.tokens,
                http,
                client or make_client(http, streams=True),
                allow_insecure_http=a.allow_insecure_http,
            )
        if a.scheme == "sas":
            return SasAssets(
                self.name,
                a.hosts or [".blob.core.windows.net"],
                a.sas_url,
                self.store,
                http,
                client or make_client(http),
                refresh_margin=a.sas_refresh_margin,
            )
        return PublicAssets()

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Read the upstream's conformance; an upstream down now is asked again later."""
        try:
            await self._conformance()
        except (ProviderError, NotFoundUpstream) as exc:
            log.warning("%s: conformance not read at start-up: %s", self.name, exc)

    async def ready(self) -> None:
        """Unready when the OIDC credential is dead, or the collections cannot be listed."""
        if self.tokens is not None:
            await self.tokens.ready()
        await self.collection_ids()

    async def aclose(self) -> None:
        await self._http.aclose()
        if self.tokens is not None:
            await self.tokens.client.aclose()
        await self.assets.aclose()

    async def _conformance(self) -> list[str]:
        if self.conformance is None:
            landing = await self.client.call("GET", "")
            found = landing.get("conformsTo") if isinstance(landing, dict) else None
            if not isinstance(found, list):
                try:
                    conf = await self.client.call("GET", "conformance")
                except NotFoundUpstream:
                    conf = {}
                found = conf.get("conformsTo") if isinstance(conf, dict) else None
            conformance = [c for c in found or [] if isinstance(c, str)]
            self.conformance = conformance
            sortable = _declares(conformance, "item-search#sort")
            self.capabilities = Capabilities(
                sortable=frozenset(self.settings.sortable) if sortable else frozenset(),
                matches_area=True,
            )
        return self.conformance

    @property
    def _filters(self) -> bool:
        conf = self.conformance or []
        return _declares(conf, "item-search#filter") and (
            _declares(conf, "cql2-json") or _declares(conf, "cql2-text")
        )

    # -- collections ----------------------------------------------------------------------
    def owns(self, collection_id: str) -> bool:
        if self.prefix:
            return collection_id.startswith(self.prefix)
        cached = self._records
        return cached is not None and collection_id in cached[1]

    async def _collection_records(self) -> dict[str, JSON]:
        cached = self._records
        if cached and time.monotonic() - cached[0] < self.settings.collection_cache_ttl:
            return cached[1]
        await self._conformance()
        wanted = set(self.settings.collections)
        found: dict[str, JSON] = {}
        path, params = "collections", None
        for _ in range(MAX_COLLECTION_PAGES):
            page = await self.client.call("GET", path, params=params)
            records = page.get("collections") if isinstance(page, dict) else None
            if not isinstance(records, list):
                raise ProviderError(self.name, f"{self.name}: /collections sent no collections")
            for record in records:
                cid = record.get("id") if isinstance(record, dict) else None
                if isinstance(cid, str) and (not wanted or cid in wanted):
                    found[cid] = record
            try:
                cursor = translate.next_cursor(page, self.upstream, None)
            except ValueError as exc:
                raise ProviderError(self.name, f"{self.name}: /collections paging: {exc}") from exc
            if cursor is None or cursor["m"] != "GET":
                break
            path, params = cursor["h"], None
        else:
            log.warning(
                "%s: more than %d pages of collections; the rest are left out",
                self.name,
                MAX_COLLECTION_PAGES,
            )
        self._records = (time.monotonic(), found)
        return found

    def _collection(self, record: JSON) -> JSON:
        return translate.to_collection(record, self.upstream, self.prefix)

    async def collection_ids(self) -> list[str]:
        return [self.prefix + cid for cid in await self._collection_records()]

    async def list_collections(self, query: CollectionQuery) -> list[JSON]:
        out = []
        for cid, record in (await self._collection_records()).items():
            try:
                collection = self._collection(record)
            except UNTRANSLATABLE as exc:
                log.warning("%s: skipped collection %s: %s", self.name, cid, exc)
                continue
            if _overlaps(collection, query):
                out.append(collection)
        return out

    async def _record(self, collection_id: str) -> JSON:
        native = translate.native_id(collection_id, self.prefix)
        records = await self._collection_records()
        if native is None or native not in records:
            raise CollectionNotFound(collection_id)
        return records[native]

    async def get_collection(self, collection_id: str) -> JSON:
        record = await self._record(collection_id)
        try:
            return self._collection(record)
        except UNTRANSLATABLE as exc:
            raise ProviderError(
                self.name, f"{self.name} sent a collection stacbridge cannot read: {exc}"
            ) from exc

    async def queryables(self, collection_id: str | None) -> JSON:
        props: JSON = {}
        if self._filters:
            native = translate.native_id(collection_id, self.prefix) if collection_id else None
            path = f"collections/{quote(native, safe='')}/queryables" if native else "queryables"
            try:
                schema = await self.client.call("GET", path)
            except (NotFoundUpstream, ProviderError) as exc:
                log.info("%s: queryables unavailable (%s)", self.name, exc)
                schema = {}
            found = schema.get("properties") if isinstance(schema, dict) else None
            if isinstance(found, dict):
                props.update(
                    {k: v for k, v in found.items() if isinstance(k, str) and isinstance(v, dict)}
                )
        props.update(cql2_kit.SHARED_QUERYABLES)
        return props

    # -- items ----------------------------------------------------------------------------
    def _search_request(self, query: ItemQuery, natives: list[str]) -> tuple[str, str, Any]:
        """(method, path, params-or-body) of the first page of `query`."""
        limit = max(1, min(query.limit, self.settings.max_page_size))
        post = self.settings.search_method == "POST"
        body: JSON = {"limit": limit}
        if natives:
            body["collections"] = natives
        if query.ids:
            body["ids"] = list(query.ids)
        if query.intersects is not None:
            body["intersects"] = query.intersects
        elif query.bbox is not None:
            body["bbox"] = list(query.bbox)
        when = query.datetime
        if when is not None and (when.start is not None or when.end is not None):
            body["datetime"] = f"{_rfc3339(when.start)}/{_rfc3339(when.end)}"
        if query.sortby and query.sortby[0][0] in self.capabilities.sortable:
            field, direction = query.sortby[0]
            body["sortby"] = [{"field": field, "direction": direction}]
        if query.filter is not None and query.filter is not True and self._filters:
            body["filter"] = query.filter
            body["filter-lang"] = "cql2-json"
        if post:
            return "POST", "search", body
        return "GET", "search", self._get_params(body)

    @staticmethod
    def _get_params(body: JSON) -> JSON:
        """A POST search body as GET query parameters (CQL2 text for the filter)."""
        params: JSON = {}
        for key, value in body.items():
            if key in ("collections", "ids", "bbox"):
                params[key] = ",".join(map(str, value))
            elif key == "intersects":
                params[key] = orjson.dumps(value).decode()
            elif key == "sortby":
                params[key] = ("-" if value[0]["direction"] == "desc" else "+") + value[0]["field"]
            elif key == "filter":
                try:
                    params[key] = cql2.Expr(value).to_text()
                except Exception:  # noqa: BLE001 - not expressible as text: the gateway evaluates it
                    continue
                params["filter-lang"] = "cql2-text"
            elif key != "filter-lang":
                params[key] = value
        return params

    async def search(self, query: ItemQuery, cursor: Any | None) -> ItemPage:
        natives = []
        for cid in query.collections:
            native = translate.native_id(cid, self.prefix)
            records = await self._collection_records()
            if native is None or native not in records:
                raise CollectionNotFound(cid)
            natives.append(native)
        if not natives and self.settings.collections:
            natives = list(self.settings.collections)
        conformance = await self._conformance()
        if cursor is not None:
            method, path = str(cursor["m"]), str(cursor["h"])
            payload: Any = cursor.get("b")
        elif _declares(conformance, "/item-search"):
            method, path, payload = self._search_request(query, natives)
        elif len(natives) == 1:
            # no item search upstream: its collection's items (OGC API Features), which take
            # bbox, datetime and limit; everything else is evaluated in the gateway
            method, _, params = self._search_request(
                replace(query, ids=(), intersects=None, filter=None, sortby=()), []
            )
            if method == "POST":
                params = self._get_params(params)
            method, path, payload = "GET", f"collections/{quote(natives[0], safe='')}/items", params
        else:
            raise BadRequest(
                f"{self.name} does not offer item search across collections; search one of its "
                "collections at a time"
            )
        try:
            page, sent = await self._page(method, path, payload, cursor)
        except UpstreamRejected as exc:
            if cursor is not None or not isinstance(payload, dict) or "filter" not in payload:
                raise
            # the upstream declares filter but not this expression (a function, a property it
            # lacks): ask without it; the gateway evaluates the whole filter on the results
            log.info("%s: filter refused upstream (%s); evaluated in the gateway", self.name, exc)
            payload = {k: v for k, v in payload.items() if k not in FILTER_KEYS}
            page, sent = await self._page(method, path, payload, cursor)
        if not isinstance(page, dict) or not isinstance(page.get("features"), list):
            raise ProviderError(self.name, f"{self.name}: the search answer has no features")
        items = []
        only = natives[0] if len(natives) == 1 else None
        for raw in page["features"]:
            try:
                if only is not None and isinstance(raw, dict) and "collection" not in raw:
                    raw = {**raw, "collection": only}  # some APIs leave it out of item pages
                items.append(self._item(raw))
            except UNTRANSLATABLE as exc:
                log.warning("%s: skipped an item: %s", self.name, exc)
        try:
            next_cursor = translate.next_cursor(page, self.upstream, sent)
        except ValueError as exc:
            raise ProviderError(self.name, f"{self.name}: search paging: {exc}") from exc
        if next_cursor is not None and not page["features"]:
            next_cursor = None  # an empty page with a next link would page for ever
        matched = page.get("numberMatched")
        if matched is None and isinstance(page.get("context"), dict):
            matched = page["context"].get("matched")  # the STAC API 1.0-beta context extension
        return ItemPage(
            items=items,
            next_cursor=next_cursor,
            number_matched=matched if isinstance(matched, int) and cursor is None else None,
        )

    async def _page(
        self, method: str, path: str, payload: Any, cursor: Any | None
    ) -> tuple[Any, JSON | None]:
        """One upstream page, and the POST body sent (for a next link that merges into it)."""
        if method == "POST":
            return await self.client.call("POST", path, body=payload), payload
        # a cursor's path carries its own query string: nothing is added to it
        return await self.client.call("GET", path, params=payload if cursor is None else None), None

    def _item(self, raw: Any) -> JSON:
        item = translate.to_item(raw, self.upstream, self.prefix)
        if isinstance(self.assets, SasAssets) and self.assets.per_collection:
            native = translate.native_id(str(item.get("collection") or ""), self.prefix) or ""
            for asset in item["assets"].values():
                asset["href"] = self.assets.reference(asset["href"], native)
        return item

    async def get_item(self, collection_id: str, item_id: str) -> JSON | None:
        record = await self._record(collection_id)
        native = str(record["id"])
        try:
            raw = await self.client.call(
                "GET", f"collections/{quote(native, safe='')}/items/{quote(item_id, safe='')}"
            )
        except NotFoundUpstream:
            return None
        try:
            return self._item(raw)
        except UNTRANSLATABLE as exc:
            raise ProviderError(self.name, f"{self.name} sent an unreadable item: {exc}") from exc

    # -- assets ---------------------------------------------------------------------------
    def proxies(self, href: str) -> bool:
        return self.assets.proxies(href)

    async def resolve_asset(self, request: AssetRequest) -> AssetResolution:
        return await self.assets.resolve(request)
