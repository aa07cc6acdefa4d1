"""USGS EarthExplorer (M2M) as a stacbridge provider: Landsat scenes, downloads and orders.

Collections are the configured dataset aliases (`landsat_ot_c2_l2`...); items are scenes,
searched with `scene-search` (`metadataType: full`, paging by `startingNumber`) and given
their download assets from one `download-options` call per page.  Asset hrefs are
`m2m://dataset/entity/product` references: only a GET on the signed proxy URL issues a
`download-request`; a ready product redirects to its signed URL, one being prepared becomes an
order polled with `download-retrieve` (one poll loop per order, state in the store).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from shapely.geometry import shape

from stacbridge.assets.fetch import CredentialedRedirect, host_allowed
from stacbridge.assets.orders import FAILED, Order, OrderDesk
from stacbridge.checks import check_collection, check_item, count_of, object_of, records_of
from stacbridge.errors import BadRequest, Forbidden
from stacbridge.perf import gc_paused
from stacbridge.protocols import (
    CATALOG,
    JSON,
    UNTRANSLATABLE,
    AssetRedirect,
    AssetRequest,
    AssetResolution,
    Capabilities,
    CollectionNotFound,
    CollectionQuery,
    ItemPage,
    ItemQuery,
    ProviderError,
)
from stacbridge.providers.m2m import translate
from stacbridge.providers.m2m.client import M2MClient
from stacbridge.providers.m2m.config import M2MSettings
from stacbridge.stac import cql2 as cql2_kit
from stacbridge.stac import freetext
from stacbridge.store import MemoryStore, Store

NAME = "m2m"
#: where M2M's browse images live (LandsatLook, ims.cr.usgs.gov): proxied, never credentialed.
BROWSE_HOSTS = (".usgs.gov",)
_CLOUD = "eo:cloud_cover"
#: scenes of one acquisition day a sorted search may have to read before it can order them:
#: M2M sorts by day only, so the gateway orders each whole day itself (see `_sorted_page`).
SORT_DAY_LIMIT = 5000
#: scenes one upstream call reads at least while looking for the end of a day.
SORT_CHUNK = 100

#: event-loop turns given to the page's `download-options` request to be sent before the
#: scenes are drafted (it is sent within the first; more cost nothing measurable).
SEND_YIELDS = 2
#: display ids one `scene-list-add` carries (ids lookups add them to a scene list).
LIST_ADD_CHUNK = 500
#: how long a lookup's scene list lives on the USGS account if its removal is lost.
LIST_TTL = "PT10M"

log = logging.getLogger("stacbridge.m2m")


def _added_count(data: Any) -> int:
    """Scenes a `scene-list-add` added: a count (stable), or `{"sceneCount": n}` (development)."""
    if isinstance(data, dict):
        data = data.get("sceneCount")
    return count_of(NAME, data, "scene-list-add: data") or 0


def scene_item(scene: JSON, alias: str, options: list[JSON]) -> JSON:
    """One scene as a checked STAC Item; an `UNTRANSLATABLE` error if the record is malformed."""
    return check_item(translate.scene_to_item(scene, alias, download_options=options))


def _draft(scene: JSON, alias: str, entity: str | None) -> translate.SceneDraft | None:
    """`translate.scene_draft`, or None (logged) for a scene it cannot read."""
    try:
        return translate.scene_draft(scene, alias)
    except Exception as exc:  # noqa: BLE001 - `UNTRANSLATABLE`, or a translator bug
        _skipped("scene", entity, exc)
        return None


def dataset_collection(record: JSON) -> JSON:
    """One dataset record as a checked STAC Collection; `UNTRANSLATABLE` if malformed."""
    return check_collection(translate.dataset_to_collection(record))


def _skipped(what: str, ident: Any, exc: Exception) -> None:
    """Log a record the translator refused (the reason, and a traceback for a translator bug)."""
    log.warning(
        "m2m: skipped an untranslatable %s %s: %s",
        what,
        ident,
        exc,
        exc_info=not isinstance(exc, UNTRANSLATABLE),
    )


def _m2m_time(value: Any) -> str | None:
    if value is None:
        return None
    return value.strftime("%Y-%m-%d %H:%M:%S")


def scene_filter(query: ItemQuery, filters: list[JSON]) -> JSON:
    """M2M's `sceneFilter` for a query: what M2M can narrow; the gateway checks the rest."""
    out: JSON = {}
    if query.intersects is not None:
        geom = shape(query.intersects)
        if geom.geom_type in ("Polygon", "MultiPolygon", "Point"):
            out["spatialFilter"] = {"filterType": "geojson", "geoJson": query.intersects}
        else:
            west, south, east, north = geom.bounds
            out["spatialFilter"] = _mbr(west, south, east, north)
    elif query.bbox is not None:
        b = query.bbox
        west, south, east, north = (b[0], b[1], b[3], b[4]) if len(b) == 6 else b
        out["spatialFilter"] = _mbr(west, south, east, north)
    if query.datetime is not None:
        acquisition = {}
        if query.datetime.start is not None:
            acquisition["start"] = _m2m_time(query.datetime.start)
        if query.datetime.end is not None:
            acquisition["end"] = _m2m_time(query.datetime.end)
        if acquisition:
            out["acquisitionFilter"] = acquisition
    low, high, metadata = _split_filter(query.filter, filters)
    if low is not None or high is not None:
        out["cloudCoverFilter"] = {
            "min": 0 if low is None else low,
            "max": 100 if high is None else high,
            "includeUnknown": False,
        }
    if metadata:
        out["metadataFilter"] = (
            metadata[0] if len(metadata) == 1 else {"filterType": "and", "childFilters": metadata}
        )
    return out


def _mbr(west: float, south: float, east: float, north: float) -> JSON:
    return {
        "filterType": "mbr",
        "lowerLeft": {"latitude": south, "longitude": west},
        "upperRight": {"latitude": north, "longitude": east},
    }


def _split_filter(expr: Any, filters: list[JSON]) -> tuple[Any, Any, list[JSON]]:
    """Top-level AND terms M2M answers: cloud-cover bounds and equality on dataset filters."""
    low, high = cql2_kit.numeric_bounds(expr, _CLOUD)
    if low is not None and high is not None and low > high:
        low = high = None  # contradictory: not sent, the gateway's evaluation answers it
    metadata: list[JSON] = []
    for term in cql2_kit.conjuncts(expr):
        found = cql2_kit.comparison(term)
        if found is None or found[1] != "=" or found[0] == _CLOUD:
            continue
        name, _, value = found
        mapped = translate.queryable_to_filter(name, filters)
        if mapped is not None:
            metadata.append(
                {"filterType": "value", "filterId": mapped["id"], "value": value, "operation": "="}
            )
    return low, high, metadata


def _text_fields(collection: JSON) -> list[str]:
    """What free-text `q` searches in a collection: id, title, description, each keyword."""
    fields = [collection.get("id"), collection.get("title"), collection.get("description")]
    fields += collection.get("keywords") or []
    return [f for f in fields if isinstance(f, str)]


def _instant(item: JSON) -> str:
    """An item's time as sortable text (`datetime`, else `start_datetime`)."""
    props = item.get("properties") or {}
    return str(props.get("datetime") or props.get("start_datetime") or "")


def _day(item: JSON) -> str:
    """An item's acquisition day, the order M2M sorts by."""
    return _instant(item)[:10]


class M2MProvider:
    """stacbridge's view of USGS M2M: a catalogue whose downloads are orders."""

    name = NAME
    title = "USGS EarthExplorer (M2M)"
    roles = frozenset({CATALOG})
    capabilities = Capabilities(
        sortable=frozenset({"datetime"}), filter_pushdown=frozenset({_CLOUD}), matches_area=True
    )

    def __init__(
        self,
        settings: M2MSettings,
        *,
        store: Store | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings
        self.store = store or MemoryStore()
        self.client = M2MClient(settings, self.store, client)
        self.orders = OrderDesk(
            self.store,
            NAME,
            self._place_order,
            self._poll_order,
            interval=settings.poll_interval,
            max_interval=settings.max_poll_interval,
        )
        self._datasets: tuple[float, dict[str, JSON]] | None = None
        self._filters: dict[str, list[JSON]] = {}

    async def start(self) -> None:
        """Resume polling the orders a previous run left pending."""
        await self.orders.start()

    async def collection_ids(self) -> list[str]:
        return list(self.settings.datasets)

    # -- identity and collections ---------------------------------------------------------
    def owns(self, collection_id: str) -> bool:
        return collection_id in self.settings.datasets

    async def _dataset_records(self) -> dict[str, JSON]:
        cached = self._datasets
        if cached and time.monotonic() - cached[0] < self.settings.collection_cache_ttl:
            return cached[1]
        found: dict[str, JSON] = {}
        for alias in self.settings.datasets:
            data = await self.client.call("dataset-search", {"datasetName": alias})
            for record in records_of(NAME, data, "dataset-search: data"):
                if str(record.get("datasetAlias", "")).lower() == alias:
                    found[alias] = record
        self._datasets = (time.monotonic(), found)
        return found

    async def list_collections(self, query: CollectionQuery) -> list[JSON]:
        records = await self._dataset_records()
        out = []
        for alias in self.settings.datasets:
            if alias in records:
                try:
                    out.append(dataset_collection(records[alias]))
                except Exception as exc:  # noqa: BLE001 - one bad record never fails the list
                    _skipped("dataset", alias, exc)
        if query.q:
            terms = freetext.terms(query.q)
            out = [c for c in out if any(freetext.matches(t, _text_fields(c)) for t in terms)]
        return out

    async def get_collection(self, collection_id: str) -> JSON:
        record = (
            (await self._dataset_records()).get(collection_id) if self.owns(collection_id) else None
        )
        if record is None:
            raise CollectionNotFound(collection_id)
        try:
            return dataset_collection(record)
        except Exception as exc:  # reported, with the reason, as M2M's fault
            _skipped("dataset", collection_id, exc)
            raise ProviderError(
                NAME, f"M2M sent a dataset record stacbridge cannot translate: {exc}"
            ) from exc

    async def _dataset_filters(self, alias: str) -> list[JSON]:
        if alias not in self._filters:
            data = await self.client.call("dataset-filters", {"datasetName": alias})
            filters = records_of(NAME, data, "dataset-filters: data")
            try:  # read once here, so queryables and the filter push-down can trust them
                translate.filters_to_queryables(filters, alias)
            except UNTRANSLATABLE as exc:
                raise ProviderError(
                    NAME, f"dataset-filters: M2M sent filters stacbridge cannot read: {exc}"
                ) from exc
            self._filters[alias] = filters
        return self._filters[alias]

    async def queryables(self, collection_id: str | None) -> JSON:
        aliases = [collection_id] if collection_id else list(self.settings.datasets)
        props: JSON = {}
        for alias in aliases:
            props.update(translate.filters_to_queryables(await self._dataset_filters(alias)))
        # the fields every catalogue shares mean the same everywhere (merged /queryables)
        props.update(cql2_kit.SHARED_QUERYABLES)
        return props

    # -- items ----------------------------------------------------------------------------
    async def search(self, query: ItemQuery, cursor: Any | None) -> ItemPage:
        datasets = list(query.collections) or list(self.settings.datasets)
        for alias in datasets:
            if not self.owns(alias):
                raise CollectionNotFound(alias)
        if query.ids:
            found = await self._items_by_id(datasets, query.ids)
            for _, direction in query.sortby[:1]:
                found.sort(key=lambda i: (_instant(i), i["id"]), reverse=direction == "desc")
            return ItemPage(items=found)
        state = cursor or {"t": 0, "n": 1}
        index, start = int(state["t"]), int(state["n"])
        if index >= len(datasets):
            return ItemPage(items=[])
        alias = datasets[index]
        payload: JSON = {
            "datasetName": alias,
            "maxResults": max(1, min(query.limit, self.settings.max_page_size)),
            "startingNumber": start,
            "metadataType": "full",
            "sceneFilter": scene_filter(query, await self._dataset_filters(alias)),
        }
        for field, direction in query.sortby[:1]:
            if field in self.capabilities.sortable:
                payload["sortField"] = "acquisitionDate"
                payload["sortDirection"] = "DESC" if direction == "desc" else "ASC"
                return await self._sorted_page(alias, payload, index, datasets, direction)
        data = object_of(
            NAME, await self.client.call("scene-search", payload), "scene-search: data"
        )
        results = records_of(NAME, data.get("results"), "scene-search: results")
        returned = count_of(NAME, data.get("recordsReturned"), "scene-search: recordsReturned")
        total = count_of(NAME, data.get("totalHits"), "scene-search: totalHits")
        items = await self._to_items(alias, results)
        next_start = start + (returned or len(results))
        if results and total is not None and next_start <= total:
            next_cursor: Any = {"t": index, "n": next_start}
        elif index + 1 < len(datasets):
            next_cursor = {"t": index + 1, "n": 1}
        else:
            next_cursor = None
        exact = str(data.get("totalHitsAccuracy", "exact")).lower() == "exact"
        matched = total if total is not None and exact and len(datasets) == 1 else None
        return ItemPage(items=items, next_cursor=next_cursor, number_matched=matched)

    async def _sorted_page(
        self, alias: str, payload: JSON, index: int, datasets: list[str], direction: str
    ) -> ItemPage:
        """One page of whole acquisition days, each ordered exactly by `datetime`.

        M2M orders scenes by acquisition day only ("discarding any time information"): within
        a day they come in no time order.  So a sorted page reads from its starting number
        until a later day begins (or the results end), keeps the complete days and orders
        them by (datetime, id); the next page starts at the first scene of the day it cut.
        A day with more than `SORT_DAY_LIMIT` matching scenes cannot be ordered within that
        bound: a 400 asking for a narrower search, never an unsorted page.
        """
        start = int(payload["startingNumber"])
        payload["maxResults"] = max(
            1, min(max(int(payload["maxResults"]), SORT_CHUNK), self.settings.max_page_size)
        )
        items: list[JSON] = []
        position, total, exhausted, matched = start, None, False, None
        while True:
            payload["startingNumber"] = position
            data = object_of(
                NAME, await self.client.call("scene-search", payload), "scene-search: data"
            )
            results = records_of(NAME, data.get("results"), "scene-search: results")
            returned = count_of(NAME, data.get("recordsReturned"), "scene-search: recordsReturned")
            total = count_of(NAME, data.get("totalHits"), "scene-search: totalHits")
            exact = str(data.get("totalHitsAccuracy", "exact")).lower() == "exact"
            matched = total if total is not None and exact and len(datasets) == 1 else None
            items += await self._to_items(alias, results)
            position += returned or len(results)
            if not results or total is None or position > total:
                exhausted = True
                break
            if items and _day(items[0]) != _day(items[-1]):
                break  # a later day has begun: every day before it is complete
            if len(items) > SORT_DAY_LIMIT:
                raise BadRequest(
                    f"cannot sort by datetime: more than {SORT_DAY_LIMIT} scenes acquired on "
                    f"{_day(items[0])} match and USGS M2M orders scenes by day only; narrow the "
                    "search (bbox, datetime, filter)"
                )
        if not exhausted:
            last = _day(items[-1])
            cut = next(i for i, item in enumerate(items) if _day(item) == last)
            # the cut day is read again from its first scene (a skipped malformed scene of
            # that day would shift this by one; such scenes are logged)
            position -= len(items) - cut
            items = items[:cut]
        items.sort(key=lambda i: (_instant(i), i["id"]), reverse=direction == "desc")
        if not exhausted:
            next_cursor: Any = {"t": index, "n": position}
        elif index + 1 < len(datasets):
            next_cursor = {"t": index + 1, "n": 1}
        else:
            next_cursor = None
        return ItemPage(items=items, next_cursor=next_cursor, number_matched=matched)

    async def _to_items(self, alias: str, scenes: list[JSON]) -> list[JSON]:
        """Translate a page of scenes; a malformed one is skipped (logged), not the page.

        The page's one `download-options` call is sent first, and the scenes are drafted
        (`translate.scene_draft`: everything but their files) while USGS answers it; the
        files are added when it has.  M2M takes one request at a time per account, so this
        overlaps the gateway's work with the upstream's, never two upstream calls.
        """
        if not scenes:
            return []
        entity_ids = [translate.scene_entity_id(s) for s in scenes]
        options_call = asyncio.ensure_future(
            self.client.call(
                "download-options",
                {"datasetName": alias, "entityIds": [e for e in entity_ids if e is not None]},
            )
        )
        try:
            for _ in range(SEND_YIELDS):  # let the request leave before the CPU-bound drafts
                await asyncio.sleep(0)
            with gc_paused():  # allocation-heavy and cycle-free: see `stacbridge.perf`
                drafts = [
                    _draft(scene, alias, entity)
                    for scene, entity in zip(scenes, entity_ids, strict=True)
                ]
            data = await options_call
        finally:
            if not options_call.done():
                options_call.cancel()
        by_entity: dict[str, list[JSON]] = {}
        for option in records_of(NAME, data, "download-options: data"):
            by_entity.setdefault(str(option.get("entityId")), []).append(option)
        out: list[JSON] = []
        with gc_paused():
            for draft, entity in zip(drafts, entity_ids, strict=True):
                if draft is None:
                    continue
                try:
                    options = by_entity.get(entity, []) if entity else []
                    out.append(check_item(translate.finish_scene(draft, options)))
                except Exception as exc:  # noqa: BLE001 - `UNTRANSLATABLE`, or a translator
                    # bug: either way one bad scene costs itself, not the page
                    _skipped("scene", entity, exc)
        return out

    async def _scene(self, alias: str, display_id: str) -> JSON | None:
        try:
            data = await self.client.call(
                "scene-metadata",
                {
                    "datasetName": alias,
                    "entityId": display_id,
                    "idType": "displayId",
                    "metadataType": "full",
                },
            )
        except ProviderError as exc:
            if exc.status_code in (400, 404):
                return None
            raise
        if isinstance(data, list):
            data = data[0] if data else None
        return object_of(NAME, data, "scene-metadata: data") or None

    async def _items_by_id(self, datasets: list[str], ids: tuple[str, ...]) -> list[JSON]:
        """The scenes with these display ids, dataset by dataset, in the order of `ids`.

        One id is one `scene-metadata` per dataset.  More go through a scene list (see
        `_scenes_by_list`): a fixed number of calls whatever the number of ids, where one
        `scene-metadata` per id and dataset cost 600 calls for 300 ids over two datasets.
        """
        ids = tuple(dict.fromkeys(ids))
        if len(ids) == 1:
            found: dict[str, list[JSON]] = {}
            for alias in datasets:
                scene = await self._scene(alias, ids[0])
                found[alias] = [scene] if scene is not None else []
        else:
            found = await self._scenes_by_list(datasets, ids)
        out: list[JSON] = []
        for alias in datasets:
            if found.get(alias):
                out += await self._to_items(alias, found[alias])
        return out

    async def _scenes_by_list(
        self, datasets: list[str], ids: tuple[str, ...]
    ) -> dict[str, list[JSON]]:
        """Full metadata of the scenes named by `ids`, by dataset, through one scene list.

        `scene-list-add` (display ids, `LIST_ADD_CHUNK` at a time) per dataset, one
        `scene-metadata-list` for all of them, then `scene-list-remove`.  Lists belong to the
        USGS account, which every gateway process shares, so each lookup names its own list;
        the list's `timeToLive` removes it even if the removal never arrives.
        """
        list_id = f"stacbridge-{secrets.token_hex(8)}"
        added = 0
        try:
            for alias in datasets:
                for start in range(0, len(ids), LIST_ADD_CHUNK):
                    data = await self.client.call(
                        "scene-list-add",
                        {
                            "listId": list_id,
                            "datasetName": alias,
                            "idField": "displayId",
                            "entityIds": list(ids[start : start + LIST_ADD_CHUNK]),
                            "timeToLive": LIST_TTL,
                        },
                    )
                    added += _added_count(data)
            if not added:
                return {}
            data = await self.client.call(
                "scene-metadata-list", {"listId": list_id, "metadataType": "full"}
            )
            # M2M is PHP: an empty map of datasets arrives as `[]`
            data = object_of(NAME, data if data != [] else None, "scene-metadata-list: data")
        finally:
            await self._remove_list(list_id)
        grouped = {str(k).lower(): v for k, v in data.items()}
        order = {display_id: n for n, display_id in enumerate(ids)}
        out: dict[str, list[JSON]] = {}
        for alias in datasets:
            scenes = records_of(NAME, grouped.get(alias, []), "scene-metadata-list: scenes")
            # only the scenes asked for, once each, in the order asked (M2M's is its own)
            wanted = {str(s.get("displayId")): s for s in scenes if s.get("displayId") in order}
            out[alias] = sorted(wanted.values(), key=lambda s: order[str(s["displayId"])])
        return out

    async def _remove_list(self, list_id: str) -> None:
        """Drop a lookup's scene list; a failure is logged (its `timeToLive` ends it anyway)."""
        try:
            await self.client.call("scene-list-remove", {"listId": list_id})
        except ProviderError as exc:
            log.warning("m2m: could not remove scene list %s: %s", list_id, exc)

    async def get_item(self, collection_id: str, item_id: str) -> JSON | None:
        if not self.owns(collection_id):
            raise CollectionNotFound(collection_id)
        items = await self._items_by_id([collection_id], (item_id,))
        return items[0] if items else None

    # -- downloads and orders -------------------------------------------------------------
    def proxies(self, href: str) -> bool:
        """Download references, and browse images on USGS hosts (or the API's own host).

        Browse images go through the proxy too, so that a web page gets them with CORS (the
        proxy streams them to a browser) and every href has a name the proxy checks.
        """
        if isinstance(href, str) and href.startswith(translate.DOWNLOAD_SCHEME):
            return translate.parse_download_ref(href) is not None
        return self._browse_url(href)

    def _browse_url(self, href: str) -> bool:
        if not isinstance(href, str) or not href.startswith(("https://", "http://")):
            return False
        parts = urlsplit(href)
        if "@" in parts.netloc:
            return False
        return host_allowed(parts.hostname or "", BROWSE_HOSTS) or (
            parts.netloc.lower() == urlsplit(self.settings.url).netloc.lower()
        )

    async def resolve_asset(self, request: AssetRequest) -> AssetResolution:
        if self._browse_url(request.ref):
            return AssetRedirect(request.ref, status=302)  # public: no credentials, no order
        parsed = translate.parse_download_ref(request.ref)
        if parsed is None:
            raise Forbidden("not an M2M download reference")
        alias, entity, product = parsed
        # a HEAD describes the asset without placing a download-request on the USGS account;
        # the order is keyed by the product, not the file name an href carries (old hrefs
        # without a name share it)
        answer = await self.orders.resolve(
            request.ref.split("#", 1)[0],
            upstream={"entityId": entity, "productId": product, "dataset": alias},
            place=request.method != "HEAD",
        )
        if isinstance(answer, AssetRedirect):
            # DDS download URLs carry the USGS contact id in their (signed) token
            return CredentialedRedirect(answer.url, answer.status, service_account=True)
        return answer

    async def _place_order(self, order: Order) -> Order:
        """One `download-request` for the order's product."""
        label = f"stacbridge-{order.id}"
        order.upstream["label"] = label
        data = await self.client.call(
            "download-request",
            {
                "downloads": [
                    {
                        "entityId": order.upstream["entityId"],
                        "productId": order.upstream["productId"],
                    }
                ],
                "label": label,
                "downloadApplication": "M2M",
            },
        )
        data = object_of(NAME, data, "download-request: data")
        available = records_of(
            NAME, data.get("availableDownloads"), "download-request: availableDownloads"
        )
        preparing = records_of(
            NAME, data.get("preparingDownloads"), "download-request: preparingDownloads"
        )
        if available:
            self._ready(order, available[0].get("url"))
        elif preparing:
            order.upstream["downloadId"] = preparing[0].get("downloadId")
            order.message = "the product is being prepared by USGS"
        elif data.get("duplicateProducts"):
            order.message = "already requested; waiting for USGS"
        else:
            failed = data.get("failed") or []
            order.status = FAILED
            order.message = str(failed[0]) if failed else "M2M accepted no download"
        return order

    def _ready(self, order: Order, url: str | None) -> None:
        if not url:
            raise ProviderError(NAME, "M2M listed a download without a URL")
        order.ready({"": url}, expires=self.store.clock() + self.settings.download_url_ttl)

    async def _poll_order(self, order: Order) -> Order:
        """One `download-retrieve` for the order's label."""
        data = object_of(
            NAME,
            await self.client.call("download-retrieve", {"label": order.upstream.get("label")}),
            "download-retrieve: data",
        )
        download_id = order.upstream.get("downloadId")
        entity = order.upstream.get("entityId")
        for entry in records_of(NAME, data.get("available"), "download-retrieve: available"):
            if (download_id is not None and entry.get("downloadId") == download_id) or (
                download_id is None and str(entry.get("entityId")) == entity
            ):
                self._ready(order, entry.get("url"))
                return order
        for entry in records_of(NAME, data.get("requested"), "download-retrieve: requested"):
            if entry.get("downloadId") == download_id and entry.get("statusText"):
                order.message = f"USGS: {entry['statusText']}"
        return order

    async def aclose(self) -> None:
        await self.orders.aclose()
        await self.client.aclose()
