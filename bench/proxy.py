"""The signing proxy: streaming throughput ÷ a direct download, memory, upstream requests per Range.

Design §9: throughput ≥ 90 % of a direct download from the same host, memory flat for a
multi-GB file, one upstream ranged request per client Range request.

Processes: the sandbox emulators (one process), two gateways (one process each) and this
client.  The client reads with httpx `iter_raw()` (the transport's own chunks, no
re-chunking) and counts bytes.

* **Same server both ways** (the headline ratio): gateway T has the *plain* host on its CMR
  allow-list and uses a service EDL bearer token (`earthdata.token`), which the plain host
  ignores; an asset token whose ref is `{plain}/x/large/1GB.bin` makes the proxy stream from
  the very server the direct download uses.
* **On-prem host, EDL session cookie** (what the brief's first option describes): gateway L is
  the sandbox's own configuration (username/password → EDL OAuth redirect → session cookie)
  and streams `{onprem}/x/large/1GB.bin`; compared with the same file downloaded directly from
  the on-prem host with an EDL bearer token, and with the plain host.
* **Range**: 20 random single-range GETs through gateway L against the on-prem host; the
  host's own request log (`/_sandbox/stats`, `/_sandbox/requests`) counts the upstream
  requests each one caused and whether they were ranged; the bytes are checked.

Gateway memory: VmHWM (reset through /proc/<pid>/clear_refs before each download) minus
VmRSS before it, and a 20 ms VmRSS sampler.

`--profile` also streams the file once through a gateway run in a thread of this process
with cProfile enabled in that thread (diagnostic: where the proxy's time goes).

    python bench/proxy.py [--size 1GB] [--rounds 3] [--profile]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from _harness import (
    BENCH_KEY,
    RssSampler,
    banner,
    emit_result,
    gateway_env,
    gateway_process,
    median,
    now,
    peak_rss_mb,
    print_profile,
    reset_peak_rss,
    rss_mb,
    sandbox_process,
    table,
)

from stacbridge.assets.rewrite import asset_token
from stacbridge.sandbox.files import synthetic_bytes, synthetic_size
from stacbridge.sandbox.run import SANDBOX_EDL_USER
from stacbridge.signing import Signer

GOAL_RATIO = 0.9
GOAL_MEMORY_MB = 50
RANGES = 20


def netloc(url: str) -> str:
    return url.split("://", 1)[1].rstrip("/")


def token_url(gateway_url: str, ref: str) -> str:
    token = asset_token(Signer([BENCH_KEY]), "cmr", ref, 3600)
    return f"{gateway_url}/assets/{token}/{ref.rsplit('/', 1)[1]}"


def download(
    client: httpx.Client,
    url: str,
    headers: dict[str, str] | None = None,
    gateway_pid: int | None = None,
) -> dict:
    """Stream `url` to nowhere; MB/s, and the gateway's RSS growth while it ran."""
    rss_before = rss_mb(gateway_pid) if gateway_pid else 0.0
    if gateway_pid:
        reset_peak_rss(gateway_pid)
    sampler = RssSampler(gateway_pid) if gateway_pid else None
    if sampler:
        sampler.__enter__()
    try:
        started = now()
        size = 0
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code != 200:
                response.read()
                raise RuntimeError(f"GET {url} → {response.status_code}: {response.text[:200]}")
            for chunk in response.iter_raw():
                size += len(chunk)
        seconds = now() - started
    finally:
        if sampler:
            sampler.__exit__()
    out = {"bytes": size, "seconds": seconds, "mbps": size / seconds / 1e6}
    if gateway_pid:
        out["rss_before"] = rss_before
        out["rss_growth"] = max(peak_rss_mb(gateway_pid), sampler.peak) - rss_before
    return out


def edl_token(client: httpx.Client, edl_url: str) -> str:
    response = client.post(f"{edl_url}/api/users/find_or_create_token", auth=SANDBOX_EDL_USER)
    response.raise_for_status()
    return response.json()["access_token"]


def throughput(
    client: httpx.Client, info: dict, gw_t, gw_l, path: str, rounds: int, bearer: str
) -> dict:
    def make_cases(file_path: str) -> dict[str, tuple[str, dict | None, int | None]]:
        plain_ref, onprem_ref = f"{info['plain']}/{file_path}", f"{info['onprem']}/{file_path}"
        return {
            "direct  plain host": (plain_ref, None, None),
            "proxy   plain host (gateway T, same server)": (
                token_url(gw_t.info["url"], plain_ref),
                None,
                gw_t.pid,
            ),
            "direct  on-prem host (EDL bearer)": (
                onprem_ref,
                {"Authorization": f"Bearer {bearer}"},
                None,
            ),
            "proxy   on-prem host (gateway L, EDL cookie)": (
                token_url(gw_l.info["url"], onprem_ref),
                None,
                gw_l.pid,
            ),
        }

    # warm-up: connections, the EDL session, the hosts' block caches
    for url, headers, _ in make_cases(path.rsplit("/", 1)[0] + "/200MB.bin").values():
        download(client, url, headers)
    cases = make_cases(path)
    results: dict[str, list[dict]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (url, headers, pid) in cases.items():
            results[name].append(download(client, url, headers, pid))
    size = results["direct  plain host"][0]["bytes"]
    banner(
        f"streaming {path} ({size / 1e9:.2f} GB), median of {rounds} rounds "
        "(client: httpx iter_raw)"
    )
    med = {name: median([r["mbps"] for r in runs]) for name, runs in results.items()}
    growth = {
        name: max(r["rss_growth"] for r in runs)
        for name, runs in results.items()
        if "rss_growth" in runs[0]
    }
    rows = []
    for name, runs in results.items():
        rows.append(
            [
                name,
                f"{med[name]:,.0f}",
                ", ".join(f"{r['mbps']:.0f}" for r in runs),
                f"{median([r['seconds'] for r in runs]):.2f}",
                f"{growth[name]:.1f}" if name in growth else "-",
            ]
        )
    print(
        table(
            rows, ["path", "MB/s (median)", "each round", "seconds", "gateway RSS growth MB (max)"]
        )
    )
    same = med["proxy   plain host (gateway T, same server)"] / med["direct  plain host"]
    onprem = (
        med["proxy   on-prem host (gateway L, EDL cookie)"]
        / med["direct  on-prem host (EDL bearer)"]
    )
    onprem_vs_plain = (
        med["proxy   on-prem host (gateway L, EDL cookie)"] / med["direct  plain host"]
    )
    worst_growth = max(growth.values())
    print(
        f"\nthroughput ratio proxy ÷ direct, same (plain) server: {same:.2f}  "
        f"(goal ≥ {GOAL_RATIO}: {'ok' if same >= GOAL_RATIO else 'NOT MET'})"
    )
    print(
        f"throughput ratio proxy (on-prem, cookie) ÷ direct on-prem (bearer): {onprem:.2f}; "
        f"÷ direct plain: {onprem_vs_plain:.2f}"
    )
    print(
        f"gateway RSS growth during a download: max {worst_growth:.1f} MB  "
        f"(goal < {GOAL_MEMORY_MB} MB: {'ok' if worst_growth < GOAL_MEMORY_MB else 'NOT MET'})"
    )
    return {
        "ratio_same_server": same,
        "ratio_onprem": onprem,
        "ratio_onprem_vs_plain": onprem_vs_plain,
        "mbps": med,
        "gateway_rss_growth_mb": growth,
        "max_rss_growth_mb": worst_growth,
    }


def ranges(client: httpx.Client, info: dict, gw_l, path: str) -> dict:
    onprem = info["onprem"]
    size = synthetic_size(path)
    assert size is not None
    url = token_url(gw_l.info["url"], f"{onprem}/{path}")
    # one request first so that the EDL session exists (a login is several host requests)
    client.get(url, headers={"Range": "bytes=0-0"}).raise_for_status()
    edl_before = client.get(f"{info['edl']}/_sandbox/stats").json()
    client.post(f"{onprem}/_sandbox/reset")
    rng = random.Random(20240212)
    rows, per_request, ok_bytes = [], [], 0
    for i in range(RANGES):
        length = rng.choice([1, 16_384, 65_536, 500_000, 1_048_576, 4_000_000])
        start = rng.randrange(0, size - length)
        if i == RANGES - 1:
            header, start, end = f"bytes=-{length}", size - length, size  # a suffix range
        else:
            header, end = f"bytes={start}-{start + length - 1}", start + length
        before = client.get(f"{onprem}/_sandbox/stats").json()
        response = client.get(url, headers={"Range": header})
        after = client.get(f"{onprem}/_sandbox/stats").json()
        upstream = after["requests"] - before["requests"]
        body_ok = (
            response.status_code == 206
            and response.content == synthetic_bytes(path, start, end)
            and response.headers.get("content-range") == f"bytes {start}-{end - 1}/{size}"
        )
        ok_bytes += body_ok
        per_request.append(upstream)
        rows.append(
            [
                i + 1,
                header,
                response.status_code,
                len(response.content),
                upstream,
                after["ranged"] - before["ranged"],
                after["bytes_sent"] - before["bytes_sent"],
                "ok" if body_ok else "WRONG",
            ]
        )
    log = client.get(f"{onprem}/_sandbox/requests").json()
    edl_after = client.get(f"{info['edl']}/_sandbox/stats").json()
    banner(f"{RANGES} random Range GETs through the proxy (gateway L → on-prem host, {path})")
    print(
        table(
            rows,
            [
                "#",
                "Range",
                "status",
                "bytes",
                "upstream requests",
                "of them ranged",
                "upstream bytes",
                "content",
            ],
        )
    )
    unranged = [e for e in log if e["range"] is None]
    exact = all(n == 1 for n in per_request)
    print(
        f"\nupstream requests per client Range request: {per_request}  (goal exactly 1 each: "
        f"{'ok' if exact else 'NOT MET'}); unranged upstream requests: {len(unranged)}; "
        f"correct bodies: {ok_bytes}/{RANGES}; EDL requests during the test: "
        f"{edl_after['requests'] - edl_before['requests']}"
    )
    return {
        "upstream_per_range": per_request,
        "exactly_one_each": exact,
        "unranged_upstream": len(unranged),
        "correct_bodies": ok_bytes,
    }


def profile_stream(sandbox, env: dict[str, str], path: str) -> None:
    """Stream `path` from the plain host through an in-process gateway whose server thread
    runs under cProfile; the client (this thread) is not profiled."""
    import cProfile
    import os
    import threading
    import time

    import uvicorn

    from stacbridge.app import create_app
    from stacbridge.config import load_settings
    from stacbridge.sandbox.server import free_port

    os.environ.update(gateway_env(sandbox, **env))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(load_settings()),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
        )
    )
    profiler = cProfile.Profile()

    def serve() -> None:
        profiler.enable()
        try:
            server.run()
        finally:
            profiler.disable()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("profiled gateway did not start")
        time.sleep(0.01)
    url = token_url(f"http://127.0.0.1:{port}", f"{sandbox.info['plain']}/{path}")
    with httpx.Client(timeout=600) as client:
        result = download(client, url)
    server.should_exit = True
    thread.join(timeout=10)
    print_profile(
        profiler,
        result["seconds"],
        f"the gateway thread streaming {path} from the plain host at {result['mbps']:,.0f} MB/s",
        plumbing=("asyncio/base_events", "asyncio/events", "_contextvars"),
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1GB", help="synthetic file size (n·10⁹ for GB)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile one download through an in-process gateway",
    )
    args = parser.parse_args(argv)
    path = f"x/large/{args.size}.bin"

    with sandbox_process() as sandbox:
        info = sandbox.info
        hosts = json.loads(info["environment"]["STACBRIDGE_EARTHDATA__DATA_HOSTS"])
        with httpx.Client(timeout=600) as client:
            bearer = edl_token(client, info["edl"])
            gateway_t_env = {
                "STACBRIDGE_EARTHDATA__DATA_HOSTS": json.dumps([*hosts, netloc(info["plain"])]),
                "STACBRIDGE_EARTHDATA__TOKEN": bearer,
            }
            with (
                gateway_process(sandbox, **gateway_t_env) as gw_t,
                gateway_process(sandbox) as gw_l,
            ):
                print(
                    f"gateway T (pid {gw_t.pid}): EDL bearer token, allow-list + plain host "
                    f"{netloc(info['plain'])}; gateway L (pid {gw_l.pid}): the sandbox's "
                    "EDL username/password (session cookie)"
                )
                results = throughput(client, info, gw_t, gw_l, path, args.rounds, bearer)
                results |= ranges(client, info, gw_l, path)
        if args.profile:
            profile_stream(sandbox, gateway_t_env, path)
    emit_result("proxy", results)
    return results


if __name__ == "__main__":
    main()
