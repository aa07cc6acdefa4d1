"""CMR granule → STAC Item translation speed (design §9: ≥ 20,000 granules/s/core).

1. `granule_to_item` on the recorded `granules.umm_json` pages, each group's records
   translated round-robin in a loop for ≥ 1 s (median of 3 such runs), plus one ≥ 1 s run per
   recorded file.
2. One 2,000-granule generated HLSL30 page, fetched once from the CMR emulator (in its own
   process), pushed through the gateway's CPU path stage by stage: `orjson.loads` the bytes,
   translate every granule, (the gateway's links + signed asset hrefs), `orjson.dumps` the
   FeatureCollection.  Median of 5 runs after a warm-up.

Everything measured here runs on one core, in this process.

    python bench/translate.py
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import orjson
from _harness import (
    BENCH_KEY,
    FIXTURES,
    HLSL30_CONCEPT,
    HLSL30_ID,
    banner,
    emit_result,
    median,
    now,
    sandbox_process,
    table,
)

from stacbridge.providers.cmr import translate

GOAL = 20_000  # granules/s/core
PAGE_SIZE = 2000
PAGE_WINDOW = "2020-01-01T00:00:00Z,2020-03-01T00:00:00Z"
#: records that name their collection only by EntryTitle: the id the provider would use.
BY_TITLE = {
    "HLSL30_LPCLOUD": HLSL30_ID,
    "ATL03_NSIDC_ECS": "ATL03.v005",
}


def _collection_for(path: Path, record: dict) -> str | None:
    ref = (record.get("umm") or {}).get("CollectionReference") or {}
    if ref.get("ShortName") and ref.get("Version") is not None:
        return translate.collection_id(ref["ShortName"], str(ref["Version"]))
    stem = path.stem.split("__")[1]
    return BY_TITLE.get(stem)


def load(pattern: str) -> list[tuple[dict, str | None]]:
    out = []
    for path in sorted(FIXTURES.glob(f"granules_umm_json__{pattern}.json")):
        for record in orjson.loads(path.read_bytes()).get("items", []):
            out.append((record, _collection_for(path, record)))
    return out


def rate(records: list[tuple[dict, str | None]], seconds: float = 1.0) -> float:
    """Granules/s translating `records` round-robin for at least `seconds`."""
    to_item = translate.granule_to_item
    n, started = 0, now()
    deadline = started + seconds
    while True:
        for record, cid in records:
            to_item(record, cid)
        n += len(records)
        t = now()
        if t >= deadline:
            return n / (t - started)


def recorded_pages() -> dict[str, float]:
    banner("granule_to_item on the recorded pages (granules/s/core, median of 3 × ≥1 s)")
    groups = {
        "HLSL30 (2 hits)": load("HLSL30_LPCLOUD__2hits"),
        "Daymet (10)": load("Daymet_ORNL_CLOUD__box_10items"),
        "MOD02QKM p1+p2 (4)": load("MOD02QKM_LAADS__search_after_p*"),
        "all granule fixtures": load("*"),
    }
    rate(groups["all granule fixtures"], 0.5)  # warm-up
    rows, results = [], {}
    for name, records in groups.items():
        r = median([rate(records) for _ in range(3)])
        results[name] = r
        rows.append(
            [
                f"{name} [{len(records)} granules]",
                f"{r:,.0f}",
                f"{1e6 / r:.1f} µs",
                "ok" if r >= GOAL else "BELOW GOAL",
            ]
        )
    print(table(rows, ["records", "granules/s", "per granule", f"goal ≥ {GOAL:,}"]))

    print("\nper recorded file (one ≥1 s run each):")
    rows = []
    for path in sorted(FIXTURES.glob("granules_umm_json__*.json")):
        records = load(path.stem.split("__", 1)[1])
        if not records:
            continue
        r = rate(records)
        rows.append([path.stem.split("__", 1)[1], len(records), f"{r:,.0f}", f"{1e6 / r:.1f} µs"])
    print(table(rows, ["file", "granules", "granules/s", "per granule"]))
    return results


def fetch_page() -> bytes:
    with sandbox_process() as sandbox:
        url = f"{sandbox.info['cmr_url']}/granules.umm_json"
        params = {
            "collection_concept_id": HLSL30_CONCEPT,
            "page_size": str(PAGE_SIZE),
            "temporal": PAGE_WINDOW,
        }
        response = httpx.get(url, params=params, timeout=120)
        response.raise_for_status()
        return response.content


def page_stages(raw: bytes) -> dict[str, float]:
    from stacbridge.api.present import Presenter
    from stacbridge.assets.rewrite import AssetRewriter
    from stacbridge.protocols import ASSETS
    from stacbridge.registry import Registry
    from stacbridge.signing import Signer

    class EveryHttpHref:
        """Proxies every http(s) href, as CMR does for its data hosts: the page's hrefs point
        at the sandbox's hosts, which no default allow-list names, so the real provider would
        sign none of them and the rewrite stage would measure nothing."""

        name, title, roles = "cmr", "bench", frozenset({ASSETS})

        def proxies(self, href: str) -> bool:
            return href.startswith(("https://", "http://"))

    signer = Signer([BENCH_KEY])
    provider = EveryHttpHref()
    presenter = Presenter(Registry([provider]), AssetRewriter(signer, 7 * 24 * 3600), "bench")
    base = "http://127.0.0.1:8000/"
    to_item = translate.granule_to_item

    def run() -> dict[str, float]:
        t0 = now()
        records = orjson.loads(raw)["items"]
        t1 = now()
        items = [to_item(r, HLSL30_ID) for r in records]
        t2 = now()
        plain = orjson.dumps(
            {"type": "FeatureCollection", "features": items, "numberReturned": len(items)}
        )
        t3 = now()
        items = [presenter.item(provider, item, base) for item in items]
        t4 = now()
        body = orjson.dumps(
            {
                "type": "FeatureCollection",
                "features": items,
                "links": [],
                "numberReturned": len(items),
            }
        )
        t5 = now()
        return {
            "n": len(records),
            "decode": t1 - t0,
            "translate": t2 - t1,
            "encode": t3 - t2,
            "rewrite": t4 - t3,
            "encode_rewritten": t5 - t4,
            "plain_bytes": len(plain),
            "gateway_bytes": len(body),
        }

    def median_of(runs: int, gc_enabled: bool = True) -> dict[str, float]:
        out = []
        for _ in range(runs):
            gc.collect()
            if not gc_enabled:
                gc.disable()
            try:
                out.append(run())
            finally:
                gc.enable()
        return {k: median([r[k] for r in out]) for k in out[0]}

    run()  # warm-up
    m = median_of(5)
    n = int(m.pop("n"))
    # diagnostic: the same with Python's cyclic GC off (the gateway runs with it on)
    nogc = median_of(3, gc_enabled=False)

    banner(
        f"one generated HLSL30 page: {n:,} granules, {len(raw) / 1e6:.1f} MB of UMM-G JSON "
        "(median of 5)"
    )
    core = m["decode"] + m["translate"] + m["encode"]
    full = m["decode"] + m["translate"] + m["rewrite"] + m["encode_rewritten"]
    rows = [
        ["decode   orjson.loads(page bytes)", f"{m['decode']:.3f}", f"{n / m['decode']:,.0f}"],
        ["translate granule_to_item × n", f"{m['translate']:.3f}", f"{n / m['translate']:,.0f}"],
        [
            "encode   orjson.dumps(FeatureCollection)",
            f"{m['encode']:.3f}",
            f"{n / m['encode']:,.0f}",
        ],
        ["= decode + translate + encode", f"{core:.3f}", f"{n / core:,.0f}"],
        ["(gateway) links + signed asset hrefs", f"{m['rewrite']:.3f}", f"{n / m['rewrite']:,.0f}"],
        [
            "(gateway) encode with signed hrefs",
            f"{m['encode_rewritten']:.3f}",
            f"{n / m['encode_rewritten']:,.0f}",
        ],
        ["= gateway CPU path (decode..encode)", f"{full:.3f}", f"{n / full:,.0f}"],
    ]
    print(table(rows, ["stage", "seconds", "granules/s"]))
    print("\nthe same with the cyclic GC disabled (gc.disable(); diagnostic only):")
    rows = [
        [stage, f"{nogc[stage]:.3f}", f"{n / nogc[stage]:,.0f}", f"{m[stage] / nogc[stage]:.2f}×"]
        for stage in ("decode", "translate", "encode", "rewrite", "encode_rewritten")
    ]
    print(table(rows, ["stage", "seconds", "granules/s", "GC-on ÷ GC-off"]))
    print(
        f"\nbytes: UMM-G page {len(raw):,}; STAC page {m['plain_bytes']:,.0f} "
        f"(upstream hrefs); with gateway hrefs {m['gateway_bytes']:,.0f} "
        f"({m['gateway_bytes'] / len(raw):.2f} × raw)"
    )
    return {
        "n": n,
        "raw_bytes": len(raw),
        **m,
        "core_total": core,
        "gateway_total": full,
        "translate_nogc": nogc["translate"],
    }


def main() -> dict:
    recorded = recorded_pages()
    raw = fetch_page()
    page = page_stages(raw)
    translate_rate = page["n"] / page["translate"]
    core_rate = page["n"] / page["core_total"]
    print(
        f"\ngoal ≥ {GOAL:,} granules/s/core: recorded (all) "
        f"{recorded['all granule fixtures']:,.0f}, generated page translate-only "
        f"{translate_rate:,.0f}, decode+translate+encode {core_rate:,.0f}"
    )
    results = {
        "recorded_granules_per_s": recorded,
        "page_translate_per_s": translate_rate,
        "page_decode_translate_encode_per_s": core_rate,
        "page_gateway_cpu_per_s": page["n"] / page["gateway_total"],
        "page_translate_gc_off_per_s": page["n"] / page["translate_nogc"],
        "page_stages_s": {
            k: page[k] for k in ("decode", "translate", "encode", "rewrite", "encode_rewritten")
        },
    }
    emit_result("translate", results)
    return results


if __name__ == "__main__":
    main()
