"""The state store: both backends, the lock, and the single-flight token cache."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from stacbridge.store import (
    LockTimeout,
    MemoryStore,
    RedisStore,
    SQLiteStore,
    Store,
    StoreClosedError,
    cached_token,
    invalidate,
    open_store,
    store_lock,
)
from stacbridge.store.base import prefix_upper_bound
from tests.redis_server import redis_url  # noqa: F401 - the session fixture

#: Redis expires keys on its own server clock, which a test's fake clock cannot move.
NEEDS_FAKE_EXPIRY = pytest.mark.fake_clock_expiry


class FakeClock:
    """A settable wall clock, so expiry is tested without sleeping."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Store]:
    s: Store
    if request.param == "memory":
        s = MemoryStore(clock=clock)
    elif request.param == "sqlite":
        s = SQLiteStore(tmp_path / "state.sqlite", clock=clock)
    else:
        if request.node.get_closest_marker("fake_clock_expiry"):
            pytest.skip(
                "Redis expires keys on the server's real clock; a fake clock cannot "
                "advance it (real-time expiry is tested in test_redis_real_expiry)"
            )
        url = request.getfixturevalue("redis_url")
        # the fake clock still drives the helpers' envelopes (cached_token), as on the others
        s = RedisStore(url, clock=clock)
        await s._redis().flushdb()
    yield s
    await s.aclose()


def counting_fetch(
    clock: FakeClock, lifetime: float = 3600.0, delay: float = 0.0
) -> tuple[Callable[[], Awaitable[tuple[bytes, float]]], list[bytes]]:
    """A fetch that returns token-1, token-2, ... and records each call."""
    calls: list[bytes] = []

    async def fetch() -> tuple[bytes, float]:
        await asyncio.sleep(delay)
        token = f"token-{len(calls) + 1}".encode()
        calls.append(token)
        return token, clock() + lifetime

    return fetch, calls


# -- the Store contract, on every backend ----------------------------------------------------


async def test_get_set_delete(store: Store) -> None:
    assert isinstance(store, Store)
    assert await store.get("k") is None
    await store.set("k", b"v1")
    assert await store.get("k") == b"v1"
    await store.set("k", b"v2")
    assert await store.get("k") == b"v2"
    await store.delete("k")
    assert await store.get("k") is None
    await store.delete("k")  # deleting an absent key is fine
    await store.set("bin", bytes(range(256)))
    assert await store.get("bin") == bytes(range(256))
    with pytest.raises(TypeError):
        await store.set("s", "not bytes")  # type: ignore[arg-type]


@NEEDS_FAKE_EXPIRY
async def test_ttl_expiry(store: Store, clock: FakeClock) -> None:
    await store.set("short", b"x", ttl=10)
    await store.set("forever", b"y")
    clock.advance(9.999)
    assert await store.get("short") == b"x"
    clock.advance(0.001)  # expiry is exclusive: at the expiry instant it is gone
    assert await store.get("short") is None
    assert await store.scan("short") == []
    clock.advance(10**9)
    assert await store.get("forever") == b"y"
    # set() replaces the expiry too
    await store.set("k", b"1", ttl=5)
    await store.set("k", b"2")
    clock.advance(100)
    assert await store.get("k") == b"2"


@NEEDS_FAKE_EXPIRY
async def test_add_is_set_if_absent(store: Store, clock: FakeClock) -> None:
    assert await store.add("lock", b"a", ttl=30)
    assert not await store.add("lock", b"b", ttl=30)
    assert await store.get("lock") == b"a"
    clock.advance(30)
    assert await store.add("lock", b"c", ttl=30)  # expired entries can be re-added
    assert await store.get("lock") == b"c"
    await store.delete("lock")
    assert await store.add("lock", b"d")
    assert not await store.add("lock", b"e")


async def test_add_concurrent_exactly_one_wins(store: Store) -> None:
    results = await asyncio.gather(*(store.add("k", str(i).encode(), 30) for i in range(50)))
    assert results.count(True) == 1
    winner = results.index(True)
    assert await store.get("k") == str(winner).encode()


@NEEDS_FAKE_EXPIRY
async def test_delete_if(store: Store, clock: FakeClock) -> None:
    await store.set("k", b"mine", ttl=10)
    assert not await store.delete_if("k", b"theirs")
    assert await store.get("k") == b"mine"
    assert await store.delete_if("k", b"mine")
    assert await store.get("k") is None
    assert not await store.delete_if("k", b"mine")
    await store.set("k", b"mine", ttl=10)
    clock.advance(10)
    assert not await store.delete_if("k", b"mine")  # expired = invisible


@NEEDS_FAKE_EXPIRY
async def test_scan_by_prefix(store: Store, clock: FakeClock) -> None:
    await store.set("order:m2m:2", b"b")
    await store.set("order:m2m:1", b"a")
    await store.set("order:appeears:9", b"c", ttl=5)
    await store.set("order;", b"not a match")  # ';' sorts right after ':'
    await store.set("orders", b"not a match")
    await store.set("token:edl", b"t")
    assert await store.scan("order:m2m:") == [("order:m2m:1", b"a"), ("order:m2m:2", b"b")]
    assert [k for k, _ in await store.scan("order:")] == [
        "order:appeears:9",
        "order:m2m:1",
        "order:m2m:2",
    ]
    clock.advance(5)
    assert [k for k, _ in await store.scan("order:")] == ["order:m2m:1", "order:m2m:2"]
    assert len(await store.scan("")) == 5
    await store.set("\U0010ffff\U0010ffffx", b"edge")
    assert await store.scan("\U0010ffff") == [("\U0010ffff\U0010ffffx", b"edge")]
    assert await store.scan("nothing") == []


async def test_closed_store_refuses(tmp_path: Path) -> None:
    for s in (MemoryStore(), SQLiteStore(tmp_path / "c.sqlite")):
        await s.aclose()
        await s.aclose()  # idempotent
        with pytest.raises(StoreClosedError):
            await s.get("k")


def test_prefix_upper_bound() -> None:
    assert prefix_upper_bound("order:") == "order;"
    assert prefix_upper_bound("") is None
    assert prefix_upper_bound("a\U0010ffff") == "b"
    assert prefix_upper_bound("\ud7ff") == "\ue000"
    assert prefix_upper_bound("\U0010ffff") is None


# -- SQLite specifics ------------------------------------------------------------------------


async def test_sqlite_survives_restart(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "sub" / "dir" / "state.sqlite"  # parent directories are created
    first = SQLiteStore(path, clock=clock)
    await first.set("order:m2m:1", b'{"status": "preparing"}')
    await first.set("token:edl", b"t", ttl=60)
    await first.aclose()

    second = SQLiteStore(path, clock=clock)  # "restart"
    try:
        assert await second.scan("order:") == [("order:m2m:1", b'{"status": "preparing"}')]
        assert await second.get("token:edl") == b"t"
        clock.advance(60)
        assert await second.get("token:edl") is None
    finally:
        await second.aclose()


async def test_sqlite_two_instances_share_one_file(tmp_path: Path, clock: FakeClock) -> None:
    a = SQLiteStore(tmp_path / "s.sqlite", clock=clock)
    b = SQLiteStore(tmp_path / "s.sqlite", clock=clock)
    try:
        assert await a.add("lock:x", b"a", ttl=5)
        assert not await b.add("lock:x", b"b", ttl=5)
        assert not await b.delete_if("lock:x", b"b")
        assert await b.get("lock:x") == b"a"
        clock.advance(5)
        assert await b.add("lock:x", b"b", ttl=5)
        assert not await a.delete_if("lock:x", b"a")  # a's lease expired; b's is safe
        assert await a.get("lock:x") == b"b"
    finally:
        await a.aclose()
        await b.aclose()


async def test_sqlite_purges_expired_rows(tmp_path: Path, clock: FakeClock) -> None:
    import sqlite3

    path = tmp_path / "p.sqlite"
    s = SQLiteStore(path, clock=clock, purge_interval=60)
    try:
        await s.set("old", b"x", ttl=1)
        clock.advance(61)
        await s.set("new", b"y")  # this write is due for a purge
        with sqlite3.connect(path) as conn:
            keys = [k for (k,) in conn.execute("SELECT key FROM kv")]
        assert keys == ["new"]
    finally:
        await s.aclose()


async def test_open_store(tmp_path: Path) -> None:
    mem = open_store("memory://")
    assert isinstance(mem, MemoryStore)
    await mem.aclose()
    for url in (f"sqlite://{tmp_path}/a.sqlite", str(tmp_path / "b.sqlite"), tmp_path / "c.db"):
        s = open_store(url)
        assert isinstance(s, SQLiteStore)
        await s.set("k", b"v")
        await s.aclose()
    assert (tmp_path / "a.sqlite").exists()
    assert (tmp_path / "b.sqlite").exists()
    redis = open_store("redis://localhost:6379/0")  # lazy: no connection until first use
    assert isinstance(redis, RedisStore)
    assert "localhost" not in repr(redis)  # the URL may carry a password
    await redis.aclose()
    unix = open_store("redis+unix:///run/redis.sock")
    assert isinstance(unix, RedisStore) and unix.url == "unix:///run/redis.sock"
    await unix.aclose()
    with pytest.raises(ValueError):
        open_store("postgres://db/x")


# -- store_lock ------------------------------------------------------------------------------


async def test_store_lock_mutual_exclusion(store: Store) -> None:
    inside = 0
    peak = 0

    async def worker() -> None:
        nonlocal inside, peak
        async with store_lock(store, "job", poll=0.001):
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(worker() for _ in range(10)))
    assert peak == 1
    assert await store.get("lock:job") is None  # released


@NEEDS_FAKE_EXPIRY
async def test_store_lock_expires_and_only_owner_releases(store: Store, clock: FakeClock) -> None:
    await store.add("lock:job", b"crashed-holder", ttl=30)
    with pytest.raises(LockTimeout):
        async with store_lock(store, "job", poll=0.001, timeout=0.01):
            pass
    clock.advance(30)  # the crashed holder's lease runs out
    async with store_lock(store, "job", ttl=30) as owner:
        assert await store.get("lock:job") == owner
        clock.advance(30)  # we overran our own lease and someone else took it
        assert await store.add("lock:job", b"next-holder", ttl=30)
    assert await store.get("lock:job") == b"next-holder"  # our release left it alone


# -- cached_token ----------------------------------------------------------------------------


async def test_cached_token_single_flight(store: Store, clock: FakeClock) -> None:
    fetch, calls = counting_fetch(clock, lifetime=3600, delay=0.01)
    results = await asyncio.gather(*(cached_token(store, "token:edl", fetch) for _ in range(50)))
    assert calls == [b"token-1"]
    assert set(results) == {b"token-1"}
    assert await cached_token(store, "token:edl", fetch) == b"token-1"

    clock.advance(3600)  # expired
    results = await asyncio.gather(*(cached_token(store, "token:edl", fetch) for _ in range(50)))
    assert calls == [b"token-1", b"token-2"]
    assert set(results) == {b"token-2"}
    assert await store.get("lock:cached_token:token:edl") is None


async def test_cached_token_refresh_margin(store: Store, clock: FakeClock) -> None:
    fetch, calls = counting_fetch(clock, lifetime=3600)
    assert await cached_token(store, "token:m2m", fetch, refresh_margin=60) == b"token-1"
    clock.advance(3540)  # 60 s left: not *more* than the margin
    assert await cached_token(store, "token:m2m", fetch, refresh_margin=59) == b"token-1"
    assert await cached_token(store, "token:m2m", fetch, refresh_margin=60) == b"token-2"
    assert len(calls) == 2


async def test_cached_token_short_lived_tokens_are_reused(store: Store, clock: FakeClock) -> None:
    # 30 s tokens with a 60 s margin: the margin is capped at half the lifetime.
    fetch, calls = counting_fetch(clock, lifetime=30)
    assert await cached_token(store, "token:oidc", fetch) == b"token-1"
    clock.advance(14)
    assert await cached_token(store, "token:oidc", fetch) == b"token-1"
    clock.advance(1)
    assert await cached_token(store, "token:oidc", fetch) == b"token-2"
    assert len(calls) == 2


async def test_cached_token_fetch_error_is_shared(store: Store, clock: FakeClock) -> None:
    attempts = 0

    async def failing() -> tuple[bytes, float]:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0.01)
        raise RuntimeError("login refused")

    results = await asyncio.gather(
        *(cached_token(store, "token:x", failing) for _ in range(20)), return_exceptions=True
    )
    assert attempts == 1
    assert all(isinstance(r, RuntimeError) for r in results)
    fetch, _ = counting_fetch(clock)
    assert await cached_token(store, "token:x", fetch) == b"token-1"  # next call retries


async def test_cached_token_waiter_cancel_does_not_abort_login(
    store: Store, clock: FakeClock
) -> None:
    fetch, calls = counting_fetch(clock, delay=0.01)
    doomed = asyncio.ensure_future(cached_token(store, "token:y", fetch))
    survivor = asyncio.ensure_future(cached_token(store, "token:y", fetch))
    await asyncio.sleep(0)
    doomed.cancel()
    assert await survivor == b"token-1"
    assert calls == [b"token-1"]
    assert doomed.cancelled()


async def test_invalidate_only_the_rejected_token(store: Store, clock: FakeClock) -> None:
    fetch, calls = counting_fetch(clock)
    old = await cached_token(store, "token:a", fetch)
    assert await invalidate(store, "token:a", old)  # upstream said 401
    new = await cached_token(store, "token:a", fetch)
    assert new == b"token-2"
    # Late 401s for requests that were sent with the old token must not drop the new one.
    assert not await invalidate(store, "token:a", old)
    assert await cached_token(store, "token:a", fetch) == new
    assert len(calls) == 2
    assert not await invalidate(store, "token:absent", b"whatever")


# -- cross-process single flight (SQLite) ----------------------------------------------------


def _child_cached_token(
    db: str, counter: str, barrier: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue
) -> None:
    """One gateway worker: 20 concurrent requests that all need the token."""

    async def fetch() -> tuple[bytes, float]:
        with open(counter, "a") as f:  # O_APPEND: one line per fetch, whichever process
            f.write(f"{os.getpid()}\n")
        await asyncio.sleep(0.02)  # widen the window for a second login to sneak in
        return f"token-from-{os.getpid()}".encode(), 2**31

    async def main() -> list[bytes]:
        store = SQLiteStore(db)
        try:
            barrier.wait()
            return await asyncio.gather(
                *(cached_token(store, "token:edl", fetch, lock_ttl=10) for _ in range(20))
            )
        finally:
            await store.aclose()

    out.put(asyncio.run(main()))


def assert_one_login_across_processes(child: Any, store_arg: str, tmp_path: Path) -> None:
    """Three processes, 20 concurrent `cached_token` calls each, on one shared store:
    exactly one fetch overall, and every caller got that fetch's token."""
    counter = tmp_path / "fetches.txt"
    counter.touch()
    ctx = multiprocessing.get_context("spawn")
    n = 3
    barrier = ctx.Barrier(n)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=child, args=(store_arg, str(counter), barrier, out)) for _ in range(n)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    fetchers = counter.read_text().split()
    assert len(fetchers) == 1, f"expected one login overall, got {fetchers}"
    assert {t for r in results for t in r} == {f"token-from-{fetchers[0]}".encode()}
    assert sum(len(r) for r in results) == 20 * n


def test_cached_token_single_flight_across_processes(tmp_path: Path) -> None:
    assert_one_login_across_processes(
        _child_cached_token, str(tmp_path / "shared.sqlite"), tmp_path
    )


# -- Redis specifics -------------------------------------------------------------------------


async def test_redis_real_expiry(redis_url: str) -> None:  # noqa: F811 - fixture
    """What the fake-clock tests check on memory/SQLite, on Redis's own clock (short TTLs)."""
    async with RedisStore(redis_url, key_prefix="exp:") as s:
        await s.set("short", b"x", ttl=0.15)
        await s.set("forever", b"y")
        assert await s.add("lock", b"a", ttl=0.15)
        assert not await s.add("lock", b"b", ttl=0.15)
        await s.set("gone", b"z", ttl=0)  # already expired: invisible at once
        assert await s.get("gone") is None
        assert await s.add("gone", b"w", ttl=0)  # and absent keys "win" an expired add
        assert await s.get("short") == b"x"
        await asyncio.sleep(0.3)
        assert await s.get("short") is None
        assert await s.scan("short") == []
        assert not await s.delete_if("lock", b"a")  # expired = invisible
        assert await s.add("lock", b"c", ttl=30)  # expired entries can be re-added
        assert await s.get("forever") == b"y"


async def test_redis_scan_escapes_glob_characters_and_prefix_isolates(
    redis_url: str,  # noqa: F811 - fixture
) -> None:
    async with (
        RedisStore(redis_url, key_prefix="a:") as a,
        RedisStore(redis_url, key_prefix="b:") as b,
    ):
        await a.set("order:[m2m]*:1", b"1")
        await a.set("order:xm2m]*:2", b"2")  # would match if '[' were a glob class
        await a.set("order:?\\", b"3")
        await b.set("order:[m2m]*:9", b"other deployment")
        assert await a.scan("order:[m2m]*") == [("order:[m2m]*:1", b"1")]
        assert await a.scan("order:?\\") == [("order:?\\", b"3")]
        assert [k for k, _ in await b.scan("")] == ["order:[m2m]*:9"]


async def test_redis_delete_if_is_atomic(redis_url: str) -> None:  # noqa: F811 - fixture
    """50 concurrent owners release the same lease: the Lua script lets exactly one win."""
    async with RedisStore(redis_url, key_prefix="cas:") as s:
        await s.set("lease", b"owner")
        results = await asyncio.gather(*(s.delete_if("lease", b"owner") for _ in range(50)))
        assert results.count(True) == 1
        await s.set("lease", b"someone-else")
        assert not await s.delete_if("lease", b"owner")
        assert await s.get("lease") == b"someone-else"


async def test_redis_closed_store_refuses(redis_url: str) -> None:  # noqa: F811 - fixture
    s = RedisStore(redis_url)
    await s.set("k", b"v")
    await s.aclose()
    await s.aclose()
    with pytest.raises(StoreClosedError):
        await s.get("k")


def _child_cached_token_redis(
    url: str, counter: str, barrier: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue
) -> None:
    async def fetch() -> tuple[bytes, float]:
        with open(counter, "a") as f:
            f.write(f"{os.getpid()}\n")
        await asyncio.sleep(0.02)
        return f"token-from-{os.getpid()}".encode(), 2**31

    async def main() -> list[bytes]:
        async with RedisStore(url, key_prefix="mp:") as store:
            barrier.wait()
            return await asyncio.gather(
                *(cached_token(store, "token:edl", fetch, lock_ttl=10) for _ in range(20))
            )

    out.put(asyncio.run(main()))


def test_cached_token_single_flight_across_processes_on_redis(
    tmp_path: Path,
    redis_url: str,  # noqa: F811 - fixture
) -> None:
    assert_one_login_across_processes(_child_cached_token_redis, redis_url, tmp_path)
