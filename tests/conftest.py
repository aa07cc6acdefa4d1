"""Shared test set-up: the offline STAC schema mirror and the recorded fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import stac_offline

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "stacbridge" / "sandbox" / "fixtures"
# The project's offline schema mirror: STAC_OFFLINE / "schemas" / <host> / <URL path>
STAC_OFFLINE = Path(stac_offline.__file__).resolve().parent
# stac-api-validator with its schema fetches answered from that mirror
STAC_API_VALIDATOR = STAC_OFFLINE / "run_stac_api_validator.py"

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

    # breaker_seconds=0: a fault one test injects must not leave the shared gateway skipping
    # that provider for the next tests (tests of the breaker build their own gateway)
    app = create_app(sandbox.settings(secret_keys=["test-key"], breaker_seconds=0))
    with ServerThread(app) as server:
        yield server.url
