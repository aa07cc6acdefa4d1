"""Run every benchmark (each in its own process); print the peers table (issue 13) and the rest.

    PYTHONPATH=$PWD python bench/run_all.py [--only page,vs_nginx,...] [--quick] [--rounds N]
                                            [--profile]

The first table holds the rows of issue 13, each the ratio of two sides measured alternately
in this run: pystac-client through the gateway vs earthaccess straight from CMR, a gateway
page vs the raw CMR page it came from, paging flatness, the proxy vs nginx, and an M2M page vs
the raw M2M calls.  The second table is the rest of design §9 (translation rate, proxy vs a
direct download, memory, Range requests).  `--quick`: fewer rounds and 20,000 items paged (a
smoke run, not the §9 numbers).  `--rounds N`: N alternating rounds in every A/B bench
(overrides --quick's; paging still pages 100,000 items).  `--profile`: page.py and proxy.py
also print their cProfile breakdowns.  Each benchmark's own output is shown as it runs; the
tables come last.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import BENCH_DIR, REPO, RESULT_PREFIX, child_env, table

BENCHES = (
    "translate",
    "page",
    "paging",
    "proxy",
    "vs_earthaccess",
    "vs_nginx",
    "m2m_page",
    "federated",
)
#: paging counts as flat if the gateway grows less than this from page 5 to the last page
FLAT_MB = 25


def run(name: str, extra: list[str]) -> tuple[dict | None, float, int]:
    print(f"\n##### bench/{name}.py {' '.join(extra)}".rstrip(), flush=True)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(BENCH_DIR / f"{name}.py"), *extra],
        cwd=str(REPO),
        env=child_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    result = None
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX) :])
        else:
            print(line, end="", flush=True)
    code = proc.wait()
    return result, time.perf_counter() - started, code


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("ok" if ok else "NOT MET")


def summary(results: dict[str, dict]) -> list[list[str]]:
    rows: list[list[str]] = []

    def row(bench: str, what: str, value: str, goal: str, ok: bool | None) -> None:
        rows.append([bench, what, value, goal, verdict(ok)])

    if t := results.get("translate"):
        rec = t["recorded_granules_per_s"]
        for name, rate in rec.items():
            row(
                "translate",
                f"granule_to_item, recorded {name}",
                f"{rate:,.0f} /s",
                "≥ 20,000 /s/core",
                rate >= 20_000,
            )
        row(
            "translate",
            "2,000-granule page: translate only",
            f"{t['page_translate_per_s']:,.0f} /s",
            "≥ 20,000 /s/core",
            t["page_translate_per_s"] >= 20_000,
        )
        row(
            "translate",
            "2,000-granule page: decode+translate+encode",
            f"{t['page_decode_translate_encode_per_s']:,.0f} /s",
            "≥ 20,000 /s/core",
            t["page_decode_translate_encode_per_s"] >= 20_000,
        )
        row(
            "translate",
            "  same, translate with GC off (diagnostic)",
            f"{t['page_translate_gc_off_per_s']:,.0f} /s",
            "",
            None,
        )
        row(
            "translate",
            "  gateway CPU path incl. signed hrefs",
            f"{t['page_gateway_cpu_per_s']:,.0f} /s",
            "",
            None,
        )
    if p := results.get("page"):
        row(
            "page",
            "gateway ÷ raw CMR, 2,000 items (/collections/{id}/items)",
            f"{p['ratio']:.2f}",
            "≤ 2.0",
            p["ratio"] <= 2.0,
        )
        row(
            "page", "  /search ÷ raw", f"{p['search_ratio']:.2f}", "≤ 2.0", p["search_ratio"] <= 2.0
        )
        row(
            "page",
            "  page time raw / gateway",
            f"{p['raw_s'] * 1000:.0f} ms / {p['gateway_s'] * 1000:.0f} ms",
            "",
            None,
        )
        row(
            "page",
            "  gateway bytes ÷ raw bytes",
            f"{p['bytes_ratio']:.2f} ({p['gateway_bytes'] / 1e6:.1f} / "
            f"{p['raw_bytes'] / 1e6:.1f} MB)",
            "",
            None,
        )
        row(
            "page",
            "  CMR requests per /items page",
            str(p["cmr_requests_per_items_page"]),
            "1",
            p["cmr_requests_per_items_page"] == 1,
        )
    if g := results.get("paging"):
        row(
            "paging",
            f"last ÷ first page ({g['items']:,} items, {g['pages']} pages)",
            f"{g['ratio_last_first']:.2f}",
            "≤ 1.1",
            g["ratio_last_first"] <= 1.1,
        )
        row(
            "paging",
            "  median last 5 ÷ first 5",
            f"{g['ratio_last5_first5']:.2f}",
            "≤ 1.1",
            g["ratio_last5_first5"] <= 1.1,
        )
        gw, cl = g["gateway_rss_mb"], g["client_rss_mb"]
        row(
            "paging",
            "  gateway RSS after 5 pages → end (peak)",
            f"{gw['after_first']:.0f} → {gw['end']:.0f} MB ({gw['peak']:.0f})",
            "flat",
            None,
        )
        row(
            "paging",
            "  client RSS after 5 pages → end (peak)",
            f"{cl['after_first']:.0f} → {cl['end']:.0f} MB ({cl['peak']:.0f})",
            "flat",
            None,
        )
    if f := results.get("federated"):
        fo, fp, fs = f["fan_out"], f["paging"], f["scan"]
        row(
            "federated",
            f"two-provider page ÷ slower single-provider page ({fo['limit']} items)",
            f"{fo['stats']['ratio']:.2f} ({fo['stats']['ratio_lo']:.2f}–"
            f"{fo['stats']['ratio_hi']:.2f})",
            "≤ 1.1",
            fo["ratio"] <= 1.1,
        )
        row(
            "federated",
            f"  paging {fp['items']:,} merged items: last ÷ first pages",
            f"{fp['ratio_last_first']:.2f}",
            "≤ 1.1",
            fp["ratio_last_first"] <= 1.1,
        )
        row(
            "federated",
            "  gateway RSS while paging: before → end (peak)",
            f"{fp['rss_mb']['before']:.0f} → {fp['rss_mb']['end']:.0f} MB "
            f"({fp['rss_mb']['peak']:.0f})",
            "flat",
            None,
        )
        row(
            "federated",
            "  filtered scan: peak RSS growth, most vs fewest upstream pages",
            f"{fs['growth_mb']:+.0f} MB",
            f"< {FLAT_MB} MB",
            fs["growth_mb"] < FLAT_MB,
        )
    if x := results.get("proxy"):
        row(
            "proxy",
            "throughput proxy ÷ direct (same plain host)",
            f"{x['ratio_same_server']:.2f}",
            "≥ 0.9",
            x["ratio_same_server"] >= 0.9,
        )
        row(
            "proxy",
            "  on-prem (cookie) proxy ÷ direct on-prem (bearer)",
            f"{x['ratio_onprem']:.2f}",
            "≥ 0.9",
            x["ratio_onprem"] >= 0.9,
        )
        mbps = x["mbps"]
        row(
            "proxy",
            "  MB/s direct / proxy (plain host)",
            f"{mbps['direct  plain host']:,.0f} / "
            f"{mbps['proxy   plain host (gateway T, same server)']:,.0f}",
            "",
            None,
        )
        row(
            "proxy",
            "gateway RSS growth during a 1 GB download",
            f"{x['max_rss_growth_mb']:.1f} MB",
            "< 50 MB",
            x["max_rss_growth_mb"] < 50,
        )
        per = x["upstream_per_range"]
        row(
            "proxy",
            f"upstream requests per Range GET ({len(per)} GETs)",
            f"min {min(per)}, max {max(per)}",
            "exactly 1",
            x["exactly_one_each"],
        )
    return rows


def peers(results: dict[str, dict], asked: list[str]) -> list[list[str]]:
    """The rows of issue 13.  A row whose bench did not run (or could not) says why."""
    rows: list[list[str]] = []

    def missing(bench: str) -> str | None:
        if bench not in asked:
            return "not run (--only)"
        r = results.get(bench)
        if r is None:
            return "FAILED (see its output above)"
        return f"cannot run: {r['skipped']}" if "skipped" in r else None

    def ratio_row(what: str, a: str, b: str, st: dict, goal: str, ok: bool | None) -> None:
        spread = f"{st['ratio']:.2f} ({st['ratio_lo']:.2f}–{st['ratio_hi']:.2f})"
        rows.append([what, a, b, spread, goal, verdict(ok)])

    def skip_row(what: str, goal: str, why: str) -> None:
        rows.append([what, "-", "-", why, goal, "-"])

    what = "10,000 granules: pystac-client items_as_dicts via gateway ÷ earthaccess"
    what2 = "10,000 granules: pystac-client .items() via gateway ÷ earthaccess"
    if why := missing("vs_earthaccess"):
        skip_row(what, "≤ 1.2", why)
        skip_row(what2, "report", why)
    else:
        e = results["vs_earthaccess"]
        d, o = e["items_as_dicts"], e["items_objects"]
        same = "" if e["upstream"]["identical"] else " (upstream requests DIFFER)"
        if e["upstream"].get("gateway_read_ahead"):
            same += f" (gateway +{e['upstream']['gateway_read_ahead']} CMR read-ahead)"
        ratio_row(what + same, f"{d['a']:.2f} s", f"{d['b']:.2f} s", d, "≤ 1.2", d["ratio"] <= 1.2)
        ratio_row(what2, f"{o['a']:.2f} s", f"{o['b']:.2f} s", o, "report", None)

    what = "gateway page ÷ raw CMR page (2,000 items)"
    what2 = "gateway bytes ÷ raw UMM-G bytes (same page)"
    if why := missing("page"):
        skip_row(what, "≤ 2.0", why)
        skip_row(what2, "≤ 0.8", why)
    else:
        p = results["page"]
        st = p["items_stats"]
        same = "" if p["raw_is_gateway_request"] else " (raw request DIFFERS)"
        ratio_row(
            what + same, f"{st['a']:.3f} s", f"{st['b']:.3f} s", st, "≤ 2.0", st["ratio"] <= 2.0
        )
        rows.append(
            [
                what2,
                f"{p['gateway_bytes'] / 1e6:.1f} MB",
                f"{p['raw_bytes'] / 1e6:.1f} MB",
                f"{p['bytes_ratio']:.2f}",
                "≤ 0.8",
                verdict(p["bytes_ratio"] <= 0.8),
            ]
        )

    if why := missing("paging"):
        skip_row("paging: last 5 ÷ first 5 pages, RSS", "≤ 1.1, flat", why)
    else:
        g = results["paging"]
        gw = g["gateway_rss_mb"]
        growth = gw["end"] - gw["after_first"]
        rows.append(
            [
                f"paging {g['items']:,} items: median of last 5 ÷ first 5 pages (server time)",
                f"{g['last5_s']:.3f} s",
                f"{g['first5_s']:.3f} s",
                f"{g['ratio_last5_first5']:.2f}",
                "≤ 1.1",
                verdict(g["ratio_last5_first5"] <= 1.1),
            ]
        )
        rows.append(
            [
                "  gateway RSS after page 5 → last page (peak)",
                f"{gw['end']:.0f} MB",
                f"{gw['after_first']:.0f} MB",
                f"{growth:+.0f} MB (peak {gw['peak']:.0f})",
                f"flat (< {FLAT_MB} MB)",
                verdict(growth < FLAT_MB),
            ]
        )

    what = "proxy throughput ÷ nginx (1 GB, same plain host)"
    what2 = "  nginx throughput ÷ direct download"
    if why := missing("vs_nginx"):
        skip_row(what, "≥ 1.0", why)
        skip_row(what2, "report", why)
    else:
        n = results["vs_nginx"]
        st, nd = n["proxy_vs_nginx"], n["nginx_vs_direct"]
        ratio_row(
            what, f"{st['a']:.0f} MB/s", f"{st['b']:.0f} MB/s", st, "≥ 1.0", st["ratio"] >= 1.0
        )
        ratio_row(what2, f"{nd['a']:.0f} MB/s", f"{nd['b']:.0f} MB/s", nd, "report", None)

    what = "M2M page ÷ raw scene-search + download-options (1,000 scenes)"
    if why := missing("m2m_page"):
        skip_row(what, "≤ 1.5", why)
    else:
        m = results["m2m_page"]
        st = m["page"]
        same = "" if m["raw_is_gateway_request"] else " (raw calls DIFFER)"
        ratio_row(
            what + same, f"{st['a']:.3f} s", f"{st['b']:.3f} s", st, "≤ 1.5", st["ratio"] <= 1.5
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHES))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--rounds",
        type=int,
        help="rounds of every alternating A/B bench (proxy, vs_*, m2m_page), to fit a time box",
    )
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(names) - set(BENCHES)
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    extra = {
        "translate": [],
        "page": ["--profile"] if args.profile else [],
        "paging": ["--items", "20000"] if args.quick else [],
        "proxy": (["--rounds", "1"] if args.quick else [])
        + (["--profile"] if args.profile else []),
        "vs_earthaccess": ["--rounds", "3"] if args.quick else [],
        "vs_nginx": ["--rounds", "2"] if args.quick else [],
        "m2m_page": ["--rounds", "3"] if args.quick else [],
        "federated": ["--quick"] if args.quick else [],
    }
    if args.rounds:
        for name in ("proxy", "vs_earthaccess", "vs_nginx", "m2m_page"):
            extra[name] = [*extra[name], "--rounds", str(args.rounds)]
    results: dict[str, dict] = {}
    timing, failed = [], []
    for name in names:
        result, seconds, code = run(name, extra[name])
        timing.append(f"{name} {seconds:.0f} s")
        if result is None or code != 0:
            failed.append(name)
        else:
            results[name] = result
    print("\n##### issue 13: against the peers (" + ", ".join(timing) + ")")
    print(
        table(
            peers(results, names),
            ["row", "A", "B", "A ÷ B (rounds)", "goal", "verdict"],
            left=1,
        )
    )
    print(
        "A ÷ B: ratio of the medians; in brackets the lowest and highest per-round ratio "
        "(A and B measured back to back, order alternating)."
    )
    print("\n##### the rest of design §9")
    rest = {k: v for k, v in results.items() if k in ("translate", "page", "paging", "proxy")}
    print(table(summary(rest), ["bench", "measure", "value", "goal", "verdict"], left=2))
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
