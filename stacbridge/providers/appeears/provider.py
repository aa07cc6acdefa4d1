"""NASA AppEEARS as a stacbridge catalogue: products to extract from, and the account's tasks.

Product collections have no Items of their own: an Item is one time step of the product over
the area and window of a search, so a search of one needs `bbox` or `intersects` and a closed
`datetime`.  Given one without the other, a 400 says so; given neither (a browse, or a client
paging every collection) it answers an empty page.  Every layer of the step is an asset whose
href is an extraction reference; the first GET of any of them submits one AppEEARS area task
for the whole search (all layers, all steps), which `OrderDesk` deduplicates by the task's
parameters and polls with backoff — one loop per task, however many clients wait.  Until the
task is done an asset answers 202 with its progress; then each asset redirects to its own file
of the bundle (`/bundle/{task}/{file}`, itself a redirect to a signed URL).  Searches that name
no collection see only the tasks collection: an extraction cannot be guessed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

import httpx

from stacbridge.assets.orders import FAILED, PENDING, READY, Order, OrderDesk
from stacbridge.auth.earthdata import EarthdataLogin
from stacbridge.checks import check_collection, check_item, records_of
from stacbridge.config import EarthdataSettings
from stacbridge.errors import BadRequest, Forbidden, NotFound
from stacbridge.http import make_client
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
from stacbridge.providers.appeears import translate
from stacbridge.providers.appeears.client import PROVIDER, AppEEARSClient
from stacbridge.providers.appeears.config import AppEEARSSettings
from stacbridge.stac.geometry import Shape, polygon
from stacbridge.store import MemoryStore, Store

log = logging.getLogger("stacbridge.appeears")

#: `ProductAndVersion`: a product name, a dot, a three-digit version (`MOD11A2.061`).
_PRODUCT_ID = re.compile(r"^[A-Za-z0-9_]+\.\d{3}$")
#: an order's state → the `order:status` of the Items it serves.
_ORDER_STATUS = {PENDING: "pending", READY: "succeeded", FAILED: "failed"}
#: what leaves one product out of a listing instead of failing it
_LEFT_OUT: tuple[type[Exception], ...] = (ProviderError, CollectionNotFound, *UNTRANSLATABLE)
#: `/product/{id}` requests in flight at once when the collections are listed.
_LAYER_FETCHES = 8


def _need_area_and_time(cid: str) -> BadRequest:
    return BadRequest(
        f"collection {cid} is an AppEEARS product: its Items are time steps of an extraction, "
        "so a search of it needs an area (bbox or intersects) and a datetime interval with "
        "both ends, e.g. bbox=-105.3,40.0,-105.1,40.2&datetime=2024-06-01/2024-08-31"
    )


class AppEEARSProvider:
    """stacbridge's view of AppEEARS: product collections, a tasks collection, extractions."""

    name = PROVIDER
    title = "NASA AppEEARS"
    roles = frozenset({CATALOG})
    capabilities = Capabilities()

    def __init__(
        self,
        settings: AppEEARSSettings,
        *,
        earthdata: EarthdataSettings | None = None,
        store: Store | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings
        self.store = store or MemoryStore()
        http = client or make_client(settings.http)
        # the shared Earthdata account (settings or .netrc), read the way every NASA provider does
        edl = EarthdataLogin(earthdata or EarthdataSettings(), self.store, http, provider=PROVIDER)
        self.client = AppEEARSClient(
            settings, self.store, username=edl.username, password=edl.password, client=http
        )
        self.orders = OrderDesk(
            self.store,
            PROVIDER,
            self._place,
            self._poll,
            interval=settings.poll_interval,
            max_interval=settings.max_poll_interval,
        )
        self._bundle_prefix = self.client.url("bundle/")
        self._products: tuple[float, dict[str, JSON]] | None = None
        self._layers: dict[str, dict[str, JSON]] = {}
        self._collections: dict[str, JSON] = {}

    async def start(self) -> None:
        """Resume polling the tasks a previous run left running."""
        await self.orders.start()

    async def aclose(self) -> None:
        await self.orders.aclose()
        await self.client.aclose()

    # -- collections ----------------------------------------------------------------------
    @property
    def tasks_id(self) -> str:
        return self.settings.tasks_collection

    def owns(self, collection_id: str) -> bool:
        if collection_id == self.tasks_id:
            return True
        if self.settings.products:
            return collection_id in self.settings.products
        return bool(_PRODUCT_ID.match(collection_id))

    async def _product_records(self) -> dict[str, JSON]:
        cached = self._products
        if cached and time.monotonic() - cached[0] < self.settings.collection_cache_ttl:
            return cached[1]
        wanted = set(self.settings.products)
        found: dict[str, JSON] = {}
        for record in records_of(PROVIDER, await self.client.products(), "/product"):
            pid = record.get("ProductAndVersion")
            if not isinstance(pid, str) or record.get("Available") is False:
                continue
            if record.get("Deleted") is True or (wanted and pid not in wanted):
                continue
            found[pid] = record
        self._products = (time.monotonic(), found)
        self._collections.clear()
        return found

    async def _product_layers(self, pid: str) -> dict[str, JSON]:
        if pid not in self._layers:
            body = await self.client.product_layers(pid)
            if body is None:
                raise CollectionNotFound(pid)
            self._layers[pid] = translate.available_layers(body)
        return self._layers[pid]

    async def _product_collection(self, pid: str) -> JSON:
        collection = self._collections.get(pid)
        if collection is None:
            record = (await self._product_records()).get(pid)
            if record is None:
                raise CollectionNotFound(pid)
            layers = await self._product_layers(pid)
            collection = check_collection(translate.product_collection(record, layers))
            self._collections[pid] = collection
        return collection

    async def collection_ids(self) -> list[str]:
        return [self.tasks_id, *await self._product_records()]

    async def list_collections(self, query: CollectionQuery) -> list[JSON]:
        gate = asyncio.Semaphore(_LAYER_FETCHES)

        async def one(pid: str) -> JSON | None:
            async with gate:
                try:
                    return await self._product_collection(pid)
                except _LEFT_OUT as exc:
                    log.warning("appeears: product %s left out of the listing: %s", pid, exc)
                    return None

        products = await asyncio.gather(*(one(pid) for pid in await self._product_records()))
        out = [translate.tasks_collection(self.tasks_id), *(c for c in products if c)]
        if query.q:
            terms = [t.lower() for t in query.q]
            out = [
                c
                for c in out
                if any(t in f"{c['id']} {c['title']} {c['description']}".lower() for t in terms)
            ]
        return out

    async def get_collection(self, collection_id: str) -> JSON:
        if collection_id == self.tasks_id:
            return translate.tasks_collection(self.tasks_id)
        if not self.owns(collection_id):
            raise CollectionNotFound(collection_id)
        return await self._product_collection(collection_id)

    async def queryables(self, collection_id: str | None) -> JSON:
        return {
            "datetime": {"title": "Acquisition time", "type": "string", "format": "date-time"},
            "order:status": {
                "title": "Order status",
                "type": "string",
                "enum": sorted({*translate.ORDER_STATUS.values(), "orderable"}),
            },
        }

    # -- items ----------------------------------------------------------------------------
    async def search(self, query: ItemQuery, cursor: Any | None) -> ItemPage:
        collections = list(query.collections) or [self.tasks_id]
        for cid in collections:
            if not self.owns(cid):
                raise CollectionNotFound(cid)
        state = cursor or {"c": 0, "o": 0}
        index, offset = int(state["c"]), int(state["o"])
        if index >= len(collections):
            return ItemPage(items=[])
        cid = collections[index]
        if cid == self.tasks_id:
            items, more, matched = await self._task_page(query.limit, offset), None, None
            more = len(items) >= query.limit
        else:
            steps_items, matched = await self._extraction_page(cid, query, offset)
            items = steps_items
            more = offset + len(items) < (matched or 0)
        if more and items:
            next_cursor: Any = {"c": index, "o": offset + len(items)}
        elif index + 1 < len(collections):
            next_cursor = {"c": index + 1, "o": 0}
        else:
            next_cursor = None
        single = len(collections) == 1
        return ItemPage(
            items=items, next_cursor=next_cursor, number_matched=matched if single else None
        )

    def _file_href(self, task_id: str) -> Any:
        return lambda file_id: self.client.url(f"bundle/{task_id}/{file_id}")

    async def _task_item(self, task: JSON) -> JSON | None:
        tid = task.get("task_id")
        try:
            bundle = None
            if task.get("status") == "done" and isinstance(tid, str):
                bundle = await self.client.bundle(tid)
            return check_item(
                translate.task_item(task, self.tasks_id, bundle, self._file_href(str(tid)))
            )
        except UNTRANSLATABLE as exc:
            log.warning("appeears: skipped an untranslatable task %s: %s", tid, exc)
            return None

    async def _task_page(self, limit: int, offset: int) -> list[JSON]:
        tasks = records_of(PROVIDER, await self.client.tasks(limit, offset), "/task")
        items = await asyncio.gather(*(self._task_item(t) for t in tasks[:limit]))
        return [i for i in items if i is not None]

    def _area(self, cid: str, query: ItemQuery) -> Shape:
        if query.bbox is not None:
            return translate.bbox_shape(query.bbox)
        geom = query.intersects
        if geom is None:
            raise _need_area_and_time(cid)
        kind = geom.get("type")
        polygons = (
            [geom["coordinates"]]
            if kind == "Polygon"
            else geom["coordinates"]
            if kind == "MultiPolygon"
            else None
        )
        if polygons is None:
            raise BadRequest(
                f"collection {cid}: an AppEEARS area extraction needs a Polygon or "
                f"MultiPolygon (or a bbox), not a {kind}"
            )
        shapes = [
            polygon([list(p[:2]) for p in rings[0]], [[list(p[:2]) for p in r] for r in rings[1:]])
            for rings in polygons
        ]
        if any(s is None for s in shapes) or not shapes:
            raise BadRequest(f"collection {cid}: the intersects polygon is degenerate")
        if len(shapes) == 1:
            assert shapes[0] is not None
            return shapes[0]
        from stacbridge.stac.geometry import combine

        combined = combine(shapes)
        assert combined is not None
        return combined

    async def _extraction_page(
        self, cid: str, query: ItemQuery, offset: int
    ) -> tuple[list[JSON], int]:
        collection = await self._product_collection(cid)
        record = (await self._product_records())[cid]
        window = query.datetime
        if window is None and query.bbox is None and query.intersects is None:
            # a browse, not an extraction: nothing to extract, and no error either, so that
            # clients paging every collection (STAC Browser, validators) see an empty page
            return [], 0
        shape = self._area(cid, query)
        if window is None or window.start is None or window.end is None:
            raise _need_area_and_time(cid)
        start, end = window.start.date(), window.end.date()
        first, last = translate.product_extent(record)
        granularity = record.get("TemporalGranularity")
        kind = translate.step_days(granularity)
        if kind is None:
            raise ProviderError(
                PROVIDER,
                f"product {cid}: time steps of TemporalGranularity "
                f"{granularity!r} are unknown to stacbridge",
            )
        if (first and end < first) or (last and start > last):
            raise BadRequest(
                f"collection {cid}: datetime {start}/{end} is outside the product's temporal "
                f"extent {first or '..'}/{last or 'present'}"
            )
        if kind == "static":
            anchor = first or start
            steps = [(anchor, last or max(anchor, end))]
        else:
            steps = translate.time_steps(granularity, start, end, first, last) or []
        if not steps:
            raise BadRequest(
                f"collection {cid}: no time step of the product falls in "
                f"{start}/{end} ({granularity})"
            )
        if len(steps) > self.settings.max_time_steps:
            raise BadRequest(
                f"collection {cid}: {start}/{end} spans {len(steps)} time steps; at most "
                f"{self.settings.max_time_steps} fit one extraction — narrow the datetime"
            )
        layers = list(collection.get("item_assets") or {})
        if not layers:
            raise ProviderError(PROVIDER, f"product {cid} lists no layers to extract")
        task_start = steps[0][0] if kind != "static" else start
        task_end = min(end, last) if last else end
        spec = translate.task_spec(
            cid,
            layers,
            shape.geometry,
            task_start,
            task_end,
            self.settings.output_format,
            self.settings.projection,
        )
        order = await self.orders.book.get(self.orders.order_id(translate.task_key(spec)))
        status = _ORDER_STATUS.get(order.status, "pending") if order else "orderable"
        page = steps[offset : offset + query.limit]
        items = [
            check_item(translate.extraction_item(collection, step, shape, spec, status))
            for step in page
        ]
        return items, len(steps)

    async def get_item(self, collection_id: str, item_id: str) -> JSON | None:
        if collection_id == self.tasks_id:
            task = await self.client.task(item_id)
            return await self._task_item(task) if isinstance(task, dict) else None
        await self.get_collection(collection_id)
        raise BadRequest(
            f"collection {collection_id} is an AppEEARS product: its Items exist only within a "
            "search with an area and a datetime interval (search it with bbox/intersects and "
            "datetime); they cannot be fetched by id alone"
        )

    # -- assets and orders ----------------------------------------------------------------
    def proxies(self, href: str) -> bool:
        return href.startswith(translate.EXTRACT_SCHEME) or href.startswith(self._bundle_prefix)

    async def resolve_asset(self, request: AssetRequest) -> AssetResolution:
        if request.ref.startswith(self._bundle_prefix):
            task_id, _, file_id = request.ref[len(self._bundle_prefix) :].partition("/")
            if not task_id or not file_id or "/" in file_id:
                raise Forbidden("not an AppEEARS bundle reference")
            return await self._bundle_file(task_id, file_id, request.method)
        parsed = translate.parse_extract_ref(request.ref)
        if parsed is None:
            raise Forbidden("not an AppEEARS extraction reference")
        spec, layer, date = parsed
        key = translate.task_key(spec)
        file = translate.result_file(layer, date)
        order = await self.orders.book.get(self.orders.order_id(key))
        # OrderDesk would place a failed order, or one lacking this file, again: a task that
        # failed stays failed (no endless resubmission), and a missing date stays missing
        if order is not None and order.status == FAILED:
            raise ProviderError(
                PROVIDER, f"the AppEEARS task for this extraction failed: {order.message}"
            )
        if order is not None and order.status == READY and file not in order.files:
            raise NotFound(
                f"AppEEARS task {order.upstream.get('task_id')} produced no file for layer "
                f"{layer} on {date[:4]} day {date[4:]}: the product has no data for that time "
                "step over this area"
            )
        answer = await self.orders.resolve(
            request.ref,
            key=key,
            file=file,
            upstream={"spec": spec},
            place=request.method != "HEAD",
        )
        if isinstance(answer, AssetRedirect) and answer.url.startswith(self._bundle_prefix):
            task_id, _, file_id = answer.url[len(self._bundle_prefix) :].partition("/")
            return await self._bundle_file(task_id, file_id, request.method)
        return answer

    async def _bundle_file(self, task_id: str, file_id: str, method: str) -> AssetRedirect:
        """A redirect to the signed URL AppEEARS hands out for one bundle file (fresh each
        time: those URLs are short-lived)."""
        return AssetRedirect(await self.client.file_location(task_id, file_id, method), 307)

    async def _place(self, order: Order) -> Order:
        """Submit the area task; AppEEARS's refusal (its validation message) is the client's
        400 and stores no order, so a corrected request is not shadowed by it."""
        spec = order.upstream["spec"]
        body = await self.client.submit(translate.task_request(spec, f"stacbridge-{order.id}"))
        task_id = body.get("task_id") if isinstance(body, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise ProviderError(PROVIDER, "AppEEARS accepted the task but named no task_id")
        order.upstream["task_id"] = task_id
        order.progress = 0.0
        order.message = f"AppEEARS task {task_id} is {body.get('status') or 'pending'}"
        return order

    async def _poll(self, order: Order) -> Order:
        """One `/status` call; when done, the task (its error, if any) and its bundle."""
        task_id = str(order.upstream.get("task_id"))
        done, status = await self.client.status(task_id)
        if not done:
            state = status.get("status") if isinstance(status, dict) else None
            progress = (status or {}).get("progress") if isinstance(status, dict) else None
            if isinstance(progress, dict) and isinstance(progress.get("summary"), int | float):
                order.progress = max(0.0, min(1.0, progress["summary"] / 100.0))
                state = state or "processing"
            if state == "error":
                return await self._failed(order, task_id)
            order.message = f"AppEEARS task {task_id} is {state or 'pending'}"
            return order
        task = await self.client.task(task_id) or {}
        if task.get("status") == "error":
            return await self._failed(order, task_id, task)
        bundle = await self.client.bundle(task_id) or {}
        files: dict[str, str] = {}
        for f in bundle.get("files") or []:
            parsed = translate.parse_file_name(str(f.get("file_name", "")))
            if parsed and f.get("file_id"):
                files[translate.result_file(parsed[1], parsed[2])] = self.client.url(
                    f"bundle/{task_id}/{f['file_id']}"
                )
        order.ready(files)
        return order

    async def _failed(self, order: Order, task_id: str, task: JSON | None = None) -> Order:
        task = task if task is not None else await self.client.task(task_id) or {}
        order.status = FAILED
        order.message = (
            f"AppEEARS task {task_id} ended in error: {task.get('error') or 'no reason given'}"
        )
        return order
