"""Orders: products that are not ready yet (design §5), shared by every provider that has them.

A provider with orders writes two functions and hands them to `OrderDesk`:

* `place(order)`: ask the upstream for the product (M2M `download-request`, an AppEEARS task,
  an EGI async request) and fill in the order — `READY` with its result files, `PENDING` with
  whatever the poll needs in `order.upstream`, or `FAILED` with a message;
* `poll(order)`: ask once how a pending order is doing and update it.

`OrderDesk.resolve(ref)` does the rest for every provider alike: it finds or places the order
for a reference (once, however many clients ask at once), answers a ready file with a redirect,
a pending order with `AssetPending` (202 + Retry-After with the order's public status), a
failed one with a 502 quoting the upstream, and runs the poll loop.  An order can have many
result files (an AppEEARS task yields one per layer and date): `files` maps a name to its URL.

An order lives in the state store (`order:<provider>:<id>`), so it survives a restart and is
seen by every worker.  Exactly one poll loop runs per order: within a process a task per order,
across processes a lease in the store renewed on every poll; whoever holds the lease polls
upstream with backoff, everyone else just reads the order's state.  Clients waiting on an
order never cause upstream polls of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from stacbridge.errors import NotFound
from stacbridge.observability.metrics import order_updated
from stacbridge.protocols import AssetPending, AssetRedirect, AssetResolution, ProviderError
from stacbridge.store import Store

log = logging.getLogger("stacbridge.orders")

PENDING, READY, FAILED = "pending", "ready", "failed"

#: seconds a poll lease lasts unless renewed.  Short, and renewed every third of it while the
#: loop waits between polls, so a worker killed mid-order (kill -9: no clean hand-back) is
#: replaced by another worker's loop within this time, not after a long poll interval.
LEASE_TTL = 15.0
#: seconds a failed order keeps answering its failure (a 502 quoting the upstream) before one
#: GET may place it again: a product that cannot be made is not re-ordered on every request.
FAILED_HOLD = 3600.0


@dataclass
class Order:
    """One upstream order's state, as stored."""

    id: str
    provider: str
    ref: str
    status: str = PENDING
    created: float = 0.0
    updated: float = 0.0
    polls: int = 0
    #: result files: name ("" for a single-file order) → {"url": ..., "expires": epoch or None}
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    message: str | None = None
    progress: float | None = None
    upstream: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: bytes) -> Order:
        data = orjson.loads(raw)
        # orders stored before results had names carried one `url`
        url, expires = data.pop("url", None), data.pop("url_expires", None)
        if url:
            data.setdefault("files", {})[""] = {"url": url, "expires": expires}
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})

    def ready(self, files: dict[str, str], *, expires: float | None = None) -> None:
        """Mark the order ready with its result files (name → URL)."""
        self.status, self.message, self.progress = READY, None, 1.0
        self.files = {name: {"url": url, "expires": expires} for name, url in files.items()}

    def file_url(self, name: str, now: float) -> str | None:
        """The URL of result `name` while it is still valid, else None."""
        entry = self.files.get(name)
        if not entry or not entry.get("url"):
            return None
        expires = entry.get("expires")
        return entry["url"] if expires is None or expires > now else None

    @property
    def url(self) -> str | None:
        """The single result's URL (orders with one file)."""
        entry = self.files.get("")
        return entry.get("url") if entry else None

    def public(self) -> dict[str, Any]:
        """What a waiting client is told (never URLs or upstream ids it could misuse)."""
        out: dict[str, Any] = {"id": self.id, "status": self.status, "polls": self.polls}
        if self.progress is not None:
            out["progress"] = self.progress
        if self.message:
            out["message"] = self.message
        return out


Poll = Callable[[Order], Awaitable[Order]]


class OrderBook:
    """Stores one provider's orders and runs their poll loops."""

    def __init__(
        self,
        store: Store,
        provider: str,
        poll: Poll,
        *,
        interval: float = 5.0,
        max_interval: float = 60.0,
        lease_ttl: float = LEASE_TTL,
    ) -> None:
        self.store = store
        self.provider = provider
        self._poll = poll
        self.interval = interval
        self.max_interval = max_interval
        self.lease_ttl = lease_ttl
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._owner = secrets.token_hex(8).encode()

    def _key(self, order_id: str) -> str:
        return f"order:{self.provider}:{order_id}"

    async def get(self, order_id: str) -> Order | None:
        raw = await self.store.get(self._key(order_id))
        return Order.from_json(raw) if raw else None

    async def put(self, order: Order) -> None:
        order.updated = self.store.clock()
        if not order.created:
            order.created = order.updated
        # orders are kept a week after their last change; nobody waits longer
        await self.store.set(self._key(order.id), orjson.dumps(asdict(order)), ttl=7 * 86400)
        order_updated(self.provider, order.status)  # the stacbridge_order_updates_total metric

    async def forget(self, order_id: str) -> None:
        """Drop an order (its upstream result is gone), so that the next request places it."""
        await self.store.delete(self._key(order_id))

    def ensure_polling(self, order_id: str) -> None:
        """Start this process's poll loop for `order_id` unless one is running."""
        task = self._tasks.get(order_id)
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(
                self._run(order_id), name=f"order-poll:{self.provider}:{order_id}"
            )
            self._tasks[order_id] = task
            task.add_done_callback(functools.partial(self._forget, order_id))

    def _forget(self, order_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(order_id) is task and not task.cancelled():
            del self._tasks[order_id]

    async def resume(self) -> int:
        """Restart the poll loops of every pending order (after a restart)."""
        count = 0
        for _key, raw in await self.store.scan(f"order:{self.provider}:"):
            order = Order.from_json(raw)
            if order.status == PENDING:
                self.ensure_polling(order.id)
                count += 1
        return count

    def _lease_key(self, order_id: str) -> str:
        return f"lock:order-poll:{self.provider}:{order_id}"

    async def _lease(self, order_id: str, ttl: float) -> bool:
        """Hold (or renew) the cross-worker right to poll this order.

        A worker that stops cleanly hands its leases back (`aclose`); one that dies leaves them
        to expire (`lease_ttl`), after which another worker's loop takes over.
        """
        key = self._lease_key(order_id)
        if await self.store.add(key, self._owner, ttl=ttl):
            return True
        if await self.store.get(key) == self._owner:
            await self.store.set(key, self._owner, ttl=ttl)
            return True
        return False

    async def _run(self, order_id: str) -> None:
        delay = self.interval
        while True:
            order = await self.get(order_id)
            if order is None or order.status != PENDING:
                return
            held = await self._lease(order_id, ttl=self.lease_ttl)
            if held:
                try:
                    order = await self._poll(order)
                    order.polls += 1
                    await self.put(order)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a failed poll is retried later
                    log.warning("%s: polling order %s failed: %s", self.provider, order_id, exc)
                if order.status != PENDING:
                    return
            await self._wait(order_id, delay, renew=held)
            delay = min(self.max_interval, delay * 2)

    async def _wait(self, order_id: str, delay: float, *, renew: bool) -> None:
        """Sleep `delay` seconds, renewing a held lease every third of its lifetime."""
        step = self.lease_ttl / 3
        while delay > 0:
            await asyncio.sleep(min(step, delay))
            delay -= step
            if renew and delay > 0 and not await self._lease(order_id, ttl=self.lease_ttl):
                return  # another worker took over (a very long pause here): poll to re-check

    async def aclose(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for order_id, task in self._tasks.items():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            with contextlib.suppress(Exception):
                await self.store.delete_if(self._lease_key(order_id), self._owner)
        self._tasks.clear()


Place = Callable[[Order], Awaitable[Order]]


class OrderDesk:
    """The whole order flow for one provider: find or place, answer, poll, resume.

    `order_id(ref)` derives the order's id from its signed reference, so one product is one
    order whatever client asks; several references may share one order (an AppEEARS task
    answers every layer and date of a search), each naming its own result `file`.
    """

    def __init__(
        self,
        store: Store,
        provider: str,
        place: Place,
        poll: Poll,
        *,
        interval: float = 5.0,
        max_interval: float = 60.0,
        lease_ttl: float = LEASE_TTL,
        failed_hold: float = FAILED_HOLD,
    ) -> None:
        self.store = store
        self.provider = provider
        self.failed_hold = failed_hold
        self.book = OrderBook(
            store, provider, poll, interval=interval, max_interval=max_interval, lease_ttl=lease_ttl
        )
        self._place = place
        self._locks: dict[str, asyncio.Lock] = {}

    @staticmethod
    def order_id(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()[:20]

    async def start(self) -> int:
        """Resume the poll loops of pending orders (after a restart); returns how many."""
        return await self.book.resume()

    async def aclose(self) -> None:
        await self.book.aclose()

    async def resolve(
        self,
        ref: str,
        *,
        key: str | None = None,
        file: str = "",
        upstream: dict[str, Any] | None = None,
        place: bool = True,
    ) -> AssetResolution:
        """Answer a GET of the asset `ref` (result `file` of the order for `key`, default `ref`).

        An existing usable order answers at once; otherwise one `place` runs (a lock per order
        makes concurrent first requests share it).  `upstream` seeds a new order's upstream
        state (what `place` needs to know about the product).
        """
        order_id = self.order_id(key or ref)
        answer = self._answer(await self.book.get(order_id), file)
        if answer is not None:
            return answer
        if not place:  # a HEAD: describe, never order (no side effect upstream)
            return AssetPending(
                retry_after=1,
                status={
                    "id": order_id,
                    "status": "orderable",
                    "message": "not ordered yet: a GET of this href orders it",
                },
            )
        lock = self._locks.setdefault(order_id, asyncio.Lock())
        async with lock:  # re-check: another request may have placed it meanwhile
            order = await self.book.get(order_id)
            answer = self._answer(order, file)
            if answer is not None:
                return answer
            order = Order(
                id=order_id, provider=self.provider, ref=ref, upstream=dict(upstream or {})
            )
            order = await self._place(order)
            await self.book.put(order)
        if order.status == FAILED:
            raise ProviderError(
                self.provider, f"cannot deliver this product: {order.message or 'failed'}"
            )
        answer = self._answer(order, file)
        if answer is None:
            raise ProviderError(self.provider, "the order is ready but has no such result file")
        return answer

    def _answer(self, order: Order | None, file: str) -> AssetResolution | None:
        """What an existing order tells the client: ready → redirect, pending → 202.

        A failed order answers its failure (502) for `failed_hold` seconds and a finished one
        that lacks `file` a 404, rather than being placed again on every request.  None when
        there is no usable order (none yet, failed long ago, or its URL expired), so that it
        is placed again.
        """
        if order is None:
            return None
        if order.status == READY:
            if file not in order.files:
                # the order finished without this result: ordering again would make the same
                raise NotFound(
                    f"the {self.provider} order {order.id} finished without this file"
                    + (f": {order.message}" if order.message else "")
                )
            url = order.file_url(file, self.store.clock())
            return AssetRedirect(url, status=302) if url else None  # expired: order again
        if order.status == PENDING:
            self.book.ensure_polling(order.id)
            return self.pending(order)
        if order.status == FAILED and self.store.clock() - order.updated < self.failed_hold:
            raise ProviderError(
                self.provider, f"cannot deliver this product: {order.message or 'failed'}"
            )
        return None

    def pending(self, order: Order) -> AssetPending:
        retry = int(min(self.book.max_interval, self.book.interval * 2 ** min(order.polls, 6)))
        return AssetPending(retry_after=max(1, retry), status=order.public())
