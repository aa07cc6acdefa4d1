"""In-memory `Store`: a dict with expiry, for tests and single-process deployments.

Atomicity comes for free: no method awaits anything, so each one runs to completion on the event
loop without interleaving.  State is lost on restart and is not shared between worker processes,
so with ``--workers N`` use the SQLite (or, later, Redis) backend instead.
"""

from __future__ import annotations

import time

from .base import Clock, ClosesOnExit, StoreClosedError, as_bytes

_PURGE_EVERY = 256  # writes between opportunistic sweeps of expired entries


class MemoryStore(ClosesOnExit):
    """A `Store` backed by a dict of ``key -> (value, expires_at | None)``."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self.clock: Clock = clock
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._writes = 0
        self._closed = False

    def __repr__(self) -> str:
        return f"MemoryStore({len(self._data)} entries)"

    # -- helpers -----------------------------------------------------------------------------

    def _check(self) -> None:
        if self._closed:
            raise StoreClosedError("MemoryStore is closed")

    def _live(self, key: str, now: float) -> tuple[bytes, float | None] | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        expires = entry[1]
        if expires is not None and expires <= now:
            del self._data[key]
            return None
        return entry

    def _expiry(self, ttl: float | None, now: float) -> float | None:
        return None if ttl is None else now + ttl

    def _wrote(self, now: float) -> None:
        # Expired entries are already invisible; the sweep only bounds memory for keys that are
        # written once and never read again (e.g. per-request cache entries).
        self._writes += 1
        if self._writes >= _PURGE_EVERY:
            self._writes = 0
            dead = [k for k, (_, exp) in self._data.items() if exp is not None and exp <= now]
            for k in dead:
                del self._data[k]

    # -- Store -------------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        self._check()
        entry = self._live(key, self.clock())
        return None if entry is None else entry[0]

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._check()
        now = self.clock()
        self._data[key] = (as_bytes(value), self._expiry(ttl, now))
        self._wrote(now)

    async def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        self._check()
        now = self.clock()
        if self._live(key, now) is not None:
            return False
        self._data[key] = (as_bytes(value), self._expiry(ttl, now))
        self._wrote(now)
        return True

    async def delete(self, key: str) -> None:
        self._check()
        self._data.pop(key, None)

    async def delete_if(self, key: str, value: bytes) -> bool:
        self._check()
        entry = self._live(key, self.clock())
        if entry is None or entry[0] != as_bytes(value):
            return False
        del self._data[key]
        return True

    async def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        self._check()
        now = self.clock()
        return sorted(
            (k, v)
            for k, (v, exp) in self._data.items()
            if k.startswith(prefix) and (exp is None or exp > now)
        )

    async def aclose(self) -> None:
        self._closed = True
        self._data.clear()
