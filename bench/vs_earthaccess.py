"""10,000 HLSL30 granules: pystac-client through the gateway ÷ earthaccess straight from CMR.

Design §9 puts the gateway against the tool a user would otherwise run: earthaccess, which
pages CMR's UMM-G itself.  Both sides fetch the same 10,000 granules (same collection, same
temporal window, 2,000 per page) from the same CMR emulator process, measured alternately in
one run (A B, B A, ...; medians and the spread of the per-round ratios):

* A, `items_as_dicts`: `Client.open(gateway).search(collections=["HLSL30.v2.0"],
  datetime=<window>, limit=2000, max_items=10000).items_as_dicts()` (goal ≤ 1.2 × B);
* A', `.items()`: the same search building `pystac.Item` objects (reported, no goal);
* B: `earthaccess.search_data(count=10000, collection_concept_id=..., temporal=<window>)`,
  which returns earthaccess `DataGranule` objects.

Pointing earthaccess at the emulator: `search_data` queries CMR at
`earthaccess.__auth__.system.cmr_base_url` only once the auth object is authenticated (an
anonymous search always goes to CMR OPS).  So the bench logs the auth object in with the
"environment" strategy, an `EARTHDATA_TOKEN` minted by the sandbox's EDL, and a `System`
whose CMR root is the emulator.  That login makes no request.  The bench does not call
`earthaccess.login()`, because that also builds a `Store`, and a `Store` probes the EC2
metadata address 169.254.169.254 (the bench stays on loopback).

The emulator's request log is read after one run of each side, to check that both asked
CMR for the same pages: the same filters (earthaccess writes `collection_concept_id[]` and
`temporal[]`, the gateway posts a form without the brackets, and CMR reads both the same
way), the same `page_size`, and the same chain of `cmr-search-after` tokens.  earthaccess
also sends one `page_size=0` request to count the hits.  That request is part of what
`search_data` costs, so it stays in B.

    python bench/vs_earthaccess.py [--items 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import parse_qsl

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from _harness import (
    HLSL30_CONCEPT,
    HLSL30_ID,
    alternate,
    banner,
    emit_result,
    fmt_ratio,
    fmt_s,
    fmt_side,
    gateway_process,
    median,
    now,
    ratio_stats,
    sandbox_process,
    table,
)

GOAL = 1.2
LIMIT = 2000
START, END = "2020-01-01T00:00:00Z", "2020-03-01T00:00:00Z"  # ≈ 16,000 generated granules


def peer_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("earthaccess", "python-cmr", "pystac-client")}


def point_earthaccess_at(sandbox) -> None:
    """Log earthaccess's auth object in to the emulators, without any network call."""
    import earthaccess
    from earthaccess.system import System

    from stacbridge.sandbox.run import SANDBOX_EDL_USER

    edl = sandbox.info["edl"]
    with httpx.Client(timeout=30) as client:
        response = client.post(f"{edl}/api/users/find_or_create_token", auth=SANDBOX_EDL_USER)
        response.raise_for_status()
    os.environ["EARTHDATA_TOKEN"] = response.json()["access_token"]
    cmr = sandbox.info["cmr_url"].rstrip("/") + "/"  # python-cmr appends "granules"
    status = cmr + "status"  # never fetched: search_data does not look at the status page
    system = System(cmr, status, status, edl.split("://", 1)[1])
    earthaccess.__auth__.login(strategy="environment", system=system)
    if not earthaccess.__auth__.authenticated or earthaccess.__auth__.system != system:
        raise RuntimeError("earthaccess did not take the emulator's System")


def cmr_log(client: httpx.Client, sandbox, clear: bool = False) -> list[dict]:
    base = sandbox.info["cmr_url"].removesuffix("/search")
    if clear:
        client.delete(f"{base}/_sandbox/requests")
        return []
    return [
        r
        for r in client.get(f"{base}/_sandbox/requests").json()["requests"]
        if r["path"].endswith("/granules.umm_json")
    ]


def normalised(entry: dict) -> dict:
    """The filters of one logged CMR request, whichever way (GET/POST, `name[]`) they came."""
    pairs = parse_qsl(entry["query"]) + parse_qsl(entry["form"])
    params: dict[str, list[str]] = {}
    for key, value in pairs:
        params.setdefault(key.removesuffix("[]"), []).append(value)
    return {k: sorted(v) for k, v in sorted(params.items())}


def compare_upstream(gateway_log: list[dict], peer_log: list[dict]) -> dict:
    """Did both sides ask CMR for the same pages?  (The hits-only request is set apart.)

    The gateway's CMR client reads one page ahead while a search is paged
    (docs/performance.md): a last request continuing the same chain past the pages the client
    asked for is that read-ahead.  It is counted and reported, not hidden.
    """
    peer_hits = [e for e in peer_log if normalised(e).get("page_size") == ["0"]]
    peer_pages = [e for e in peer_log if e not in peer_hits]
    same_params = len({repr(normalised(e)) for e in gateway_log + peer_pages}) == 1
    gateway_chain = [e["cmr_search_after"] for e in gateway_log]
    peer_chain = [e["cmr_search_after"] for e in peer_pages]
    read_ahead = len(gateway_chain) - len(peer_chain)
    same_chain = gateway_chain[: len(peer_chain)] == peer_chain and read_ahead in (0, 1)
    if read_ahead == 1 and not gateway_chain[-1]:
        same_chain = False  # a read-ahead always continues a chain
    return {
        "gateway_requests": len(gateway_log),
        "gateway_method": sorted({e["method"] for e in gateway_log}),
        "peer_requests": len(peer_log),
        "peer_hits_requests": len(peer_hits),
        "peer_method": sorted({e["method"] for e in peer_log}),
        "params": normalised(gateway_log[0]) if gateway_log else {},
        "same_params": same_params,
        "same_search_after_chain": same_chain,
        "gateway_read_ahead": max(0, read_ahead),
        "identical": same_params and same_chain,
    }


def measure(sandbox, gateway, items: int, rounds: int) -> dict:
    import earthaccess
    from pystac_client import Client

    point_earthaccess_at(sandbox)
    started = now()
    stac = Client.open(gateway.info["url"], timeout=600)
    open_s = now() - started

    def search():
        return stac.search(
            collections=[HLSL30_ID], datetime=f"{START}/{END}", limit=LIMIT, max_items=items
        )

    def gateway_dicts() -> float:
        started = now()
        n = sum(1 for _ in search().items_as_dicts())
        elapsed = now() - started
        if n != items:
            raise RuntimeError(f"pystac-client got {n} items, not {items}")
        return elapsed

    def gateway_items() -> float:
        started = now()
        n = sum(1 for _ in search().items())
        elapsed = now() - started
        if n != items:
            raise RuntimeError(f"pystac-client got {n} items, not {items}")
        return elapsed

    def peer() -> float:
        started = now()
        granules = earthaccess.search_data(
            count=items, collection_concept_id=HLSL30_CONCEPT, temporal=(START, END)
        )
        elapsed = now() - started
        if len(granules) != items:
            raise RuntimeError(f"earthaccess got {len(granules)} granules, not {items}")
        return elapsed

    with httpx.Client(timeout=60) as client:
        cmr_log(client, sandbox, clear=True)
        gateway_dicts()
        gateway_log = cmr_log(client, sandbox)
        cmr_log(client, sandbox, clear=True)
        peer()
        peer_log = cmr_log(client, sandbox)
    upstream = compare_upstream(gateway_log, peer_log)

    cases = {
        "gateway items_as_dicts": gateway_dicts,
        "earthaccess search_data": peer,
        "gateway .items()": gateway_items,
    }
    samples = alternate(cases, rounds, warmup=0)  # the log check above was the warm-up
    dicts = ratio_stats(samples["gateway items_as_dicts"], samples["earthaccess search_data"])
    objects = ratio_stats(samples["gateway .items()"], samples["earthaccess search_data"])

    banner(
        f"{items:,} HLSL30 granules, datetime {START}/{END}, {LIMIT:,} per page "
        f"(median of {rounds} alternating rounds; range = fastest–slowest round)"
    )
    rows = [[name, fmt_s(min(v)), fmt_s(median(v)), fmt_s(max(v))] for name, v in samples.items()]
    print(table(rows, ["client", "fastest", "median", "slowest"]))
    print(
        f"\npystac-client items_as_dicts via gateway ÷ earthaccess: {fmt_ratio(dicts)}  "
        f"(goal ≤ {GOAL}: {'ok' if dicts['ratio'] <= GOAL else 'NOT MET'})"
    )
    print(f"pystac-client .items() via gateway ÷ earthaccess: {fmt_ratio(objects)}  (reported)")
    print(f"Client.open(gateway) once, outside the timings: {fmt_s(open_s)}")
    print(
        f"upstream: gateway {upstream['gateway_requests']} × {upstream['gateway_method']}, "
        f"earthaccess {upstream['peer_requests']} × {upstream['peer_method']} "
        f"({upstream['peer_hits_requests']} of them page_size=0 for the hit count); same "
        f"filters: {upstream['same_params']}; same cmr-search-after chain: "
        f"{upstream['same_search_after_chain']} (the gateway's last "
        f"{upstream['gateway_read_ahead']} request(s): its read-ahead of the next page); "
        f"filters {upstream['params']}"
    )
    print(f"versions: {peer_versions()}")
    print(
        f"A = gateway items_as_dicts {fmt_side(dicts, 'a')}; B = earthaccess {fmt_side(dicts, 'b')}"
    )
    return {
        "items": items,
        "items_as_dicts": dicts,
        "items_objects": objects,
        "client_open_s": open_s,
        "upstream": upstream,
        "versions": peer_versions(),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        import earthaccess  # noqa: F401
        import pystac_client  # noqa: F401
    except ImportError as exc:
        reason = f"peer not installed ({exc.name}): pip install -e '.[bench]'"
        print(f"vs_earthaccess cannot run: {reason}")
        emit_result("vs_earthaccess", {"skipped": reason})
        return {"skipped": reason}
    with sandbox_process() as sandbox, gateway_process(sandbox) as gateway:
        results = measure(sandbox, gateway, args.items, args.rounds)
    emit_result("vs_earthaccess", results)
    return results


if __name__ == "__main__":
    main()
