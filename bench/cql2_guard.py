"""What cql2 costs on hostile filters, and on the worst filters `cql2_guard` still lets through.

Not a test: it prints measurements, one subprocess per filter, so that a segfault or an
allocation abort in cql2 kills only that child.  Each child has a 6 GB address-space limit.

    python bench/cql2_guard.py            # the worst filters within the limits (≈ 20 s)
    python bench/cql2_guard.py --blowup   # also raw cql2 on growing hostile shapes (≈ 2 min)
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

CHILD = r"""
import json, resource, statistics, sys, time
import cql2
from stacbridge.api.cql2_guard import check_filter
expr = json.loads(sys.stdin.read())
cql2.Expr("a = 1").validate()  # warm up: the first validate() in a process costs more
guarded = "passes"
try:
    check_filter(expr)
except ValueError as exc:
    guarded = f"refused: {exc}"
if sys.argv[1] == "guarded" and guarded != "passes":
    print(json.dumps({"guard": guarded})); sys.exit(0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
times = []
for _ in range(3 if sys.argv[1] == "guarded" else 1):
    t0 = time.perf_counter()
    cql2.Expr(expr).validate()
    times.append(time.perf_counter() - t0)
peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024
print(json.dumps({"guard": guarded, "ms": round(1000 * statistics.median(times), 1),
                  "peak_mb": peak}))
"""

EQ = {"op": "=", "args": [{"property": "a"}, 1]}


def chain(op: str, n: int, leaf: object = EQ) -> object:
    out = leaf
    for _ in range(n):
        out = {"op": op, "args": [out]}
    return out


def alternating(n: int) -> object:
    out: object = EQ
    for i in range(n):
        out = {"op": "or" if i % 2 else "and", "args": [EQ, out]}
    return out


def nested_array(n: int) -> object:
    value: object = [1]
    for _ in range(n - 1):
        value = [value, 2]
    return {"op": "a_equals", "args": [{"property": "a"}, value]}


# Hostile shapes, as in issue 10: raw cql2 at growing sizes.
BLOWUP = {
    "text ((( a = 1 )))": lambda n: "(" * n + "a = 1" + ")" * n,
    "text NOT NOT ... a = 1": lambda n: "NOT " * n + "a = 1",
    "text a = 1 AND (a = 1 AND (...))": lambda n: "a = 1 AND (" * n + "a = 1" + ")" * n,
    "text a = 1 + 1 + ... + 1": lambda n: "a = " + " + ".join(["1"] * n),
    "text f(f(f(...)))": lambda n: "f(" * n + "1" + ")" * n + " = 1",
    "json not chain": lambda n: chain("not", n),
    "json nested arrays": nested_array,
    "text id IN (...)": lambda n: "id IN (" + ",".join(f"'i{i}'" for i in range(n)) + ")",
}
SIZES = [10, 100, 400, 2000, 5000]

# The worst that still passes: each at MAX_EXPRESSION_DEPTH = 5 (one step more is refused), and the
# widest flat filters that fit MAX_TEXT_LENGTH / MAX_NODES.
WORST = {
    "and/or alternating, 4 deep": alternating(4),
    "NOT NOT a = 1": "NOT NOT a = 1",
    "a = 1 AND (NOT a = 1 OR a = 2)": "a = 1 AND (NOT a = 1 OR a = 2)",
    "f(g(a)) = 1": "f(g(a)) = 1",
    "A_EQUALS(a, ((1, 2), 3))": "A_EQUALS(a, ((1, 2), 3))",
    "a = 1 + 1 + 1 + 1 + 1": "a = 1 + 1 + 1 + 1 + 1",
    "a = CASEI(CASEI(CASEI(CASEI('x'))))": "a = CASEI(CASEI(CASEI(CASEI('x'))))",
    "NOT a IN ('x', ...) 19 KB": "NOT a IN (" + ",".join(f"'{i:05}'" for i in range(2400)) + ")",
    "1,700 ORed comparisons 20 KB": " OR ".join(f"a = {i:03}" for i in range(1700)),
    "1,100 NOT comparisons (JSON, ~9,900 values)": {
        "op": "and",
        "args": [
            {"op": "not", "args": [{"op": "=", "args": [{"property": "a"}, i]}]}
            for i in range(1100)
        ],
    },
    "3,000-vertex polygon (JSON)": {
        "op": "s_intersects",
        "args": [
            {"property": "geometry"},
            {
                "type": "Polygon",
                "coordinates": [[[i / 1000, i / 1000] for i in range(2999)] + [[0, 0]]],
            },
        ],
    },
}


def run(mode: str, expr: object, timeout: float = 30) -> dict[str, object]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))

    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, mode],
            input=json.dumps(expr),
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=limit,
        )
    except subprocess.TimeoutExpired:
        return {"result": f"still running after {timeout:.0f} s"}
    wall = round(time.perf_counter() - t0, 1)
    if proc.returncode:
        return {
            "result": f"exit {proc.returncode} after {wall} s",
            "stderr": proc.stderr.strip().splitlines()[:1],
        }
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    if "--blowup" in sys.argv:
        print("raw cql2.Expr(...).validate() on hostile shapes")
        for name, make in BLOWUP.items():
            for n in SIZES:
                result = run("raw", make(n))
                print(f"  {name:36} n={n:5}  {result}", flush=True)
                if "ms" not in result or float(result["ms"]) > 10_000:  # type: ignore[arg-type]
                    break
    print("worst filters within the guard's limits (median of 3)")
    for name, expr in WORST.items():
        print(f"  {name:44} {run('guarded', expr)}", flush=True)


if __name__ == "__main__":
    main()
