"""Fixtures the integration tests share: clients for the emulators' fault controls."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest


@pytest.fixture
def cmr(sandbox) -> Iterator[httpx.Client]:
    """The CMR emulator's controls, with no fault queued before or after the test."""
    with httpx.Client(base_url=sandbox.cmr.url, timeout=30) as client:
        client.delete("/_sandbox/faults")
        yield client
        client.delete("/_sandbox/faults")


@pytest.fixture
def m2m(sandbox) -> Iterator[httpx.Client]:
    """The M2M emulator's controls, with no fault queued before or after the test."""
    with httpx.Client(base_url=sandbox.m2m.url, timeout=30) as client:
        client.delete("/_sandbox/faults")
        yield client
        client.delete("/_sandbox/faults")
