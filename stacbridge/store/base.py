"""The `Store` interface: the only place the gateway keeps state.

Everything that must outlive one request goes through this small key/value interface: upstream
tokens and sessions (with their expiry), orders that must survive a restart, paging cursors and
short-lived caches.  Keeping the surface this small (get/set/add/delete/delete_if/scan) is what
lets the same code run on an in-memory dict in tests, on an embedded SQLite file shared by the
workers of one host, and later on Redis for several hosts: every operation maps onto a single
atomic primitive of each backend.

Conventions
-----------
* Keys are ``str``, values are ``bytes``: callers choose the encoding (JSON, msgpack, ...).
* Keys are namespaced with a ``kind:`` prefix so `Store.scan` can list one kind cheaply:
  ``token:<provider>:...``, ``order:<provider>:<id>``, ``cache:...``, ``lock:<name>``.
* ``ttl`` is relative, in seconds of the store's clock.  ``None`` means "never expires".  An entry
  whose expiry is ``<= clock()`` is *invisible*: `get` returns ``None``, `scan` skips it and `add`
  treats the key as absent.  Backends purge expired entries lazily; nothing may rely on the purge.
* Every backend takes an injectable ``clock`` (default `time.time`, wall-clock seconds, so
  absolute expiry times are meaningful across processes) and exposes it as ``store.clock``; the
  helpers built on top (`store_lock`, `cached_token`) read time only through it, so tests can
  advance time without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

Clock = Callable[[], float]


@runtime_checkable
class Store(Protocol):
    """Async key/value store with per-key expiry and atomic set-if-absent / compare-and-delete."""

    clock: Clock
    """The time source (seconds) used for expiry; `store_lock`/`cached_token` use it too."""

    async def get(self, key: str) -> bytes | None:
        """The value of ``key``, or ``None`` when absent or expired."""
        ...

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value`` unconditionally, replacing any previous value and expiry."""
        ...

    async def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Atomically store ``value`` only if ``key`` is absent or expired.

        Returns ``True`` when this call stored the value.  This is the primitive locks are built
        on, so it must be atomic across every process sharing the backend.
        """
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key`` (no error if absent)."""
        ...

    async def delete_if(self, key: str, value: bytes) -> bool:
        """Atomically remove ``key`` only if its current (unexpired) value equals ``value``.

        Returns ``True`` if it removed the entry.  Used to release a lock only by its owner and
        to invalidate a token only if nobody has replaced it yet.  (Redis: a three-line Lua
        script; SQLite: ``DELETE ... WHERE key = ? AND value = ?``.)
        """
        ...

    async def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        """All unexpired ``(key, value)`` pairs whose key starts with ``prefix``, sorted by key.

        Meant for small namespaces (e.g. listing pending orders at start-up), not for caches.
        """
        ...

    async def aclose(self) -> None:
        """Release resources.  Idempotent; the store must not be used afterwards."""
        ...


class ClosesOnExit:
    """`async with store:` closes the store on the way out; shared by the three backends."""

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class StoreClosedError(RuntimeError):
    """Raised when a store is used after `Store.aclose`."""


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``, if one exists.

    Lets backends turn a prefix scan into an index range ``prefix <= key < bound``.  UTF-8 byte
    order equals code-point order, so bumping the last code point that can be bumped works for
    SQLite's BINARY collation as well as for Python string comparison.  Returns ``None`` when no
    bound exists (empty prefix, or only U+10FFFF characters): scan to the end instead.
    """
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        nxt = last + 1
        if 0xD800 <= nxt <= 0xDFFF:  # surrogates are not encodable; skip the whole block
            nxt = 0xE000
        if nxt <= 0x10FFFF:
            return "".join(chars) + chr(nxt)
    return None


def as_bytes(value: bytes | bytearray | memoryview) -> bytes:
    """Normalise a value to immutable ``bytes``; refuse ``str`` so encodings stay explicit."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"store values must be bytes, not {type(value).__name__}")
