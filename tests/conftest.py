"""Shared test set-up: the offline STAC schema mirror and the recorded fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import stac_offline

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "stacbridge" / "sandbox" / "fixtures"
# stac-api-validator with its schema fetches answered from tests/stac_offline/schemas/
STAC_API_VALIDATOR = Path(stac_offline.__file__).with_name("run_stac_api_validator.py")

# Before anything creates a requests session or validates: STAC schemas come from the
# project's own offline mirror (tests/stac_offline/), never from the network.
stac_offline.install()


@pytest.fixture(scope="session")
def cmr_fixtures() -> Path:
    return FIXTURES / "cmr"


def validate_stac(obj: dict) -> None:
    """Validate a STAC dict (core and every extension it lists) against the offline mirror."""
    import pystac.validation

    pystac.validation.validate_dict(obj)


@pytest.fixture(scope="session")
def sandbox():
    """Every provider emulator, over real HTTP on 127.0.0.1, for the whole test session."""
    from stacbridge.sandbox import Sandbox

    with Sandbox() as box:
        yield box


@pytest.fixture(scope="session")
def gateway(sandbox):
    """The gateway itself, wired to the sandbox, served over real HTTP."""
    from stacbridge.app import create_app
    from stacbridge.sandbox.server import ServerThread

    app = create_app(sandbox.settings(secret_keys=["test-key"]))
    with ServerThread(app) as server:
        yield server.url
