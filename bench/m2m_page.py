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

Rounds alternate the order (A B C, C B A, ...); medians and the per-round spread.

    python bench/m2m_page.py [--limit 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from _harness import (
    alternate,
    banner,
    emit_result,
    fmt_ratio,
    fmt_s,
    gateway_process,
    median,
    now,
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
        key = client.post(
            base + "login-token",
            json={
                "username": env["STACBRIDGE_M2M__USERNAME"],
                "token": env["STACBRIDGE_M2M__TOKEN"],
            },
        ).json()["data"]
        headers = {"X-Auth-Token": key}

        def through_gateway() -> float:
            started = now()
            response = client.get(f"{gw}/collections/{DATASET}/items", params={"limit": str(limit)})
            response.raise_for_status()
            elapsed = now() - started
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

        def raw_page(only_search: bool = False) -> float:
            started = now()
            ids: list[str] = []
            for endpoint, body in calls[:1] if only_search else calls:
                if endpoint == "download-options":
                    body = {**body, "entityIds": ids}
                response = client.post(base + endpoint, json=body, headers=headers)
                response.raise_for_status()
                answer = response.json()
                if answer.get("errorCode"):
                    raise RuntimeError(f"{endpoint}: {answer['errorCode']}")
                if endpoint == "scene-search":
                    ids = [r["entityId"] for r in answer["data"]["results"]]
            return now() - started

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
    page = ratio_stats(samples["gateway"], samples["raw page (gateway's calls)"])
    search = ratio_stats(samples["gateway"], samples["raw scene-search only"])
    banner(
        f"{limit:,}-scene M2M page (median of {rounds} alternating rounds, after "
        f"{WARMUP} warm-up pages)"
    )
    print(
        table(
            [[k, fmt_s(median(v)), f"{min(v):.3f}–{max(v):.3f} s"] for k, v in samples.items()],
            ["request", "time (median)", "rounds"],
        )
    )
    print(
        f"\nratio gateway ÷ raw page: {fmt_ratio(page)}  (goal ≤ {GOAL}: "
        f"{'ok' if page['ratio'] <= GOAL else 'NOT MET'}); ÷ raw scene-search alone: "
        f"{fmt_ratio(search)}"
    )
    print(
        f"raw page = the gateway's M2M calls {[c[0] for c in calls]}, same bodies; the "
        f"emulator logged the replay identically: {identical}"
    )
    return {
        "ratio": page["ratio"],
        "page": page,
        "search_only": search,
        "calls": [c[0] for c in calls],
        "raw_is_gateway_request": identical,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with sandbox_process() as sandbox, gateway_process(sandbox) as gateway:
        emit_result("m2m_page", measure(sandbox, gateway, args.limit, args.rounds))


if __name__ == "__main__":
    main()
