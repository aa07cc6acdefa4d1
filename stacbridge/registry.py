"""Providers are found, built and routed to here; nothing else in the core names one.

A provider package exposes one `ProviderSpec` and registers it under the
`stacbridge.providers` entry-point group (Python's plug-in mechanism, as pytest and rasterio
use it), so a third party adds a provider by installing a package — no fork, no edit here::

    [project.entry-points."stacbridge.providers"]
    cmr = "stacbridge.providers.cmr:SPEC"

The spec names the provider's settings section (a pydantic model with an `enabled` flag, which
`config.settings_model` adds to the gateway's settings under the provider's name, so
`STACBRIDGE_<NAME>__...` and `[<name>]` TOML tables configure it) and a `build` function.

`Registry` holds the built objects by role and routes collection ids: at start-up it asks
every catalogue for its collection ids and refuses to start when two serve the same id; an id
the table does not know (the upstream grew, or a listing failed at start) is routed to the
catalogue whose id syntax claims it, asking the upstream only when several do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel

from stacbridge.protocols import (
    ASSETS,
    CATALOG,
    DECORATOR,
    AssetSource,
    Catalog,
    CollectionNotFound,
    ItemDecorator,
    Plugin,
    ProviderError,
)

if TYPE_CHECKING:
    from stacbridge.config import Settings
    from stacbridge.store import Store

log = logging.getLogger("stacbridge.registry")

ENTRY_POINT_GROUP = "stacbridge.providers"

#: seconds a catalogue may take to list its collection ids at start-up.
STARTUP_LISTING_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """What a provider's `build` receives besides its own settings section."""

    #: the whole gateway settings (shared sections such as `earthdata` live here).
    settings: Settings
    #: the state store every provider shares (tokens, orders, single flight).
    store: Store


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """How to configure and build one provider."""

    #: settings section name, and the name of the built object.
    name: str
    title: str
    #: the settings section model; it must have an `enabled: bool` field.
    settings: type[BaseModel]
    #: builds the provider's object; a spec that configures several instances of one kind
    #: (each STAC upstream is a provider of its own) returns a list of them.
    build: Callable[[Any, ProviderContext], Plugin | Sequence[Plugin]]


class ConfigurationError(RuntimeError):
    """The deployment cannot start as configured (the message says what to change)."""


def discover(extra: Iterable[ProviderSpec] = ()) -> list[ProviderSpec]:
    """Every installed provider spec (entry points) plus `extra`, ordered by name."""
    specs: dict[str, ProviderSpec] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            spec = point.load()
        except Exception as exc:  # noqa: BLE001 - one broken plug-in must not stop the others
            log.error("provider plug-in %s cannot be loaded: %s", point.value, exc)
            continue
        if not isinstance(spec, ProviderSpec):
            log.error("provider plug-in %s is not a ProviderSpec", point.value)
            continue
        specs.setdefault(spec.name, spec)
    for spec in extra:
        specs[spec.name] = spec
    return [specs[name] for name in sorted(specs)]


def build_plugins(settings: Settings, store: Store, specs: Sequence[ProviderSpec]) -> list[Plugin]:
    """Build every enabled provider of `specs` from its section of `settings`.

    A spec may build several providers from its one section (a list); `Registry` then
    refuses two of them with the same name, as it does for any two providers.
    """
    context = ProviderContext(settings=settings, store=store)
    plugins: list[Plugin] = []
    for spec in specs:
        section = getattr(settings, spec.name, None)
        if section is None or not getattr(section, "enabled", False):
            continue
        built = spec.build(section, context)
        if isinstance(built, Sequence):
            plugins.extend(built)
        else:
            plugins.append(built)
    return plugins


class Registry:
    """The built providers, by role, and the collection-id routing table."""

    def __init__(self, plugins: Sequence[Plugin]) -> None:
        names = [p.name for p in plugins]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigurationError(f"two providers are named {', '.join(duplicates)}")
        self.plugins = list(plugins)
        self.catalogs: list[Catalog] = [cast(Catalog, p) for p in plugins if CATALOG in p.roles]
        self.decorators: list[ItemDecorator] = [
            cast(ItemDecorator, p) for p in plugins if DECORATOR in p.roles
        ]
        self.sources: dict[str, AssetSource] = {
            p.name: cast(AssetSource, p)
            for p in plugins
            if {CATALOG, ASSETS, DECORATOR} & set(p.roles)
        }
        self._table: dict[str, Catalog] = {}

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Start every provider, then build the routing table (conflicts stop the start)."""
        for plugin in self.plugins:
            await plugin.start()
        await self.build_table()

    async def aclose(self) -> None:
        for plugin in self.plugins:
            try:
                await plugin.aclose()
            except Exception as exc:  # noqa: BLE001 - close the others regardless
                log.warning("provider %s did not close cleanly: %s", plugin.name, exc)

    async def build_table(self) -> None:
        """Ask each catalogue for its ids; two catalogues serving one id is an error.

        A catalogue whose listing fails (upstream down) is left out of the table with a
        warning: its ids are then routed by syntax, so one provider down never stops the
        gateway from starting.
        """
        table: dict[str, Catalog] = {}

        async def listing(catalog: Catalog) -> list[str]:
            try:
                return await asyncio.wait_for(catalog.collection_ids(), STARTUP_LISTING_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 - reported, routed by syntax instead
                log.warning(
                    "provider %s: collections not listed at start-up (%s); its ids "
                    "are routed by their syntax",
                    catalog.name,
                    exc or type(exc).__name__,
                )
                return []

        listings = await asyncio.gather(*(listing(c) for c in self.catalogs))
        for catalog, ids in zip(self.catalogs, listings, strict=True):
            for cid in ids:
                other = table.setdefault(cid, catalog)
                if other is not catalog:
                    raise ConfigurationError(
                        f"collection id {cid!r} is served by both {other.name} and "
                        f"{catalog.name}; remove it from one of them"
                    )
        self._table = table

    # -- routing --------------------------------------------------------------------------
    def source_named(self, name: str) -> AssetSource | None:
        return self.sources.get(name)

    def catalog_named(self, name: str) -> Catalog | None:
        return next((c for c in self.catalogs if c.name == name), None)

    async def catalog_for(self, collection_id: str) -> Catalog:
        """The catalogue serving `collection_id`; `CollectionNotFound` when none does."""
        known = self._table.get(collection_id)
        if known is not None:
            return known
        claimants = [c for c in self.catalogs if c.owns(collection_id)]
        if len(claimants) == 1:
            return claimants[0]
        if not claimants:
            raise CollectionNotFound(collection_id)
        having = []
        for catalog in claimants:
            try:
                await catalog.get_collection(collection_id)
            except CollectionNotFound:
                continue
            having.append(catalog)
        if not having:
            raise CollectionNotFound(collection_id)
        if len(having) > 1:
            raise ProviderError(
                having[1].name,
                f"collection id {collection_id!r} is served by both {having[0].name} and "
                f"{having[1].name}; the operator must remove it from one of them",
            )
        self._table[collection_id] = having[0]
        return having[0]

    def decorators_for(self, collection_id: str) -> list[ItemDecorator]:
        return [d for d in self.decorators if d.decorates(collection_id)]
