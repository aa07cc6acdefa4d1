"""Item search across catalogues: targets, upstream pages, post-filtering, one page out.

A search names collections of one or more catalogues (or none: every catalogue's configured
scope).  Each catalogue is a *target*, searched in turn; each upstream page is checked item by
item (`PostFilter`) and the page the client asked for is filled from what passes.  Where the
page stops — the target, its cursor, and how far into the upstream page — is sealed into the
next link's token (`PageState`), so the next page continues exactly there.

What the upstream can answer from the filter itself is pushed down first (`pushdown`): ids,
a geometry literal and time bounds narrow the catalogue's query, so the gateway filters as few
items as possible.

Bounds: an upstream page is at most `FILTER_FETCH` items when the gateway filters, and one
request reads at most `MAX_UPSTREAM_PAGES` upstream pages once it has found an item; a
selective gateway-side filter then answers with what it found and a next link where the scan
stopped.  A page is never empty unless it is the last: clients (pystac-client) stop at an
empty page, so a scan that has found nothing keeps reading for up to `SCAN_BUDGET` seconds and
then answers a 400 naming the terms that could not be pushed down.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, replace
from typing import Any

import cql2
import orjson
from starlette.requests import Request
from starlette.responses import Response

from stacbridge.api import links as L
from stacbridge.api.fields import apply_fields
from stacbridge.api.paging import PageState, check_target
from stacbridge.api.postfilter import PostFilter
from stacbridge.api.present import Presenter
from stacbridge.api.request import Search, parse_datetime, parse_intersects
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
from stacbridge.stac import cql2 as cql2_kit

#: items an upstream page holds at most when the gateway has to filter (CQL2, geometry).
FILTER_FETCH = 500
#: upstream pages one request may read while filtering before it answers with what it has.
MAX_UPSTREAM_PAGES = 20
#: seconds one request may scan upstream pages without finding a match before it refuses the
#: search as too selective (a 400), instead of answering an empty page that is not the end.
SCAN_BUDGET = 20.0

Target = tuple[Catalog, ItemQuery]


@dataclass(frozen=True, slots=True)
class Pushdown:
    """What the filter itself says the upstream can narrow: ids, a geometry, a time range.

    Each is a superset of what the filter's term selects (the gateway evaluates the whole
    filter on the results anyway); `empty` when the filter and the search contradict each
    other (no id, or no instant, satisfies both).
    """

    ids: tuple[str, ...]
    intersects: JSON | None
    interval: Interval | None
    #: the properties whose terms are pushed down ("id", "geometry", "datetime").
    pushed: frozenset[str]
    empty: bool = False


def pushdown(search: Search, interval: Interval | None) -> Pushdown:
    """Narrow the search's own ids, geometry and interval with the filter's top-level terms."""
    expr = search.filter if isinstance(search.filter, dict) else None
    ids: tuple[str, ...] = tuple(search.ids)
    pushed: set[str] = set()
    empty = False
    allowed = cql2_kit.allowed_ids(expr)
    if allowed is not None:
        kept = allowed & set(search.ids) if search.ids else allowed
        ids, empty = tuple(sorted(kept)), not kept
        pushed.add("id")
    intersects = search.intersects
    if intersects is None and search.bbox is None:
        geometry = cql2_kit.intersecting_geometry(expr)
        if geometry is not None and _valid_geometry(geometry):
            intersects = geometry
            pushed.add("geometry")
    start, end = cql2_kit.time_bounds(expr)
    if start is not None or end is not None:
        pushed.add("datetime")
        if interval is not None:
            start = _later(start, interval.start)
            end = _earlier(end, interval.end)
        if start is not None and end is not None and start > end:
            empty = True
        interval = Interval(start, end)
    return Pushdown(ids, intersects, interval, frozenset(pushed), empty)


def _reduce(expr: Any) -> Any:
    """`expr` simplified by cql2 (None for `true`, False for `false`); as sent if it cannot."""
    try:
        out = cql2_kit.simplify(cql2.Expr(expr).reduce().to_json())
    except Exception:  # noqa: BLE001 - not reducible: the full filter is evaluated anyway
        return expr
    return None if out is True else out


def _valid_geometry(geometry: JSON) -> bool:
    try:
        return parse_intersects(geometry) is not None
    except BadRequest:
        return False  # not pushed down; the gateway's evaluation of the filter decides


def _later(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _earlier(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    return b if a is None else a if b is None else min(a, b)


def unpushed_terms(expr: Any, pushed: frozenset[str], catalog: Catalog) -> list[str]:
    """The filter's terms neither the engine nor `catalog` narrows upstream, as CQL2 text."""
    narrowed = catalog.capabilities.filter_pushdown
    out = []
    for term in cql2_kit.conjuncts(expr):
        if (
            ("id" in pushed and cql2_kit.id_values(term) is not None)
            or ("geometry" in pushed and cql2_kit.spatial_geometry(term) is not None)
            or ("datetime" in pushed and cql2_kit.time_range(term) is not None)
            or cql2_kit.bounded_property(term) in narrowed
        ):
            continue
        try:
            out.append(cql2.Expr(term).to_text())
        except Exception:  # noqa: BLE001 - a term cql2 cannot print: name it as JSON
            out.append(orjson.dumps(term).decode())
    return out


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

    async def targets(
        self, search: Search, narrowed: Pushdown, interval: Interval | None
    ) -> list[Target]:
        base = ItemQuery(
            ids=narrowed.ids,
            bbox=tuple(search.bbox) if search.bbox else None,
            intersects=narrowed.intersects,
            datetime=narrowed.interval,
            limit=search.limit,
            filter=search.filter,
            sortby=tuple((f, d) for f, d in search.sortby),  # type: ignore[misc]
        )
        if isinstance(search.filter, dict) and cql2_kit.references(search.filter, "collection"):
            return await self._collection_targets(search, base, interval)
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

    async def _collection_targets(
        self, search: Search, base: ItemQuery, interval: Interval | None
    ) -> list[Target]:
        """One target per collection, each with the filter reduced for that collection.

        A filter on `collection` (`collection = 'x'`, `id = 'a' OR collection = 'x'`) says,
        collection by collection, what is left to ask: nothing (the collection is skipped
        without an upstream request), everything, or a narrower filter whose ids, geometry
        and time are pushed down for that collection alone.
        """
        if search.collections:
            candidates = list(dict.fromkeys(search.collections))
        else:
            candidates = []
            for catalog in self.registry.catalogs:
                candidates += await catalog.collection_ids()
        out: list[Target] = []
        for cid in candidates:
            reduced = _reduce(cql2_kit.substitute(search.filter, "collection", cid))
            if reduced is False:
                continue
            own = pushdown(replace(search, filter=reduced), interval)
            if own.empty:
                continue
            catalog = await self.registry.catalog_for(cid)
            query = replace(
                base,
                collections=(cid,),
                ids=own.ids,
                intersects=own.intersects,
                datetime=own.interval,
                filter=reduced,
            )
            out.append((catalog, query))
        return out

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
                f"({', '.join(dict.fromkeys(c.name for c, _ in targets))} were asked, as "
                f"{len(targets)} searches); results of several searches are not merged in "
                "sort order"
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
        narrowed = pushdown(search, interval)
        targets = await self.targets(search, narrowed, interval)
        self.check_sortby(search, targets)
        post_filter = PostFilter(search, interval)
        if search.filter is False or narrowed.empty:
            # a filter that matches nothing: the last page, empty and exactly counted, rather
            # than scanning upstream pages only to drop every item
            page = _Page([], None, 0)
        else:
            page = await self._collect(search, request, targets, post_filter, state, narrowed)

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
            if search.fields is not None:
                include, exclude = search.fields
                out = [apply_fields(i, include, exclude) for i in out]

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
            next_state.matched = page.matched
            token = next_state.seal(self.signer)
            links.append(L.next_link(request, base, token, post=post, body=await _body(request)))
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
        narrowed: Pushdown,
    ) -> _Page:
        """Read upstream pages from where `state` stopped until the page is full."""
        limit = search.limit
        index, cursor, skip, fetch = state.target, state.cursor, state.skip, state.fetch
        if index < len(targets):
            check_target(state, targets[index][0].name)
        found: list[tuple[Catalog, JSON]] = []
        matched: int | None = 0 if not search.token else None
        counted = 0  # targets whose total went into `matched`
        any_dropped = False
        upstream_pages = scanned = 0
        started = time.monotonic()
        next_state: PageState | None = None
        fingerprint = state.fingerprint
        while index < len(targets):
            catalog, query = targets[index]
            if upstream_pages and await request.is_disconnected():
                next_state = PageState(fingerprint, index, cursor, skip)
                break
            over_budget = time.monotonic() - started > SCAN_BUDGET
            if found and (upstream_pages >= MAX_UPSTREAM_PAGES or over_budget):
                # a selective gateway-side filter must not scan a whole collection in one
                # request: answer what was found, with a next link where the scan stopped
                next_state = PageState(fingerprint, index, cursor, skip)
                break
            if over_budget:
                # an empty page that is not the end reads as the end to clients: refuse
                raise BadRequest(self._too_selective(search, narrowed, catalog, scanned, started))
            size = fetch or (
                limit if not post_filter.drops_items else max(limit, min(FILTER_FETCH, limit * 4))
            )
            fetch = 0
            page: ItemPage = await catalog.search(replace(query, limit=size), cursor)
            upstream_pages += 1
            scanned += len(page.items)
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
                any_dropped = True
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
        if search.token:
            # the first page's exact total still holds, unless this page proved it wrong
            matched = None if any_dropped else state.matched
        elif counted < len(targets):
            matched = None  # some target's count was never asked for: no honest total
        return _Page(found, next_state, matched)

    @staticmethod
    def _too_selective(
        search: Search, narrowed: Pushdown, catalog: Catalog, scanned: int, started: float
    ) -> str:
        terms = unpushed_terms(search.filter, narrowed.pushed, catalog)
        if terms:
            part = "; ".join(terms)
            what = f"{part!s} could not be pushed down to {catalog.name}"
        else:
            what = f"{catalog.name} matched items the gateway's own checks (ids, geometry) drop"
        return (
            f"filter too selective to evaluate in the gateway: {scanned} items read from "
            f"{catalog.name} in {time.monotonic() - started:.0f} s matched none ({what}); narrow "
            "the search with bbox, intersects, datetime, ids or terms the provider applies "
            "upstream (see /queryables)"
        )


async def _body(request: Request) -> JSON | None:
    """The POST body the client sent, for a `next` link that repeats the whole search."""
    if request.method != "POST":
        return None
    try:
        body = orjson.loads(await request.body())
    except (orjson.JSONDecodeError, RuntimeError):
        return None
    return body if isinstance(body, dict) else None


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
