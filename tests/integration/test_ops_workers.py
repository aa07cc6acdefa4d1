"""Several gateway processes sharing Redis: one login for a burst, orders seen by every process.

The gateway runs as real `stacbridge serve` subprocesses (importing this worktree), wired to the
in-process sandbox by its `environment()` and to a throw-away redis-server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stacbridge.sandbox.server import free_port
from tests.redis_server import running_redis

ROOT = Path(__file__).resolve().parents[2]
HLS_ITEM_PATH = "/collections/HLSL30.v2.0/items/HLS.L30.T15UXP.2024042T165831.v2.0"
L2 = "landsat_ot_c2_l2"


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory) -> Iterator[str]:
    with running_redis(tmp_path_factory.mktemp("redis-workers")) as url:
        yield url


def gateway_env(sandbox, redis_url: str, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STACBRIDGE_", "PROMETHEUS_MULTIPROC_DIR"))
    }
    env.update(sandbox.environment())
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "STACBRIDGE_STORE_URL": redis_url,
            "STACBRIDGE_SECRET_KEYS": json.dumps(["shared-worker-key"]),
            "STACBRIDGE_M2M__POLL_INTERVAL": "0.3",
            "STACBRIDGE_M2M__MAX_POLL_INTERVAL": "1.0",
        }
    )
    env.update(extra)
    return env


def wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"gateway did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


@contextlib.contextmanager
def serve(env: dict[str, str], log: Path, workers: int = 1) -> Iterator[str]:
    """`stacbridge serve --workers N` as a subprocess; yields its URL."""
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "stacbridge.cli",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=log.parent,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def access_lines(log: Path) -> list[dict]:
    out = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("logger") == "stacbridge.access":
                out.append(entry)
    return out


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


def test_two_workers_on_redis_log_in_once_for_a_burst(sandbox, redis_url, tmp_path):
    ed = sandbox.earthdata
    log = tmp_path / "gateway.log"
    with serve(gateway_env(sandbox, redis_url), log, workers=2) as gateway:
        item = httpx.get(f"{gateway}{HLS_ITEM_PATH}", timeout=60)
        assert item.status_code == 200, item.text
        href = item.json()["assets"]["B03"]["href"]
        assert httpx.get(href, timeout=60).status_code == 307  # a session exists now

        async def burst() -> list[int]:
            limits = httpx.Limits(max_connections=50, max_keepalive_connections=0)
            async with httpx.AsyncClient(timeout=60, limits=limits) as client:
                responses = await asyncio.gather(*(client.get(href) for _ in range(50)))
            return [r.status_code for r in responses]

        # the kernel decides which worker accepts each connection: a burst that one worker
        # happened to serve alone proves nothing across workers, so it is tried again (a new
        # upstream expiry each time), at most five times
        bursts, pids = 0, set()
        while bursts < 5:
            bursts += 1
            httpx.post(f"{ed.edl.url}/_sandbox/reset", timeout=10)
            ed.clock.advance(sandbox.token_ttl + 60)  # every EDL session has expired upstream
            seen_before = len(access_lines(log))
            statuses = asyncio.run(burst())
            assert statuses == [307] * 50
            logins = httpx.get(f"{ed.edl.url}/_sandbox/stats", timeout=10).json()["logins"]
            assert logins == 1, f"{logins} logins across the workers"
            lines = [e for e in access_lines(log)[seen_before:] if e["route"].startswith("/assets")]
            assert len(lines) == 50
            pids = {e["pid"] for e in lines}
            if len(pids) == 2:
                break
        scrape = httpx.get(f"{gateway}/metrics", timeout=10).text
    assert len(pids) == 2, f"one worker served each of {bursts} bursts: {pids}"
    # multiprocess metrics: one scrape (from one worker) sums both workers' requests
    served = metric(
        scrape, "stacbridge_http_requests_total", route="/assets/{token}/{name}", status="307"
    )
    assert served == 1 + 50 * bursts, scrape


def a_preparing_bundle(gateway: str, since: str) -> tuple[dict, httpx.Response]:
    """A scene first seen after `since` whose bundle USGS must prepare, and the 202 its first
    GET answered (the order is placed by that GET)."""
    scenes = httpx.get(
        f"{gateway}/collections/{L2}/items",
        params={"limit": 12, "datetime": f"{since}/.."},
        timeout=60,
    ).json()["features"]
    for scene in scenes:
        first = httpx.get(scene["assets"]["bundle"]["href"], timeout=60)
        if first.status_code == 202:
            return scene, first
    pytest.fail("no preparing bundle among 12 scenes")


def test_an_order_placed_through_one_gateway_completes_for_a_client_of_another(
    sandbox, redis_url, tmp_path
):
    m2m = sandbox.m2m.url
    env = gateway_env(sandbox, redis_url)
    with serve(env, tmp_path / "a.log") as a, serve(env, tmp_path / "b.log") as b:
        scene, first = a_preparing_bundle(a, "2020-09-01T00:00:00Z")
        href = scene["assets"]["bundle"]["href"]
        assert href.startswith(a)
        on_b = b + href[len(a) :]  # the same signed href, asked of the other process
        deadline = time.monotonic() + 45
        while True:
            response = httpx.get(on_b, timeout=60)
            if response.status_code != 202 or time.monotonic() > deadline:
                break
            assert response.json()["order"]["id"] == first.json()["order"]["id"]
            time.sleep(0.3)
        assert response.status_code == 302, response.text
        assert "/download/" in response.headers["location"]
    requests = [
        r
        for r in httpx.get(f"{m2m}/_sandbox/requests", timeout=10).json()
        if r.get("endpoint") == "download-request"
        and any(
            d.get("entityId") == scene["properties"]["landsat:scene_id"]
            for d in r["body"].get("downloads", [])
        )
    ]
    assert len(requests) == 1  # placed once, by the first process; the second only read it


def test_a_worker_killed_mid_order_is_replaced_by_another_within_the_lease(
    sandbox, redis_url, tmp_path
):
    """kill -9 leaves the poll lease behind: it must be short (it used to last three poll
    intervals, here 90 s) so that another process takes the order over soon."""
    import redis

    slow = gateway_env(
        sandbox,
        redis_url,
        STACBRIDGE_M2M__POLL_INTERVAL="30",
        STACBRIDGE_M2M__MAX_POLL_INTERVAL="30",
    )
    port = free_port()
    log = tmp_path / "doomed.log"
    with log.open("w") as out:
        doomed = subprocess.Popen(
            [sys.executable, "-m", "stacbridge.cli", "serve", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=slow,
            cwd=tmp_path,
        )
    a = f"http://127.0.0.1:{port}"
    lease = "lock:order-poll:m2m:"
    store = redis.Redis.from_url(redis_url)
    try:
        wait_ready(a, doomed, log)
        scene, first = a_preparing_bundle(a, "2020-11-01T00:00:00Z")
        href = scene["assets"]["bundle"]["href"]
        lease += first.json()["order"]["id"]
        for _ in range(100):  # the doomed process's loop polls once, then holds the lease
            if store.exists(lease):
                break
            time.sleep(0.1)
    finally:
        doomed.kill()  # SIGKILL: no clean hand-back of the lease
        doomed.wait()
    remaining = store.pttl(lease)
    assert 0 < remaining <= 15_000, f"a dead worker's lease lasts {remaining} ms"
    with serve(gateway_env(sandbox, redis_url), tmp_path / "heir.log") as b:
        on_b = b + href[len(a) :]
        for _ in range(120):  # bounded: the heir polls once the lease lapses
            response = httpx.get(on_b, timeout=60)
            if response.status_code != 202:
                break
            time.sleep(0.5)
    assert response.status_code == 302, response.text
