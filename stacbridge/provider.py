"""The one interface every upstream provider implements.

`federation.py` is the only module that knows there are several providers; it talks to each of
them through `Provider` and the plain data classes below.  Everything a provider returns is a
plain STAC dict (the hot path never builds pystac objects), with *upstream* asset hrefs: the
gateway rewrites them through the signing proxy when the objects leave the API.

Paging state is the provider's own business: `ItemPage.next_cursor` is any JSON-serialisable
value (CMR's search-after tuple, M2M's `startingNumber`, a STAC upstream's next link) that the
federation seals inside its opaque, signed `token` and hands back unchanged on the next call.

Asset resolution (`resolve_asset`) is how the signing proxy turns a signed reference back into
bytes: a redirect to a pre-signed URL, a stream with credentials attached, or an order that is
not ready yet (M2M products being prepared, AppEEARS tasks, EGI async requests).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Interval:
    """A closed datetime interval; either end may be open (None)."""

    start: dt.datetime | None
    end: dt.datetime | None


@dataclass(frozen=True, slots=True)
class ItemQuery:
    """An item search as one provider sees it.

    `collections` holds only this provider's collection ids, or is empty to mean "the
    deployment's configured scope" (CMR cannot search all granules, so it must never mean
    "everything upstream").  `bbox` and `intersects` are already validated; `intersects` is a
    GeoJSON geometry dict.  `filter` is a parsed CQL2 expression the provider may translate into
    its own parameters; whatever it does not translate it reports in `ItemPage.unapplied`, and
    the federation evaluates the full expression on the results, so nothing is dropped silently.
    """

    collections: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    bbox: tuple[float, ...] | None = None
    intersects: JSON | None = None
    datetime: Interval | None = None
    limit: int = 10
    filter: JSON | None = None
    sortby: tuple[tuple[str, Literal["asc", "desc"]], ...] = ()


@dataclass(slots=True)
class ItemPage:
    """One page of STAC Item dicts from one provider.

    `next_cursor` is None on the last page.  `number_matched` is set only when the upstream
    knows the count exactly.  `exact_spatial` tells the federation whether the upstream already
    applied `bbox`/`intersects` exactly as STAC defines it (planar intersection); when False the
    federation post-filters geometrically.
    """

    items: list[JSON]
    next_cursor: Any = None
    number_matched: int | None = None
    exact_spatial: bool = False
    applied_filter: bool = False


@dataclass(frozen=True, slots=True)
class CollectionQuery:
    """Collection search parameters (collection-search and free-text extensions)."""

    bbox: tuple[float, ...] | None = None
    datetime: Interval | None = None
    q: tuple[str, ...] = ()
    limit: int | None = None


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


class ProviderError(Exception):
    """An upstream fault, mapped by the API to 502/503/504 with the provider named."""

    status_code = 502

    def __init__(self, provider: str, message: str, *, status_code: int | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.message = message
        self.retry_after = retry_after
        if status_code is not None:
            self.status_code = status_code


class UpstreamRejected(ProviderError):
    """The upstream rejected the query itself (its own 4xx): the client's request was at fault."""

    status_code = 400


@runtime_checkable
class Provider(Protocol):
    """An upstream catalogue behind the gateway.

    Implementations keep their HTTP client, credentials and caches; they are created from
    configuration by `app.create_app` and closed by its lifespan.
    """

    #: short, URL-safe name: the child catalog id and the first field of asset tokens.
    name: str
    #: human title for the child catalog link.
    title: str

    def owns(self, collection_id: str) -> bool:
        """Whether `collection_id` has this provider's id syntax (cheap, no I/O)."""
        ...

    async def list_collections(self, query: CollectionQuery) -> list[JSON]:
        """The collections in the configured scope that match `query`."""
        ...

    async def get_collection(self, collection_id: str) -> JSON | None:
        """One collection, or None when the upstream does not have it."""
        ...

    async def search(self, query: ItemQuery, cursor: Any | None) -> ItemPage:
        """One page of items; `cursor` is a previous page's `next_cursor` (None: first page)."""
        ...

    async def get_item(self, collection_id: str, item_id: str) -> JSON | None:
        """One item, or None when the upstream does not have it."""
        ...

    async def queryables(self, collection_id: str | None) -> JSON:
        """JSON-schema `properties` for the queryables of one collection (or all)."""
        ...

    def proxies(self, href: str) -> bool:
        """Whether the signing proxy should stand in front of `href` (no I/O)."""
        ...

    async def resolve_asset(self, request: AssetRequest) -> AssetResolution:
        """Turn a signed asset reference into a redirect, a stream or a pending order."""
        ...

    async def aclose(self) -> None:
        """Release HTTP clients and background tasks."""
        ...
