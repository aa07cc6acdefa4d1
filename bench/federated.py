"""One search across two providers: its pages cost what the slower provider's own page costs.

The sandbox and the gateway run in their own processes; this script is the client.  Three
measurements (issue 16, issue 10 #4):

1. **Fan-out**: for the same query and limit (HLS + Landsat over the Great Plains, 2023), a
   page of the two-provider search ÷ the slower of the two single-provider pages, all three
   measured in the same rounds, alternating (goal ≤ 1.1: the providers are asked at once, so
   their latencies do not add up).
2. **Paging** 20,000 merged items (two years, pages of 1,000, GET `next` links): server time of
   the last pages ÷ the first pages (goal ≤ 1.1) and the gateway's RSS along the way.
3. **Filtered scan memory**: a filter no upstream narrows and no item matches (`a = 1`,
   `limit=2000`) read until the upstream page budget stops it, with a budget of 2 pages and of
   12 pages (two gateways, one after the other): the gateway's peak RSS should not grow with
   the pages read.

    python bench/federated.py [--rounds 7] [--limit 500] [--items 20000] [--quick]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from _harness import (
    HLSL30_ID,
    alternate,
    banner,
    emit_result,
    fmt_ratio,
    gateway_process,
    median,
    now,
    peak_rss_mb,
    ratio_stats,
    reset_peak_rss,
    rss_mb,
    sandbox_process,
    table,
)

L2 = "landsat_ot_c2_l2"
AREA = "-104,34,-96,42"
YEAR = "2023-01-01T00:00:00Z/2023-12-31T23:59:59Z"
TWO_YEARS = "2022-01-01T00:00:00Z/2023-12-31T23:59:59Z"
GOAL = 1.1


def timed_get(http: httpx.Client, url: str, params: dict | None = None) -> tuple[float, dict]:
    started = now()
    response = http.get(url, params=params)
    elapsed = now() - started
    response.raise_for_status()
    return elapsed, response.json()


def fan_out(http: httpx.Client, rounds: int, limit: int) -> dict:
    base = {"bbox": AREA, "datetime": YEAR, "limit": limit}
    queries = {
        "hls": {**base, "collections": HLSL30_ID},
        "landsat": {**base, "collections": L2},
        "both": {**base, "collections": f"{HLSL30_ID},{L2}"},
    }
    seen: dict[str, set[str]] = {}

    def case(name: str):
        def run() -> float:
            seconds, body = timed_get(http, "/search", queries[name])
            assert len(body["features"]) == limit, (name, len(body["features"]))
            seen[name] = {f["collection"] for f in body["features"]}
            return seconds

        return run

    samples = alternate({n: case(n) for n in queries}, rounds)
    slower = "hls" if median(samples["hls"]) >= median(samples["landsat"]) else "landsat"
    stats = ratio_stats(samples["both"], samples[slower])
    banner(f"fan-out: one page of {limit} items, {rounds} alternating rounds")
    print(
        table(
            [
                [n, f"{median(s) * 1000:.0f}", f"{min(s) * 1000:.0f}–{max(s) * 1000:.0f}"]
                for n, s in samples.items()
            ],
            ["search", "median ms", "range ms"],
        )
    )
    print(
        f"two-provider page ÷ slower single-provider page ({slower}): {fmt_ratio(stats)} "
        f"(goal ≤ {GOAL}: {'ok' if stats['ratio'] <= GOAL else 'NOT MET'}); "
        f"collections on the merged page: {sorted(seen['both'])}"
    )
    return {"ratio": stats["ratio"], "stats": stats, "slower": slower, "limit": limit}


def paging(http: httpx.Client, pid: int, items: int, limit: int) -> dict:
    params = {"collections": f"{HLSL30_ID},{L2}", "bbox": AREA, "datetime": TWO_YEARS}
    url, query = "/search", {**params, "limit": limit}
    rows, total, per_collection = [], 0, {HLSL30_ID: 0, L2: 0}
    rss0 = rss_mb(pid)
    reset = reset_peak_rss(pid)
    while total < items:
        seconds, body = timed_get(http, url, query)
        total += len(body["features"])
        for f in body["features"]:
            per_collection[f["collection"]] += 1
        rows.append({"s": seconds, "n": len(body["features"]), "rss": rss_mb(pid)})
        nxt = [link for link in body["links"] if link["rel"] == "next"]
        if not nxt:
            break
        url, query = nxt[0]["href"], None
    peak = peak_rss_mb(pid)
    k = min(5, len(rows) // 2) or 1
    full = [r for r in rows if r["n"] == limit] or rows
    first, last = median([r["s"] for r in full[:k]]), median([r["s"] for r in full[-k:]])
    banner(f"paging: {total:,} merged items in {len(rows)} pages of ≤ {limit:,}")
    print(
        table(
            [[i + 1, r["n"], f"{r['s']:.3f}", f"{r['rss']:.0f}"] for i, r in enumerate(rows)],
            ["page", "items", "s", "gateway RSS MB"],
        )
    )
    ratio = last / first
    print(
        f"median of last {k} ÷ first {k} pages: {ratio:.2f} (goal ≤ {GOAL}: "
        f"{'ok' if ratio <= GOAL else 'NOT MET'}); per collection {per_collection}; gateway "
        f"RSS {rss0:.0f} MB before, {rows[-1]['rss']:.0f} MB at the end, peak {peak:.0f} MB"
        + ("" if reset else " (peak since start)")
    )
    return {
        "items": total,
        "pages": len(rows),
        "ratio_last_first": ratio,
        "first_s": first,
        "last_s": last,
        "rss_mb": {"before": rss0, "end": rows[-1]["rss"], "peak": peak},
        "per_collection": per_collection,
    }


def scan_memory(sandbox, other, budgets: tuple[int, ...]) -> dict:
    out = {}
    for pages in budgets:
        env = {
            "STACBRIDGE_SEARCH_MAX_UPSTREAM_ITEMS": str(pages * 2000),
            "STACBRIDGE_SEARCH_MAX_UPSTREAM_PAGES": str(pages),
            "STACBRIDGE_SEARCH_MAX_SECONDS": "600",
            "STACBRIDGE_PROVIDER_DEADLINE": "120",
        }
        with (
            gateway_process(sandbox, **env, **m2m_from(other)) as gateway,
            httpx.Client(base_url=gateway.info["url"], timeout=600) as http,
        ):
            # warm: imports and caches, one small filtered page
            http.get("/search", params={"collections": HLSL30_ID, "limit": 5})
            before = rss_mb(gateway.pid)
            reset_peak_rss(gateway.pid)
            started = now()
            response = http.get(
                "/search",
                params={"collections": f"{HLSL30_ID},{L2}", "limit": 2000, "filter": "a=1"},
            )
            seconds = now() - started
            assert response.status_code == 400, response.text
            out[pages] = {
                "seconds": seconds,
                "rss_before": before,
                "peak": peak_rss_mb(gateway.pid),
            }
    banner("filtered scan (limit=2000, filter a = 1, nothing matches) until the page budget")
    print(
        table(
            [
                [p, f"{r['seconds']:.1f}", f"{r['rss_before']:.0f}", f"{r['peak']:.0f}"]
                for p, r in out.items()
            ],
            ["upstream pages", "s", "RSS before MB", "peak RSS MB"],
        )
    )
    lo, hi = out[budgets[0]], out[budgets[-1]]
    growth = (hi["peak"] - hi["rss_before"]) - (lo["peak"] - lo["rss_before"])
    print(
        f"peak growth with {budgets[-1]} pages vs {budgets[0]}: {growth:+.0f} MB "
        "(flat: independent of the pages read)"
    )
    return {"by_budget": out, "growth_mb": growth}


def m2m_from(other: Any) -> dict[str, str]:
    """The M2M settings of another sandbox process: each upstream on its own core and GIL."""
    env = other.info["environment"]
    return {k: v for k, v in env.items() if k.startswith("STACBRIDGE_M2M__")}


def run(rounds: int, limit: int, items: int, budgets: tuple[int, ...]) -> dict:
    results: dict = {}
    # CMR from one sandbox process, M2M from another: real upstreams are separate services,
    # and two emulators in one process would serialise on its GIL what the gateway asks of
    # them at once (the fan-out ratio would measure the sandbox, not the gateway)
    with sandbox_process() as sandbox, sandbox_process() as other:
        with (
            gateway_process(sandbox, **m2m_from(other)) as gateway,
            httpx.Client(base_url=gateway.info["url"], timeout=600) as http,
        ):
            results["fan_out"] = fan_out(http, rounds, limit)
            results["paging"] = paging(http, gateway.pid, items, 1000)
        results["scan"] = scan_memory(sandbox, other, budgets)
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="3 rounds, budgets 2 and 6")
    args = parser.parse_args(argv)
    rounds = 3 if args.quick else args.rounds
    budgets = (2, 6) if args.quick else (2, 12)
    results = run(rounds, args.limit, args.items, budgets)
    emit_result("federated", results)
    return results


if __name__ == "__main__":
    main()
