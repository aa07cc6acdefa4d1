"""USGS EarthExplorer M2M: Landsat datasets and scenes as STAC, downloads as orders."""

from __future__ import annotations

from typing import Any

from stacbridge.providers.m2m.config import M2MSettings
from stacbridge.registry import ProviderContext, ProviderSpec


def _build(settings: M2MSettings, context: ProviderContext) -> Any:
    from stacbridge.providers.m2m.provider import M2MProvider

    return M2MProvider(settings, store=context.store)


SPEC = ProviderSpec(
    name="m2m", title="USGS EarthExplorer (M2M)", settings=M2MSettings, build=_build
)
