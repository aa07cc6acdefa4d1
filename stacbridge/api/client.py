"""The stac-fastapi core client: routes each STAC call to the registry's catalogues.

It parses requests (`api/request.py`), asks the registry which catalogue serves a collection,
and hands searches to `SearchEngine`; what leaves goes through `Presenter` (links, decorators,
signed asset hrefs).  It names no provider: everything it knows of them is the `Catalog`
protocol and their declared capabilities.  A collection no catalogue serves raises
`CollectionNotFound` anywhere below, which the error handlers answer with a 404.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

import attr
import orjson
from stac_fastapi.types.core import AsyncBaseCoreClient
from starlette.requests import Request
from starlette.responses import Response

from stacbridge.api import links as L
from stacbridge.api.breaker import Breaker
from stacbridge.api.conformance import CONFORMANCE
from stacbridge.api.fanout import (
    MISSING_FIELD,
    MISSING_HEADER,
    Unavailable,
    guarded,
    missing_header,
)
from stacbridge.api.paging import COLLECTIONS_PURPOSE, open_token
from stacbridge.api.present import Presenter
from stacbridge.api.request import (
    parse_bbox,
    parse_datetime,
    search_from_get,
    search_from_post,
)
from stacbridge.api.search import Limits, SearchEngine
from stacbridge.errors import BadRequest, NotFound, StacError
from stacbridge.protocols import (
    JSON,
    Catalog,
    CollectionNotFound,
    CollectionQuery,
    DecorationContext,
    UpstreamRejected,
)
from stacbridge.registry import Registry
from stacbridge.signing import Signer
from stacbridge.stac.cql2 import SHARED_QUERYABLES

log = logging.getLogger("stacbridge")


@attr.s
class StacClient(AsyncBaseCoreClient):
    """Routes STAC requests to the catalogues of a `Registry`.

    Its methods return pre-encoded `Response`s (orjson, on the hot path) and take
    stac-fastapi's parsed parameters as keyword arguments, which stac-fastapi supports but its
    base class's annotations do not express: hence the `override` ignores below.
    """

    registry: Registry = attr.ib(default=None)
    signer: Signer = attr.ib(default=None)
    presenter: Presenter = attr.ib(default=None)
    default_limit: int = attr.ib(default=10)
    max_limit: int = attr.ib(default=2000)
    #: item ids one search may name (`ids`, or a filter's top-level id terms).
    max_ids: int = attr.ib(default=500)
    #: seconds each provider has to answer its part of a request that spans providers.
    provider_deadline: float = attr.ib(default=10.0)
    landing_page_id: str = attr.ib(default="stacbridge")
    title: str = attr.ib(default="stacbridge")
    description: str = attr.ib(default="")

    #: upstream pages and seconds one search request may spend, across providers.
    search_max_upstream_pages: int = attr.ib(default=8)
    search_max_upstream_items: int = attr.ib(default=16_000)
    search_max_seconds: float = attr.ib(default=10.0)
    #: remembers failing providers for a short while (per process).
    breaker: Breaker = attr.ib(factory=Breaker)

    @property
    def engine(self) -> SearchEngine:
        return SearchEngine(
            self.registry,
            self.signer,
            self.presenter,
            max_limit=self.max_limit,
            breaker=self.breaker,
            limits=Limits(
                pages=self.search_max_upstream_pages,
                seconds=self.search_max_seconds,
                items=self.search_max_upstream_items,
                deadline=self.provider_deadline,
            ),
        )

    def conformance_classes(self) -> list[str]:
        return list(CONFORMANCE)

    # -- landing page ---------------------------------------------------------------------
    async def landing_page(self, **kwargs: Any) -> JSON:  # type: ignore[override]
        request: Request = kwargs["request"]
        base = L.base_url(request)
        page: JSON = dict(
            self._landing_page(
                base_url=base, conformance_classes=self.conformance_classes(), extension_schemas=[]
            )
        )
        page["id"] = self.landing_page_id
        page["title"] = self.title
        page["description"] = self.description or page.get("description", "")
        links = [x for x in page["links"] if x.get("rel") != "child"]
        for entry in links:
            entry.setdefault("title", entry.get("rel", "").replace("-", " ").capitalize())
            if entry.get("rel") == "data":
                entry["title"] = "Collections"
                entry["href"] = base.rstrip("/") + "/collections"
            if entry.get("rel") == "search":
                entry["title"] = "Item search"
        links += [
            L.link("search", base + "search", L.GEOJSON, "Item search (POST)", method="POST"),
            *L.queryables_links(base + "queryables"),
            L.link(
                "service-desc",
                base + "api",
                "application/vnd.oai.openapi+json;version=3.0",
                "OpenAPI service description",
            ),
            L.link("service-doc", base + "api.html", "text/html", "OpenAPI service documentation"),
        ]
        # each provider's catalog is `related`, not a `child`: /collections already lists every
        # collection, and clients that walk children as well (pystac-client's
        # get_all_collections) would then meet each collection twice
        links += [
            L.link("related", f"{base}catalogs/{c.name}", title=f"{c.title}: its collections")
            for c in self.registry.catalogs
        ]
        page["links"] = L.dedupe(links)
        page["conformsTo"] = self.conformance_classes()
        return page

    async def provider_catalog(self, name: str, request: Request) -> JSON:
        """A child catalog listing one catalogue's collections (browse a provider alone)."""
        catalog = self.registry.catalog_named(name)
        if catalog is None:
            raise NotFound(f"no provider named {name!r}")
        base = L.base_url(request)
        collections = await catalog.list_collections(CollectionQuery())
        links = [
            L.link("self", f"{base}catalogs/{name}", title=catalog.title),
            *L.root_links(base, self.title),
        ]
        links += [
            L.link("child", f"{base}collections/{c['id']}", title=c.get("title", c["id"]))
            for c in collections
        ]
        return {
            "type": "Catalog",
            "stac_version": L.STAC_VERSION,
            "id": name,
            "title": catalog.title,
            "description": f"Collections served by {catalog.title} through stacbridge.",
            "links": links,
        }

    # -- collections ----------------------------------------------------------------------
    async def all_collections(self, **kwargs: Any) -> Response:  # type: ignore[override]
        """Every catalogue's matching collections, in catalogue order, paged by one token.

        The token holds how far each catalogue's list was returned (or that it is done), so a
        catalogue missing from one page — failed, late, circuit open — is asked again from
        where it was by the next one: every collection is listed exactly once.
        """
        request: Request = kwargs["request"]
        base = L.base_url(request)
        bbox = parse_bbox(kwargs.get("bbox"))
        interval = parse_datetime(kwargs.get("datetime"))
        q = tuple(kwargs.get("q") or ())
        limit = int(kwargs.get("limit") or 100)
        if limit < 1:
            raise BadRequest("limit must be a positive integer")
        token = kwargs.get("token")
        fingerprint = hashlib.sha256(orjson.dumps([bbox, kwargs.get("datetime"), q])).hexdigest()[
            :16
        ]
        catalogs = self.registry.catalogs
        names = [c.name for c in catalogs]
        offsets: list[int | None] = [0] * len(catalogs)
        if token:
            offsets = _collection_offsets(
                open_token(self.signer, COLLECTIONS_PURPOSE, token, fingerprint), names
            )
        query = CollectionQuery(bbox=tuple(bbox) if bbox else None, datetime=interval, q=q)
        answers, missing = await self._collections_of_all(query)
        page: list[tuple[Catalog, JSON]] = []
        after: list[int | None] = []
        for catalog, answer, offset in zip(catalogs, answers, offsets, strict=True):
            if offset is None or answer is None:
                after.append(offset)  # done, or missing: asked again from there next time
                continue
            taken = answer[offset : offset + max(0, limit - len(page))]
            page += [(catalog, c) for c in taken]
            end = offset + len(taken)
            after.append(None if end >= len(answer) else end)
        collections = [self.presenter.collection(c, coll, base) for c, coll in page]
        links = [L.link("self", str(request.url)), *L.root_links(base, self.title)]
        if any(o is not None for o in after):
            state = {"f": fingerprint, "p": names, "o": after}
            token = self.signer.sign(COLLECTIONS_PURPOSE, state)
            links.append(L.link("next", L.replace_query(request, token=token), method="GET"))
        body: JSON = {
            "collections": collections,
            "links": links,
            "numberReturned": len(collections),
        }
        if missing:
            # not the count: say who is missing instead (a header scripts can check, and the
            # body for people), and let the next page ask them again
            body[MISSING_FIELD] = missing
            response = L.json_response(body)
            response.headers[MISSING_HEADER] = missing_header(missing)
            return response
        body["numberMatched"] = sum(len(a or ()) for a in answers)
        return L.json_response(body)

    async def _collections_of_all(
        self, query: CollectionQuery
    ) -> tuple[list[list[JSON] | None], dict[str, str]]:
        """Every catalogue's collections, asked concurrently, each within the deadline.

        A provider that fails, misses `provider_deadline` or whose circuit is open costs the
        others nothing: its answer is None and it is named in the second value (name → why).
        A provider that rejects the query itself (`UpstreamRejected`) makes the whole listing
        a 400 quoting it: the client's request is at fault, and leaving that provider out
        would answer a different question silently.
        """
        catalogs = self.registry.catalogs
        calls = (
            guarded(self.breaker, c.name, self.provider_deadline, c.list_collections(query))
            for c in catalogs
        )
        answers = await asyncio.gather(*calls, return_exceptions=True)
        found: list[list[JSON] | None] = []
        missing: dict[str, str] = {}
        for catalog, answer in zip(catalogs, answers, strict=True):
            if isinstance(answer, Unavailable):
                missing[catalog.name] = answer.reason
                found.append(None)
            elif isinstance(answer, UpstreamRejected | StacError | CollectionNotFound):
                raise answer
            elif isinstance(answer, BaseException):
                if not isinstance(answer, Exception):
                    raise answer  # cancellation and the like are not a provider's fault
                log.warning("provider %s: collections unavailable: %r", catalog.name, answer)
                missing[catalog.name] = str(answer) or type(answer).__name__
                found.append(None)
            else:
                found.append(answer)
        return found, missing

    async def get_collection(self, collection_id: str, **kwargs: Any) -> Response:  # type: ignore[override]
        request: Request = kwargs["request"]
        catalog = await self.registry.catalog_for(collection_id)
        collection = await catalog.get_collection(collection_id)
        return L.json_response(self.presenter.collection(catalog, collection, L.base_url(request)))

    # -- items ----------------------------------------------------------------------------
    async def get_item(self, item_id: str, collection_id: str, **kwargs: Any) -> Response:  # type: ignore[override]
        request: Request = kwargs["request"]
        catalog = await self.registry.catalog_for(collection_id)
        item = await catalog.get_item(collection_id, item_id)
        if item is None:
            raise NotFound(f"item {item_id!r} not found in collection {collection_id!r}")
        await self.presenter.decorate([item], DecorationContext())
        return L.json_response(self.presenter.item(catalog, item, L.base_url(request)), L.GEOJSON)

    async def get_search(self, request: Request, **kwargs: Any) -> Response:  # type: ignore[override]
        search = search_from_get(
            kwargs, self.default_limit, request.query_params.keys(), max_ids=self.max_ids
        )
        return await self.engine.run(search, request, post=False)

    async def post_search(self, search_request: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        request: Request = kwargs["request"]
        search = search_from_post(search_request, self.default_limit, max_ids=self.max_ids)
        return await self.engine.run(search, request, post=True)

    async def item_collection(self, collection_id: str, **kwargs: Any) -> Response:  # type: ignore[override]
        request: Request = kwargs["request"]
        catalog = await self.registry.catalog_for(collection_id)
        search = search_from_get(
            {**kwargs, "collections": [collection_id]},
            self.default_limit,
            request.query_params.keys(),
            max_ids=self.max_ids,
        )
        if not search.token:
            await catalog.get_collection(collection_id)
        return await self.engine.run(search, request, post=False, collection=collection_id)

    async def _merged_queryables(self) -> JSON:
        """Every catalogue's queryables; a field two catalogues define differently is left out.

        A global queryable is a promise that the name means one thing across the whole API:
        a field whose schemas disagree (types, ranges, enums) would promise one provider's
        meaning for all, so it is listed only per collection.
        """
        merged: JSON = {}
        conflicting: set[str] = set()
        for catalog in self.registry.catalogs:
            try:
                props = await catalog.queryables(None)
            except Exception as exc:  # noqa: BLE001
                log.warning("provider %s: queryables unavailable: %s", catalog.name, exc)
                continue
            for name, definition in props.items():
                if name in merged and merged[name] != definition:
                    conflicting.add(name)
                merged.setdefault(name, definition)
        for name in conflicting:
            log.info("queryable %s differs between providers: only per collection", name)
            del merged[name]
        return merged

    async def get_queryables(self, collection_id: str | None = None, **kwargs: Any) -> Response:
        request: Request = kwargs["request"]
        base = L.base_url(request)
        if collection_id:
            catalog = await self.registry.catalog_for(collection_id)
            await catalog.get_collection(collection_id)
            props = await catalog.queryables(collection_id)
            url = f"{base}collections/{collection_id}/queryables"
        else:
            props = await self._merged_queryables()
            url = f"{base}queryables"
        schema = {
            "$schema": "https://json-schema.org/draft/2019-09/schema",
            "$id": url,
            "type": "object",
            "title": "Queryables",
            "properties": {
                **props,
                # the gateway's own, whatever a provider calls them
                "id": SHARED_QUERYABLES["id"],
                "collection": {
                    "title": "Collection",
                    "description": "Collection id",
                    "type": "string",
                },
                "geometry": {
                    "title": "Footprint",
                    "description": "Footprint",
                    "$ref": "https://geojson.org/schema/Geometry.json",
                },
            },
            "additionalProperties": True,
        }
        return L.json_response(schema, L.SCHEMA_JSON)


def _collection_offsets(state: dict[str, Any], names: list[str]) -> list[int | None]:
    """Each catalogue's position in a collections token (None: done); a 400 if malformed."""
    offsets = state.get("o")
    if state.get("p") != names or not isinstance(offsets, list) or len(offsets) != len(names):
        raise BadRequest("paging token belongs to a different listing; start again without a token")
    if not all(o is None or (isinstance(o, int) and o >= 0) for o in offsets):
        raise BadRequest("invalid paging token: malformed state")
    return offsets
