"""NASA AppEEARS: products as STAC collections, extractions as orders, tasks as Items.

A product collection's Items are the time steps of a search's area and window; each layer is an
asset whose first download submits one AppEEARS area task for the whole search.  The account's
own tasks are a collection too, each done task's bundle files its assets.
"""

from __future__ import annotations

from typing import Any

from stacbridge.providers.appeears.config import AppEEARSSettings
from stacbridge.registry import ProviderContext, ProviderSpec


def _build(settings: AppEEARSSettings, context: ProviderContext) -> Any:
    from stacbridge.providers.appeears.provider import AppEEARSProvider

    return AppEEARSProvider(settings, earthdata=context.settings.earthdata, store=context.store)


SPEC = ProviderSpec(name="appeears", title="NASA AppEEARS", settings=AppEEARSSettings, build=_build)
