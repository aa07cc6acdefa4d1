"""Item search across catalogues: targets, upstream pages, post-filtering, one page out.

A search names collections of one or more catalogues (or none: every catalogue's configured
scope).  Each catalogue is a *target*, searched in turn; each upstream page is checked item by
item (`PostFilter`) and the page the client asked for is filled from what passes.  Where the
page stops — the target, its cursor, and how far into the upstream page — is sealed into the
next link's token (`PageState`), so the next page continues exactly there.

Bounds: an upstream page is at most `FILTER_FETCH` items when the gateway filters, and one
request reads at most `MAX_UPSTREAM_PAGES` upstream pages; a selective gateway-side filter
then answers with what it found and a next link where the scan stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import orjson
from starlette.requests import Request
from starlette.responses import Response

from stacbridge.api import links as L
from stacbridge.api.fields import apply_fields
from stacbridge.api.paging import PageState, check_target
from stacbridge.api.postfilter import PostFilter
from stacbridge.api.present import Presenter
from stacbridge.api.request import Search, parse_datetime
from stacbridge.errors import BadRequest
from stacbridge.perf import gc_paused
from stacbridge.protocols import (
    JSON,
    Catalog,
    DecorationContext,
    Interval,
    ItemPage,
    ItemQuery,
)
from stacbridge.registry import Registry
from stacbridge.signing import Signer

#: items an upstream page holds at most when the gateway has to filter (CQL2, geometry).
FILTER_FETCH = 500
#: upstream pages one request may read while filtering before it answers with what it has.
MAX_UPSTREAM_PAGES = 20

Target = tuple[Catalog, ItemQuery]


@dataclass(slots=True)
class _Page:
    """What one request collected: matching items (with their catalogue) and counts."""

    found: list[tuple[Catalog, JSON]]
    next_state: PageState | None
    matched: int | None


class SearchEngine:
    """Runs one search request against the registry's catalogues."""

    def __init__(
        self, registry: Registry, signer: Signer, presenter: Presenter, *, max_limit: int
    ) -> None:
        self.registry = registry
        self.signer = signer
        self.presenter = presenter
        self.max_limit = max_limit

    async def targets(self, search: Search, interval: Interval | None) -> list[Target]:
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
            return [(c, base) for c in self.registry.catalogs]
        grouped: dict[str, list[str]] = {}
        order: list[Catalog] = []
        for cid in dict.fromkeys(search.collections):
            catalog = await self.registry.catalog_for(cid)
            if catalog.name not in grouped:
                order.append(catalog)
            grouped.setdefault(catalog.name, []).append(cid)
        return [(c, replace(base, collections=tuple(grouped[c.name]))) for c in order]

    @staticmethod
    def check_sortby(search: Search, targets: list[Target]) -> None:
        """Refuse sorts nobody can honour instead of silently ignoring them."""
        if not search.sortby:
            return
        if len(search.sortby) > 1:
            raise BadRequest("sorting by more than one field is not supported")
        if len(targets) > 1:
            raise BadRequest(
                "sortby needs the search restricted to one provider's collections "
                f"({', '.join(c.name for c, _ in targets)} were asked); results from several "
                "providers are not merged in sort order"
            )
        field_name = search.sortby[0][0]
        for catalog, _ in targets:
            if field_name not in catalog.capabilities.sortable:
                raise BadRequest(
                    f"cannot sort by {field_name!r}: {catalog.name} does not support it"
                )

    async def run(
        self, search: Search, request: Request, *, post: bool, collection: str | None = None
    ) -> Response:
        """Answer one page of `search`; `collection` set for `/collections/{id}/items`."""
        if search.bbox is not None and search.intersects is not None:
            raise BadRequest("bbox and intersects are mutually exclusive; send only one")
        if search.limit < 1:
            raise BadRequest("limit must be a positive integer")
        search.limit = min(search.limit, self.max_limit)
        interval = parse_datetime(search.datetime)
        base = L.base_url(request)
        fingerprint = search.fingerprint()
        state = (
            PageState.open(self.signer, search.token, fingerprint)
            if search.token
            else PageState(fingerprint)
        )
        targets = await self.targets(search, interval)
        self.check_sortby(search, targets)
        post_filter = PostFilter(search, interval)
        if search.filter is False:
            # a filter that matches nothing: the last page, empty and exactly counted, rather
            # than scanning upstream pages only to drop every item
            page = _Page([], None, 0)
        else:
            page = await self._collect(search, request, targets, post_filter, state)

        items = [item for _, item in page.found]
        await self.presenter.decorate(
            items,
            DecorationContext(
                bbox=tuple(search.bbox) if search.bbox else None,
                intersects=search.intersects,
                datetime=interval,
            ),
        )
        with gc_paused():
            out = [self.presenter.item(catalog, item, base) for catalog, item in page.found]
            if search.fields_include or search.fields_exclude:
                out = [apply_fields(i, search.fields_include, search.fields_exclude) for i in out]

        links: list[JSON] = [
            L.link("root", base, title=self.presenter.title),
            L.link("self", str(request.url), L.GEOJSON),
        ]
        if collection is not None:
            href = f"{base}collections/{collection}"
            links += [L.link("parent", href), L.link("collection", href)]
        if page.next_state is not None:
            next_state = page.next_state
            if next_state.target < len(targets):
                next_state.provider = targets[next_state.target][0].name
            links.append(L.next_link(request, base, next_state.seal(self.signer), post=post))
        body: JSON = {
            "type": "FeatureCollection",
            "features": out,
            "links": links,
            "numberReturned": len(out),
        }
        matched = page.matched
        if matched is not None and not (post_filter.ids is not None and matched > len(out)):
            body["numberMatched"] = matched
        with gc_paused():
            return Response(orjson.dumps(body), media_type=L.GEOJSON)

    async def _collect(
        self,
        search: Search,
        request: Request,
        targets: list[Target],
        post_filter: PostFilter,
        state: PageState,
    ) -> _Page:
        """Read upstream pages from where `state` stopped until the page is full."""
        limit = search.limit
        index, cursor, skip, fetch = state.target, state.cursor, state.skip, state.fetch
        if index < len(targets):
            check_target(state, targets[index][0].name)
        found: list[tuple[Catalog, JSON]] = []
        matched: int | None = 0 if not search.token else None
        counted = 0  # targets whose total went into `matched`
        upstream_pages = 0
        next_state: PageState | None = None
        fingerprint = state.fingerprint
        while index < len(targets):
            catalog, query = targets[index]
            if upstream_pages >= MAX_UPSTREAM_PAGES or (
                upstream_pages and await request.is_disconnected()
            ):
                # a selective gateway-side filter must not scan a whole collection in one
                # request: answer what was found, with a next link where the scan stopped
                next_state = PageState(fingerprint, index, cursor, skip)
                break
            size = fetch or (
                limit if not post_filter.drops_items else max(limit, min(FILTER_FETCH, limit * 4))
            )
            fetch = 0
            page: ItemPage = await catalog.search(replace(query, limit=size), cursor)
            upstream_pages += 1
            if matched is not None:
                if page.number_matched is not None and cursor is None and post_filter.cql is None:
                    matched += page.number_matched
                    counted += 1
                else:
                    matched = None
            spatial = not catalog.capabilities.exact_spatial
            with gc_paused():
                stopped_at, dropped = _take(
                    page.items, catalog, post_filter, spatial, skip, limit, found
                )
            if dropped:
                matched = None  # the gateway dropped items the upstream counted
            skip = 0
            if stopped_at is not None and stopped_at < len(page.items):
                next_state = PageState(fingerprint, index, cursor, stopped_at, size)
                break
            if page.next_cursor is not None:
                cursor = page.next_cursor
                if len(found) >= limit:
                    next_state = PageState(fingerprint, index, cursor)
                    break
                continue
            index, cursor = index + 1, None
            if len(found) >= limit and index < len(targets):
                next_state = PageState(fingerprint, index)
                break
        if counted < len(targets):
            matched = None  # some target's count was never asked for: no honest total
        return _Page(found, next_state, matched)


def _take(
    items: list[JSON],
    catalog: Catalog,
    post_filter: PostFilter,
    spatial: bool,
    skip: int,
    limit: int,
    found: list[tuple[Catalog, JSON]],
) -> tuple[int | None, int]:
    """Add the page's matching items to `found`.

    Returns the position after the last item taken when the page held more than `limit`
    needed (else None), and how many items the gateway's own checks dropped.
    """
    dropped = 0
    for position in range(skip, len(items)):
        item = items[position]
        if post_filter(item, spatial=spatial):
            found.append((catalog, item))
            if len(found) >= limit:
                return position + 1, dropped
        else:
            dropped += 1
    return None, dropped
