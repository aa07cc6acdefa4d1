"""One M2M page through the gateway ÷ the same page fetched raw from the M2M emulator (≤ 1.5).

Both sides talk to the same emulator process; the gateway runs in a second process and this
script is the client.  The raw side is what the gateway itself asks M2M for per page: one
warm gateway page is made first and the emulator's request log (`/_sandbox/requests`) lists
its calls (today `scene-search` with `metadataType: full`, then `download-options` for the
page's entity ids).  The raw client replays those calls with the same JSON bodies, except
that it takes the `download-options` entity ids from the `scene-search` answer it has just
decoded, as any client must.  The bench then checks that the emulator logged the replay with
the same endpoints and bodies.

* raw search:        the page's `scene-search` alone (diagnostic)
* raw page:          every call the gateway made for the page, in order (the ratio's B)
* gateway:           GET /collections/landsat_ot_c2_l2/items?limit=LIMIT (the ratio's A)

Both sides are timed to the last byte of their last answer.  The raw client decodes each
answer it needs before its next call (the `scene-search` one, for the ids), as the gateway
does; it does not decode its last answer inside the timer, just as the gateway side does not
decode the gateway's page (both are checked after the timer).  The old B, which also decoded
the last answer with the standard library's json, is printed as a diagnostic.

Rounds alternate the order (A B C, C B A, ...); medians and the per-round spread.  Each round
also records the CPU seconds the gateway and the emulator processes spent (`/proc/<pid>/stat`),
steadier than wall time on a shared machine.  `--profile` cProfiles one gateway page in this
process (ASGI transport, upstream over real HTTP) and prints when each phase of it ended.

    python bench/m2m_page.py [--limit 1000] [--rounds 5] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from _harness import (
    alternate,
    banner,
    cpu_seconds,
    emit_result,
    fmt_ratio,
    fmt_s,
    gateway_env,
    gateway_process,
    m2m_api_key,
    median,
    now,
    print_profile,
    ratio_stats,
    sandbox_process,
    table,
)

GOAL = 1.5  # issue 13
WARMUP = 2
DATASET = "landsat_ot_c2_l2"


def m2m_log(client: httpx.Client, root: str, clear: bool = False) -> list[dict]:
    if clear:
        client.delete(f"{root}/_sandbox/requests")
        return []
    return [
        e
        for e in client.get(f"{root}/_sandbox/requests").json()
        if e.get("endpoint")
        and not e["path"].startswith("/_sandbox")
        and "_sandbox" not in e["endpoint"]
    ]


def measure(sandbox, gateway, limit: int, rounds: int) -> dict:
    env = sandbox.info["environment"]
    base = env["STACBRIDGE_M2M__URL"]
    root = "/".join(base.split("/")[:3])
    gw = gateway.info["url"]
    with httpx.Client(timeout=300) as client:
        headers = {"X-Auth-Token": m2m_api_key(client, env)}

        cpu: dict[str, list[float]] = {}

        def cpu_of(case: str, before: tuple[float, float]) -> None:
            after = (cpu_seconds(gateway.pid), cpu_seconds(sandbox.pid))
            cpu.setdefault(f"{case}: gateway CPU", []).append(after[0] - before[0])
            cpu.setdefault(f"{case}: emulator CPU", []).append(after[1] - before[1])

        def through_gateway() -> float:
            before = (cpu_seconds(gateway.pid), cpu_seconds(sandbox.pid))
            started = now()
            response = client.get(f"{gw}/collections/{DATASET}/items", params={"limit": str(limit)})
            elapsed = now() - started
            cpu_of("gateway", before)
            response.raise_for_status()
            if len(response.json()["features"]) != limit:
                raise RuntimeError("the gateway page is short")
            return elapsed

        for _ in range(WARMUP):
            through_gateway()
        m2m_log(client, root, clear=True)
        through_gateway()
        calls = [(e["endpoint"], e["body"]) for e in m2m_log(client, root)]
        if not calls or calls[0][0] != "scene-search":
            raise RuntimeError(f"unexpected M2M calls for one gateway page: {calls}")
        if any(endpoint.startswith("login") for endpoint, _ in calls):
            raise RuntimeError("the gateway logged in again during a warm page")

        decoded: list[float] = []

        def raw_page(only_search: bool = False) -> float:
            todo = calls[:1] if only_search else calls
            before = (cpu_seconds(gateway.pid), cpu_seconds(sandbox.pid))
            started = now()
            ids: list[str] = []
            taken = 0  # download-options calls take the scene-search's ids in order, in turn
            for n, (endpoint, body) in enumerate(todo):
                if endpoint == "download-options":
                    wanted = len(body["entityIds"])
                    body = {**body, "entityIds": ids[taken : taken + wanted]}
                    taken += wanted
                response = client.post(base + endpoint, json=body, headers=headers)
                if n == len(todo) - 1:
                    last_byte = now() - started
                answer = response.json()
                if answer.get("errorCode") or response.is_error:
                    raise RuntimeError(f"{endpoint}: {answer.get('errorCode')}")
                if endpoint == "scene-search":
                    ids = [r["entityId"] for r in answer["data"]["results"]]
            if not only_search:
                decoded.append(now() - started)
                cpu_of("raw page", before)
            return last_byte

        m2m_log(client, root, clear=True)
        raw_page()
        replayed = [(e["endpoint"], e["body"]) for e in m2m_log(client, root)]
        identical = replayed == calls
        samples = alternate(
            {
                "gateway": through_gateway,
                "raw page (gateway's calls)": raw_page,
                "raw scene-search only": lambda: raw_page(only_search=True),
            },
            rounds,
            warmup=1,
        )
    # the first `warmup` round's raw page is not in `samples`
    old_b = decoded[-rounds:]
    cpu = {k: v[-rounds:] for k, v in cpu.items()}
    page = ratio_stats(samples["gateway"], samples["raw page (gateway's calls)"])
    search = ratio_stats(samples["gateway"], samples["raw scene-search only"])
    old = ratio_stats(samples["gateway"], old_b)
    banner(
        f"{limit:,}-scene M2M page (median of {rounds} alternating rounds, after "
        f"{WARMUP} warm-up pages)"
    )
    print(
        table(
            [
                [k, fmt_s(median(v)), f"{min(v):.3f}–{max(v):.3f} s"]
                for k, v in [
                    *samples.items(),
                    ("raw page, last answer decoded too (old B)", old_b),
                    *cpu.items(),
                ]
            ],
            ["request", "time (median)", "rounds"],
        )
    )
    print(
        f"\nratio gateway ÷ raw page: {fmt_ratio(page)}  (goal ≤ {GOAL}: "
        f"{'ok' if page['ratio'] <= GOAL else 'NOT MET'}); ÷ raw scene-search alone: "
        f"{fmt_ratio(search)}; ÷ old B: {fmt_ratio(old)}"
    )
    print(
        f"raw page = the gateway's M2M calls {[c[0] for c in calls]}, same bodies; the "
        f"emulator logged the replay identically: {identical}"
    )
    return {
        "ratio": page["ratio"],
        "page": page,
        "search_only": search,
        "old_b": old,
        "cpu_s": {k: median(v) for k, v in cpu.items()},
        "calls": [c[0] for c in calls],
        "raw_is_gateway_request": identical,
    }


def profile(sandbox, limit: int) -> None:
    """cProfile one gateway page in this process, and when each of its phases ended."""
    import asyncio
    import cProfile

    os.environ.update(gateway_env(sandbox))
    from stacbridge.app import create_app
    from stacbridge.config import load_settings

    app = create_app(load_settings())
    url, params = f"/collections/{DATASET}/items", {"limit": str(limit)}
    m2m = httpx.Client(timeout=300)
    root = "/".join(sandbox.info["environment"]["STACBRIDGE_M2M__URL"].split("/")[:3])

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        # ASGITransport sends no lifespan events: start the providers here
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=300) as c,
        ):
            for _ in range(WARMUP):
                (await c.get(url, params=params)).raise_for_status()
            for _ in range(3):
                m2m_log(m2m, root, clear=True)
                started, cpu0 = now(), time.process_time()
                (await c.get(url, params=params)).raise_for_status()
                elapsed, cpu1 = now() - started, time.process_time() - cpu0
                calls = [e["endpoint"] for e in m2m_log(m2m, root)]
                print(f"in-process page: {elapsed:.3f} s, {cpu1:.3f} s CPU; M2M calls {calls}")
            profiler = cProfile.Profile()
            started = now()
            profiler.enable()
            (await c.get(url, params=params)).raise_for_status()
            profiler.disable()
            print_profile(profiler, now() - started, f"one {limit:,}-scene M2M page", top=25)

    asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--profile", action="store_true", help="also cProfile one gateway page (in-process)"
    )
    args = parser.parse_args()
    print(f"load average before: {json.dumps(os.getloadavg())}")
    with sandbox_process() as sandbox:
        with gateway_process(sandbox) as gateway:
            result = measure(sandbox, gateway, args.limit, args.rounds)
        print(f"load average after: {json.dumps(os.getloadavg())}")
        emit_result("m2m_page", {**result, "load": os.getloadavg()})
        if args.profile:
            profile(sandbox, args.limit)


if __name__ == "__main__":
    main()
