"""STAC API upstreams (ESA MAAP, Planetary Computer...): federated as they are, with gateway
links, paging and proxied assets; each configured upstream is a provider of its own."""

from __future__ import annotations

from typing import Any

from stacbridge.providers.stac.config import StacSettings
from stacbridge.registry import ProviderContext, ProviderSpec


def _build(settings: StacSettings, context: ProviderContext) -> list[Any]:
    from stacbridge.providers.stac.provider import StacUpstreamProvider

    return [
        StacUpstreamProvider(name, upstream, store=context.store)
        for name, upstream in settings.upstreams.items()
    ]


SPEC = ProviderSpec(name="stac", title="STAC API upstreams", settings=StacSettings, build=_build)
