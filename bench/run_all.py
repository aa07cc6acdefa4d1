"""Run every benchmark (each in its own process) and print one summary table of the ratios.

    python bench/run_all.py [--only translate,page,paging,proxy] [--quick] [--profile]

`--quick`: paging stops at 20,000 items and the proxy does one round (a smoke run, not the
design §9 numbers).  `--profile`: page.py and proxy.py also print their cProfile breakdowns.
Each benchmark's own output is shown as it runs; the summary comes last.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import BENCH_DIR, REPO, RESULT_PREFIX, table

BENCHES = ("translate", "page", "paging", "proxy")


def run(name: str, extra: list[str]) -> tuple[dict | None, float, int]:
    print(f"\n##### bench/{name}.py {' '.join(extra)}".rstrip(), flush=True)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(BENCH_DIR / f"{name}.py"), *extra],
        cwd=str(REPO),
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
            "≤ 1.2",
            p["ratio"] <= 1.2,
        )
        row(
            "page", "  /search ÷ raw", f"{p['search_ratio']:.2f}", "≤ 1.2", p["search_ratio"] <= 1.2
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHES))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", action="store_true")
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
    }
    results: dict[str, dict] = {}
    timing, failed = [], []
    for name in names:
        result, seconds, code = run(name, extra[name])
        timing.append(f"{name} {seconds:.0f} s")
        if result is None or code != 0:
            failed.append(name)
        else:
            results[name] = result
    print("\n##### summary (" + ", ".join(timing) + ")")
    print(table(summary(results), ["bench", "measure", "value", "goal", "verdict"], left=2))
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
