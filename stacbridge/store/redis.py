"""`Store` on Redis: the backend when several hosts (or containers) serve one deployment.

Why it is built this way:

* **One Redis command per operation**, so each is atomic across every process and host that
  shares the server: `set` is ``SET key value [PX ms]``, `add` is ``SET ... NX PX``, `delete`
  is ``DEL``.  `delete_if` (compare-and-delete) has no single command, so it is a three-line
  Lua script, which Redis runs without interleaving any other client's command.
* **Expiry is Redis's own** (``PX``, millisecond precision), measured on the Redis server's
  clock.  ``store.clock`` is still exposed and still used by the helpers on top (the absolute
  expiry inside `cached_token`'s envelope, lock deadlines): keep the hosts' clocks and the
  Redis server's in agreement with NTP, as with any shared wall clock.  A fake ``clock``
  passed in tests therefore moves the helpers' notion of time but not Redis's: a test that
  advances a fake clock to make a stored key expire cannot run against Redis.
* **Values are bytes in, bytes out** (``decode_responses=False``); keys are UTF-8 strings.
* `scan` uses ``SCAN MATCH <prefix>*`` (never ``KEYS``, which blocks the server) with the glob
  metacharacters of the prefix escaped, then one ``MGET``; keys that expire between the two
  are skipped.  As the protocol says, it is meant for small namespaces.
* An optional ``key_prefix`` lets several deployments share one Redis database.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from .base import Clock, ClosesOnExit, StoreClosedError, as_bytes

#: KEYS[1] is deleted only if it still holds ARGV[1]; returns the number of keys deleted.
_DELETE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def _ttl_ms(ttl: float) -> int:
    """Redis wants a positive integer of milliseconds; round up so nothing lives too short."""
    return max(1, int(ttl * 1000 + 0.999))


class RedisStore(ClosesOnExit):
    """A `Store` on a Redis server (``redis://``, ``rediss://`` or ``unix://`` URL).

    The connection pool is created lazily on first use, in the event loop that uses it (the
    asyncio client's connections belong to one loop), so the store can be built before the
    server's loop starts, as `create_app` does.  Used from another loop later (a second
    ``asyncio.run``), it opens a fresh pool there instead of failing on the old one's futures.
    """

    def __init__(
        self,
        url: str,
        *,
        clock: Clock = time.time,
        key_prefix: str = "",
        socket_timeout: float = 5.0,
        client: Any = None,
    ) -> None:
        if client is None:
            try:
                import redis.asyncio  # noqa: F401 - fail at start-up, not on the first request
            except ImportError as exc:
                raise RuntimeError(
                    "the Redis state store needs redis-py: pip install 'stacbridge[redis]'"
                ) from exc
        self.clock: Clock = clock
        self.url = url
        self.key_prefix = key_prefix
        self._socket_timeout = socket_timeout
        self._client = client
        self._loop: asyncio.AbstractEventLoop | None = None
        self._script: Any = None
        self._closed = False

    def __repr__(self) -> str:
        # never the URL: it may carry a password (redis://:secret@host)
        return f"RedisStore(prefix={self.key_prefix!r})"

    # -- helpers -----------------------------------------------------------------------------

    def _redis(self) -> Any:
        if self._closed:
            raise StoreClosedError(f"{self!r} is closed")
        loop = asyncio.get_running_loop()
        if self._client is not None and self._loop is not None and self._loop is not loop:
            self._client, self._script = None, None  # its connections died with their loop
        if self._client is None:
            from redis.asyncio import Redis

            self._loop = loop
            self._client = Redis.from_url(
                self.url,
                decode_responses=False,
                socket_timeout=self._socket_timeout,
                socket_connect_timeout=self._socket_timeout,
                health_check_interval=30,
            )
        return self._client

    def _k(self, key: str) -> str:
        return self.key_prefix + key

    # -- Store -------------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        value = await self._redis().get(self._k(key))
        return None if value is None else bytes(value)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        data = as_bytes(value)
        redis = self._redis()
        if ttl is None:
            await redis.set(self._k(key), data)
        elif ttl <= 0:  # already expired: invisible, like the other backends
            await redis.delete(self._k(key))
        else:
            await redis.set(self._k(key), data, px=_ttl_ms(ttl))

    async def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        data = as_bytes(value)
        redis = self._redis()
        if ttl is not None and ttl <= 0:
            # stored-and-expired at once: it "wins" only if nobody holds the key
            return not await redis.exists(self._k(key))
        px = None if ttl is None else _ttl_ms(ttl)
        return bool(await redis.set(self._k(key), data, nx=True, px=px))

    async def delete(self, key: str) -> None:
        await self._redis().delete(self._k(key))

    async def delete_if(self, key: str, value: bytes) -> bool:
        redis = self._redis()
        if self._script is None:
            self._script = redis.register_script(_DELETE_IF)
        return bool(await self._script(keys=[self._k(key)], args=[as_bytes(value)]))

    async def scan(self, prefix: str) -> list[tuple[str, bytes]]:
        redis = self._redis()
        pattern = _GLOB_SPECIAL.sub(r"\\\1", self._k(prefix)) + "*"
        keys = [k async for k in redis.scan_iter(match=pattern.encode(), count=500)]
        if not keys:
            return []
        values = await redis.mget(keys)
        cut = len(self.key_prefix.encode())
        found = [
            (k[cut:].decode(), bytes(v)) for k, v in zip(keys, values, strict=True) if v is not None
        ]
        return sorted(set(found))  # SCAN may return a key twice while the table rehashes

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        client, self._client = self._client, None
        if client is not None and self._loop in (None, asyncio.get_running_loop()):
            await client.aclose()
