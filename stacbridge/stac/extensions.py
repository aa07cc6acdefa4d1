"""STAC extension schema URIs, and `stac_extensions` derived from the fields an object carries.

Translators used to keep one boolean per extension and append its URI when they remembered to
set the flag: the flags drifted from the fields (an `eo:bands` added by one code path, the URI
by another).  Here the list is *derived* from what is present, so an object declares exactly
the extensions it uses — what the validator checks — and nothing a translator forgot.

A field belongs to an extension by its prefix (`eo:cloud_cover` → eo) or, for the two
extensions whose fields are unprefixed, by its name (`alternate` in an asset → alternate-assets,
`item_assets` in a Collection → item-assets).  Prefixes this module does not know (`m2m:`…) add
nothing: there is no schema to declare for them.

The result is in one fixed order (`CANONICAL_ORDER`), so equal objects serialise equally whichever
translator built them.  `item_extensions` runs once per Item on the hot path (design §9): it
collects the keys of the properties and of every asset into one set (one C-level
`set.update`) and looks that set up in a small cache, since a collection's Items share their
field names; only a set not seen yet is classified key by key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

JSON = dict[str, Any]

EO = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
PROJECTION = "https://stac-extensions.github.io/projection/v1.1.0/schema.json"
FILE = "https://stac-extensions.github.io/file/v2.1.0/schema.json"
GRID = "https://stac-extensions.github.io/grid/v1.1.0/schema.json"
SAT = "https://stac-extensions.github.io/sat/v1.0.0/schema.json"
VIEW = "https://stac-extensions.github.io/view/v1.0.0/schema.json"
SCIENTIFIC = "https://stac-extensions.github.io/scientific/v1.0.0/schema.json"
PROCESSING = "https://stac-extensions.github.io/processing/v1.2.0/schema.json"
LANDSAT = "https://stac-extensions.github.io/landsat/v2.0.0/schema.json"
ORDER = "https://stac-extensions.github.io/order/v1.1.0/schema.json"
ALTERNATE = "https://stac-extensions.github.io/alternate-assets/v1.2.0/schema.json"
ITEM_ASSETS = "https://stac-extensions.github.io/item-assets/v1.0.0/schema.json"

#: The order URIs appear in `stac_extensions`: the order of this tuple, whatever found them.
CANONICAL_ORDER: tuple[str, ...] = (
    EO,
    PROJECTION,
    FILE,
    GRID,
    SAT,
    VIEW,
    SCIENTIFIC,
    PROCESSING,
    LANDSAT,
    ORDER,
    ALTERNATE,
    ITEM_ASSETS,
)

#: field prefix (with its colon) or unprefixed field name → extension URI
BY_FIELD: dict[str, str] = {
    "eo:": EO,
    "proj:": PROJECTION,
    "file:": FILE,
    "grid:": GRID,
    "sat:": SAT,
    "view:": VIEW,
    "sci:": SCIENTIFIC,
    "processing:": PROCESSING,
    "landsat:": LANDSAT,
    "order:": ORDER,
    "alternate": ALTERNATE,
    "item_assets": ITEM_ASSETS,
}
_RANK = {uri: i for i, uri in enumerate(CANONICAL_ORDER)}


def extension_for(field: str) -> str | None:
    """The extension URI a field name belongs to (`view:sun_azimuth` → view), or None."""
    i = field.find(":")
    return BY_FIELD.get(field[: i + 1] if i > 0 else field)


def _uris(keys: Iterable[str]) -> list[str]:
    """The extension URIs of a set of field names, in `CANONICAL_ORDER`."""
    get = BY_FIELD.get
    found: set[str] = set()
    for key in keys:
        i = key.find(":")
        uri = get(key[: i + 1] if i > 0 else key)
        if uri is not None:
            found.add(uri)
    if len(found) < 2:
        return list(found)
    return sorted(found, key=_RANK.__getitem__)


# field-name set → its URIs.  The Items of one collection carry the same field names, so a
# page costs one `_uris` per distinct set.  Bounded: cleared when full (sets seen once, such
# as those of a passed-through upstream, must not grow it without limit).
_CACHE: dict[frozenset[str], list[str]] = {}
_CACHE_SIZE = 512


def item_extensions(properties: JSON, assets: JSON) -> list[str]:
    """`stac_extensions` of an Item with these `properties` and `assets` (a new list)."""
    keys = set(properties)
    keys.update(*assets.values())
    frozen = frozenset(keys)
    uris = _CACHE.get(frozen)
    if uris is None:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        uris = _CACHE[frozen] = _uris(frozen)
    return uris.copy()


def collection_extensions(collection: JSON) -> list[str]:
    """`stac_extensions` of a Collection: its own fields, `summaries`, `assets`, `item_assets`.

    An `item_assets` definition's fields (`eo:bands`…) count: the Collection's schema check
    validates them against the extension that defines them.
    """
    keys = set(collection)
    keys.update(collection.get("summaries") or ())
    for group in ("assets", "item_assets"):
        for asset in (collection.get(group) or {}).values():
            keys.update(asset)
    return _uris(keys)


def stac_extensions(obj: JSON) -> list[str]:
    """`stac_extensions` for a STAC Item (`type: Feature`) or Collection dict, from its fields."""
    if obj.get("type") == "Feature":
        return item_extensions(obj.get("properties") or {}, obj.get("assets") or {})
    return collection_extensions(obj)
