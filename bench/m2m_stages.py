"""CPU seconds of each stage of one M2M page in the gateway, on the emulator's real answers.

`m2m_page.py` times whole pages against the emulator; on a shared machine its wall times swing
with the load.  This one fetches one page's `scene-search` and `download-options` answers from
the emulator once, then runs the gateway's own stages on them in this process, each `--repeat`
times, and prints the least CPU time (`time.process_time`) of each: the floor the machine's
noise leaves alone, to compare a change before and after.

* decode scene-search / download-options: `M2MClient`'s decoder on the bodies
* draft: `translate.scene_draft` of every scene (while download-options is in flight)
* finish + check: `finish_scene` with the scene's options, and `check_item`
* present: what the API does with each Item (links, signed asset hrefs via `proxies()`)
* encode: orjson of the FeatureCollection

    python bench/m2m_stages.py [--limit 1000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import orjson
from _harness import BENCH_KEY, banner, m2m_api_key, sandbox_process, table

DATASET = "landsat_ot_c2_l2"


def fetch_bodies(sandbox: Any, limit: int) -> tuple[bytes, bytes]:
    env = sandbox.info["environment"]
    base = env["STACBRIDGE_M2M__URL"]
    with httpx.Client(timeout=300) as client:
        headers = {"X-Auth-Token": m2m_api_key(client, env)}
        search = client.post(
            base + "scene-search",
            json={
                "datasetName": DATASET,
                "maxResults": limit,
                "startingNumber": 1,
                "metadataType": "full",
                "sceneFilter": {},
            },
            headers=headers,
        ).content
        ids = [r["entityId"] for r in orjson.loads(search)["data"]["results"]]
        options = client.post(
            base + "download-options",
            json={"datasetName": DATASET, "entityIds": ids},
            headers=headers,
        ).content
    return search, options


def least(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        started = time.process_time()
        out = fn()
        best = min(best, time.process_time() - started)
    return best, out


def run(search_body: bytes, options_body: bytes, repeat: int) -> dict[str, float]:
    from stacbridge.api.present import Presenter
    from stacbridge.assets.rewrite import AssetRewriter
    from stacbridge.checks import check_item
    from stacbridge.perf import gc_paused
    from stacbridge.providers.m2m import client as m2m_client
    from stacbridge.providers.m2m import translate
    from stacbridge.providers.m2m.config import M2MSettings
    from stacbridge.providers.m2m.provider import M2MProvider
    from stacbridge.signing import Signer

    decode = m2m_client._decode
    provider = M2MProvider(M2MSettings(enabled=True))
    presenter = Presenter(_Registry(), AssetRewriter(Signer([BENCH_KEY]), 3600.0), "bench")
    times: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        def paused() -> Any:
            with gc_paused():
                return fn()

        times[name], out = least(paused, repeat)
        return out

    scenes = timed("decode scene-search", lambda: decode(search_body))["data"]["results"]
    options = timed("decode download-options", lambda: decode(options_body))["data"]
    drafts = timed("draft", lambda: [translate.scene_draft(s, DATASET) for s in scenes])

    def finish() -> list[dict]:
        # drafts are finished once (they become the Items): draft again, untimed, each run
        fresh = [translate.scene_draft(s, DATASET) for s in scenes]
        started = time.process_time()
        by_entity = translate.group_download_options(options)
        items = [
            check_item(translate.finish_scene(d, by_entity.get(str(d.entity_id), [])))
            for d in fresh
        ]
        finish.elapsed = time.process_time() - started  # type: ignore[attr-defined]
        return items

    best = float("inf")
    for _ in range(repeat):
        with gc_paused():
            items = finish()
        best = min(best, finish.elapsed)  # type: ignore[attr-defined]
    times["finish + check"] = best
    del drafts

    copies = [orjson.dumps(i) for i in items]  # present mutates: a fresh copy each run
    best = float("inf")
    for _ in range(repeat):
        fresh_items = [orjson.loads(raw) for raw in copies]
        with gc_paused():
            started = time.process_time()
            out = [presenter.item(provider, i, "http://gateway/") for i in fresh_items]
            best = min(best, time.process_time() - started)
    times["present (links, signed hrefs)"] = best
    timed("encode", lambda: orjson.dumps({"type": "FeatureCollection", "features": out}))
    return times


class _Registry:
    """What `Presenter` asks of the provider registry: no decorators, no other sources."""

    decorators: list[Any] = []

    def source_named(self, name: str) -> None:
        return None

    def decorators_for(self, cid: str) -> list[Any]:
        return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with sandbox_process() as sandbox:
        search, options = fetch_bodies(sandbox, args.limit)
    times = run(search, options, args.repeat)
    banner(f"CPU of one {args.limit:,}-scene M2M page's stages (least of {args.repeat} runs)")
    rows = [[k, f"{v * 1000:.1f} ms"] for k, v in times.items()]
    rows.append(["total", f"{sum(times.values()) * 1000:.1f} ms"])
    print(table(rows, ["stage", "CPU"]))


if __name__ == "__main__":
    main()
