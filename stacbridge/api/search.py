"""Item search across catalogues: every target at once, merged in one order, paged once.

A search names collections of one or more catalogues (or none: every catalogue's configured
scope).  Each catalogue is a *target* (a *stream*); every stream is asked concurrently, each
upstream page within the provider deadline and through the circuit breaker (`fanout`), and
their items are merged (`merge`): by the requested `sortby` when every catalogue involved sorts
by it upstream (a 400 naming those that cannot, otherwise), else by `datetime` as upstreams
deliver it.  Each item is checked by the gateway (`PostFilter`) and the page the client asked
for is filled from what passes.  Where every stream stopped is sealed into the next link's
token (`PageState`), so the next page continues exactly there, on any worker.

A provider that fails or misses its deadline is left out of the page and named
(`Stacbridge-Missing-Providers`, `stacbridge:missing_providers`); its stream stays where it
was, so the next page asks it again from there.  Only when no item can be shown because
providers failed is the page itself an error (their 502/503/504).  An upstream's own 4xx
(`UpstreamRejected`) is the client's fault: the whole request is a 400 quoting it.

What the upstream can answer from the filter itself is pushed down first (`pushdown`): ids,
a geometry literal and time bounds narrow the catalogue's query, so the gateway filters as few
items as possible.

Bounds (`Limits`, from settings): an upstream page is at most `FILTER_FETCH` items when the
gateway filters (or `limit`, if larger); one request reads at most `search_max_upstream_pages`
upstream pages and starts none after `search_max_seconds`, across every provider; a selective
gateway-side filter then answers with what it found and a next link where the scan stopped.
A page is never empty unless it is the last: clients (pystac-client) stop at an empty page, so
a scan that has found nothing within the budget answers a 400 naming the terms that could not
be pushed down.
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
from stacbridge.api.breaker import Breaker
from stacbridge.api.fanout import MISSING_FIELD, MISSING_HEADER, guarded, missing_header
from stacbridge.api.fields import apply_fields
from stacbridge.api.merge import Budget, Merge, Order, Stream
from stacbridge.api.paging import PageState, StreamState
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
#: collections a sorted search may span (each is one upstream stream, all read at once).
MAX_SORTED_STREAMS = 16

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


@dataclass(frozen=True, slots=True)
class Limits:
    """What one search request may spend upstream, across every provider it asks.

    `pages`: upstream pages (catalogue page requests) one request reads, once it found an item,
    before it answers with what it found and a next link where it stopped; `items`: upstream
    items it reads in any case; `seconds`: wall time after which it starts no further
    upstream page (a scan that found nothing by then, or within `items`, is a 400);
    `deadline`: seconds each upstream page may take before its provider is reported missing.
    """

    pages: int = 8
    seconds: float = 10.0
    deadline: float = 10.0
    items: int = 16_000


class SearchEngine:
    """Runs one search request against the registry's catalogues."""

    def __init__(
        self,
        registry: Registry,
        signer: Signer,
        presenter: Presenter,
        *,
        max_limit: int,
        breaker: Breaker | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.registry = registry
        self.signer = signer
        self.presenter = presenter
        self.max_limit = max_limit
        self.breaker = breaker or Breaker(open_seconds=0)
        self.limits = limits or Limits()

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
        out: list[Target]
        if isinstance(search.filter, dict) and cql2_kit.references(search.filter, "collection"):
            out = await self._collection_targets(search, base, interval)
            if not search.sortby:
                out = _grouped(out)
        elif not search.collections:
            out = [(c, base) for c in self.registry.catalogs]
        else:
            grouped: dict[str, list[str]] = {}
            order: list[Catalog] = []
            for cid in dict.fromkeys(search.collections):
                catalog = await self.registry.catalog_for(cid)
                if catalog.name not in grouped:
                    order.append(catalog)
                grouped.setdefault(catalog.name, []).append(cid)
            out = [(c, replace(base, collections=tuple(grouped[c.name]))) for c in order]
        if search.sortby:
            self.check_sortby(search, out)
            out = await self._one_collection_each(out)
        return out

    @staticmethod
    async def _one_collection_each(targets: list[Target]) -> list[Target]:
        """A sorted search reads one stream per collection.

        A catalogue sorts one collection's items exactly, but one query over several of its
        collections need not come back in one order (M2M searches dataset after dataset), so
        the merge, not the catalogue, orders across collections.
        """
        out: list[Target] = []
        for catalog, query in targets:
            collections = query.collections or tuple(await catalog.collection_ids())
            out += [(catalog, replace(query, collections=(cid,))) for cid in collections]
        if len(out) > MAX_SORTED_STREAMS:
            raise BadRequest(
                f"a sorted search is merged from one upstream search per collection; this one "
                f"spans {len(out)} collections, more than {MAX_SORTED_STREAMS}: name at most "
                f"{MAX_SORTED_STREAMS} collections in `collections`, or search without sortby"
            )
        return out

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
    def check_sortby(search: Search, targets: list[Target]) -> Order:
        """The merge order; a sort some provider cannot honour is refused, never ignored.

        Each stream is sorted upstream, so a k-way merge gives the exact order only when every
        catalogue involved sorts by the key: otherwise a 400 naming the ones that cannot.
        """
        if not search.sortby:
            return Order()
        if len(search.sortby) > 1:
            raise BadRequest("sorting by more than one field is not supported")
        field_name, direction = search.sortby[0]
        key = field_name.removeprefix("properties.")
        unable = [
            c.name
            for c in dict.fromkeys(c for c, _ in targets)
            if key not in c.capabilities.sortable
        ]
        if unable:
            raise BadRequest(
                f"cannot sort by {field_name!r}: {', '.join(unable)} "
                f"{'does' if len(unable) == 1 else 'do'} not support it, and results are "
                "merged in order only when every provider searched sorts by the key"
            )
        return Order(key, descending=direction == "desc")

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
        state = PageState.open(self.signer, search.token, fingerprint) if search.token else None
        narrowed = pushdown(search, interval)
        targets = await self.targets(search, narrowed, interval)
        order = self.check_sortby(search, targets)
        post_filter = PostFilter(search, interval)
        if search.filter is False or narrowed.empty:
            # a filter that matches nothing: the last page, empty and exactly counted, rather
            # than scanning upstream pages only to drop every item
            page = _Page([], None, 0, {})
        else:
            page = await self._collect(
                search, request, targets, post_filter, state, narrowed, order, fingerprint
            )

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
            token = page.next_state.seal(self.signer)
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
        if page.missing:
            body[MISSING_FIELD] = page.missing
        with gc_paused():
            response = Response(orjson.dumps(body), media_type=L.GEOJSON)
        if page.missing:
            response.headers[MISSING_HEADER] = missing_header(page.missing)
        return response

    async def _collect(
        self,
        search: Search,
        request: Request,
        targets: list[Target],
        post_filter: PostFilter,
        state: PageState | None,
        narrowed: Pushdown,
        order: Order,
        fingerprint: str,
    ) -> _Page:
        """Fill the page from every target at once, merged in `order`, from where `state` was."""
        names = [c.name for c, _ in targets]
        if state is not None:
            state.check(names)
            states = state.streams
        else:
            states = [StreamState() for _ in targets]
        streams = [
            Stream(catalog, query, s) for (catalog, query), s in zip(targets, states, strict=True)
        ]
        limit = search.limit
        size = limit if not post_filter.drops_items else max(limit, min(FILTER_FETCH, limit * 4))
        spatial = {
            c.name: (not c.capabilities.exact_spatial, c.capabilities.matches_area)
            for c, _ in targets
        }
        # the deadline keeps one provider from holding up the others' answer; a search of one
        # provider has no other answer to give, so it waits as long as its HTTP client allows
        several = len(set(names)) > 1
        deadline = self.limits.deadline if several else None
        breaker = self.breaker

        async def fetch(stream: Stream, n: int) -> ItemPage:
            catalog = stream.catalog
            call = catalog.search(replace(stream.query, limit=n), stream.state.cursor)
            return await guarded(breaker, catalog.name, deadline, call)

        def accept(stream: Stream, item: JSON) -> bool:
            check, unlocated = spatial[stream.catalog.name]
            return post_filter(item, spatial=check, unlocated=unlocated)

        budget = Budget(self.limits.pages, self.limits.seconds, self.limits.items)

        def page_size(stream: Stream) -> int:
            # the stateless token costs a re-read of the page a stream stopped in: size a
            # stream's fresh pages by what it gave the last page (plus a quarter), not `limit`
            hint = stream.state.share
            if len(streams) == 1 or not hint:
                return size
            return min(size, max(hint + hint // 4 + 8, 16))

        grow = max(size, FILTER_FETCH)
        merge = Merge(streams, order, fetch, accept, page_size=page_size, max_page=grow)
        outcome = await merge.run(limit, budget, request.is_disconnected)

        missing: dict[str, str] = {}
        for stream in streams:
            if stream.missing is not None:
                missing.setdefault(stream.catalog.name, stream.missing)
        if missing and (not outcome.found or search.sortby):
            # nothing to show, and a page without items reads as the end; or a sorted page,
            # whose missing items would come later, out of order: the failure is the answer
            # (5xx naming the provider), and the client may retry the same page
            failed = next(s.failure for s in streams if s.failure is not None)
            assert failed is not None
            raise failed.error
        if outcome.exhausted and not outcome.found:
            raise BadRequest(self._too_selective(search, narrowed, streams, budget))

        settled = [s.settle() for s in streams]
        next_state = (
            PageState(fingerprint, names, settled) if any(not s.done for s in settled) else None
        )
        matched: int | None
        if state is not None:
            # the first page's exact total still holds, unless this page proved it wrong
            matched = None if outcome.dropped else state.matched
        elif (
            missing
            or outcome.dropped
            or post_filter.cql is not None
            or any(s.first_count is None for s in streams)
        ):
            matched = None
        else:
            matched = sum(s.first_count or 0 for s in streams)
        if next_state is not None:
            next_state.matched = matched  # the search's total, whoever this page missed
        found = [(s.catalog, item) for s, item in outcome.found]
        return _Page(found, next_state, None if missing else matched, missing)

    @staticmethod
    def _too_selective(
        search: Search, narrowed: Pushdown, streams: list[Stream], budget: Budget
    ) -> str:
        parts = []
        for catalog in dict.fromkeys(s.catalog for s in streams):
            terms = unpushed_terms(search.filter, narrowed.pushed, catalog)
            if terms:
                parts.append(f"{'; '.join(terms)} could not be pushed down to {catalog.name}")
            else:
                parts.append(
                    f"{catalog.name} matched items the gateway's own checks (ids, geometry) drop"
                )
        names = ", ".join(dict.fromkeys(s.catalog.name for s in streams))
        return (
            f"filter too selective to evaluate in the gateway: {budget.used} upstream pages "
            f"read from {names} in {time.monotonic() - budget.started:.0f} s matched none "
            f"({'; '.join(parts)}); narrow the search with bbox, intersects, datetime, ids or "
            "terms the provider applies upstream (see /queryables)"
        )


def _grouped(targets: list[Target]) -> list[Target]:
    """Targets of one catalogue that ask the same question, as one target of their collections.

    A filter on `collection` makes one target per collection; most of them reduce to the same
    query (`collection <> 'x'`: everything, for every other collection), and one upstream
    query over those collections is one stream instead of dozens.
    """
    groups: dict[tuple[str, str], tuple[Catalog, ItemQuery, list[str]]] = {}
    for catalog, query in targets:
        key = (catalog.name, repr(replace(query, collections=())))
        if key not in groups:
            groups[key] = (catalog, query, [])
        groups[key][2].extend(query.collections)
    return [(c, replace(q, collections=tuple(ids))) for c, q, ids in groups.values()]


@dataclass(slots=True)
class _Page:
    """What one request collected: matching items (with their catalogue), counts, gaps."""

    found: list[tuple[Catalog, JSON]]
    next_state: PageState | None
    matched: int | None
    #: providers left out of this page (name → why); the next page asks them again.
    missing: dict[str, str]


async def _body(request: Request) -> JSON | None:
    """The POST body the client sent, for a `next` link that repeats the whole search."""
    if request.method != "POST":
        return None
    try:
        body = orjson.loads(await request.body())
    except (orjson.JSONDecodeError, RuntimeError):
        return None
    return body if isinstance(body, dict) else None
