"""What every benchmark shares: server processes, process memory, medians, result lines.

The sandbox emulators and the gateway each run in a child process (`_serve.py`); the
benchmark script itself is the measuring client.  One sandbox process serves both sides of a
ratio (raw and through the gateway), so both talk to the very same emulator.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SERVE = BENCH_DIR / "_serve.py"
FIXTURES = REPO / "stacbridge" / "sandbox" / "fixtures" / "cmr"

HLSL30_CONCEPT = "C2021957657-LPCLOUD"
HLSL30_ID = "HLSL30.v2.0"
#: the signing key the benchmark gateways use, so the client can mint asset tokens itself.
BENCH_KEY = "bench-signing-key"
RESULT_PREFIX = "BENCH-RESULT "

# A bench script's sys.path starts with bench/, not the checkout, so `import stacbridge` would
# find whichever stacbridge the venv has installed (in a git worktree: usually another
# checkout's editable install).  Put this checkout first, here and in every child process.
if str(REPO) not in sys.path:
    sys.path.insert(1, str(REPO))


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default: ours) with this checkout first on PYTHONPATH."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]]
    )
    return env


# -- child processes --------------------------------------------------------------------------


class Child:
    """A `_serve.py` child process; `info` is the JSON line it printed once ready."""

    def __init__(self, mode: str, env: dict[str, str] | None = None, timeout: float = 60.0) -> None:
        self.mode = mode
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVE), mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=child_env(env),
            cwd=str(REPO),
            text=True,
        )
        self.info: dict[str, Any] = self._read_ready(timeout)
        self.pid: int = self.proc.pid

    def _read_ready(self, timeout: float) -> dict[str, Any]:
        box: dict[str, str] = {}

        def read() -> None:
            assert self.proc.stdout is not None
            box["line"] = self.proc.stdout.readline()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        line = box.get("line", "")
        if not line:
            self.stop()
            raise RuntimeError(f"{self.mode} process did not start (exit {self.proc.poll()})")
        return json.loads(line)

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.terminate()  # our own child, by its Popen handle
            self.proc.wait(timeout=10)


@contextlib.contextmanager
def sandbox_process() -> Iterator[Child]:
    """Every emulator in one child process; `.info` has cmr_url, edl, onprem, plain, ..."""
    child = Child("sandbox")
    try:
        yield child
    finally:
        child.stop()


def gateway_env(sandbox: Child, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACBRIDGE_")}
    env.update(sandbox.info["environment"])
    env.update(
        {
            "STACBRIDGE_STORE_URL": "memory://",
            "STACBRIDGE_SECRET_KEYS": json.dumps([BENCH_KEY]),
            "STACBRIDGE_LOG_LEVEL": "warning",
        }
    )
    env.update(overrides)
    return env


@contextlib.contextmanager
def gateway_process(sandbox: Child, **env_overrides: str) -> Iterator[Child]:
    """The gateway (one uvicorn server) in its own process, wired to `sandbox`."""
    child = Child("gateway", env=gateway_env(sandbox, **env_overrides))
    try:
        yield child
    finally:
        child.stop()


# -- memory -----------------------------------------------------------------------------------


def proc_status_kb(pid: int | str, field: str) -> int:
    """A `kB` field of /proc/<pid>/status (VmRSS: now, VmHWM: peak)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def rss_mb(pid: int | str = "self") -> float:
    return proc_status_kb(pid, "VmRSS") / 1024


def peak_rss_mb(pid: int | str = "self") -> float:
    return proc_status_kb(pid, "VmHWM") / 1024


def reset_peak_rss(pid: int | str) -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0: write 5 to clear_refs)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def cpu_seconds(*pids: int) -> float:
    """User + system CPU seconds the processes `pids` have used so far (all their threads;
    /proc ticks, so 10 ms resolution).  A process that is gone counts nothing."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            # fields after the parenthesised command name: utime is the 12th, stime the 13th
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def m2m_api_key(client: Any, env: dict[str, str]) -> str:
    """Log in to the M2M emulator the way the gateway does (`login-token`); the API key."""
    answer = client.post(
        env["STACBRIDGE_M2M__URL"] + "login-token",
        json={"username": env["STACBRIDGE_M2M__USERNAME"], "token": env["STACBRIDGE_M2M__TOKEN"]},
    )
    return str(answer.json()["data"])


def client_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class RssSampler:
    """Samples a process's VmRSS every `interval` s in a thread; `.peak` in MB."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid, self.interval = pid, interval
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, KeyError):
                self.peak = max(self.peak, rss_mb(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# -- profiles ---------------------------------------------------------------------------------


#: frames that only wrap the request (event loop, ASGI middleware, the test client).
PLUMBING = (
    "asyncio/",
    "starlette/",
    "fastapi/",
    "httpx/_client.py",
    "httpx/_transports/asgi",
    "stac_fastapi/api/routes",
    "bench/",
    "_contextvars",
    "anyio/",
)


def print_profile(
    profiler: Any, elapsed: float, what: str, top: int = 15, plumbing: Sequence[str] = PLUMBING
) -> None:
    """The `top` functions by cumulative time (without `plumbing` frames) and by own time."""
    import pstats
    import sysconfig

    stats = pstats.Stats(profiler)
    rows = []
    for (path, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():
        where = f"{path}:{line}({func})"
        for prefix in (sysconfig.get_paths()["purelib"] + "/", str(REPO) + "/"):
            where = where.replace(prefix, "")
        rows.append((cumtime, tottime, ncalls, where))
    total = max(r[0] for r in rows)
    banner(f"cProfile of {what} ({elapsed:.3f} s under the profiler)")
    print(f"--- top {top} by cumulative time (event loop / middleware frames left out) ---")
    shown = [r for r in sorted(rows, reverse=True) if not any(p in r[3] for p in plumbing)]
    print(
        table(
            [[w, n, f"{t:.3f}", f"{c:.3f}", f"{c / total:.0%}"] for c, t, n, w in shown[:top]],
            ["function", "calls", "own s", "cumulative s", "of total"],
        )
    )
    print(f"--- top {top} by own time ---")
    print(
        table(
            [
                [w, n, f"{t:.3f}", f"{c:.3f}"]
                for c, t, n, w in sorted(rows, key=lambda r: r[1], reverse=True)[:top]
            ],
            ["function", "calls", "own s", "cumulative s"],
        )
    )


# -- numbers and output -----------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def alternate(
    cases: dict[str, Callable[[], float]], rounds: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Run every case once per round, the order reversed every other round (A B, B A, ...).

    The machine is shared, so its load drifts while a bench runs; running the two sides of a
    ratio back to back, and swapping which one goes first, keeps both sides under the same
    drift and keeps either side from always inheriting the other's warm caches.  Each case
    returns the seconds it measured; warm-up rounds are run and thrown away.
    """
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(rounds):
        for name in names if i % 2 == 0 else reversed(names):
            samples[name].append(cases[name]())
    return samples


def ratio_stats(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """median(a) ÷ median(b), with the spread of the per-round ratios a[i] ÷ b[i].

    The headline is the ratio of the medians; the per-round ratios (same round, measured
    back to back) show how much the machine's noise moved it.
    """
    per_round = [x / y for x, y in zip(a, b, strict=True)]
    return {
        "a": median(a),
        "b": median(b),
        "ratio": median(a) / median(b),
        "ratio_lo": min(per_round),
        "ratio_hi": max(per_round),
        "a_lo": min(a),
        "a_hi": max(a),
        "b_lo": min(b),
        "b_hi": max(b),
        "rounds": len(per_round),
    }


def fmt_ratio(stats: dict[str, float]) -> str:
    """`1.23 (1.10–1.40)`: the ratio of the medians and the lowest and highest round's ratio."""
    return f"{stats['ratio']:.2f} ({stats['ratio_lo']:.2f}–{stats['ratio_hi']:.2f})"


def fmt_side(stats: dict[str, float], side: str) -> str:
    """`1.234 s (1.100–1.400 s)`: one side's median (in seconds) and its extreme rounds."""
    return f"{fmt_s(stats[side])} ({stats[side + '_lo']:.3f}–{stats[side + '_hi']:.3f} s)"


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.3f} s"


def table(rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None, left: int = 1) -> str:
    """Plain-text table: the first `left` columns left-aligned, the others right-aligned."""
    cells = [[str(c) for c in row] for row in ([header] if header else []) + list(rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = []
    for n, row in enumerate(cells):
        lines.append(
            "  ".join(
                c.ljust(w) if i < left else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
        if header and n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def emit_result(name: str, results: dict[str, Any]) -> None:
    """The machine-readable line `run_all.py` collects."""
    print(RESULT_PREFIX + json.dumps({"bench": name, **results}), flush=True)


def banner(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def now() -> float:
    return time.perf_counter()
