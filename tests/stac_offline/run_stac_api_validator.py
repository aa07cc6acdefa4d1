"""Run stac-api-validator with every schema fetch answered from the offline mirror.

Same arguments as upstream's ``stac-api-validator`` command, e.g.::

    python tests/stac_offline/run_stac_api_validator.py --root-url http://127.0.0.1:8000/ \
        --conformance core --conformance item-search --collection HLSL30.v2.0 --geometry '{...}'

Exit status 1 on validation errors *and* when the run crashes.  Upstream's click command prints
``Failed.`` and returns 1 when validation raises (a server error, a dropped connection), which
click's standalone mode turns into exit status 0; this wrapper runs it non-standalone so that a
crash is a failure too.  Callers should still assert on the ``Errors: none`` line.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    if __package__ in (None, ""):
        # run as a script: make `tests.stac_offline` importable from the project root
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.stac_offline import install

    install()
    from stac_api_validator.__main__ import main as validator

    status = validator(args=argv, standalone_mode=False)
    return 1 if status else 0


if __name__ == "__main__":
    sys.exit(main())
