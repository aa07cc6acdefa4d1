"""The seam between the gateway and its providers: two roles, one decorator hook, plain data.

A provider is one folder under `stacbridge/providers/` whose object plays one or more *roles*,
declared in its `roles` attribute (never discovered by probing for methods):

* a **catalogue** (`Catalog`) serves collections and items — CMR, M2M, a STAC upstream;
* an **asset source** (`AssetSource`) turns a signed asset reference back into bytes — every
  catalogue is one for its own assets, and services such as EGI and AppEEARS are asset sources
  that own no collections;
* an **item decorator** (`ItemDecorator`) is an asset source that adds assets (and
  `item_assets`) to *another* catalogue's items and collections: customised or extracted
  products for granules a catalogue already serves.

Everything a provider returns is a plain STAC dict (the hot path never builds pystac objects)
with *upstream* asset hrefs: the API rewrites them through the signing proxy when the objects
leave the gateway, signing each with the name of the asset source that must resolve it.

Paging state is the catalogue's own business: `ItemPage.next_cursor` is any JSON-serialisable
value (CMR's search-after, M2M's `startingNumber`, a STAC upstream's next link) that the API
seals inside its opaque, signed `token` and hands back unchanged on the next call.

The flow of one call, as the API layer drives it (the hooks, in order):

1. `start()` once, in the application's lifespan, before the first request (resume orders,
   warm caches); `aclose()` once at shutdown (hand back leases, close HTTP clients).
2. `Catalog.collection_ids()` at start-up builds the collection-id → catalogue table; an id
   that two catalogues serve is a start-up error, not a silent first match.
3. `search(query, cursor)` pages; whatever the catalogue does not apply exactly is evaluated by
   the API afterwards (geometry unless `Capabilities.exact_spatial`, the whole CQL2 filter,
   ids, time), so nothing is dropped silently.
4. `ItemDecorator.decorate_items(items, context)` adds its assets to the page's items of the
   collections it `decorates`.
5. `AssetSource.resolve_asset(request)` on `GET|HEAD /assets/<token>`: a redirect, a stream,
   or a pending order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

JSON = dict[str, Any]

#: the roles a provider object can declare in its `roles` attribute.
Role = Literal["catalog", "assets", "decorator"]
CATALOG: Role = "catalog"
ASSETS: Role = "assets"
DECORATOR: Role = "decorator"

#: key under which a decorator marks the assets it adds with its own name, so the proxy
#: routes them to it; the API removes the key when it rewrites the href.
ASSET_SOURCE_KEY = "stacbridge:source"


# ------------------------------------------------------------------------------ queries


@dataclass(frozen=True, slots=True)
class Interval:
    """A closed datetime interval; either end may be open (None)."""

    start: dt.datetime | None
    end: dt.datetime | None


@dataclass(frozen=True, slots=True)
class ItemQuery:
    """An item search as one catalogue sees it.

    `collections` holds only this catalogue's collection ids, or is empty to mean "the
    deployment's configured scope" (CMR cannot search all granules, so it must never mean
    "everything upstream").  `bbox` and `intersects` are already validated; `intersects` is a
    GeoJSON geometry dict.  `filter` is parsed CQL2-JSON the catalogue may translate into its
    own parameters to narrow the upstream query; the API evaluates the full expression on the
    results regardless, so a partial translation is safe and a missing one only costs time.
    """

    collections: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    bbox: tuple[float, ...] | None = None
    intersects: JSON | None = None
    datetime: Interval | None = None
    limit: int = 10
    filter: Any = None
    sortby: tuple[tuple[str, Literal["asc", "desc"]], ...] = ()


@dataclass(slots=True)
class ItemPage:
    """One page of STAC Item dicts from one catalogue.

    `next_cursor` is None on the last page.  `number_matched` is set only when the upstream
    knows the count of the query it was sent exactly.
    """

    items: list[JSON]
    next_cursor: Any = None
    number_matched: int | None = None


@dataclass(frozen=True, slots=True)
class CollectionQuery:
    """Collection search parameters (collection-search and free-text extensions)."""

    bbox: tuple[float, ...] | None = None
    datetime: Interval | None = None
    q: tuple[str, ...] = ()
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a catalogue declares it can do, read by the API instead of probing for methods.

    `sortable`: the item fields (`datetime`, `end_datetime`…) the upstream sorts by exactly;
    a sort on any other field is refused with a 400.  `exact_spatial`: the upstream applies
    `bbox`/`intersects` with STAC's planar semantics, so the API need not re-check geometry.
    `filter_pushdown`: the queryables the catalogue narrows upstream (for operators and the
    docs; the API still evaluates every filter in full).  `matches_area`: the upstream applies
    `bbox`/`intersects` itself, by spatial metadata an item may not show, so an item it returns
    without a geometry (an orbit-only CMR granule whose footprint is unknown) was matched there
    and is kept; from any other catalogue such an item cannot be judged in area and is dropped.
    """

    sortable: frozenset[str] = frozenset()
    exact_spatial: bool = False
    matches_area: bool = False
    filter_pushdown: frozenset[str] = frozenset()


# ------------------------------------------------------------------------------ assets


@dataclass(slots=True)
class AssetRequest:
    """What the signing proxy hands a resolver: the signed reference and the client's headers."""

    ref: str
    method: Literal["GET", "HEAD"] = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class AssetRedirect:
    """Send the client to a URL that needs no credentials (pre-signed S3/CloudFront, M2M)."""

    url: str
    status: int = 307


@dataclass(slots=True)
class AssetStream:
    """Stream the upstream response; the resolver has already sent the request with credentials.

    `response` is an open `httpx.Response` (stream mode); the proxy forwards status and the
    allowed headers and closes it when done.
    """

    response: Any


@dataclass(slots=True)
class AssetPending:
    """An order that is not ready yet: the proxy answers 202 with `Retry-After` and `status`."""

    retry_after: int
    status: JSON


AssetResolution = AssetRedirect | AssetStream | AssetPending


@dataclass(frozen=True, slots=True)
class DecorationContext:
    """What a decorator may use to shape the assets it adds: the search that found the items.

    EGI subsets to the search's own area and window; AppEEARS extracts for them.  Both are
    None when the items were not found by a spatial/temporal search (e.g. `GET .../items/x`).
    """

    bbox: tuple[float, ...] | None = None
    intersects: JSON | None = None
    datetime: Interval | None = None


# ------------------------------------------------------------------------------ errors


class ProviderError(Exception):
    """An upstream fault, mapped by the API to 502/503/504 with the provider named."""

    status_code = 502

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.message = message
        self.retry_after = retry_after
        if status_code is not None:
            self.status_code = status_code


class UpstreamRejected(ProviderError):
    """The upstream rejected the query itself (its own 4xx): the client's request was at fault."""

    status_code = 400


#: What a translator (`granule_to_item`, `scene_to_item`, `collection_to_stac`...) may raise for
#: one upstream record it cannot turn into STAC: the record is malformed, not the gateway.
#: Providers catch these per record, log the reason and skip the record, so one bad record
#: never fails a page; a property test (tests/unit/test_translate_robustness.py) holds every
#: translator to this family on mutated recordings.
UNTRANSLATABLE: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    LookupError,
    AttributeError,
    ArithmeticError,
)


class CollectionNotFound(LookupError):
    """A catalogue does not serve `collection_id` (the API answers 404)."""

    def __init__(self, collection_id: str) -> None:
        super().__init__(collection_id)
        self.collection_id = collection_id


# ------------------------------------------------------------------------------ roles


class Plugin(Protocol):
    """What every provider object has, whatever its roles."""

    #: short, URL-safe name: the child catalog id and the first field of asset tokens.
    name: str
    #: human title for links and the command line.
    title: str
    #: the roles this object plays (`catalog`, `assets`, `decorator`).
    roles: ClassVar[frozenset[Role]]

    async def start(self) -> None:
        """Called once before the first request (resume orders, warm caches)."""
        ...

    async def aclose(self) -> None:
        """Release HTTP clients and background tasks (hand back order leases)."""
        ...


class AssetSource(Plugin, Protocol):
    """Resolves the signed asset references it produced."""

    def proxies(self, href: str) -> bool:
        """Whether the signing proxy should stand in front of `href` (no I/O, hot path)."""
        ...

    async def resolve_asset(self, request: AssetRequest) -> AssetResolution:
        """Turn a signed asset reference into a redirect, a stream or a pending order.

        Raise `StacError`s (404, 403…) for the client's faults and `ProviderError` for the
        upstream's.
        """
        ...


class Catalog(AssetSource, Protocol):
    """An upstream catalogue behind the gateway: collections and items."""

    capabilities: Capabilities

    def owns(self, collection_id: str) -> bool:
        """Whether `collection_id` has this catalogue's id syntax (cheap, no I/O).

        Used only to route ids the start-up table does not know yet.
        """
        ...

    async def collection_ids(self) -> list[str]:
        """Every collection id in the configured scope (start-up routing table)."""
        ...

    async def list_collections(self, query: CollectionQuery) -> list[JSON]:
        """The collections in the configured scope that match `query`."""
        ...

    async def get_collection(self, collection_id: str) -> JSON:
        """One collection; raises `CollectionNotFound` when the upstream does not have it."""
        ...

    async def search(self, query: ItemQuery, cursor: Any | None) -> ItemPage:
        """One page of items; `cursor` is a previous page's `next_cursor` (None: first page).

        Raises `CollectionNotFound` for a collection in `query.collections` it does not serve.
        """
        ...

    async def get_item(self, collection_id: str, item_id: str) -> JSON | None:
        """One item, or None when the collection exists but the item does not.

        Raises `CollectionNotFound` when the collection itself does not exist.
        """
        ...

    async def queryables(self, collection_id: str | None) -> JSON:
        """JSON-schema `properties` for the queryables of one collection (or all)."""
        ...


class ItemDecorator(AssetSource, Protocol):
    """Adds its own assets to another catalogue's items (EGI, AppEEARS)."""

    def decorates(self, collection_id: str) -> bool:
        """Whether this decorator adds assets to items of `collection_id` (no I/O)."""
        ...

    async def decorate_items(self, items: list[JSON], context: DecorationContext) -> None:
        """Add assets, in place, to `items` (all of collections it `decorates`).

        Each added asset carries `ASSET_SOURCE_KEY: self.name` so the proxy routes its signed
        href back here.
        """
        ...

    def decorate_collection(self, collection: JSON) -> None:
        """Add `item_assets` (and anything else) for the assets it adds, in place."""
        ...
