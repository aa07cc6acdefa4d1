"""The contract every provider passes, run against a gateway that also serves a toy provider.

The toy provider (tests/toy_provider) is installed the way a third party's package would be:
a distribution whose metadata declares the `stacbridge.providers` entry point.  Here that
distribution is a `.dist-info` folder written to a temporary directory on `sys.path`, which is
all `pip install` leaves behind for importlib.metadata to find.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TOY_ENTRY_POINT = "toy = tests.toy_provider:SPEC"


def install_toy_distribution(root: Path) -> Path:
    """Write a minimal installed distribution declaring the toy provider's entry point."""
    info = root / "stacbridge_toy-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: stacbridge-toy\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[stacbridge.providers]\n{TOY_ENTRY_POINT}\n")
    return root


@pytest.fixture(scope="module")
def toy_installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    root = str(install_toy_distribution(tmp_path_factory.mktemp("site")))
    sys.path.insert(0, root)
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(root)
        importlib.invalidate_caches()


@pytest.fixture(scope="module")
def contract_gateway(sandbox, toy_installed) -> Iterator[str]:
    """A gateway over the sandbox providers plus the toy one, found through entry points."""
    from stacbridge.app import create_app
    from stacbridge.providers.appeears import SPEC as APPEEARS_SPEC
    from stacbridge.providers.egi import SPEC as EGI_SPEC
    from stacbridge.providers.stac import SPEC as STAC_SPEC
    from stacbridge.registry import discover
    from stacbridge.sandbox.server import ServerThread

    # AppEEARS, EGI and STAC named explicitly too: an installed metadata older than their
    # entry points lacks them
    specs = discover(extra=[APPEEARS_SPEC, EGI_SPEC, STAC_SPEC])
    settings = sandbox.settings(
        secret_keys=["contract-key"],
        appeears=sandbox.appeears_settings(),
        egi=sandbox.egi_settings(),
        stac=sandbox.stac.settings(),
    )
    app = create_app(settings, specs=specs)
    with ServerThread(app) as server:
        yield server.url
