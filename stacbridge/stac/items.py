"""The one shape of a STAC Item dict every translator builds (plain dicts: design §9)."""

from __future__ import annotations

from typing import Any

from stacbridge.stac.extensions import item_extensions

STAC_VERSION = "1.0.0"

JSON = dict[str, Any]


def item_dict(
    item_id: str, collection: str | None, shape: Any, properties: JSON, assets: JSON
) -> JSON:
    """A STAC 1.0.0 Item; `shape` is a `geometry.Shape` (geometry + bbox) or None.

    `stac_extensions` is derived from the prefixed fields in `properties` and `assets`
    (`extensions.item_extensions`), so a translator only sets fields and the Item declares
    exactly the extensions it uses.  Build the Item last, once its assets are complete.
    `links` is left empty: the federation adds self/parent/collection/root on the way out.
    """
    item: JSON = {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": item_extensions(properties, assets),
        "id": item_id,
    }
    if collection is not None:
        item["collection"] = collection
    if shape is not None:
        item["geometry"] = shape.geometry
        item["bbox"] = shape.bbox
    else:
        item["geometry"] = None
    item["properties"] = properties
    item["assets"] = assets
    item["links"] = []
    return item
