"""pystac-client pages 100,000 items through the gateway: flat latency, flat memory (design §9).

The sandbox and the gateway run in their own processes; this script is the pystac-client
client: `Client.open(gateway).search(collections=["HLSL30.v2.0"], datetime=<two years>,
limit=2000, max_items=100_000).pages_as_dicts()` (POST searches, `next` links with a signed
token, CMR search-after upstream).  Per page it records

* server time: `requests`' `elapsed` (request sent → response headers parsed; the gateway
  sends headers only once the whole page is built, so this is the gateway's page time);
* page time: wall time between two pages reaching the caller (adds the body transfer and
  pystac-client's `json.loads`);
* the gateway's VmRSS and this client's VmRSS.

Goals: last page ÷ first page ≤ 1.1 (also median of the first 5 ÷ median of the last 5),
memory flat.  One warm-up page (another window) runs first.

    python bench/paging.py [--items 100000] [--limit 2000] [--quick]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    HLSL30_ID,
    banner,
    client_maxrss_mb,
    emit_result,
    gateway_process,
    median,
    now,
    peak_rss_mb,
    reset_peak_rss,
    rss_mb,
    sandbox_process,
    table,
)

GOAL = 1.1
WINDOW = "2016-01-01T00:00:00Z/2018-01-01T00:00:00Z"  # ~199,000 generated granules
WARMUP_WINDOW = "2020-01-01T00:00:00Z/2020-03-01T00:00:00Z"
QUICK_ITEMS = 20_000


def run(items: int, limit: int) -> dict:
    from pystac_client import Client

    with sandbox_process() as sandbox, gateway_process(sandbox) as gateway:
        gw_pid, url = gateway.pid, gateway.info["url"]
        client = Client.open(url, timeout=600)

        # warm-up: one full page of another window (imports, caches, connections)
        warm = client.search(
            collections=[HLSL30_ID], datetime=WARMUP_WINDOW, limit=limit, max_items=limit
        )
        for _ in warm.pages_as_dicts():
            pass

        search = client.search(
            collections=[HLSL30_ID], datetime=WINDOW, limit=limit, max_items=items
        )
        elapsed: list[float] = []
        search._stac_io.session.hooks["response"].append(
            lambda r, *a, **k: elapsed.append(r.elapsed.total_seconds())
        )

        gw_rss0, client_rss0, client_max0 = rss_mb(gw_pid), rss_mb(), client_maxrss_mb()
        peak_reset = reset_peak_rss(gw_pid)
        pages: list[dict] = []
        total, last_datetime, ordered = 0, "", True
        started = t_prev = now()
        for page in search.pages_as_dicts():
            t = now()
            features = page["features"]
            total += len(features)
            first_dt = features[0]["properties"]["datetime"]
            ordered = ordered and first_dt >= last_datetime
            last_datetime = features[-1]["properties"]["datetime"]
            pages.append(
                {
                    "n": len(features),
                    "page_s": t - t_prev,
                    "server_s": elapsed[-1],
                    "gw_rss": rss_mb(gw_pid),
                    "client_rss": rss_mb(),
                }
            )
            del page, features
            t_prev = now()
        wall = now() - started
        gw_peak = peak_rss_mb(gw_pid)
        client_max = client_maxrss_mb()

    banner(
        f"pystac-client: {total:,} items in {len(pages)} pages of ≤ {limit:,} "
        f"(datetime {WINDOW}), {wall:.1f} s"
    )
    rows = [
        [
            i + 1,
            p["n"],
            f"{p['server_s']:.3f}",
            f"{p['page_s']:.3f}",
            f"{p['gw_rss']:.0f}",
            f"{p['client_rss']:.0f}",
        ]
        for i, p in enumerate(pages)
    ]
    print(table(rows, ["page", "items", "server s", "page s", "gateway RSS MB", "client RSS MB"]))

    k = min(5, len(pages) // 2) or 1
    full = [p for p in pages if p["n"] == limit] or pages  # a short last page is cheaper
    first, last = full[0], full[-1]
    first5 = median([p["server_s"] for p in full[:k]])
    last5 = median([p["server_s"] for p in full[-k:]])
    first5_page = median([p["page_s"] for p in full[:k]])
    last5_page = median([p["page_s"] for p in full[-k:]])
    ratio = last["server_s"] / first["server_s"]
    ratio5 = last5 / first5
    gw_after5 = pages[min(k, len(pages)) - 1]["gw_rss"]
    cl_after5 = pages[min(k, len(pages)) - 1]["client_rss"]
    print(
        f"\nlatency (server time) last ÷ first full page: {ratio:.2f}; median of last {k} ÷ "
        f"first {k}: {ratio5:.2f}  (goal ≤ {GOAL}: "
        f"{'ok' if max(ratio, ratio5) <= GOAL else 'NOT MET'})"
    )
    print(
        f"latency (page time, incl. transfer + client json) median last {k} ÷ first {k}: "
        f"{last5_page / first5_page:.2f}"
    )
    print(
        f"items {total:,}, in datetime order across pages: {ordered}; "
        f"throughput {total / wall:,.0f} items/s"
    )
    print(
        f"gateway RSS: {gw_rss0:.0f} MB before, {gw_after5:.0f} MB after page {k}, "
        f"{pages[-1]['gw_rss']:.0f} MB at the end; peak during paging {gw_peak:.0f} MB"
        + ("" if peak_reset else " (VmHWM could not be reset: peak since start)")
    )
    print(
        f"client RSS: {client_rss0:.0f} MB before, {cl_after5:.0f} MB after page {k}, "
        f"{pages[-1]['client_rss']:.0f} MB at the end; peak (ru_maxrss) {client_max:.0f} MB "
        f"(was {client_max0:.0f} MB before paging)"
    )
    return {
        "items": total,
        "pages": len(pages),
        "wall_s": wall,
        "first_page_s": first["server_s"],
        "last_page_s": last["server_s"],
        "ratio_last_first": ratio,
        "ratio_last5_first5": ratio5,
        "first5_s": first5,
        "last5_s": last5,
        "ratio_page_time_last5_first5": last5_page / first5_page,
        "gateway_rss_mb": {
            "before": gw_rss0,
            "after_first": gw_after5,
            "end": pages[-1]["gw_rss"],
            "peak": gw_peak,
        },
        "client_rss_mb": {
            "before": client_rss0,
            "after_first": cl_after5,
            "end": pages[-1]["client_rss"],
            "peak": client_max,
        },
        "ordered": ordered,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="page 20,000 items (10 pages, still 5 first and 5 last): a smoke run",
    )
    args = parser.parse_args(argv)
    results = run(QUICK_ITEMS if args.quick else args.items, args.limit)
    emit_result("paging", results)
    return results


if __name__ == "__main__":
    main()
