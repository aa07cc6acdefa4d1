"""NASA CMR (Earthdata search): collections and granules as STAC, data through Earthdata Login."""

from __future__ import annotations

from typing import Any

from stacbridge.providers.cmr.config import CMRSettings
from stacbridge.registry import ProviderContext, ProviderSpec


def _build(settings: CMRSettings, context: ProviderContext) -> Any:
    from stacbridge.providers.cmr.provider import CMRProvider

    return CMRProvider(settings, earthdata=context.settings.earthdata, store=context.store)


SPEC = ProviderSpec(name="cmr", title="NASA Earthdata (CMR)", settings=CMRSettings, build=_build)
