"""Server side of the benchmarks: run the sandbox emulators or the gateway in *this* process.

    python bench/_serve.py sandbox    # every emulator (CMR, EDL, S3, data hosts), in threads
    python bench/_serve.py gateway    # the gateway, settings from STACBRIDGE_* variables

Each mode prints one JSON line on stdout once its servers answer (URLs, pid) and then runs
until stdin closes, so the measuring client (`_harness.py`) owns its lifetime.  Running the
servers in their own processes keeps their GIL away from the client's (design §9 numbers are
per process/core).
"""

from __future__ import annotations

import json
import os
import sys


def _wait_for_stdin_eof() -> None:
    try:
        while sys.stdin.readline():
            pass
    except (KeyboardInterrupt, OSError):
        pass


def run_sandbox() -> None:
    from stacbridge.sandbox import Sandbox

    sandbox = Sandbox().start()
    ed = sandbox.earthdata
    info = {
        "pid": os.getpid(),
        "cmr_url": sandbox.cmr_url,
        "edl": ed.edl.url,
        "s3": ed.s3.url,
        "host": ed.host.url,
        "onprem": ed.onprem.url,
        "plain": ed.plain.url,
        "environment": sandbox.environment(),
    }
    print(json.dumps(info), flush=True)
    try:
        _wait_for_stdin_eof()
    finally:
        sandbox.stop()


def run_gateway() -> None:
    from stacbridge.app import create_app
    from stacbridge.config import load_settings
    from stacbridge.sandbox.server import ServerThread

    app = create_app(load_settings())
    server = ServerThread(app, host="127.0.0.1", port=int(os.environ.get("BENCH_PORT", "0")))
    server.start()
    print(json.dumps({"pid": os.getpid(), "url": server.url}), flush=True)
    try:
        _wait_for_stdin_eof()
    finally:
        server.stop()


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "sandbox":
        run_sandbox()
    elif mode == "gateway":
        run_gateway()
    else:
        sys.exit("usage: _serve.py sandbox|gateway")
