"""NASA EGI (NSIDC's ESI programmatic access): reformatted and subset granules of CMR items.

An item decorator: it owns no collections; it adds customised assets to the CMR items of the
collections configured in `[egi] collections`, each resolved by running one EGI request.
"""

from __future__ import annotations

from typing import Any

from stacbridge.providers.egi.config import EGISettings
from stacbridge.registry import ProviderContext, ProviderSpec


def _build(settings: EGISettings, context: ProviderContext) -> Any:
    from stacbridge.providers.egi.provider import EGIProvider

    return EGIProvider(settings, earthdata=context.settings.earthdata, store=context.store)


SPEC = ProviderSpec(name="egi", title="NASA EGI", settings=EGISettings, build=_build)
