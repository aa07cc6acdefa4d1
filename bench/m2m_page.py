"""One M2M page through the gateway ÷ the same page fetched raw from the M2M emulator.

Both sides talk to the same emulator process; the gateway runs in a second process and this
script is the client.  The gateway asks M2M for `scene-search` (`metadataType: full`) and
then `download-options` for the page's scenes, so two raw figures are given:

* raw search:        POST scene-search (full metadata, `LIMIT` scenes)
* raw search+options: the same, then POST download-options for those entity ids
* gateway:           GET /collections/landsat_ot_c2_l2/items?limit=LIMIT

    python bench/m2m_page.py [--limit 1000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from _harness import (
    banner,
    emit_result,
    fmt_s,
    gateway_process,
    median,
    now,
    sandbox_process,
    table,
)

GOAL = 1.2
ROUNDS, WARMUP = 5, 2
DATASET = "landsat_ot_c2_l2"


def measure(sandbox, gateway, limit: int) -> dict:
    env = sandbox.info["environment"]
    base = env["STACBRIDGE_M2M__URL"]
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
        search = {
            "datasetName": DATASET,
            "maxResults": limit,
            "startingNumber": 1,
            "metadataType": "full",
            "sceneFilter": {},
        }

        def raw_search() -> tuple[float, list[str]]:
            started = now()
            body = client.post(base + "scene-search", json=search, headers=headers).json()
            elapsed = now() - started
            return elapsed, [r["entityId"] for r in body["data"]["results"]]

        def raw_both() -> float:
            started = now()
            _, ids = raw_search()
            options = client.post(
                base + "download-options",
                headers=headers,
                json={"datasetName": DATASET, "entityIds": ids},
            )
            options.raise_for_status()
            return now() - started

        def through_gateway() -> float:
            started = now()
            response = client.get(f"{gw}/collections/{DATASET}/items", params={"limit": str(limit)})
            response.raise_for_status()
            assert len(response.json()["features"]) == limit
            return now() - started

        for _ in range(WARMUP):
            raw_search(), raw_both(), through_gateway()
        samples: dict[str, list[float]] = {
            "raw search": [],
            "raw search+options": [],
            "gateway": [],
        }
        for _ in range(ROUNDS):
            samples["raw search"].append(raw_search()[0])
            samples["raw search+options"].append(raw_both())
            samples["gateway"].append(through_gateway())
    med = {k: median(v) for k, v in samples.items()}
    banner(f"{limit:,}-scene M2M page (median of {ROUNDS}, after {WARMUP} warm-up rounds)")
    print(
        table(
            [[k, fmt_s(v), f"{med['gateway'] / v:.2f}"] for k, v in med.items()],
            ["request", "time", "gateway ÷ this"],
        )
    )
    ratio = med["gateway"] / med["raw search"]
    ratio_both = med["gateway"] / med["raw search+options"]
    print(
        f"\nratio gateway ÷ raw scene-search: {ratio:.2f}; ÷ raw search+options: "
        f"{ratio_both:.2f}  (goal ≤ {GOAL}: {'ok' if ratio_both <= GOAL else 'NOT MET'})"
    )
    return {"ratio": ratio, "ratio_with_options": ratio_both, **{k: v for k, v in med.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=1000)
    args = parser.parse_args()
    with sandbox_process() as sandbox, gateway_process(sandbox) as gateway:
        emit_result("m2m_page", measure(sandbox, gateway, args.limit))


if __name__ == "__main__":
    main()
