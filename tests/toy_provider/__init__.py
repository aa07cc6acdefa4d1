"""A toy third provider, written as a third party would: this folder plus one entry point.

It exists to prove the seam: the gateway finds it through the `stacbridge.providers` entry
point (tests/contract writes that entry point into a throw-away distribution on sys.path,
exactly what `pip install` of a package declaring it would do), builds it from its own
`[toy]` settings section, routes its collection, signs its assets and resolves them — without
a line of the core naming it.
"""

from __future__ import annotations

from typing import Any

from stacbridge.registry import ProviderContext, ProviderSpec
from tests.toy_provider.config import ToySettings


def _build(settings: ToySettings, context: ProviderContext) -> Any:
    from tests.toy_provider.provider import ToyCatalog

    return ToyCatalog(settings)


SPEC = ProviderSpec(name="toy", title="Toy grid catalogue", settings=ToySettings, build=_build)
