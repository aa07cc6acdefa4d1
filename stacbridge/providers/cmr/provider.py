"""NASA CMR as a stacbridge provider: collections, granule search, and the query mapping.

Collection ids are `ShortName.vVersion` (e.g. `HLSL30.v2.0`), derivable from CMR's own
identifiers; item ids are CMR `GranuleUR`s, unique within a collection.  The deployment's scope
(CMR provider ids plus explicit collections) bounds what the gateway serves, and is what a
`/search` without `collections` searches — CMR itself refuses granule searches that do not
name collections.

Paging state is `{"t": target, "sa": CMR-Search-After}`: a search whose scope is several CMR
queries (provider ids, then explicit collections) walks the targets in turn.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

import httpx
from shapely.geometry import shape
from shapely.geometry.polygon import orient

from stacbridge.auth.earthdata import EarthdataLogin
from stacbridge.checks import check_collection, check_item, json_array_text
from stacbridge.config import EarthdataSettings
from stacbridge.errors import BadRequest
from stacbridge.http import make_client
from stacbridge.perf import gc_paused
from stacbridge.protocols import (
    CATALOG,
    JSON,
    UNTRANSLATABLE,
    AssetRequest,
    AssetResolution,
    Capabilities,
    CollectionNotFound,
    CollectionQuery,
    Interval,
    ItemPage,
    ItemQuery,
    ProviderError,
    UpstreamRejected,
)
from stacbridge.providers.cmr import footprints, translate
from stacbridge.providers.cmr.client import PROVIDER, CMRClient, Params
from stacbridge.providers.cmr.config import CMRSettings
from stacbridge.stac import cql2 as cql2_kit
from stacbridge.stac import freetext
from stacbridge.store import MemoryStore, Store

MAX_POLYGON_POINTS = 500
_CONCEPT_ID = re.compile(r"^C\d+-[A-Z0-9_]+$")

log = logging.getLogger("stacbridge.cmr")


def is_concept_id(value: str) -> bool:
    """Whether `value` is a CMR collection concept id (`C1234-PROVIDER`)."""
    return bool(_CONCEPT_ID.match(value))


def _obj(value: Any) -> JSON:
    """`value` if it is a JSON object, else an empty one: a record's `meta`/`umm` may be junk."""
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    """`value` if it is a string (a usable, hashable lookup key), else None."""
    return value if isinstance(value, str) else None


def _stac_id(record: JSON) -> str | None:
    umm = _obj(record.get("umm"))
    short_name, version = _text(umm.get("ShortName")), umm.get("Version")
    if short_name and isinstance(version, str | int | float) and not isinstance(version, bool):
        return translate.collection_id(short_name, str(version))
    return None


def granule_item(record: JSON, collection_id: str | None) -> JSON:
    """One granule record as a checked STAC Item; an `UNTRANSLATABLE` error if it is malformed."""
    return check_item(translate.granule_to_item(record, collection_id))


def collection_of(record: JSON) -> JSON:
    """One collection record as a checked STAC Collection; `UNTRANSLATABLE` if malformed."""
    return check_collection(translate.collection_to_stac(record))


def _skipped(what: str, ident: Any, exc: Exception) -> None:
    """Log a record the translator refused (the reason, and a traceback for a translator bug)."""
    log.warning(
        "cmr: skipped an untranslatable %s %s: %s",
        what,
        ident,
        exc,
        exc_info=not isinstance(exc, UNTRANSLATABLE),
    )


def _iso(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z") if value is not None else ""


def temporal_param(interval: Interval) -> str:
    return f"{_iso(interval.start)},{_iso(interval.end)}"


def spatial_params(bbox: tuple[float, ...] | None, intersects: JSON | None) -> Params:
    """CMR spatial parameters that find at least every item STAC's semantics would.

    Polygons go to CMR as `polygon` (counter-clockwise, as CMR requires); anything else is
    sent as its bounding box.  The federation then post-filters results exactly, since CMR's
    spherical geometry and STAC's planar one differ at the edges.
    """
    params: Params = []
    if bbox is not None:
        west, south, east, north = (bbox[0], bbox[1], bbox[3], bbox[4]) if len(bbox) == 6 else bbox
        params.append(("bounding_box", f"{west},{south},{east},{north}"))
    if intersects is not None:
        geom = shape(intersects)
        if (
            geom.geom_type == "Polygon"
            and not geom.interiors
            and len(geom.exterior.coords) <= MAX_POLYGON_POINTS
            and geom.bounds[2] - geom.bounds[0] < 180
        ):
            ring = orient(geom, sign=1.0).exterior.coords
            params.append(("polygon", ",".join(f"{x:.8g},{y:.8g}" for x, y, *_ in ring)))
        elif geom.geom_type == "Point":
            params.append(("point", f"{geom.x:.10g},{geom.y:.10g}"))
        else:
            west, south, east, north = geom.bounds
            params.append(("bounding_box", f"{west},{south},{east},{north}"))
    return params


_CLOUD = "eo:cloud_cover"


def filter_params(expr: Any) -> Params:
    """CMR parameters that narrow a CQL2 filter upstream (the gateway still evaluates it all).

    Only top-level conjuncts CMR can answer are pushed down: bounds on `eo:cloud_cover` (`<`,
    `<=`, `>`, `>=`, `=`, `between`, either operand order, intersected) become CMR's inclusive
    `cloud_cover=min,max` range.  Contradictory bounds are not sent: the gateway's own
    evaluation answers them.
    """
    low, high = cql2_kit.numeric_bounds(expr, _CLOUD)
    if (low is None and high is None) or (low is not None and high is not None and low > high):
        return []
    return [("cloud_cover", f"{'' if low is None else low},{'' if high is None else high}")]


def keyword_params(q: tuple[str, ...]) -> list[Params]:
    """One CMR `keyword` per STAC free-text term (`[[]]` without `q`): CMR's searches, unioned.

    STAC's terms are OR-ed; CMR's `keyword` is single-valued and ANDs its words, so each term
    is its own search: one word as a CMR keyword word (a whole word, any field), several as a
    CMR keyword phrase (contiguous, within one field), which is `freetext.matches`.  What
    CMR would read differently (wildcards, quotes) is refused by `freetext.terms`.
    """
    if not q:
        return [[]]
    out: list[Params] = []
    for term in freetext.terms(q):
        value = term if len(freetext.words(term)) == 1 and " " not in term else f'"{term}"'
        out.append([("keyword", value)])
    return out


#: CMR sort keys for the item fields it sorts by exactly.
_SORT_KEYS = {"datetime": "start_date", "start_datetime": "start_date", "end_datetime": "end_date"}


class CMRProvider:
    """stacbridge's view of NASA CMR: a catalogue, and the asset source for its data hosts."""

    name = "cmr"
    title = "NASA Earthdata (CMR)"
    roles = frozenset({CATALOG})
    # CMR matches bbox/intersects on every granule's spatial metadata, orbits included
    capabilities = Capabilities(
        sortable=frozenset(_SORT_KEYS),
        filter_pushdown=frozenset({"eo:cloud_cover"}),
        matches_area=True,
    )

    def __init__(
        self,
        settings: CMRSettings,
        *,
        earthdata: EarthdataSettings | None = None,
        store: Store | None = None,
        client: httpx.AsyncClient | None = None,
        data_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings
        self.client = CMRClient(settings, client)
        self.store = store or MemoryStore()
        earthdata = earthdata or EarthdataSettings()
        self._data_client = data_client or make_client(
            earthdata.http, streams=True, follow_redirects=False
        )
        self.auth = EarthdataLogin(earthdata, self.store, self._data_client, provider=self.name)
        self._concept_to_id: dict[str, str] = {}
        self._id_to_concept: dict[str, str] = {}
        self._title_to_id: dict[str, str] = {}
        self._collection_cache: dict[str, tuple[float, JSON]] = {}
        self._collections: tuple[float, list[JSON]] | None = None
        self._collections_lock = asyncio.Lock()

    # -- identity -------------------------------------------------------------------------
    def owns(self, collection_id: str) -> bool:
        return translate.parse_collection_id(collection_id) is not None

    def _remember(self, record: JSON) -> JSON:
        """Translate a collection record and learn its ids; `UNTRANSLATABLE` if malformed."""
        stac = collection_of(record)
        concept = _text(translate.collection_concept_id(record))
        if concept:
            self._concept_to_id[concept] = stac["id"]
            self._id_to_concept.setdefault(stac["id"], concept)
        title = _text(_obj(record.get("umm")).get("EntryTitle"))
        if title:
            self._title_to_id.setdefault(title, stac["id"])
        return stac

    def _remember_all(self, records: list[JSON], out: dict[str, JSON]) -> None:
        """`_remember` each record into `out`, skipping (and logging) malformed ones."""
        for record in records:
            try:
                stac = self._remember(record)
            except Exception as exc:  # noqa: BLE001 - one bad record never fails the listing
                _skipped("collection", _obj(record.get("meta")).get("concept-id"), exc)
                continue
            out.setdefault(stac["id"], stac)

    def _remember_one(self, record: JSON) -> JSON:
        """`_remember` the one record a request is about: malformed, it is CMR's 502."""
        try:
            return self._remember(record)
        except Exception as exc:  # reported, with the reason, as CMR's fault
            _skipped("collection", _obj(record.get("meta")).get("concept-id"), exc)
            raise ProviderError(
                PROVIDER, f"CMR sent a collection record stacbridge cannot translate: {exc}"
            ) from exc

    def _in_scope(self, record: JSON) -> bool:
        meta = _obj(record.get("meta"))
        return (
            _text(meta.get("provider-id")) in self.settings.providers
            or _text(meta.get("concept-id")) in self.settings.collections
            or _stac_id(record) in self.settings.collections
        )

    def _scope_targets(self) -> list[Params]:
        """The CMR queries that together make up the configured scope."""
        targets: list[Params] = []
        if self.settings.providers:
            targets.append([("provider", p) for p in self.settings.providers])
        concepts = [c for c in self.settings.collections if is_concept_id(c)]
        named = [c for c in self.settings.collections if not is_concept_id(c)]
        if concepts:
            targets.append([("concept_id", c) for c in concepts])
        for cid in named:
            parsed = translate.parse_collection_id(cid)
            if parsed:
                targets.append([("short_name", parsed[0]), ("version", parsed[1])])
        if self.settings.cloud_hosted_only:
            targets = [[*t, ("cloud_hosted", "true")] for t in targets]
        return targets

    async def start(self) -> None:
        """Nothing to resume: CMR has no orders."""

    async def collection_ids(self) -> list[str]:
        return [c["id"] for c in await self._all_collections()]

    # -- collections ----------------------------------------------------------------------
    async def _all_collections(self) -> list[JSON]:
        cached = self._collections
        if cached and time.monotonic() - cached[0] < self.settings.collection_cache_ttl:
            return cached[1]
        async with self._collections_lock:
            cached = self._collections
            if cached and time.monotonic() - cached[0] < self.settings.collection_cache_ttl:
                return cached[1]
            out: dict[str, JSON] = {}
            for target in self._scope_targets():
                self._remember_all(await self.client.search_all("collections", target), out)
            result = sorted(out.values(), key=lambda c: c["id"])
            self._collections = (time.monotonic(), result)
            return result

    async def list_collections(self, query: CollectionQuery) -> list[JSON]:
        if query.bbox is None and query.datetime is None and not query.q:
            return await self._all_collections()
        extra: Params = []
        if query.bbox is not None:
            extra += spatial_params(query.bbox, None)
        if query.datetime is not None:
            extra.append(("temporal", temporal_param(query.datetime)))
        out: dict[str, JSON] = {}
        for keyword in keyword_params(query.q):
            for target in self._scope_targets():
                found = await self.client.search_all("collections", [*target, *extra, *keyword])
                self._remember_all(found, out)
        return sorted(out.values(), key=lambda c: c["id"])

    async def _collection_record(self, collection_id: str) -> JSON | None:
        parsed = translate.parse_collection_id(collection_id)
        if parsed is None:
            return None
        params: Params = [("short_name", parsed[0]), ("version", parsed[1])]
        records = await self.client.search_all("collections", params, limit=50)
        in_scope = [r for r in records if _stac_id(r) == collection_id and self._in_scope(r)]
        if not in_scope:
            return None
        order = {p: i for i, p in enumerate(self.settings.providers)}
        in_scope.sort(
            key=lambda r: order.get(_text(_obj(r.get("meta")).get("provider-id")) or "", len(order))
        )
        return in_scope[0]

    async def get_collection(self, collection_id: str) -> JSON:
        cached = self._collection_cache.get(collection_id)
        if cached and time.monotonic() - cached[0] < self.settings.collection_cache_ttl:
            return cached[1]
        record = await self._collection_record(collection_id)
        if record is None:
            raise CollectionNotFound(collection_id)
        collection = self._remember_one(record)
        self._collection_cache[collection_id] = (time.monotonic(), collection)
        return collection

    async def _concept_ids(self, collection_ids: tuple[str, ...]) -> list[str]:
        """CMR concept ids for stacbridge collection ids; unknown ids: CollectionNotFound."""
        out = []
        for cid in collection_ids:
            concept = self._id_to_concept.get(cid)
            if concept is None:
                record = await self._collection_record(cid)
                if record is None:
                    raise CollectionNotFound(cid)
                self._remember_one(record)
                concept = self._id_to_concept.get(cid)
                if concept is None:
                    raise ProviderError(PROVIDER, f"CMR sent no concept id for {cid!r}")
            out.append(concept)
        return out

    async def _collection_ids_for(self, concepts: set[str]) -> None:
        """Learn stacbridge ids for granules' collection concept ids (one CMR query)."""
        missing = [c for c in concepts if c not in self._concept_to_id]
        if missing:
            records = await self.client.search_all(
                "collections", [("concept_id", c) for c in missing]
            )
            self._remember_all(records, {})

    # -- items ----------------------------------------------------------------------------
    async def _granule_targets(self, query: ItemQuery) -> list[Params]:
        if query.collections:
            concepts = await self._concept_ids(query.collections)
            targets = [[("collection_concept_id", c) for c in concepts]]
        else:
            targets = self._scope_targets()
        common: Params = []
        common += spatial_params(query.bbox, query.intersects)
        if query.datetime is not None:
            common.append(("temporal", temporal_param(query.datetime)))
        for item_id in query.ids:
            common.append(("granule_ur", item_id))
        common += filter_params(query.filter)
        sort = self._sort_key(query)
        if sort:
            common.append(("sort_key", sort))
        return [[*t, *common] for t in targets]

    @staticmethod
    def _sort_key(query: ItemQuery) -> str | None:
        for field, direction in query.sortby[:1]:
            key = _SORT_KEYS.get(field.removeprefix("properties."))
            if key:
                return ("-" if direction == "desc" else "") + key
        return None

    async def search(self, query: ItemQuery, cursor: Any | None) -> ItemPage:
        targets = await self._granule_targets(query)
        if query.sortby and len(targets) > 1:
            raise BadRequest(
                "sortby needs collections: this deployment's CMR scope is "
                "several CMR queries, whose results are not merged in order"
            )
        state = cursor or {"t": 0, "sa": None}
        index, after = int(state.get("t", 0)), state.get("sa")
        if index >= len(targets):
            return ItemPage(items=[])
        try:
            page = await self.client.search(
                "granules", targets[index], page_size=query.limit, search_after=after
            )
        except UpstreamRejected as exc:
            if after is None:
                raise  # the client's query: its 400
            # the cursor is CMR's own (sealed in a signed token): its refusal is not the client's
            raise ProviderError(
                PROVIDER, f"CMR refused the CMR-Search-After value it sent for this search: {exc}"
            ) from exc
        search_after = json_array_text(PROVIDER, page.search_after, "CMR's CMR-Search-After header")
        items = await self._to_items(
            page.items, query.collections[0] if len(query.collections) == 1 else None
        )
        if search_after and len(page.items) >= min(query.limit, self.settings.max_page_size):
            next_cursor: Any = {"t": index, "sa": search_after}
        elif index + 1 < len(targets):
            next_cursor = {"t": index + 1, "sa": None}
        else:
            next_cursor = None
        return ItemPage(
            items=items,
            next_cursor=next_cursor,
            number_matched=page.hits if len(targets) == 1 else None,
        )

    async def _to_items(self, records: list[JSON], default: str | None = None) -> list[JSON]:
        """Translate granules, naming their collection by concept id, entry title or `default`.

        CMR's meta usually carries the collection concept id; some records only name their
        collection by EntryTitle (HLS) or carry no meta at all, hence the fallbacks.
        """
        concepts = {_text(_obj(r.get("meta")).get("collection-concept-id")) for r in records}
        concepts.discard(None)
        await self._collection_ids_for(concepts)  # type: ignore[arg-type]
        by_concept, by_title = self._concept_to_id, self._title_to_id
        out: list[JSON] = []
        with gc_paused():
            self._translate_all(records, by_concept, by_title, default, out)
        await self._add_orbit_footprints(records, out)
        return out

    async def _add_orbit_footprints(self, records: list[JSON], items: list[JSON]) -> None:
        """Give orbit-only granules the footprint CMR computes from their orbit.

        UMM-G carries only the orbit, so their Items would have `geometry: null`: kept in an
        area search (CMR matched them) but absent from a map and from any CQL2 spatial test.
        One legacy `.json` request per page that has such granules; failing it fails the page,
        as CMR's 502, rather than serving Items CMR could have located.
        """
        pending: dict[str, str] = {}  # GranuleUR → concept id
        for record in records:
            umm = _obj(record.get("umm"))
            if footprints.is_orbit_only(umm):
                concept, ur = (
                    _text(_obj(record.get("meta")).get("concept-id")),
                    umm.get("GranuleUR"),
                )
                if concept and isinstance(ur, str):
                    pending[ur] = concept
        unlocated = [i for i in items if i.get("geometry") is None and i.get("id") in pending]
        if not unlocated:
            return
        body = await self.client.granule_footprints([pending[i["id"]] for i in unlocated])
        try:
            found = footprints.footprints(body)
        except ValueError as exc:
            raise ProviderError(PROVIDER, f"CMR's granules.json answer: {exc}") from exc
        for item in unlocated:
            shape_ = found.get(pending[item["id"]])
            if shape_ is not None:
                item["geometry"], item["bbox"] = shape_.geometry, shape_.bbox

    @staticmethod
    def _translate_all(
        records: list[JSON],
        by_concept: dict[str, str],
        by_title: dict[str, str],
        default: str | None,
        out: list[JSON],
    ) -> None:
        for record in records:
            meta, umm = _obj(record.get("meta")), _obj(record.get("umm"))
            reference = _obj(umm.get("CollectionReference"))
            cid = (
                by_concept.get(_text(meta.get("collection-concept-id")) or "")
                or by_title.get(_text(reference.get("EntryTitle")) or "")
                or default
            )
            try:
                item = granule_item(record, cid)
            except Exception as exc:  # noqa: BLE001 - `UNTRANSLATABLE`, or a translator bug:
                # either way one bad granule costs itself, not the page
                _skipped("granule", meta.get("concept-id"), exc)
                continue
            out.append(item)

    async def get_item(self, collection_id: str, item_id: str) -> JSON | None:
        concepts = await self._concept_ids((collection_id,))
        page = await self.client.search(
            "granules",
            [("collection_concept_id", concepts[0]), ("granule_ur", item_id)],
            page_size=1,
        )
        items = await self._to_items(page.items, collection_id)
        return items[0] if items else None

    async def queryables(self, collection_id: str | None) -> JSON:
        return {
            # the fields every catalogue shares mean the same everywhere (merged /queryables)
            **cql2_kit.SHARED_QUERYABLES,
            "start_datetime": {"type": "string", "format": "date-time"},
            "end_datetime": {"type": "string", "format": "date-time"},
            "platform": {"type": "string"},
            "instruments": {"type": "array", "items": {"type": "string"}},
            "grid:code": {"type": "string"},
        }

    def proxies(self, href: str) -> bool:
        """Earthdata hosts on the allow-list go through the proxy; public hosts stay direct."""
        return self.auth.allowed_url(href)

    async def resolve_asset(self, request: AssetRequest) -> AssetResolution:
        return await self.auth.resolve(request)

    async def aclose(self) -> None:
        await self.client.aclose()
        await self._data_client.aclose()
