"""One 2,000-item page through the gateway ÷ the same page fetched raw from CMR (goal ≤ 2.0).

Both sides talk to the same CMR emulator process; the gateway runs in a second process and
this script is the client (httpx, keep-alive, every body read in full, nothing decoded):

* raw:     the request the gateway itself sent CMR for that page, taken from the emulator's
           request log and replayed as is (today `POST {cmr}/granules.umm_json` with the form
           `collection_concept_id=C2021957657-LPCLOUD&temporal=<window>&page_size=2000`)
* gateway: GET /collections/HLSL30.v2.0/items?limit=2000&datetime=<same window>
  (and, for comparison, GET /search?collections=HLSL30.v2.0&limit=2000&datetime=...)

Also the gateway's body bytes ÷ the raw UMM-G bytes of the same page (goal ≤ 0.8: a STAC
page smaller than the UMM-G it came from).  Two warm-up rounds, then 7 rounds whose order
alternates (raw, items, search; search, items, raw; ...); medians and the per-round spread.
`--profile` also profiles one gateway page in-process with cProfile (ASGI transport, same
sandbox) and prints where the time goes.

    python bench/page.py [--profile]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from _harness import (
    HLSL30_CONCEPT,
    HLSL30_ID,
    banner,
    emit_result,
    fmt_ratio,
    fmt_s,
    gateway_env,
    gateway_process,
    median,
    now,
    print_profile,
    ratio_stats,
    sandbox_process,
    table,
)

GOAL = 2.0  # design §9: a gateway page within 2× of the raw CMR page
BYTES_GOAL = 0.8  # issue 13: and smaller in bytes than the UMM-G it came from
LIMIT = 2000
START, END = "2020-01-01T00:00:00Z", "2020-03-01T00:00:00Z"
ROUNDS, WARMUP = 7, 2


def timed_get(
    client: httpx.Client, url: str, params: dict[str, str]
) -> tuple[float, float, int, httpx.Response]:
    """(time to response headers, time to last byte, body bytes, response)."""
    started = now()
    with client.stream("GET", url, params=params) as response:
        headers_at = now() - started
        size = 0
        for chunk in response.iter_raw():
            size += len(chunk)
        total = now() - started
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}")
    return headers_at, total, size, response


def cmr_requests(client: httpx.Client, cmr_url: str, clear: bool = False) -> list[dict]:
    base = cmr_url.removesuffix("/search")
    if clear:
        client.delete(f"{base}/_sandbox/requests")
        return []
    return client.get(f"{base}/_sandbox/requests").json()["requests"]


def replay_request(cmr_url: str, entry: dict) -> httpx.Request:
    """The very request the gateway sent CMR, rebuilt from the emulator's log entry.

    The raw side has to be what the gateway asks upstream for, not a hand-written look-alike
    that could drift from it as the gateway changes: same method, path, query string, form
    body and `cmr-search-after` header.
    """
    base = cmr_url.removesuffix("/search")
    url = f"{base}{entry['path']}" + (f"?{entry['query']}" if entry["query"] else "")
    headers = {}
    if entry["method"] == "POST":
        headers["content-type"] = "application/x-www-form-urlencoded"
    if entry["cmr_search_after"]:
        headers["cmr-search-after"] = entry["cmr_search_after"]
    return httpx.Request(
        entry["method"], url, headers=headers, content=entry["form"].encode() or None
    )


def timed_send(client: httpx.Client, request: httpx.Request) -> tuple[float, float, int]:
    """(time to response headers, time to last byte, body bytes) of a prepared request."""
    started = now()
    response = client.send(request, stream=True)
    try:
        headers_at = now() - started
        size = 0
        for chunk in response.iter_raw():
            size += len(chunk)
        total = now() - started
    finally:
        response.close()
    if response.status_code != 200:
        raise RuntimeError(f"{request.method} {request.url} answered {response.status_code}")
    return headers_at, total, size


def measure(sandbox, gateway) -> dict:
    cmr = sandbox.info["cmr_url"]
    gw = gateway.info["url"]
    gateway_cases = {
        "gateway /collections/{id}/items": (
            f"{gw}/collections/{HLSL30_ID}/items",
            {"limit": str(LIMIT), "datetime": f"{START}/{END}"},
        ),
        "gateway /search": (
            f"{gw}/search",
            {"collections": HLSL30_ID, "limit": str(LIMIT), "datetime": f"{START}/{END}"},
        ),
    }
    upstream_per_page: dict[str, int] = {}
    upstream_granule_requests: dict[str, list[dict]] = {}
    with httpx.Client(timeout=300) as client:
        for _ in range(WARMUP):
            for url, params in gateway_cases.values():
                timed_get(client, url, params)
        # what does one (warm) gateway page ask CMR for?
        for name, (url, params) in gateway_cases.items():
            cmr_requests(client, cmr, clear=True)
            timed_get(client, url, params)
            log = cmr_requests(client, cmr)
            upstream_per_page[name] = len(log)
            upstream_granule_requests[name] = [
                e for e in log if e["path"].endswith("/granules.umm_json")
            ]
        asked = upstream_granule_requests["gateway /collections/{id}/items"]
        if len(asked) != 1:
            raise RuntimeError(f"one gateway page made {len(asked)} CMR granule requests")
        raw_entry = asked[0]
        if HLSL30_CONCEPT not in raw_entry["form"] + raw_entry["query"]:
            raise RuntimeError(f"the gateway asked CMR for another collection: {raw_entry}")
        same_upstream = all(
            [(e["method"], e["query"], e["form"]) for e in v]
            == [(raw_entry["method"], raw_entry["query"], raw_entry["form"])]
            for v in upstream_granule_requests.values()
        )
        raw_request = replay_request(cmr, raw_entry)
        cases = {
            "raw CMR page": lambda: timed_send(client, raw_request),
            **{
                name: (lambda url=url, params=params: timed_get(client, url, params)[:3])
                for name, (url, params) in gateway_cases.items()
            },
        }
        for _ in range(WARMUP):
            cases["raw CMR page"]()
        samples: dict[str, list[tuple[float, float, int]]] = {k: [] for k in cases}
        names = list(cases)
        for i in range(ROUNDS):  # A B C, then C B A, ...: see _harness.alternate
            for name in names if i % 2 == 0 else reversed(names):
                samples[name].append(cases[name]())
        # the replayed request really is the gateway's: the emulator logged it the same way
        cmr_requests(client, cmr, clear=True)
        cases["raw CMR page"]()
        replayed = cmr_requests(client, cmr)[0]
        replay_identical = all(
            replayed[k] == raw_entry[k]
            for k in ("method", "path", "query", "form", "cmr_search_after")
        )
        # sanity: the gateway page holds `LIMIT` items
        url, params = gateway_cases["gateway /collections/{id}/items"]
        check = client.get(url, params=params).json()
        returned = len(check["features"])

    med = {
        name: (median([s[0] for s in v]), median([s[1] for s in v]), v[0][2])
        for name, v in samples.items()
    }
    raw_total, raw_bytes = med["raw CMR page"][1], med["raw CMR page"][2]
    times = {name: [s[1] for s in v] for name, v in samples.items()}
    items_stats = ratio_stats(times["gateway /collections/{id}/items"], times["raw CMR page"])
    search_stats = ratio_stats(times["gateway /search"], times["raw CMR page"])
    banner(
        f"{LIMIT:,}-item page, datetime {START}/{END} (median of {ROUNDS} alternating "
        f"rounds, after {WARMUP} warm-up rounds)"
    )
    rows = []
    for name, (ttfb, total, size) in med.items():
        rows.append(
            [
                name,
                fmt_s(ttfb),
                fmt_s(total),
                f"{min(times[name]):.3f}–{max(times[name]):.3f} s",
                f"{size / 1e6:.1f} MB",
                f"{size / raw_bytes:.2f}",
                f"{total / raw_total:.2f}",
                str(upstream_per_page.get(name, "-")),
            ]
        )
    print(
        table(
            rows,
            [
                "request",
                "headers after",
                "last byte",
                "rounds",
                "body",
                "bytes ÷ raw",
                "time ÷ raw",
                "CMR requests",
            ],
        )
    )
    ratio = items_stats["ratio"]
    bytes_ratio = med["gateway /collections/{id}/items"][2] / raw_bytes
    print(
        f"\nratio gateway ÷ raw (items endpoint): {fmt_ratio(items_stats)}  "
        f"(goal ≤ {GOAL}: {'ok' if ratio <= GOAL else 'NOT MET'});  /search: "
        f"{fmt_ratio(search_stats)};  items returned: {returned}"
    )
    print(
        f"bytes gateway ÷ raw UMM-G: {bytes_ratio:.2f}  (goal ≤ {BYTES_GOAL}: "
        f"{'ok' if bytes_ratio <= BYTES_GOAL else 'NOT MET'})"
    )
    print(
        f"raw side = the gateway's own CMR request, replayed: {raw_entry['method']} "
        f"{raw_entry['path']} {raw_entry['form'] or raw_entry['query']}; the emulator logged "
        f"the replay identically: {replay_identical}; /items and /search ask CMR the same: "
        f"{same_upstream}"
    )
    return {
        "ratio": ratio,
        "ratio_lo": items_stats["ratio_lo"],
        "ratio_hi": items_stats["ratio_hi"],
        "items_stats": items_stats,
        "search_ratio": search_stats["ratio"],
        "search_stats": search_stats,
        "raw_s": raw_total,
        "gateway_s": med["gateway /collections/{id}/items"][1],
        "gateway_search_s": med["gateway /search"][1],
        "raw_bytes": raw_bytes,
        "gateway_bytes": med["gateway /collections/{id}/items"][2],
        "bytes_ratio": bytes_ratio,
        "cmr_requests_per_items_page": upstream_per_page.get("gateway /collections/{id}/items"),
        "items_returned": returned,
        "raw_request": {k: raw_entry[k] for k in ("method", "path", "query", "form")},
        "raw_is_gateway_request": replay_identical and same_upstream,
    }


def profile(sandbox) -> None:
    """cProfile one gateway page in this process (ASGI transport; upstream over real HTTP)."""
    import asyncio
    import cProfile
    import os

    os.environ.update(gateway_env(sandbox))
    from stacbridge.app import create_app
    from stacbridge.config import load_settings

    app = create_app(load_settings())
    url = f"/collections/{HLSL30_ID}/items"
    params = {"limit": str(LIMIT), "datetime": f"{START}/{END}"}

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        # ASGITransport sends no lifespan events: start the providers (routing table) here
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=transport, base_url="http://gateway", timeout=300
            ) as client,
        ):
            for _ in range(2):
                (await client.get(url, params=params)).raise_for_status()
            profiler = cProfile.Profile()
            started = now()
            profiler.enable()
            response = await client.get(url, params=params)
            profiler.disable()
            elapsed = now() - started
            response.raise_for_status()
            print_profile(profiler, elapsed, "one 2,000-item gateway page, in-process")

            # the cyclic garbage collector's share of one (unprofiled) page
            import gc

            pauses: list[float] = []
            gens: list[int] = []
            mark: dict[str, float] = {}

            def on_gc(phase: str, info: dict) -> None:
                if phase == "start":
                    mark["t"] = now()
                else:
                    pauses.append(now() - mark["t"])
                    gens.append(info["generation"])

            gc.callbacks.append(on_gc)
            started = now()
            (await client.get(url, params=params)).raise_for_status()
            elapsed = now() - started
            gc.callbacks.remove(on_gc)
            print(
                f"\none unprofiled in-process page: {elapsed:.3f} s, of which cyclic GC "
                f"{sum(pauses):.3f} s ({sum(pauses) / elapsed:.0%}) in {len(pauses)} "
                f"collections (generation 2: {gens.count(2)})"
            )

    asyncio.run(go())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile", action="store_true", help="also cProfile one gateway page (in-process)"
    )
    args = parser.parse_args(argv)
    with sandbox_process() as sandbox:
        with gateway_process(sandbox) as gateway:
            results = measure(sandbox, gateway)
        if args.profile:
            profile(sandbox)
    emit_result("page", results)
    return results


if __name__ == "__main__":
    main()
