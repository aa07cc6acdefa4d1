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
from stacbridge.api.conformance import CONFORMANCE
from stacbridge.api.paging import COLLECTIONS_PURPOSE, open_token
from stacbridge.api.present import Presenter
from stacbridge.api.request import (
    parse_bbox,
    parse_datetime,
    search_from_get,
    search_from_post,
)
from stacbridge.api.search import SearchEngine
from stacbridge.errors import BadRequest, NotFound
from stacbridge.protocols import (
    JSON,
    Catalog,
    CollectionQuery,
    DecorationContext,
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
    #: seconds each provider has to answer its part of a request that spans providers.
    provider_deadline: float = attr.ib(default=10.0)
    landing_page_id: str = attr.ib(default="stacbridge")
    title: str = attr.ib(default="stacbridge")
    description: str = attr.ib(default="")

    @property
    def engine(self) -> SearchEngine:
        return SearchEngine(self.registry, self.signer, self.presenter, max_limit=self.max_limit)

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
        offset = 0
        if token:
            offset = int(
                open_token(self.signer, COLLECTIONS_PURPOSE, token, fingerprint).get("o", 0)
            )
        query = CollectionQuery(bbox=tuple(bbox) if bbox else None, datetime=interval, q=q)
        found, missing = await self._collections_of_all(query)
        page = found[offset : offset + limit]
        collections = [self.presenter.collection(c, coll, base) for c, coll in page]
        links = [L.link("self", str(request.url)), *L.root_links(base, self.title)]
        if offset + limit < len(found):
            token = self.signer.sign(COLLECTIONS_PURPOSE, {"f": fingerprint, "o": offset + limit})
            links.append(L.link("next", L.replace_query(request, token=token), method="GET"))
        if offset > 0:
            token = self.signer.sign(
                COLLECTIONS_PURPOSE, {"f": fingerprint, "o": max(0, offset - limit)}
            )
            links.append(L.link("prev", L.replace_query(request, token=token), method="GET"))
        body: JSON = {
            "collections": collections,
            "links": links,
            "numberReturned": len(collections),
        }
        if missing:
            # not the count: say who is missing instead (a header scripts can check, and the
            # body for people), and let the next listing ask them again
            body["stacbridge:missing_providers"] = missing
            response = L.json_response(body)
            response.headers["Stacbridge-Missing-Providers"] = ", ".join(sorted(missing))
            return response
        body["numberMatched"] = len(found)
        return L.json_response(body)

    async def _collections_of_all(
        self, query: CollectionQuery
    ) -> tuple[list[tuple[Catalog, JSON]], dict[str, str]]:
        """Every catalogue's collections, asked concurrently, each within the deadline.

        A provider that fails or misses `provider_deadline` costs the others nothing: its
        collections are left out and it is named in the second value (name → why).
        """

        async def one(catalog: Catalog) -> list[JSON]:
            return await asyncio.wait_for(catalog.list_collections(query), self.provider_deadline)

        catalogs = self.registry.catalogs
        answers = await asyncio.gather(*(one(c) for c in catalogs), return_exceptions=True)
        found: list[tuple[Catalog, JSON]] = []
        missing: dict[str, str] = {}
        for catalog, answer in zip(catalogs, answers, strict=True):
            if isinstance(answer, BaseException):
                if not isinstance(answer, Exception):
                    raise answer  # cancellation and the like are not a provider's fault
                why = (
                    "no answer within the deadline"
                    if isinstance(answer, TimeoutError)
                    else str(answer) or type(answer).__name__
                )
                log.warning("provider %s: collections unavailable: %s", catalog.name, why)
                missing[catalog.name] = why
            else:
                found += [(catalog, c) for c in answer]
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
        search = search_from_get(kwargs, self.default_limit, request.query_params.keys())
        return await self.engine.run(search, request, post=False)

    async def post_search(self, search_request: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        request: Request = kwargs["request"]
        search = search_from_post(search_request, self.default_limit)
        return await self.engine.run(search, request, post=True)

    async def item_collection(self, collection_id: str, **kwargs: Any) -> Response:  # type: ignore[override]
        request: Request = kwargs["request"]
        catalog = await self.registry.catalog_for(collection_id)
        search = search_from_get(
            {**kwargs, "collections": [collection_id]},
            self.default_limit,
            request.query_params.keys(),
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
