"""Cross-worker mutual exclusion on top of any `Store`.

A lock is the entry ``lock:<name>`` created with `Store.add` (atomic set-if-absent) holding a
random owner token and a TTL:

* the TTL means a worker that crashes (or is killed) while holding the lock blocks the others
  for at most ``ttl`` seconds - there is no lock server to notice it died;
* the owner token means release uses `Store.delete_if`, so a holder whose lock already expired
  and was taken by someone else does not delete the new holder's lock.

Limits, by design (this is a lease, not a fencing lock):

* ``ttl`` must exceed the longest time the critical section can take.  If it does not, the lock
  expires under the holder and a second worker may enter; for the users in this package (one
  upstream login) that costs a duplicate login, never corrupted state.
* Waiting is polling (``poll`` seconds, jittered) - fine for rare, short critical sections such
  as logins, not for hot paths.
* The ``ttl`` is measured on the store's clock (shared across processes); ``timeout`` on this
  process's monotonic clock, because it bounds how long *we* wait, and a test's fake store
  clock does not advance while we sleep.
* Cancellation while acquiring: if the ``add`` may already have landed (a threaded backend
  finishes the call even when the awaiting task is cancelled), we issue a `Store.delete_if` for
  our token before re-raising.  On SQLite the store's single thread runs that after the ``add``,
  so nothing leaks; on a backend without ordering guarantees the worst case is a lock held
  until its TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator

from .base import Store

log = logging.getLogger(__name__)

LOCK_PREFIX = "lock:"


class LockTimeout(TimeoutError):
    """The lock could not be acquired within ``timeout`` seconds."""


@contextlib.asynccontextmanager
async def store_lock(
    store: Store,
    name: str,
    ttl: float = 30.0,
    poll: float = 0.05,
    timeout: float | None = 60.0,
) -> AsyncIterator[bytes]:
    """Hold the cross-process lock ``name`` for the duration of the ``async with`` block.

    Yields this holder's owner token.  Raises `LockTimeout` (a `TimeoutError`) if the lock is
    not acquired within ``timeout`` seconds (``None``: wait forever).
    """
    if ttl <= 0:
        raise ValueError("lock ttl must be positive")
    key = LOCK_PREFIX + name
    owner = secrets.token_bytes(16)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            acquired = await store.add(key, owner, ttl)
        except BaseException:
            # Cancelled or failed mid-call: the add may still have happened. Undo it if so.
            with contextlib.suppress(BaseException):
                await asyncio.shield(store.delete_if(key, owner))
            raise
        if acquired:
            break
        if deadline is not None and time.monotonic() >= deadline:
            raise LockTimeout(f"could not acquire store lock {name!r} within {timeout} s")
        # Jitter so workers that woke together do not keep colliding in lockstep.
        await asyncio.sleep(poll * random.uniform(0.5, 1.5))
    try:
        yield owner
    finally:
        # Shield: a cancelled holder must still release, or everyone waits for the TTL.  A
        # failing release (store closed at shutdown, I/O error) must not mask the block's own
        # exception; the TTL cleans up after it.
        try:
            await asyncio.shield(store.delete_if(key, owner))
        except Exception:  # noqa: BLE001 - release is best effort; the lease expires
            log.warning("could not release store lock %r; it expires in %s s", name, ttl)
