"""EGI as an item decorator: customised assets on CMR granules, resolved by running EGI.

For each item of a configured EGI-enabled collection, decoration adds, next to the native
file the catalogue already gives:

* `data:<format>` — the whole granule reformatted (one per format the collection's EGI
  capabilities offer): an `async` EGI request, i.e. an order (202 + Retry-After until EGI says
  `complete`, then the result zip, streamed with the EDL token);
* `subset:<format>` — only for items found by a search with `bbox`/`intersects`/`datetime`:
  the granule clipped to that area and window, a `stream` request passed through as it streams;
* `variables:<name>` — a configured `Coverage` set (subset to the search's area when it has one).

Each href is the signed reference of exactly one EGI request (`producer_granule_id` = the
native file's name), so a plain GET downloads the customised granule.

The *customised asset* interface (what a Harmony backend would implement alongside): a
backend says which formats/variables a collection offers (`capabilities`), builds one request
reference per asset (`translate.make_ref`) and resolves it (`resolve_asset`) to a stream, a
redirect or an order.  Nothing in the CMR provider or the API knows EGI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from urllib.parse import urlencode

import httpx
from shapely.geometry import shape

from stacbridge.assets.fetch import CredentialedStream, forwarded_headers
from stacbridge.assets.orders import FAILED, Order, OrderDesk
from stacbridge.auth.earthdata import EarthdataLogin
from stacbridge.config import EarthdataSettings
from stacbridge.errors import BadRequest, Forbidden, NotFound
from stacbridge.http import make_client
from stacbridge.protocols import (
    ASSET_SOURCE_KEY,
    DECORATOR,
    JSON,
    AssetRedirect,
    AssetRequest,
    AssetResolution,
    DecorationContext,
    ProviderError,
)
from stacbridge.providers.egi import translate
from stacbridge.providers.egi.client import EGIClient
from stacbridge.providers.egi.config import EGISettings
from stacbridge.providers.egi.translate import PROVIDER, Capabilities
from stacbridge.store import MemoryStore, Store

log = logging.getLogger("stacbridge.egi")

#: EGI's order states that are still running.
_RUNNING = {"pending", "processing", "submitted"}
_DONE = {"complete", "complete_with_errors"}
#: the most ordered assets of one page whose order state is looked up (one store read each).
REPORT_MAX_ASSETS = 500


class EGIProvider:
    """Customised (reformatted, subset) granules of CMR collections, through EGI."""

    name = PROVIDER
    title = "NASA EGI (customised granules)"
    roles = frozenset({DECORATOR})

    def __init__(
        self,
        settings: EGISettings,
        *,
        earthdata: EarthdataSettings | None = None,
        store: Store | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings
        self.store = store or MemoryStore()
        earthdata = earthdata or EarthdataSettings()
        http = client or make_client(settings.http)
        self._own_http = client is None
        # the shared Earthdata account (settings or .netrc), read the way every NASA provider does
        edl = EarthdataLogin(earthdata, self.store, http, provider=PROVIDER)
        self.client = EGIClient(settings, earthdata, self.store, http, edl.username, edl.password)
        self.orders = OrderDesk(
            self.store,
            PROVIDER,
            self._place,
            self._poll,
            interval=settings.poll_interval,
            max_interval=settings.max_poll_interval,
        )
        self._collections = {
            cid: parts
            for cid in settings.collections
            if (parts := translate.split_collection_id(cid)) is not None
        }
        self._caps: dict[str, tuple[float, Capabilities]] = {}

    async def start(self) -> None:
        """Resume the orders a previous run left running; read each collection's capabilities
        (best effort, bounded: EGI down must not stop the gateway; read again later)."""
        await self.orders.start()
        with contextlib.suppress(Exception, asyncio.TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(self.capabilities(c) for c in self._collections)), 10.0
            )

    async def aclose(self) -> None:
        await self.orders.aclose()
        if self._own_http:
            await self.client.http.aclose()

    # -- capabilities ---------------------------------------------------------------------
    def _fallback(self) -> Capabilities:
        return Capabilities(tuple(self.settings.formats))

    async def capabilities(self, cid: str) -> Capabilities:
        """The collection's EGI capabilities (cached; the configured formats if unreadable)."""
        cached = self._caps.get(cid)
        if cached and time.monotonic() - cached[0] < self.settings.capabilities_ttl:
            return cached[1]
        short, version = self._collections[cid]
        caps = self._fallback()
        try:
            status, body = await self.client.read_xml(self.client.capabilities_url(short, version))
            if status == 200:
                parsed = translate.parse_capabilities(body)
                if parsed.formats:
                    caps = parsed
            else:
                log.warning("egi: capabilities of %s answered %s", cid, status)
        except (ProviderError, ValueError, SyntaxError) as exc:
            log.warning("egi: capabilities of %s not read (%s); using configured", cid, exc)
        self._caps[cid] = (time.monotonic(), caps)
        return caps

    # -- decoration -----------------------------------------------------------------------
    def decorates(self, collection_id: str) -> bool:
        return collection_id in self._collections

    def decorate_collection(self, collection: JSON) -> None:
        cid = str(collection.get("id"))
        cached = self._caps.get(cid)
        caps = cached[1] if cached else self._fallback()
        defs = translate.asset_definitions(caps, self.settings.variable_sets)
        collection["item_assets"] = {**(collection.get("item_assets") or {}), **defs}

    async def decorate_items(self, items: list[JSON], context: DecorationContext) -> None:
        bbox = context.bbox
        if bbox is None and context.intersects is not None:
            try:
                bbox = tuple(shape(context.intersects).bounds)
            except (ValueError, TypeError, AttributeError, KeyError):
                bbox = None
        bbox_text = translate.bbox_param(bbox)
        time_text = translate.time_param(context.datetime)
        caps_by: dict[str, Capabilities] = {}
        for item in items:
            cid = str(item.get("collection"))
            if cid not in self._collections:
                continue
            if cid not in caps_by:
                caps_by[cid] = await self.capabilities(cid)
            self._decorate(item, cid, caps_by[cid], bbox_text, time_text)
        await self._report_orders(items)

    async def _report_orders(self, items: list[JSON]) -> None:
        """Say on each ordered asset how its EGI order went (partial results are not hidden).

        Bounded: a page with more ordered assets than `REPORT_MAX_ASSETS` reports none (the
        asset's own GET still answers with its order's state).
        """
        ordered = [
            asset
            for item in items
            for asset in (item.get("assets") or {}).values()
            if isinstance(asset, dict)
            and asset.get(ASSET_SOURCE_KEY) == PROVIDER
            and "order" in (asset.get("roles") or [])
        ]
        if len(ordered) > REPORT_MAX_ASSETS:
            return
        orders = await asyncio.gather(*(self.order_state(a["href"]) for a in ordered))
        for asset, order in zip(ordered, orders, strict=True):
            if order is None:
                continue
            state = order.upstream.get("egi_status") or order.status
            asset["description"] += f" EGI order status: {state}."
            if order.message and (order.status == FAILED or state == "complete_with_errors"):
                asset["description"] += f" {order.message}"

    def _decorate(
        self,
        item: JSON,
        cid: str,
        caps: Capabilities,
        bbox: str | None,
        window: str | None,
    ) -> None:
        pgid = translate.producer_granule_id(item)
        if pgid is None:
            return
        short, version = self._collections[cid]
        stem = pgid.rsplit(".", 1)[0]
        base = {
            "short_name": short,
            "version": version,
            "producer_granule_id": pgid,
            "include_meta": "N",
            "page_size": "1",
            "client_string": "stacbridge",
        }
        subset: dict[str, str] = {}
        if bbox and caps.spatial:
            subset["bbox"] = bbox
        if window and caps.temporal:
            subset["time"] = window
        assets = item.setdefault("assets", {})
        for fmt in caps.formats:
            s = translate.slug(fmt)
            ref = translate.make_ref(
                {**base, "format": fmt, "request_mode": "async"}, f"{stem}_{s}.zip"
            )
            assets[f"data:{s}"] = translate.customised_asset(
                ref,
                f"{pgid} as {fmt}",
                f"The whole granule reformatted to {fmt} by EGI: the first GET orders it "
                "(202 with Retry-After while EGI works), later GETs download the zip.",
                ordered=True,
            )
            if subset:
                mode = self._mode(bbox if "bbox" in subset else None)
                ref = translate.make_ref(
                    {**base, **subset, "format": fmt, "request_mode": mode},
                    f"{stem}_subset_{s}.zip",
                )
                where = " and ".join(
                    ([f"bbox {bbox}"] if "bbox" in subset else [])
                    + ([f"time {window}"] if "time" in subset else [])
                )
                assets[f"subset:{s}"] = translate.customised_asset(
                    ref,
                    f"{pgid} clipped, as {fmt}",
                    f"The granule subset by EGI to the search's {where}, as {fmt} (a zip).",
                    ordered=mode == "async",
                )
        first = caps.formats[0] if caps.formats else None
        for name, variables in self.settings.variable_sets.items():
            if first is None or (caps.variables and not set(variables) <= set(caps.variables)):
                continue
            mode = self._mode(bbox if "bbox" in subset else None)
            params = {**base, **subset, "Coverage": ",".join(variables), "format": first}
            ref = translate.make_ref({**params, "request_mode": mode}, f"{stem}_{name}.zip")
            assets[f"variables:{name}"] = translate.customised_asset(
                ref,
                f"{pgid}: {name}",
                f"Only the variables {', '.join(variables)} (EGI Coverage), as {first}.",
                ordered=mode == "async",
            )

    def _mode(self, bbox: str | None) -> str:
        """`stream` for a small spatial subset, else `async` (an order)."""
        if not self.settings.stream_subsets or bbox is None:
            return "async"
        w, s, e, n = (float(v) for v in bbox.split(","))
        return "stream" if (e - w) * (n - s) <= self.settings.stream_max_area else "async"

    # -- resolution -----------------------------------------------------------------------
    def proxies(self, href: str) -> bool:
        return href.startswith(translate.REF_SCHEME)

    async def resolve_asset(self, request: AssetRequest) -> AssetResolution:
        params = translate.parse_ref(request.ref)
        if params is None:
            raise Forbidden("not an EGI request reference")
        cid = next(
            (
                c
                for c, sv in self._collections.items()
                if sv == (params["short_name"], params["version"])
            ),
            None,
        )
        if cid is None:
            raise Forbidden("this deployment no longer customises that collection")
        await self._check_offered(cid, params)
        if params.get("request_mode") == "stream":
            return await self._stream(params, request.method)
        return await self._ordered(request, params)

    async def _check_offered(self, cid: str, params: dict[str, str]) -> None:
        """A format or variable the collection no longer offers is the client's 400."""
        caps = await self.capabilities(cid)
        fmt = params.get("format")
        if fmt and caps.formats and fmt not in caps.formats:
            raise BadRequest(
                f"EGI does not offer format {fmt!r} for {cid}; allowed: {', '.join(caps.formats)}"
            )
        wanted = [v for v in params.get("Coverage", "").split(",") if v]
        unknown = [v for v in wanted if caps.variables and v not in caps.variables]
        if unknown:
            raise BadRequest(
                f"EGI does not offer variable(s) {', '.join(unknown)} for {cid}; allowed: "
                + ", ".join(caps.variables)
            )

    def _url(self, params: dict[str, str]) -> str:
        return f"{self.settings.url}?{urlencode(sorted(params.items()))}"

    async def _stream(self, params: dict[str, str], method: str) -> AssetResolution:
        response = await self.client.send(method, self._url(params), stream=True)
        if response.status_code == 200:
            return CredentialedStream(response)
        body = b""
        try:
            if method == "GET":
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > 65536:
                        break
        finally:
            await response.aclose()
        raise self._refusal(response.status_code, body)

    def _refusal(self, status: int, body: bytes) -> Exception:
        message = translate.error_message(body) or f"HTTP {status}"
        if translate.error_code(body) == "NoMatchingData":
            return NotFound(f"EGI found nothing to deliver for this asset: {message}")
        return ProviderError(PROVIDER, f"EGI refused the request (HTTP {status}): {message}")

    async def _ordered(
        self, request: AssetRequest, params: dict[str, str], *, retried: bool = False
    ) -> AssetResolution:
        key = request.ref.split("#", 1)[0]
        answer = await self.orders.resolve(
            key,
            upstream={"params": params},
            place=request.method != "HEAD",
        )
        if not isinstance(answer, AssetRedirect):
            return answer
        if not self.client.on_egi_host(answer.url):
            return answer  # a result host that needs no EGI login: the client goes there
        response = await self.client.send(
            request.method, answer.url, stream=True, headers=forwarded_headers(request.headers)
        )
        if response.status_code in (200, 206, 304, 412, 416):
            return CredentialedStream(response)
        await response.aclose()
        if response.status_code in (404, 410) and not retried:
            # EGI purged the result (it keeps them for a limited time): order it once more
            await self.orders.book.forget(self.orders.order_id(key))
            return await self._ordered(request, params, retried=True)
        raise ProviderError(PROVIDER, f"EGI's result download answered {response.status_code}")

    async def _place(self, order: Order) -> Order:
        """One `request_mode=async` request; EGI's order id is what the poll follows."""
        status, body = await self.client.read_xml(self._url(order.upstream["params"]))
        if status not in (200, 201):
            raise self._refusal(status, body)
        answer = self._agent(body)
        if not answer.order_id:
            raise ProviderError(PROVIDER, "EGI accepted the request but named no orderId")
        order.upstream["order_id"] = answer.order_id
        return self._update(order, answer)

    async def _poll(self, order: Order) -> Order:
        oid = str(order.upstream.get("order_id"))
        status, body = await self.client.read_xml(self.client.status_url(oid))
        if status not in (200, 201):
            message = translate.error_message(body) or f"HTTP {status}"
            if status == 404:
                order.status, order.message = FAILED, f"EGI no longer knows order {oid}: {message}"
                return order
            raise ProviderError(PROVIDER, f"EGI status of order {oid}: {message}")
        return self._update(order, self._agent(body))

    @staticmethod
    def _agent(body: bytes) -> translate.AgentResponse:
        try:
            return translate.parse_agent_response(body)
        except SyntaxError as exc:  # ElementTree.ParseError
            raise ProviderError(PROVIDER, "EGI answered XML that does not parse") from exc

    def _update(self, order: Order, answer: translate.AgentResponse) -> Order:
        oid = order.upstream.get("order_id")
        state = answer.status or "pending"
        notes = "; ".join(answer.messages)
        if answer.total:
            order.progress = min(1.0, (answer.processed or 0) / answer.total)
        if state in _DONE:
            zips = [u for u in answer.download_urls if u.split("?", 1)[0].endswith(".zip")]
            if not zips:
                order.status = FAILED
                order.message = f"EGI order {oid} is {state} but lists no zip to download"
                return order
            order.ready({"": zips[0]})
            order.upstream["egi_status"] = state
            if state == "complete_with_errors":
                order.message = f"EGI order {oid} completed with errors: {notes or 'none given'}"
            return order
        if state in _RUNNING:
            order.message = f"EGI order {oid} is {state}" + (f": {notes}" if notes else "")
            return order
        order.status = FAILED
        order.message = f"EGI order {oid} {state}: {notes or 'no reason given'}"
        return order

    async def order_state(self, ref: str) -> Order | None:
        return await self.orders.book.get(self.orders.order_id(ref.split("#", 1)[0]))
