"""Cheap structural checks on what a translator emitted, before a provider hands it on.

Translators map whatever an upstream sent; a malformed record (a null start time, a number where
a title belongs, a dataset without an alias) can come out as an object that is not valid STAC.
Validating every object against the JSON schemas would cost more than the translation on pages
of 2,000 items, so the providers run these checks instead: plain type tests on the fields STAC
core requires and on the common strings the schemas type (asset titles, provider names).  A
failure raises `ValueError` (one of `protocols.UNTRANSLATABLE`), so the provider skips the
record with the reason logged rather than emitting a wrong answer.  The property test
(tests/unit/test_translate_robustness.py) checks that what passes here validates in full.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from stacbridge.protocols import JSON, ProviderError


def _fail(kind: str, obj: Any, reason: str) -> ValueError:
    ident = obj.get("id") if isinstance(obj, dict) else None
    return ValueError(f"{kind} {ident!r}: {reason}")


def _is_text(value: Any, *, empty: bool = True) -> bool:
    return isinstance(value, str) and (empty or bool(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _optional_text(obj: JSON, keys: tuple[str, ...]) -> str | None:
    """The first of `keys` present in `obj` whose value is not a string, if any."""
    for key in keys:
        if key in obj and not isinstance(obj[key], str):
            return key
    return None


_ABSENT = object()
_ASSET_TEXT = ("title", "description", "type")


def _check_assets(kind: str, obj: JSON, assets: Any) -> None:
    # ~30 assets an Item, 30,000 a page: plain lookups, no helper calls per field
    if not isinstance(assets, dict):
        raise _fail(kind, obj, "assets is not an object")
    for key, asset in assets.items():
        if not isinstance(asset, dict):
            raise _fail(kind, obj, f"asset {key!r} has no href")
        get = asset.get
        href = get("href")
        if not (isinstance(href, str) and href):
            raise _fail(kind, obj, f"asset {key!r} has no href")
        for name in _ASSET_TEXT:
            value = get(name, _ABSENT)
            if value is not _ABSENT and not isinstance(value, str):
                raise _fail(kind, obj, f"asset {key!r} {name} is not a string")
        roles = get("roles", _ABSENT)
        if roles is _ABSENT:
            continue
        if not isinstance(roles, list):
            raise _fail(kind, obj, f"asset {key!r} roles are not strings")
        for role in roles:
            if not isinstance(role, str):
                raise _fail(kind, obj, f"asset {key!r} roles are not strings")


def _check_bbox(kind: str, obj: JSON, bbox: Any) -> None:
    if not (isinstance(bbox, list) and len(bbox) in (4, 6) and all(map(_is_number, bbox))):
        raise _fail(kind, obj, "bbox is not 4 or 6 numbers")


def check_item(item: JSON) -> JSON:
    """`item` itself when its STAC core structure holds; else `ValueError` saying what is off."""
    kind = "item"
    if not isinstance(item, dict) or item.get("type") != "Feature":
        raise _fail(kind, item, "not a GeoJSON Feature")
    if not _is_text(item.get("id"), empty=False):
        raise _fail(kind, item, "no id")
    if "collection" in item and not _is_text(item["collection"], empty=False):
        raise _fail(kind, item, "collection is not a name")
    geometry = item.get("geometry")
    if geometry is not None and not (
        isinstance(geometry, dict) and isinstance(geometry.get("type"), str)
    ):
        raise _fail(kind, item, "geometry is not a GeoJSON geometry")
    if "bbox" in item:
        _check_bbox(kind, item, item["bbox"])
    elif geometry is not None:
        raise _fail(kind, item, "a geometry without a bbox")
    props = item.get("properties")
    if not isinstance(props, dict):
        raise _fail(kind, item, "properties is not an object")
    when = props.get("datetime")
    if when is None:
        if not (
            _is_text(props.get("start_datetime"), empty=False)
            and _is_text(props.get("end_datetime"), empty=False)
        ):
            raise _fail(kind, item, "no datetime, nor start_datetime and end_datetime")
    elif not _is_text(when, empty=False):
        raise _fail(kind, item, "datetime is not a timestamp")
    bad = _optional_text(props, ("title", "description", "start_datetime", "end_datetime"))
    if bad:
        raise _fail(kind, item, f"{bad} is not a string")
    _check_assets(kind, item, item.get("assets"))
    if not isinstance(item.get("links"), list):
        raise _fail(kind, item, "links is not a list")
    return item


def check_collection(collection: JSON) -> JSON:
    """`collection` itself when its STAC core structure holds; else `ValueError`."""
    kind = "collection"
    if not isinstance(collection, dict) or collection.get("type") != "Collection":
        raise _fail(kind, collection, "not a STAC Collection")
    for key in ("id", "description", "license"):
        if not _is_text(collection.get(key), empty=False):
            raise _fail(kind, collection, f"no {key}")
    if "title" in collection and not isinstance(collection["title"], str):
        raise _fail(kind, collection, "title is not a string")
    keywords = collection.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        raise _fail(kind, collection, "keywords are not strings")
    extent = collection.get("extent")
    spatial = extent.get("spatial") if isinstance(extent, dict) else None
    temporal = extent.get("temporal") if isinstance(extent, dict) else None
    boxes = spatial.get("bbox") if isinstance(spatial, dict) else None
    intervals = temporal.get("interval") if isinstance(temporal, dict) else None
    if not (isinstance(boxes, list) and boxes):
        raise _fail(kind, collection, "no spatial extent")
    for bbox in boxes:
        _check_bbox(kind, collection, bbox)
    if not (
        isinstance(intervals, list)
        and intervals
        and all(
            isinstance(i, list) and len(i) == 2 and all(v is None or _is_text(v) for v in i)
            for i in intervals
        )
    ):
        raise _fail(kind, collection, "no temporal extent")
    providers = collection.get("providers", [])
    if not isinstance(providers, list):
        raise _fail(kind, collection, "providers is not a list")
    for provider in providers:
        if not isinstance(provider, dict) or not _is_text(provider.get("name"), empty=False):
            raise _fail(kind, collection, "a provider without a name")
        bad = _optional_text(provider, ("description", "url"))
        if bad:
            raise _fail(kind, collection, f"a provider's {bad} is not a string")
    if "assets" in collection:
        _check_assets(kind, collection, collection["assets"])
    if not isinstance(collection.get("links"), list):
        raise _fail(kind, collection, "links is not a list")
    return collection


# -- the shape of an upstream answer ------------------------------------------------------------
# A page whose envelope is wrong (`items` not a list, a count that is not a number) is the
# upstream's fault as a whole: a 502 naming the provider, never a 500 from a `.get` on a list.


def _kind(value: Any) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
    }.get(type(value), "a number")


def object_of(provider: str, value: Any, what: str) -> JSON:
    """`value` when it is a JSON object (null counts as empty), else a 502 naming `provider`."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProviderError(provider, f"{what} is {_kind(value)}, not an object")
    return value


def records_of(provider: str, value: Any, what: str) -> list[JSON]:
    """`value` when it is a list of JSON objects (null counts as empty), else a 502."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProviderError(provider, f"{what} is {_kind(value)}, not a list")
    for entry in value:
        if not isinstance(entry, dict):
            raise ProviderError(provider, f"{what} holds {_kind(entry)}, not only objects")
    return value


def count_of(provider: str, value: Any, what: str) -> int | None:
    """A non-negative count (an int, or ASCII digits as in a header); None when absent."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    raise ProviderError(provider, f"{what} is not a count: {value!r:.40}")


#: the longest paging cursor taken from an upstream (CMR's are a few sort values).
MAX_CURSOR_CHARS = 4096


def json_array_text(provider: str, value: Any, what: str) -> str | None:
    """`value` when it is text holding a JSON array (CMR's `CMR-Search-After`), None if absent.

    A paging cursor is sealed into the next page's token and sent back upstream as it came:
    one that is not the documented shape would come back as the upstream's rejection of a
    request the client never wrote.  So it is refused when received, as the upstream's 502.
    """
    if value is None:
        return None
    if isinstance(value, str) and len(value) <= MAX_CURSOR_CHARS:
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list) and parsed:
            return value
    return_text = f"{value!r:.60}" if isinstance(value, str) else _kind(value)
    raise ProviderError(provider, f"{what} is not a JSON array: {return_text}")
