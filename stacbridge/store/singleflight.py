"""Single-flight token cache: a burst of requests after expiry triggers exactly one login.

`cached_token` is how providers obtain upstream credentials (EDL bearer tokens, M2M API keys,
AppEEARS tokens, OIDC access tokens, session cookies...).  The value is cached in the `Store`
together with its absolute expiry, refreshed ``refresh_margin`` seconds *before* it expires (so
a request never leaves with a token that dies in flight), and a refresh is performed by exactly
one caller:

* **within a process**, concurrent callers for the same store and key share one refresh task
  (the "single flight"): they all await its result - or its exception, so a failing login is
  attempted once per burst, not once per waiting request.  The task is shielded, so a client
  that disconnects does not abort the login the others are waiting for;
* **across processes**, the refresh task runs under `store_lock`, then re-reads the store:
  workers that waited on the lock find the token another worker just stored and return it.

`invalidate` is the other half: when the upstream rejects a token (401/403), drop it - but only
if the store still holds *that* token, so the tail of a burst of 401s that were sent with the
old token does not throw away the new one someone already fetched.

Stored format: ``b"SBT\\x01"`` + little-endian ``(expires_at, fetched_at)`` doubles + value.  The
entry's store TTL is the token's own remaining lifetime, so the store purges it on expiry.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import weakref
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from .base import Store, as_bytes
from .lock import store_lock

log = logging.getLogger(__name__)

Fetch = Callable[[], Awaitable[tuple[bytes, float]]]
"""Obtains a fresh value from upstream: returns ``(value, absolute expiry on the store clock)``."""

_MAGIC = b"SBT\x01"
_HEADER = struct.Struct("<4sdd")


class _Entry(NamedTuple):
    value: bytes
    expires_at: float
    fetched_at: float


def _pack(value: bytes, expires_at: float, fetched_at: float) -> bytes:
    return _HEADER.pack(_MAGIC, expires_at, fetched_at) + value


def _unpack(raw: bytes) -> _Entry | None:
    """Decode an envelope; ``None`` for anything else (treated as a cache miss)."""
    if len(raw) < _HEADER.size or not raw.startswith(_MAGIC):
        return None
    _, expires_at, fetched_at = _HEADER.unpack_from(raw)
    return _Entry(raw[_HEADER.size :], expires_at, fetched_at)


def _is_fresh(entry: _Entry, now: float, refresh_margin: float) -> bool:
    """Whether ``entry`` is still good for more than the (effective) refresh margin.

    The margin is capped at half the token's lifetime: with 30-second tokens and the default
    60-second margin every call would otherwise log in again.
    """
    margin = min(refresh_margin, max(0.0, (entry.expires_at - entry.fetched_at) / 2))
    return entry.expires_at - now > margin


async def _read_fresh(store: Store, key: str, refresh_margin: float) -> bytes | None:
    raw = await store.get(key)
    if raw is None:
        return None
    entry = _unpack(raw)
    if entry is None or not _is_fresh(entry, store.clock(), refresh_margin):
        return None
    return entry.value


# In-flight refreshes: per event loop (tasks belong to one loop), keyed by (store, key).  The
# running task holds a strong reference to its store, so ``id(store)`` cannot be reused while
# the entry exists; the entry is removed when the task finishes.
_flights: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[int, str], asyncio.Task[bytes]]
] = weakref.WeakKeyDictionary()


def _consume(task: asyncio.Task[bytes]) -> None:
    # Mark the exception as retrieved: if every waiter was cancelled nobody else will.
    if not task.cancelled():
        task.exception()


async def _refresh(
    store: Store,
    key: str,
    fetch: Fetch,
    refresh_margin: float,
    lock_ttl: float,
    lock_timeout: float | None,
    flights: dict[tuple[int, str], asyncio.Task[bytes]],
) -> bytes:
    try:
        async with store_lock(store, f"cached_token:{key}", ttl=lock_ttl, timeout=lock_timeout):
            # Another worker may have refreshed while we waited for the lock.
            value = await _read_fresh(store, key, refresh_margin)
            if value is not None:
                return value
            fetched, expires_at = await fetch()
            value = as_bytes(fetched)
            now = store.clock()
            if expires_at <= now:
                log.warning("token %r was already expired when fetched; not caching it", key)
                return value
            await store.set(key, _pack(value, float(expires_at), now), ttl=expires_at - now)
            return value
    finally:
        # Unregister before the task completes, so later callers start a fresh flight (and
        # first re-read the store) instead of joining a finished one.
        fk = (id(store), key)
        if flights.get(fk) is asyncio.current_task():
            del flights[fk]


async def cached_token(
    store: Store,
    key: str,
    fetch: Fetch,
    *,
    refresh_margin: float = 60.0,
    lock_ttl: float = 30.0,
    lock_timeout: float | None = 60.0,
) -> bytes:
    """The cached value of ``key``, refreshed through ``fetch`` by exactly one caller.

    Returns the stored value when it stays valid for more than ``refresh_margin`` seconds
    (capped at half its lifetime).  Otherwise one caller - per key, across coroutines of this
    process and across processes sharing ``store`` - awaits ``fetch()``, stores its value until
    the returned absolute expiry time (on ``store.clock``), and every concurrent caller gets
    that value.  Exceptions from ``fetch`` propagate to every caller of the same flight; the
    next call tries again.

    ``lock_ttl`` must exceed the longest a ``fetch`` can take (see `store_lock`); a
    `~stacbridge.store.lock.LockTimeout` is raised if another worker holds the refresh lock
    longer than ``lock_timeout``.
    """
    value = await _read_fresh(store, key, refresh_margin)
    if value is not None:
        return value
    loop = asyncio.get_running_loop()
    flights = _flights.setdefault(loop, {})
    fk = (id(store), key)
    task = flights.get(fk)
    if task is None or task.done():
        task = loop.create_task(
            _refresh(store, key, fetch, refresh_margin, lock_ttl, lock_timeout, flights),
            name=f"cached_token:{key}",
        )
        task.add_done_callback(_consume)
        flights[fk] = task
    # Shield: one waiter being cancelled (client went away) must not cancel the shared login.
    return await asyncio.shield(task)


async def invalidate(store: Store, key: str, value: bytes) -> bool:
    """Forget the cached ``key`` if - and only if - it still holds ``value``.

    Call it with the token that the upstream rejected.  Returns ``True`` if it was removed;
    ``False`` if the entry is gone or already holds a different (newer) token.
    """
    raw = await store.get(key)
    if raw is None:
        return False
    entry = _unpack(raw)
    if entry is None or entry.value != as_bytes(value):
        return False
    return await store.delete_if(key, raw)
