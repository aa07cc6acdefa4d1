"""The one shape of a STAC Item dict every translator builds (plain dicts: design §9)."""

from __future__ import annotations

from typing import Any

STAC_VERSION = "1.0.0"

JSON = dict[str, Any]


def item_dict(item_id: str, collection: str | None, shape: Any, properties: JSON,
              assets: JSON, extensions: list[str]) -> JSON:
    """A STAC 1.0.0 Item; `shape` is a `geometry.Shape` (geometry + bbox) or None.

    `links` is left empty: the federation adds self/parent/collection/root on the way out.
    """
    item: JSON = {"type": "Feature", "stac_version": STAC_VERSION,
                  "stac_extensions": extensions, "id": item_id}
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
