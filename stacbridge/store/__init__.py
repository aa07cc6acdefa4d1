"""State store: tokens, orders and short-lived caches behind one small async interface.

Pick a backend with `open_store` from the deployment's configuration:

* ``memory://`` - `MemoryStore`, per process, lost on restart (tests, single worker);
* ``sqlite:///abs/path/state.sqlite``, ``sqlite://relative/path.sqlite`` or a plain path -
  `SQLiteStore`, the embedded default, shared by all workers of one host;
* ``redis://host:6379/0``, ``rediss://`` (TLS) or ``unix:///path/redis.sock`` - `RedisStore`,
  for several hosts or containers sharing one deployment (needs the ``redis`` extra).

On top of any backend: `store_lock` (cross-worker mutual exclusion) and `cached_token` /
`invalidate` (single-flight credential cache).
"""

from __future__ import annotations

import os
import time

from .base import Clock, Store, StoreClosedError
from .lock import LockTimeout, store_lock
from .memory import MemoryStore
from .redis import RedisStore
from .singleflight import cached_token, invalidate
from .sqlite import SQLiteStore

__all__ = [
    "LockTimeout",
    "MemoryStore",
    "RedisStore",
    "SQLiteStore",
    "Store",
    "StoreClosedError",
    "cached_token",
    "invalidate",
    "open_store",
    "store_lock",
]


def open_store(url: str | os.PathLike[str], *, clock: Clock = time.time) -> Store:
    """Open the store named by ``url`` (see the module docstring for the accepted forms)."""
    if isinstance(url, os.PathLike):
        return SQLiteStore(url, clock=clock)
    scheme, sep, rest = url.partition("://")
    if not sep:
        if not url:
            raise ValueError("empty state store URL")
        return SQLiteStore(url, clock=clock)
    scheme = scheme.lower()
    if scheme == "memory":
        return MemoryStore(clock=clock)
    if scheme == "sqlite":
        # sqlite:///abs/path -> "/abs/path"; sqlite://rel/path -> "rel/path"; also ":memory:".
        if not rest:
            raise ValueError(f"no file path in state store URL {url!r}")
        return SQLiteStore(rest, clock=clock)
    if scheme in {"redis", "rediss", "unix"}:
        return RedisStore(url, clock=clock)
    if scheme == "redis+unix":  # the spelling some tools use; redis-py calls it unix://
        return RedisStore("unix://" + rest, clock=clock)
    raise ValueError(
        f"unsupported state store URL {url!r}: expected memory://, sqlite:///path or redis://"
    )
