"""Orders: products that are not ready yet (design §5), shared by every provider that has them.

An order lives in the state store (`order:<provider>:<id>`), so it survives a restart and is
seen by every worker.  Exactly one poll loop runs per order: within a process a task per order,
across processes a lease in the store renewed on every poll; whoever holds the lease polls
upstream with backoff, everyone else just reads the order's state.  Clients waiting on an
order never cause upstream polls of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from stacbridge.store import Store

log = logging.getLogger("stacbridge.orders")

PENDING, READY, FAILED = "pending", "ready", "failed"


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
    url: str | None = None
    url_expires: float | None = None
    message: str | None = None
    progress: float | None = None
    upstream: dict[str, Any] = field(default_factory=dict)

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

    def __init__(self, store: Store, provider: str, poll: Poll, *, interval: float = 5.0,
                 max_interval: float = 60.0) -> None:
        self.store = store
        self.provider = provider
        self._poll = poll
        self.interval = interval
        self.max_interval = max_interval
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._owner = secrets.token_hex(8).encode()

    def _key(self, order_id: str) -> str:
        return f"order:{self.provider}:{order_id}"

    async def get(self, order_id: str) -> Order | None:
        raw = await self.store.get(self._key(order_id))
        return Order(**orjson.loads(raw)) if raw else None

    async def put(self, order: Order) -> None:
        order.updated = self.store.clock()
        if not order.created:
            order.created = order.updated
        # orders are kept a week after their last change; nobody waits longer
        await self.store.set(self._key(order.id), orjson.dumps(asdict(order)), ttl=7 * 86400)

    def ensure_polling(self, order_id: str) -> None:
        """Start this process's poll loop for `order_id` unless one is running."""
        task = self._tasks.get(order_id)
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(
                self._run(order_id), name=f"order-poll:{self.provider}:{order_id}")
            self._tasks[order_id] = task
            task.add_done_callback(lambda t, oid=order_id: self._forget(oid, t))

    def _forget(self, order_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(order_id) is task and not task.cancelled():
            del self._tasks[order_id]

    async def resume(self) -> int:
        """Restart the poll loops of every pending order (after a restart)."""
        count = 0
        for _key, raw in await self.store.scan(f"order:{self.provider}:"):
            order = Order(**orjson.loads(raw))
            if order.status == PENDING:
                self.ensure_polling(order.id)
                count += 1
        return count

    def _lease_key(self, order_id: str) -> str:
        return f"lock:order-poll:{self.provider}:{order_id}"

    async def _lease(self, order_id: str, ttl: float) -> bool:
        """Hold (or renew) the cross-worker right to poll this order.

        A worker that stops cleanly hands its leases back (`aclose`); one that dies leaves them
        to expire, after which another worker's loop takes over.
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
            if await self._lease(order_id, ttl=max(self.max_interval, delay) * 3):
                try:
                    order = await self._poll(order)
                    order.polls += 1
                    await self.put(order)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a failed poll is retried later
                    log.warning("%s: polling order %s failed: %s", self.provider, order_id,
                                exc)
                if order.status != PENDING:
                    return
            await asyncio.sleep(delay)
            delay = min(self.max_interval, delay * 2)

    async def aclose(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for order_id, task in self._tasks.items():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            with contextlib.suppress(Exception):
                await self.store.delete_if(self._lease_key(order_id), self._owner)
        self._tasks.clear()
