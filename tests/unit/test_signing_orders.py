"""Signed tokens (rotation, purpose binding, expiry) and the order book's single poll loop."""

from __future__ import annotations

import asyncio

import pytest

from stacbridge.assets.orders import PENDING, READY, Order, OrderBook
from stacbridge.signing import ExpiredToken, InvalidToken, Signer
from stacbridge.store import MemoryStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_tokens_round_trip_and_rotate():
    old = Signer(["old"])
    token = old.sign("page", {"c": [1, 2]})
    rotated = Signer(["new", "old"])
    assert rotated.verify("page", token) == {"c": [1, 2]}
    assert Signer(["new"]).sign("page", 1) != old.sign("page", 1)
    with pytest.raises(InvalidToken):
        Signer(["new"]).verify("page", token)


def test_tokens_are_bound_to_their_purpose_and_resist_tampering():
    signer = Signer(["k"])
    token = signer.sign("asset", ["cmr", "https://x/y"])
    with pytest.raises(InvalidToken):
        signer.verify("page", token)
    body, mac = token.split(".")
    with pytest.raises(InvalidToken):
        signer.verify("asset", body[:-2] + "xx." + mac)
    with pytest.raises(InvalidToken):
        signer.verify("asset", "not-a-token")


def test_tokens_expire():
    clock = Clock()
    signer = Signer(["k"], clock=clock)
    token = signer.sign("asset", "ref", ttl=60)
    assert signer.verify("asset", token) == "ref"
    clock.now += 61
    with pytest.raises(ExpiredToken):
        signer.verify("asset", token)


async def test_one_poll_loop_per_order_however_many_waiters():
    store = MemoryStore()
    polls = 0

    async def poll(order: Order) -> Order:
        nonlocal polls
        polls += 1
        if polls == 3:
            order.ready({"": "https://signed/url"})
        return order

    book = OrderBook(store, "test", poll, interval=0.001, max_interval=0.002)
    await book.put(Order(id="o1", provider="test", ref="r"))
    for _ in range(50):
        book.ensure_polling("o1")
    for _ in range(200):
        order = await book.get("o1")
        if order.status == READY:
            break
        await asyncio.sleep(0.005)
    assert order.status == READY and order.url == "https://signed/url"
    assert polls == 3
    assert order.polls == 3
    await book.aclose()


async def test_pending_orders_resume_after_a_restart():
    store = MemoryStore()

    async def never(order: Order) -> Order:
        return order

    first = OrderBook(store, "test", never, interval=10)
    await first.put(Order(id="a", provider="test", ref="r1"))
    await first.put(Order(id="b", provider="test", ref="r2", status=READY))
    await first.aclose()

    seen: list[str] = []

    async def finish(order: Order) -> Order:
        seen.append(order.id)
        order.status = READY
        return order

    second = OrderBook(store, "test", finish, interval=0.001)
    assert await second.resume() == 1
    for _ in range(100):
        if (await second.get("a")).status == READY:
            break
        await asyncio.sleep(0.005)
    assert seen == ["a"]
    assert (await second.get("a")).status == READY
    assert (await second.get("b")).status == READY
    await second.aclose()


async def test_a_second_worker_does_not_poll_an_order_another_holds():
    store = MemoryStore()
    calls = {"a": 0, "b": 0}

    def poller(name: str):
        async def poll(order: Order) -> Order:
            calls[name] += 1
            return order

        return poll

    # the lease lasts 3 × max_interval: long enough that a busy CI never lets it lapse
    worker_a = OrderBook(store, "test", poller("a"), interval=0.001, max_interval=1.0)
    worker_b = OrderBook(store, "test", poller("b"), interval=0.001, max_interval=1.0)
    await worker_a.put(Order(id="x", provider="test", ref="r"))
    worker_a.ensure_polling("x")
    await asyncio.sleep(0.02)
    worker_b.ensure_polling("x")
    await asyncio.sleep(0.05)
    assert calls["a"] > 0
    assert calls["b"] == 0
    assert (await worker_a.get("x")).status == PENDING
    await worker_a.aclose()
    await worker_b.aclose()


def test_junk_after_a_token_does_not_verify_and_rounded_expiry_gives_stable_tokens():
    clock = Clock()
    signer = Signer(["k"], clock=clock)
    token = signer.sign("asset", "ref", ttl=600, granularity=3600)
    with pytest.raises(InvalidToken):
        signer.verify("asset", token + "$$")
    clock.now += 5
    assert signer.sign("asset", "ref", ttl=600, granularity=3600) == token


async def test_a_dead_workers_lease_is_taken_over_once_the_short_lease_lapses():
    """kill -9 leaves the lease behind: another worker polls once `lease_ttl` has passed."""
    clock = Clock()
    store = MemoryStore(clock=clock)
    polled: list[str] = []

    def poller(name: str):
        async def poll(order: Order) -> Order:
            polled.append(name)
            return order

        return poll

    # a long poll interval, as in production: the lease must not last as long as it
    dead = OrderBook(store, "test", poller("dead"), interval=60.0, max_interval=60.0)
    await dead.put(Order(id="x", provider="test", ref="r"))
    dead.ensure_polling("x")
    for _ in range(50):
        if polled:
            break
        await asyncio.sleep(0.001)
    assert polled == ["dead"]
    for task in dead._tasks.values():  # die without handing the lease back
        task.cancel()

    alive = OrderBook(store, "test", poller("alive"), interval=0.001, max_interval=0.002)
    clock.now += 5  # the lease is still held: the other worker waits
    alive.ensure_polling("x")
    await asyncio.sleep(0.02)
    assert polled == ["dead"]
    clock.now += 15  # past the 15 s lease, far short of 3 poll intervals
    for _ in range(200):
        if "alive" in polled:
            break
        await asyncio.sleep(0.002)
    assert "alive" in polled
    await alive.aclose()
