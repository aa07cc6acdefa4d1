"""The stac-fastapi core client: routes collections and searches to providers.

This is the only module that knows there are several providers.  It turns STAC requests into
`ItemQuery`s, walks the providers a search touches one after the other, evaluates in the
gateway whatever an upstream could not (exact geometry, CQL2, ids), seals every provider's
native paging state into one signed `token`, and builds the links real clients follow
(pystac-client's `merge: true` POST bodies, GDAL's and QGIS's GET `next` hrefs).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

import attr
import cql2
import orjson
from shapely import prepare
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry
from stac_fastapi.types.core import AsyncBaseCoreClient
from stac_fastapi.types.requests import get_base_url
from stac_fastapi.types.rfc3339 import str_to_interval
from starlette.requests import Request
from starlette.responses import Response

from stacbridge.errors import BadRequest, NotFound
from stacbridge.perf import gc_paused
from stacbridge.provider import JSON, CollectionQuery, Interval, ItemPage, ItemQuery, Provider
from stacbridge.signing import InvalidToken, Signer

log = logging.getLogger("stacbridge")

GEOJSON = "application/geo+json"
STAC_VERSION = "1.0.0"

#: conformance URIs clients look for (pystac-client matches v1.0.* only; QGIS wants oas30).
CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#fields",
    "https://api.stacspec.org/v1.0.0/item-search#sort",
    "https://api.stacspec.org/v1.0.0/item-search#filter",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#fields",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#sort",
    "https://api.stacspec.org/v1.0.0-rc.1/collection-search",
    "https://api.stacspec.org/v1.0.0-rc.1/collection-search#free-text",
    "https://api.stacspec.org/v1.0.0-rc.1/ogcapi-features#free-text",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
]

#: items an upstream page holds at most when the gateway has to filter (CQL2, geometry).
FILTER_FETCH = 500
#: upstream pages one request may read while filtering before it answers with what it has.
MAX_UPSTREAM_PAGES = 20


# ---------------------------------------------------------------------------------------------
# request normalisation


@dataclass(slots=True)
class Search:
    """One normalised search request (GET or POST, /search or /collections/{id}/items)."""

    collections: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    bbox: list[float] | None = None
    intersects: JSON | None = None
    datetime: str | None = None
    limit: int = 10
    filter: JSON | None = None
    sortby: list[tuple[str, str]] = field(default_factory=list)
    fields_include: list[str] = field(default_factory=list)
    fields_exclude: list[str] = field(default_factory=list)
    token: str | None = None

    def fingerprint(self) -> str:
        """What a paging token is bound to: the search, not the page size or the page."""
        # collection order matters: it is the order in which providers are searched
        canonical = orjson.dumps(
            [self.collections, sorted(self.ids), self.bbox, self.intersects,
             self.datetime, self.filter, self.sortby],
            option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(canonical).hexdigest()[:16]


def parse_bbox(value: Iterable[float] | str | None) -> list[float] | None:
    """Validate a bbox: 4 or 6 numbers, latitudes in range and south ≤ north."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            numbers = [float(v) for v in value.split(",")]
        except ValueError as exc:
            raise BadRequest(f"bbox must be 4 or 6 comma-separated numbers, got {value!r}") \
                from exc
    else:
        numbers = [float(v) for v in value]
    if len(numbers) not in (4, 6):
        raise BadRequest(f"bbox must have 4 or 6 numbers, got {len(numbers)}")
    if len(numbers) == 4:
        west, south, east, north = numbers
    else:
        west, south, _, east, north, _ = numbers
        if numbers[2] > numbers[5]:
            raise BadRequest("bbox minimum elevation is greater than its maximum")
    for lat in (south, north):
        if not -90 <= lat <= 90:
            raise BadRequest(f"bbox latitude {lat} is outside [-90, 90]")
    for lon in (west, east):
        if not -180 <= lon <= 180:
            raise BadRequest(f"bbox longitude {lon} is outside [-180, 180]")
    if south > north:
        raise BadRequest(f"bbox south latitude {south} is greater than north latitude {north}")
    return numbers


def parse_datetime(value: str | None) -> Interval | None:
    """An RFC 3339 instant or interval (`a/b`, `../b`, `a/..`) as an `Interval`."""
    if value is None or value == "":
        return None
    parsed = str_to_interval(value)
    if isinstance(parsed, dt.datetime):
        return Interval(parsed, parsed)
    start, end = parsed  # type: ignore[misc]
    if start and end and start > end:
        raise BadRequest(f"datetime interval {value!r} ends before it starts")
    return Interval(start, end)


def parse_intersects(value: Any) -> JSON | None:
    if value is None:
        return None
    if hasattr(value, "model_dump"):
        value = value.model_dump(exclude_none=True)
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise BadRequest("intersects is not valid GeoJSON") from exc
    try:
        geom = shape(value)
    except Exception as exc:
        raise BadRequest(f"intersects is not a valid GeoJSON geometry: {exc}") from exc
    if geom.is_empty:
        raise BadRequest("intersects geometry is empty")
    return value


CRS84 = ("http://www.opengis.net/def/crs/OGC/1.3/CRS84",
         "https://www.opengis.net/def/crs/OGC/1.3/CRS84")


def parse_filter(expr: Any, lang: str | None, crs: str | None = None) -> JSON | None:
    """Parse CQL2 text or JSON into CQL2-JSON, with a message that says what is wrong."""
    if crs not in (None, "", *CRS84):
        raise BadRequest(f"filter-crs {crs!r} is not supported; use CRS84 (longitude, "
                         "latitude)")
    if expr is None or expr == "":
        return None
    try:
        if isinstance(expr, dict):
            parsed = cql2.Expr(expr)
        elif lang == "cql2-json" or (isinstance(expr, str) and expr.lstrip().startswith("{")):
            parsed = cql2.Expr(orjson.loads(expr))
        else:
            parsed = cql2.Expr(expr)
        parsed.validate()
    except Exception as exc:
        message = " ".join(str(exc).split())
        raise BadRequest(f"invalid CQL2 filter: {message}") from exc
    return parsed.to_json()


def parse_sortby(value: Any) -> list[tuple[str, str]]:
    out = []
    for entry in value or []:
        if isinstance(entry, str):
            entry = entry.strip()
            direction = "desc" if entry.startswith("-") else "asc"
            name = entry.lstrip("+-").strip()
        else:
            data = entry.model_dump() if hasattr(entry, "model_dump") else dict(entry)
            name, direction = data["field"], str(getattr(data["direction"], "value",
                                                        data["direction"]))
        if name:
            out.append((name.removeprefix("properties."), direction))
    return out


def parse_fields(value: Any) -> tuple[list[str], list[str]]:
    if value is None:
        return [], []
    if isinstance(value, list):  # GET: ["a", "-b", "+c"]
        include = [f.lstrip("+") for f in value if f and not f.startswith("-")]
        exclude = [f[1:] for f in value if f.startswith("-")]
        return include, exclude
    data = value.model_dump() if hasattr(value, "model_dump") else dict(value)
    return sorted(data.get("include") or []), sorted(data.get("exclude") or [])


# ---------------------------------------------------------------------------------------------
# gateway-side evaluation


class PostFilter:
    """What the gateway checks on every item an upstream returns."""

    def __init__(self, search: Search, interval: Interval | None = None) -> None:
        self.ids = set(search.ids) or None
        self.interval = interval
        self.geometry: BaseGeometry | None = None
        if search.intersects is not None:
            self.geometry = shape(search.intersects)
        elif search.bbox is not None:
            b = search.bbox
            west, south, east, north = (b[0], b[1], b[3], b[4]) if len(b) == 6 else b
            if west > east:  # crosses the antimeridian
                self.geometry = box(west, south, 180, north).union(box(-180, south, east, north))
            else:
                self.geometry = box(west, south, east, north)
        if self.geometry is not None:
            prepare(self.geometry)
        self.cql = cql2.Expr(search.filter) if search.filter else None

    @property
    def drops_items(self) -> bool:
        return self.geometry is not None or self.cql is not None or self.ids is not None

    def _in_interval(self, props: JSON) -> bool:
        """Whether the item's time (instant or range) overlaps the search interval."""
        start_text = props.get("start_datetime") or props.get("datetime")
        end_text = props.get("end_datetime") or props.get("datetime")
        if not start_text or not end_text:
            return True  # an item without time cannot be judged; the upstream matched it
        interval = self.interval
        try:
            start = dt.datetime.fromisoformat(start_text.replace("Z", "+00:00"))
            end = dt.datetime.fromisoformat(end_text.replace("Z", "+00:00"))
            if interval.start is not None and end < interval.start:  # type: ignore[union-attr]
                return False
            return not (interval.end is not None
                        and start > interval.end)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            return True  # unparseable or naive upstream times: the upstream matched it

    def __call__(self, item: JSON, *, filter_applied: bool) -> bool:
        if self.ids is not None and item.get("id") not in self.ids:
            return False
        if self.interval is not None and not self._in_interval(item.get("properties") or {}):
            return False
        if self.geometry is not None:
            geom = item.get("geometry")
            try:
                if geom is None or not self.geometry.intersects(shape(geom)):
                    return False
            except Exception:  # noqa: BLE001 - an upstream footprint shapely cannot read
                return False
        if self.cql is not None and not filter_applied:
            try:
                return bool(self.cql.matches(item))
            except Exception:  # noqa: BLE001 - an item the expression cannot evaluate is no match
                return False
        return True


def apply_fields(item: JSON, include: list[str], exclude: list[str]) -> JSON:
    """The fields extension: dotted include/exclude paths; include wins on conflicts."""
    if not include and not exclude:
        return item
    if include:
        out: JSON = {}
        for key in ("type", "stac_version", "id", "collection", "links", "assets", "bbox",
                    "geometry", "stac_extensions"):
            if key in item:
                out[key] = item[key]
        props = item.get("properties", {})
        out["properties"] = {"datetime": props.get("datetime")}
        for path in include:
            _copy_path(item, out, path)
    else:
        out = dict(item)
        out["properties"] = dict(item.get("properties", {}))
    for path in exclude:
        if path not in include:
            _drop_path(out, path)
    return out


def _copy_path(src: JSON, dst: JSON, path: str) -> None:
    parts = path.split(".")
    if parts[0] not in src and "properties" in src and parts[0] in src["properties"]:
        parts = ["properties", *parts]
    cur_src, cur_dst = src, dst
    for part in parts[:-1]:
        if not isinstance(cur_src, dict) or part not in cur_src:
            return
        cur_src = cur_src[part]
        cur_dst = cur_dst.setdefault(part, {})
    if isinstance(cur_src, dict) and parts[-1] in cur_src:
        cur_dst[parts[-1]] = cur_src[parts[-1]]


def _drop_path(obj: JSON, path: str) -> None:
    parts = path.split(".")
    if parts[0] not in obj and parts[0] in obj.get("properties", {}):
        parts = ["properties", *parts]
    for part in parts[:-1]:
        obj = obj.get(part) if isinstance(obj, dict) else None  # type: ignore[assignment]
        if obj is None:
            return
    if isinstance(obj, dict):
        obj.pop(parts[-1], None)


# ---------------------------------------------------------------------------------------------
# the client


def json_response(body: Any, media_type: str = "application/json", status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=media_type)


@attr.s
class FederationClient(AsyncBaseCoreClient):
    """Routes STAC requests to the providers; all of the gateway's STAC semantics live here."""

    providers: list[Provider] = attr.ib(factory=list)
    signer: Signer = attr.ib(default=None)
    default_limit: int = attr.ib(default=10)
    max_limit: int = attr.ib(default=2000)
    #: rewrites an Item's or Collection's asset hrefs on the way out (the signing proxy).
    asset_rewriter: Callable[[Provider, JSON, str], JSON] | None = attr.ib(default=None)
    landing_page_id: str = attr.ib(default="stacbridge")
    title: str = attr.ib(default="stacbridge")
    description: str = attr.ib(default="")

    def conformance_classes(self) -> list[str]:
        return list(CONFORMANCE)

    # -- routing --------------------------------------------------------------------------
    def provider_named(self, name: str) -> Provider | None:
        return next((p for p in self.providers if p.name == name), None)

    def provider_for(self, collection_id: str) -> Provider:
        for provider in self.providers:
            if provider.owns(collection_id):
                return provider
        raise NotFound(f"collection {collection_id!r} not found")

    # -- landing page ---------------------------------------------------------------------
    async def landing_page(self, **kwargs: Any) -> JSON:
        request: Request = kwargs["request"]
        base = get_base_url(request)
        page = self._landing_page(base_url=base, conformance_classes=self.conformance_classes(),
                                  extension_schemas=[])
        page = dict(page)
        page["id"] = self.landing_page_id
        page["title"] = self.title
        page["description"] = self.description or page.get("description", "")
        links = [link for link in page["links"] if link.get("rel") not in ("child",)]
        for link in links:
            link.setdefault("title", link.get("rel", "").replace("-", " ").capitalize())
            if link.get("rel") == "data":
                link["title"] = "Collections"
                link["href"] = base.rstrip("/") + "/collections"
            if link.get("rel") == "search":
                link["title"] = "Item search"
        links.append({"rel": "search", "type": GEOJSON, "href": base + "search", "method": "POST",
                      "title": "Item search (POST)"})
        links.append({"rel": "queryables", "type": "application/schema+json",
                      "href": base + "queryables", "title": "Queryables"})
        links.append({"rel": "service-desc",
                      "type": "application/vnd.oai.openapi+json;version=3.0",
                      "href": base + "api", "title": "OpenAPI service description"})
        links.append({"rel": "service-doc", "type": "text/html", "href": base + "api.html",
                      "title": "OpenAPI service documentation"})
        for provider in self.providers:
            links.append({"rel": "child", "type": "application/json",
                          "href": f"{base}catalogs/{provider.name}", "title": provider.title})
        page["links"] = _dedupe_links(links)
        page["conformsTo"] = self.conformance_classes()
        return page

    async def provider_catalog(self, name: str, request: Request) -> JSON:
        """A child catalog listing one provider's collections (browse a provider alone)."""
        provider = self.provider_named(name)
        if provider is None:
            raise NotFound(f"no provider named {name!r}")
        base = get_base_url(request)
        collections = await provider.list_collections(CollectionQuery())
        links = [
            {"rel": "self", "type": "application/json", "href": f"{base}catalogs/{name}",
             "title": provider.title},
            {"rel": "root", "type": "application/json", "href": base, "title": self.title},
            {"rel": "parent", "type": "application/json", "href": base, "title": self.title},
        ]
        links += [{"rel": "child", "type": "application/json",
                   "href": f"{base}collections/{c['id']}", "title": c.get("title", c["id"])}
                  for c in collections]
        return {"type": "Catalog", "stac_version": STAC_VERSION, "id": name,
                "title": provider.title,
                "description": f"Collections served by {provider.title} through stacbridge.",
                "links": links}

    # -- collections ----------------------------------------------------------------------
    def _collection_out(self, provider: Provider, collection: JSON, base: str) -> JSON:
        out = dict(collection)
        cid = out["id"]
        links = [link for link in out.get("links", []) if link.get("rel") not in
                 ("self", "root", "parent", "items", "queryables")]
        links += [
            {"rel": "self", "type": "application/json", "href": f"{base}collections/{cid}",
             "title": out.get("title") or cid},
            {"rel": "root", "type": "application/json", "href": base, "title": self.title},
            {"rel": "parent", "type": "application/json", "href": base, "title": self.title},
            {"rel": "items", "type": GEOJSON, "href": f"{base}collections/{cid}/items",
             "title": "Items"},
            {"rel": "queryables", "type": "application/schema+json",
             "href": f"{base}collections/{cid}/queryables", "title": "Queryables"},
        ]
        out["links"] = links
        if self.asset_rewriter is not None and out.get("assets"):
            out = self.asset_rewriter(provider, out, base)
        return out

    async def all_collections(self, **kwargs: Any) -> Response:
        request: Request = kwargs["request"]
        base = get_base_url(request)
        bbox = parse_bbox(kwargs.get("bbox"))
        interval = parse_datetime(kwargs.get("datetime"))
        q = tuple(kwargs.get("q") or ())
        limit = int(kwargs.get("limit") or 100)
        if limit < 1:
            raise BadRequest("limit must be a positive integer")
        token = kwargs.get("token")
        fingerprint = hashlib.sha256(orjson.dumps([bbox, kwargs.get("datetime"), q])).hexdigest()
        offset = 0
        if token:
            offset = self._open_token(token, "collections", fingerprint[:16]).get("o", 0)
        query = CollectionQuery(bbox=tuple(bbox) if bbox else None, datetime=interval, q=q)
        found: list[tuple[Provider, JSON]] = []
        for provider in self.providers:
            try:
                found += [(provider, c) for c in await provider.list_collections(query)]
            except Exception as exc:  # noqa: BLE001 - one provider's fault never hides another's
                log.warning("provider %s: collections unavailable: %s", provider.name, exc)
        page = found[offset:offset + limit]
        collections = [self._collection_out(p, c, base) for p, c in page]
        links = [
            {"rel": "self", "type": "application/json", "href": str(request.url)},
            {"rel": "root", "type": "application/json", "href": base, "title": self.title},
            {"rel": "parent", "type": "application/json", "href": base, "title": self.title},
        ]
        if offset + limit < len(found):
            next_token = self.signer.sign("collections", {"f": fingerprint[:16],
                                                          "o": offset + limit})
            links.append({"rel": "next", "type": "application/json", "method": "GET",
                          "href": _replace_query(request, token=next_token)})
        if offset > 0:
            prev_token = self.signer.sign("collections", {"f": fingerprint[:16],
                                                          "o": max(0, offset - limit)})
            links.append({"rel": "prev", "type": "application/json", "method": "GET",
                          "href": _replace_query(request, token=prev_token)})
        return json_response({"collections": collections, "links": links,
                              "numberMatched": len(found), "numberReturned": len(collections)})

    async def get_collection(self, collection_id: str, **kwargs: Any) -> Response:
        request: Request = kwargs["request"]
        provider = self.provider_for(collection_id)
        collection = await provider.get_collection(collection_id)
        if collection is None:
            raise NotFound(f"collection {collection_id!r} not found")
        return json_response(self._collection_out(provider, collection, get_base_url(request)))

    # -- items ----------------------------------------------------------------------------
    def _item_out(self, provider: Provider, item: JSON, base: str) -> JSON:
        cid = item.get("collection")
        links = [link for link in item.get("links", []) if link.get("rel") not in
                 ("self", "root", "parent", "collection")]
        links += [
            {"rel": "self", "type": GEOJSON, "href": f"{base}collections/{cid}/items/{item['id']}"},
            {"rel": "parent", "type": "application/json", "href": f"{base}collections/{cid}"},
            {"rel": "collection", "type": "application/json", "href": f"{base}collections/{cid}"},
            {"rel": "root", "type": "application/json", "href": base, "title": self.title},
        ]
        item["links"] = links
        if self.asset_rewriter is not None and item.get("assets"):
            item = self.asset_rewriter(provider, item, base)
        return item

    async def get_item(self, item_id: str, collection_id: str, **kwargs: Any) -> Response:
        request: Request = kwargs["request"]
        provider = self.provider_for(collection_id)
        item = await provider.get_item(collection_id, item_id)
        if item is None:
            if await provider.get_collection(collection_id) is None:
                raise NotFound(f"collection {collection_id!r} not found")
            raise NotFound(f"item {item_id!r} not found in collection {collection_id!r}")
        return json_response(self._item_out(provider, item, get_base_url(request)), GEOJSON)

    async def get_search(self, request: Request, **kwargs: Any) -> Response:
        search = self._search_from_get(kwargs)
        return await self._search(search, request, post=False)

    async def post_search(self, search_request: Any, **kwargs: Any) -> Response:
        request: Request = kwargs["request"]
        body = search_request
        bbox = getattr(body, "bbox", None)
        search = Search(
            collections=list(body.collections or []),
            ids=list(body.ids or []),
            bbox=parse_bbox(list(bbox) if bbox is not None else None),
            intersects=parse_intersects(getattr(body, "intersects", None)),
            datetime=getattr(body, "datetime", None),
            limit=body.limit or self.default_limit,
            filter=parse_filter(getattr(body, "filter_expr", None),
                                getattr(body, "filter_lang", None),
                                getattr(body, "filter_crs", None)),
            sortby=parse_sortby(getattr(body, "sortby", None)),
            token=getattr(body, "token", None),
        )
        search.fields_include, search.fields_exclude = parse_fields(getattr(body, "fields",
                                                                            None))
        return await self._search(search, request, post=True)

    async def item_collection(self, collection_id: str, **kwargs: Any) -> Response:
        request: Request = kwargs["request"]
        provider = self.provider_for(collection_id)
        search = self._search_from_get({**kwargs, "collections": [collection_id]})
        if not search.token and await provider.get_collection(collection_id) is None:
            raise NotFound(f"collection {collection_id!r} not found")
        return await self._search(search, request, post=False,
                                  self_href=f"collections/{collection_id}/items")

    def _search_from_get(self, kwargs: dict[str, Any]) -> Search:
        collections = kwargs.get("collections") or []
        if isinstance(collections, str):
            collections = [c for c in collections.split(",") if c]
        ids = kwargs.get("ids") or []
        if isinstance(ids, str):
            ids = [i for i in ids.split(",") if i]
        intersects = kwargs.get("intersects")
        bbox = kwargs.get("bbox")
        search = Search(
            collections=list(collections), ids=list(ids),
            bbox=parse_bbox(list(bbox) if bbox is not None and not isinstance(bbox, str)
                            else bbox),
            intersects=parse_intersects(intersects),
            datetime=kwargs.get("datetime"),
            limit=int(kwargs.get("limit") or self.default_limit),
            filter=parse_filter(kwargs.get("filter_expr"), kwargs.get("filter_lang"),
                                kwargs.get("filter_crs")),
            sortby=parse_sortby(kwargs.get("sortby")),
            token=kwargs.get("token"),
        )
        search.fields_include, search.fields_exclude = parse_fields(kwargs.get("fields"))
        return search

    # -- search engine --------------------------------------------------------------------
    def _open_token(self, token: str, purpose: str, fingerprint: str) -> JSON:
        try:
            state = self.signer.verify(purpose, token)
        except InvalidToken as exc:
            raise BadRequest(f"invalid paging token: {exc}") from exc
        if not isinstance(state, dict) or state.get("f") != fingerprint:
            raise BadRequest("paging token belongs to a different search; "
                             "start the search again without a token")
        return state

    def _targets(self, search: Search, interval: Interval | None) -> list[tuple[Provider,
                                                                                  ItemQuery]]:
        base = ItemQuery(
            ids=tuple(search.ids),
            bbox=tuple(search.bbox) if search.bbox else None,
            intersects=search.intersects,
            datetime=interval,
            limit=search.limit,
            filter=search.filter,
            sortby=tuple((f, d) for f, d in search.sortby),  # type: ignore[misc]
        )
        if not search.collections:
            return [(p, base) for p in self.providers]
        grouped: dict[str, list[str]] = {}
        order: list[Provider] = []
        for cid in dict.fromkeys(search.collections):
            provider = self.provider_for(cid)
            if provider.name not in grouped:
                order.append(provider)
            grouped.setdefault(provider.name, []).append(cid)
        return [(p, replace(base, collections=tuple(grouped[p.name]))) for p in order]

    async def _search(self, search: Search, request: Request, *, post: bool,
                      self_href: str = "search") -> Response:
        if search.bbox is not None and search.intersects is not None:
            raise BadRequest("bbox and intersects are mutually exclusive; send only one")
        if search.limit < 1:
            raise BadRequest("limit must be a positive integer")
        search.limit = min(search.limit, self.max_limit)
        interval = parse_datetime(search.datetime)
        base = get_base_url(request)
        fingerprint = search.fingerprint()
        state = (self._open_token(search.token, "page", fingerprint) if search.token
                 else {"i": 0, "c": None, "s": 0})
        targets = self._targets(search, interval)
        self._check_sortby(search, targets)
        post_filter = PostFilter(search, interval)
        limit = search.limit

        index, cursor, skip = int(state.get("i", 0)), state.get("c"), int(state.get("s", 0))
        if index < len(targets) and state.get("p", targets[index][0].name) != \
                targets[index][0].name:
            raise BadRequest("paging token belongs to a different search; "
                             "start the search again without a token")
        fetch = int(state.get("n") or 0)
        out: list[JSON] = []
        matched: int | None = 0 if not search.token else None
        counted = 0  # targets whose total went into `matched`
        upstream_pages = 0
        next_state: JSON | None = None
        while index < len(targets):
            provider, query = targets[index]
            if upstream_pages >= MAX_UPSTREAM_PAGES or (
                    upstream_pages and await request.is_disconnected()):
                # a selective gateway-side filter must not scan a whole collection in one
                # request: answer what was found, with a next link where the scan stopped
                next_state = {"i": index, "c": cursor, "s": skip}
                break
            size = fetch or (limit if not post_filter.drops_items
                             else max(limit, min(FILTER_FETCH, limit * 4)))
            fetch = 0
            try:
                page: ItemPage = await provider.search(replace(query, limit=size), cursor)
            except LookupError as exc:
                raise NotFound(f"collection {exc.args[0]!r} not found") from exc
            upstream_pages += 1
            if matched is not None:
                if (page.number_matched is not None and cursor is None
                        and not (post_filter.cql and not page.applied_filter)):
                    matched += page.number_matched
                    counted += 1
                else:
                    matched = None
            with gc_paused():
                stopped_at, dropped = self._collect(page, provider, post_filter, base, skip,
                                                    limit, out)
            if dropped and not page.exact_spatial:
                matched = None  # the gateway dropped items the upstream counted
            skip = 0
            if stopped_at is not None and stopped_at < len(page.items):
                next_state = {"i": index, "c": cursor, "s": stopped_at, "n": size}
                break
            if page.next_cursor is not None:
                cursor = page.next_cursor
                if len(out) >= limit:
                    next_state = {"i": index, "c": cursor, "s": 0}
                    break
                continue
            index, cursor = index + 1, None
            if len(out) >= limit and index < len(targets):
                next_state = {"i": index, "c": None, "s": 0}
                break
        if counted < len(targets):
            matched = None  # some target's count was never asked for: no honest total
        if search.fields_include or search.fields_exclude:
            out = [apply_fields(i, search.fields_include, search.fields_exclude) for i in out]

        links: list[JSON] = [
            {"rel": "root", "type": "application/json", "href": base, "title": self.title},
        ]
        if self_href == "search":
            links.append({"rel": "self", "type": GEOJSON, "href": str(request.url)})
        else:
            cid = search.collections[0]
            links += [
                {"rel": "self", "type": GEOJSON, "href": str(request.url)},
                {"rel": "parent", "type": "application/json", "href": f"{base}collections/{cid}"},
                {"rel": "collection", "type": "application/json",
                 "href": f"{base}collections/{cid}"},
            ]
        if next_state is not None:
            next_state["f"] = fingerprint
            if next_state["i"] < len(targets):
                next_state["p"] = targets[next_state["i"]][0].name
            token = self.signer.sign("page", next_state)
            if post:
                links.append({"rel": "next", "type": GEOJSON, "method": "POST",
                              "href": f"{base}search", "body": {"token": token},
                              "merge": True})
            else:
                links.append({"rel": "next", "type": GEOJSON, "method": "GET",
                              "href": _replace_query(request, token=token)})
        body: JSON = {"type": "FeatureCollection", "features": out, "links": links,
                      "numberReturned": len(out)}
        if matched is not None and not (post_filter.ids is not None and matched > len(out)):
            body["numberMatched"] = matched
        with gc_paused():
            return Response(orjson.dumps(body), media_type=GEOJSON)

    def _collect(self, page: ItemPage, provider: Provider, post_filter: PostFilter, base: str,
                 skip: int, limit: int, out: list[JSON]) -> tuple[int | None, int]:
        """Add the page's matching items to `out`.  Returns the position after the last item
        taken when the page held more than `limit` needed (else None) and how many items the
        gateway's own checks dropped."""
        items, applied = page.items, page.applied_filter
        dropped = 0
        for position in range(skip, len(items)):
            item = items[position]
            if post_filter(item, filter_applied=applied):
                out.append(self._item_out(provider, item, base))
                if len(out) >= limit:
                    return position + 1, dropped
            else:
                dropped += 1
        return None, dropped

    def _check_sortby(self, search: Search,
                      targets: list[tuple[Provider, ItemQuery]]) -> None:
        """Refuse sorts nobody can honour instead of silently ignoring them."""
        if not search.sortby:
            return
        if len(search.sortby) > 1:
            raise BadRequest("sorting by more than one field is not supported")
        if len(targets) > 1:
            raise BadRequest("sortby needs the search restricted to one provider's collections "
                             f"({', '.join(p.name for p, _ in targets)} were asked); results "
                             "from several providers are not merged in sort order")
        field_name = search.sortby[0][0]
        for provider, _ in targets:
            can_sort = getattr(provider, "can_sort", None)
            if can_sort is None or not can_sort(field_name):
                raise BadRequest(f"cannot sort by {field_name!r}: {provider.name} "
                                 "does not support it")

    async def get_queryables(self, collection_id: str | None = None, **kwargs: Any) -> Response:
        request: Request = kwargs["request"]
        base = get_base_url(request)
        if collection_id:
            provider = self.provider_for(collection_id)
            if await provider.get_collection(collection_id) is None:
                raise NotFound(f"collection {collection_id!r} not found")
            props = await provider.queryables(collection_id)
            url = f"{base}collections/{collection_id}/queryables"
        else:
            props = {}
            for provider in self.providers:
                try:
                    props.update(await provider.queryables(None))
                except Exception as exc:  # noqa: BLE001
                    log.warning("provider %s: queryables unavailable: %s", provider.name, exc)
            url = f"{base}queryables"
        schema = {
            "$schema": "https://json-schema.org/draft/2019-09/schema",
            "$id": url,
            "type": "object",
            "title": "Queryables",
            "properties": {
                "id": {"description": "Item id", "type": "string"},
                "collection": {"description": "Collection id", "type": "string"},
                "geometry": {"description": "Footprint",
                             "$ref": "https://geojson.org/schema/Geometry.json"},
                **props,
            },
            "additionalProperties": True,
        }
        return json_response(schema, "application/schema+json")


def _dedupe_links(links: list[JSON]) -> list[JSON]:
    seen, out = set(), []
    for link in links:
        key = (link.get("rel"), link.get("href"), link.get("method", "GET"))
        if key not in seen:
            seen.add(key)
            out.append(link)
    return out


def _replace_query(request: Request, **values: str) -> str:
    """The request's own URL with `values` replacing those query parameters (GET next links)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in values]
    params += list(values.items())
    return str(request.url.replace(query=urlencode(params)))
