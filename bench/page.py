"""One 2,000-item page through the gateway ÷ the same page fetched raw from CMR (goal ≤ 1.2).

Both sides talk to the same CMR emulator process; the gateway runs in a second process and
this script is the client (httpx, keep-alive, every body read in full, nothing decoded):

* raw:     GET {cmr}/granules.umm_json?collection_concept_id=C2021957657-LPCLOUD
                   &page_size=2000&temporal=<window>
* gateway: GET /collections/HLSL30.v2.0/items?limit=2000&datetime=<same window>
  (and, for comparison, GET /search?collections=HLSL30.v2.0&limit=2000&datetime=...)

Two warm-up rounds, then 7 interleaved rounds; medians.  `--profile` also profiles one
gateway page in-process with cProfile (ASGI transport, same sandbox) and prints where the
time goes.

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
    fmt_s,
    gateway_env,
    gateway_process,
    median,
    now,
    print_profile,
    sandbox_process,
    table,
)

GOAL = 1.2
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


def measure(sandbox, gateway) -> dict:
    cmr = sandbox.info["cmr_url"]
    gw = gateway.info["url"]
    cases = {
        "raw CMR page": (
            f"{cmr}/granules.umm_json",
            {
                "collection_concept_id": HLSL30_CONCEPT,
                "page_size": str(LIMIT),
                "temporal": f"{START},{END}",
            },
        ),
        "gateway /collections/{id}/items": (
            f"{gw}/collections/{HLSL30_ID}/items",
            {"limit": str(LIMIT), "datetime": f"{START}/{END}"},
        ),
        "gateway /search": (
            f"{gw}/search",
            {"collections": HLSL30_ID, "limit": str(LIMIT), "datetime": f"{START}/{END}"},
        ),
    }
    samples: dict[str, list[tuple[float, float, int]]] = {k: [] for k in cases}
    upstream_per_page: dict[str, int] = {}
    with httpx.Client(timeout=300) as client:
        for _ in range(WARMUP):
            for url, params in cases.values():
                timed_get(client, url, params)
        for name, (url, params) in cases.items():
            if name.startswith("gateway"):
                cmr_requests(client, cmr, clear=True)
                timed_get(client, url, params)
                upstream_per_page[name] = len(cmr_requests(client, cmr))
        for _ in range(ROUNDS):
            for name, (url, params) in cases.items():
                ttfb, total, size, _ = timed_get(client, url, params)
                samples[name].append((ttfb, total, size))
        # sanity: the gateway page holds `LIMIT` items
        url, params = cases["gateway /collections/{id}/items"]
        check = client.get(url, params=params).json()
        returned = len(check["features"])

    med = {
        name: (median([s[0] for s in v]), median([s[1] for s in v]), v[0][2])
        for name, v in samples.items()
    }
    raw_total, raw_bytes = med["raw CMR page"][1], med["raw CMR page"][2]
    banner(
        f"{LIMIT:,}-item page, datetime {START}/{END} (median of {ROUNDS}, after "
        f"{WARMUP} warm-up rounds)"
    )
    rows = []
    for name, (ttfb, total, size) in med.items():
        rows.append(
            [
                name,
                fmt_s(ttfb),
                fmt_s(total),
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
                "body",
                "bytes ÷ raw",
                "time ÷ raw",
                "CMR requests",
            ],
        )
    )
    ratio = med["gateway /collections/{id}/items"][1] / raw_total
    search_ratio = med["gateway /search"][1] / raw_total
    print(
        f"\nratio gateway ÷ raw (items endpoint): {ratio:.2f}  "
        f"(goal ≤ {GOAL}: {'ok' if ratio <= GOAL else 'NOT MET'});  /search: "
        f"{search_ratio:.2f};  items returned: {returned}"
    )
    return {
        "ratio": ratio,
        "search_ratio": search_ratio,
        "raw_s": raw_total,
        "gateway_s": med["gateway /collections/{id}/items"][1],
        "gateway_search_s": med["gateway /search"][1],
        "raw_bytes": raw_bytes,
        "gateway_bytes": med["gateway /collections/{id}/items"][2],
        "bytes_ratio": med["gateway /collections/{id}/items"][2] / raw_bytes,
        "cmr_requests_per_items_page": upstream_per_page.get("gateway /collections/{id}/items"),
        "items_returned": returned,
    }


def profile(sandbox) -> None:
    """cProfile one gateway page in this process (ASGI transport; upstream over real HTTP)."""
    import asyncio
    import cProfile
    import os

    os.environ.update(gateway_env(sandbox))
    from stacbridge.app import create_app
    from stacbridge.config import Settings

    app = create_app(Settings())
    url = f"/collections/{HLSL30_ID}/items"
    params = {"limit": str(LIMIT), "datetime": f"{START}/{END}"}

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://gateway", timeout=300
        ) as client:
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
