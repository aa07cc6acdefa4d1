"""The signing proxy's streaming throughput ÷ nginx's, as a tuned reverse proxy in front of the
same data host and the same 1 GB file (design §9: at least as fast as nginx, goal ≥ 1.0).

Three ways to read `x/large/1GB.bin` from the sandbox's plain data host, measured
alternately in one run (A B C, C B A, ...; medians and the per-round spread):

* gateway: the gateway's `/assets/{token}/...` proxy, set up as gateway T in proxy.py (the
  plain host on its allow-list, an EDL bearer token the plain host ignores);
* nginx: `bench/nginx.conf` rendered for the data host's port and a free loopback port, run
  in the foreground by this script in a temporary prefix with its own pid file and error log
  (1 worker, buffered proxying with 1 MiB buffers, keep-alive upstream connections, no temp
  files).  It runs as a plain `nginx` from PATH, never on port 80.
* direct: the data host itself, without a proxy.

Rows: gateway ÷ nginx (goal ≥ 1.0) and nginx ÷ direct (how much a tuned proxy costs at all).
The client is httpx `iter_raw()`, as in proxy.py.  If nginx is not installed or does not start,
the script says why and reports no number.

    python bench/vs_nginx.py [--size 1GB] [--rounds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from _harness import (
    BENCH_DIR,
    alternate,
    banner,
    cpu_seconds,
    emit_result,
    fmt_ratio,
    gateway_process,
    median,
    ratio_stats,
    sandbox_process,
    table,
)
from proxy import download, edl_token, netloc, token_url

from stacbridge.sandbox.server import free_port

GOAL = 1.0
CONF = BENCH_DIR / "nginx.conf"


def with_children(pid: int) -> list[int]:
    """`pid` and its child processes (nginx's master and its worker)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return [pid, *(int(c) for c in children)]


class NginxUnavailable(RuntimeError):
    """nginx is missing or would not start; the message says why."""


def nginx_version(binary: str) -> str:
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10)
    return (out.stderr or out.stdout).strip().removeprefix("nginx version: ")


def render(prefix: Path, listen: int, upstream: str) -> str:
    text = CONF.read_text()
    for key, value in {
        "@PREFIX@": str(prefix),
        "@LISTEN@": str(listen),
        "@UPSTREAM@": upstream,
    }.items():
        text = text.replace(key, value)
    return text


@contextlib.contextmanager
def nginx_process(upstream: str) -> Iterator[tuple[str, str, int]]:
    """nginx in front of `upstream` (host:port); yields (its base URL, its version, its
    master's pid)."""
    binary = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if binary is None:
        raise NginxUnavailable("nginx is not installed (Debian: apt-get install -y nginx)")
    version = nginx_version(binary)
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as tmp:
        prefix = Path(tmp)
        port = free_port()
        conf = prefix / "nginx.conf"
        conf.write_text(render(prefix, port, upstream))
        error_log = prefix / "error.log"
        cmd = [binary, "-p", str(prefix), "-c", str(conf), "-e", str(error_log)]
        check = subprocess.run([*cmd, "-t"], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise NginxUnavailable(f"nginx -t rejected the config: {check.stderr.strip()}")
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 15
            while True:
                if proc.poll() is not None:
                    log = error_log.read_text() if error_log.exists() else ""
                    raise NginxUnavailable(
                        f"nginx exited ({proc.returncode}): {proc.stderr.read().strip()} {log}"
                    )
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                if time.monotonic() > deadline:
                    raise NginxUnavailable(f"nginx did not listen on 127.0.0.1:{port}")
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port}", version, proc.pid
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGQUIT)  # graceful stop of our own child
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)


def measure(
    info: dict,
    gateway_url: str,
    nginx_url: str,
    path: str,
    rounds: int,
    pids: dict[str, list[int]] | None = None,
) -> dict:
    """`pids`: the processes to account CPU time to ("gateway proxy", "nginx", "sandbox")."""
    pids = pids or {}
    plain = info["plain"]
    urls = {
        "gateway proxy": token_url(gateway_url, f"{plain}/{path}"),
        "nginx": f"{nginx_url}/{path}",
        "direct": f"{plain}/{path}",
    }
    warm = path.rsplit("/", 1)[0] + "/200MB.bin"
    with httpx.Client(timeout=600) as client:
        # warm-up: connections, the proxy's upstream pool, the host's block cache
        for url in (token_url(gateway_url, f"{plain}/{warm}"), f"{nginx_url}/{warm}"):
            download(client, url)
        sizes: dict[str, int] = {}
        # CPU seconds per round: this client, the proxy process (none when direct), the host
        cpu: dict[str, dict[str, list[float]]] = {
            name: {"client": [], "proxy": [], "data host": []} for name in urls
        }

        def case(name: str):
            def run() -> float:
                proxy_pids = pids.get(name, [])
                if name == "nginx":
                    proxy_pids = [p for m in proxy_pids for p in with_children(m)]
                host_pids = pids.get("sandbox", [])
                before = (time.process_time(), cpu_seconds(*proxy_pids), cpu_seconds(*host_pids))
                result = download(client, urls[name])
                after = (time.process_time(), cpu_seconds(*proxy_pids), cpu_seconds(*host_pids))
                for key, b, a in zip(cpu[name], before, after, strict=True):
                    cpu[name][key].append(a - b)
                sizes[name] = result["bytes"]
                return result["seconds"]

            return run

        samples = alternate({name: case(name) for name in urls}, rounds, warmup=1)
    if len(set(sizes.values())) != 1:
        raise RuntimeError(f"the three paths returned different sizes: {sizes}")
    size = sizes["direct"]
    mbps = {name: [size / s / 1e6 for s in v] for name, v in samples.items()}
    # throughput ratios: time is in the denominator, so A ÷ B in MB/s is B ÷ A in seconds
    vs_nginx = ratio_stats(mbps["gateway proxy"], mbps["nginx"])
    nginx_vs_direct = ratio_stats(mbps["nginx"], mbps["direct"])
    gateway_vs_direct = ratio_stats(mbps["gateway proxy"], mbps["direct"])
    banner(
        f"streaming {path} ({size / 1e9:.2f} GB) from the plain host, median of {rounds} "
        "alternating rounds (client: httpx iter_raw)"
    )
    rows = [
        [
            name,
            f"{median(v):,.0f}",
            f"{min(v):,.0f}–{max(v):,.0f}",
            ", ".join(f"{x:.0f}" for x in v),
        ]
        for name, v in mbps.items()
    ]
    print(table(rows, ["path", "MB/s (median)", "range", "each round"]))
    # warm-up rounds are in cpu[...] too: keep the measured rounds only (the last `rounds`)
    cpu_per_gb = {
        name: {k: median(v[-rounds:]) / (size / 1e9) for k, v in parts.items()}
        for name, parts in cpu.items()
    }
    print(
        "\nCPU seconds per GB (median of the rounds; /proc utime+stime, so 10 ms ticks):\n"
        + table(
            [
                [name, *(f"{v:.2f}" for v in parts.values()), f"{sum(parts.values()):.2f}"]
                for name, parts in cpu_per_gb.items()
            ],
            ["path", "client", "proxy", "data host", "all three"],
        )
    )
    print(
        f"\nthroughput gateway proxy ÷ nginx: {fmt_ratio(vs_nginx)}  "
        f"(goal ≥ {GOAL}: {'ok' if vs_nginx['ratio'] >= GOAL else 'NOT MET'})"
    )
    print(f"throughput nginx ÷ direct: {fmt_ratio(nginx_vs_direct)}")
    print(f"throughput gateway proxy ÷ direct: {fmt_ratio(gateway_vs_direct)}")
    return {
        "bytes": size,
        "proxy_vs_nginx": vs_nginx,
        "nginx_vs_direct": nginx_vs_direct,
        "proxy_vs_direct": gateway_vs_direct,
        "mbps_median": {name: median(v) for name, v in mbps.items()},
        "cpu_s_per_gb": cpu_per_gb,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1GB", help="synthetic file size (n·10⁹ for GB)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    path = f"x/large/{args.size}.bin"
    with sandbox_process() as sandbox:
        info = sandbox.info
        hosts = json.loads(info["environment"]["STACBRIDGE_EARTHDATA__DATA_HOSTS"])
        with httpx.Client(timeout=60) as client:
            bearer = edl_token(client, info["edl"])
        gateway_t_env = {
            "STACBRIDGE_EARTHDATA__DATA_HOSTS": json.dumps([*hosts, netloc(info["plain"])]),
            "STACBRIDGE_EARTHDATA__TOKEN": bearer,
        }
        try:
            with (
                nginx_process(netloc(info["plain"])) as (nginx_url, version, nginx_pid),
                gateway_process(sandbox, **gateway_t_env) as gateway,
            ):
                print(f"nginx {version} at {nginx_url} → plain host {info['plain']}")
                pids = {
                    "gateway proxy": [gateway.pid],
                    "nginx": [nginx_pid],
                    "sandbox": [sandbox.pid],
                }
                results = measure(info, gateway.info["url"], nginx_url, path, args.rounds, pids)
                results["nginx_version"] = version
        except NginxUnavailable as exc:
            print(f"vs_nginx cannot run: {exc}")
            results = {"skipped": str(exc)}
    emit_result("vs_nginx", results)
    return results


if __name__ == "__main__":
    main()
