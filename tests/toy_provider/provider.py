"""A catalogue of `items` one-degree cells along the equator, with one GeoTIFF asset each."""

from __future__ import annotations

from typing import Any

from stacbridge.errors import NotFound
from stacbridge.protocols import (
    CATALOG,
    JSON,
    AssetRedirect,
    AssetRequest,
    AssetResolution,
    Capabilities,
    CollectionNotFound,
    CollectionQuery,
    ItemPage,
    ItemQuery,
)
from tests.toy_provider.config import ToySettings

SCHEME = "toy://"


class ToyCatalog:
    name = "toy"
    title = "Toy grid catalogue"
    roles = frozenset({CATALOG})
    capabilities = Capabilities()

    def __init__(self, settings: ToySettings, *, name: str = "toy") -> None:
        self.settings = settings
        self.name = name
        self.started = False
        self.closed = False

    async def start(self) -> None:
        self.started = True

    async def aclose(self) -> None:
        self.closed = True

    def owns(self, collection_id: str) -> bool:
        return collection_id.startswith("toy-")

    async def collection_ids(self) -> list[str]:
        return [self.settings.collection]

    def _collection(self) -> JSON:
        n = self.settings.items
        return {
            "type": "Collection",
            "stac_version": "1.0.0",
            "id": self.settings.collection,
            "title": "Toy grid",
            "description": "One-degree cells along the equator.",
            "license": "CC0-1.0",
            "extent": {
                "spatial": {"bbox": [[0.0, 0.0, float(n), 1.0]]},
                "temporal": {"interval": [["2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"]]},
            },
            "links": [],
        }

    def _item(self, i: int) -> JSON:
        cid = self.settings.collection
        return {
            "type": "Feature",
            "stac_version": "1.0.0",
            "id": f"cell-{i:04d}",
            "collection": cid,
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[i, 0], [i + 1, 0], [i + 1, 1], [i, 1], [i, 0]]],
            },
            "bbox": [i, 0, i + 1, 1],
            "properties": {"datetime": "2024-01-01T00:00:00Z", "title": f"Cell {i}"},
            "assets": {
                "data": {
                    "href": f"{SCHEME}{cid}/cell-{i:04d}.tif",
                    "type": "image/tiff; application=geotiff",
                    "roles": ["data"],
                    "title": "Cell raster",
                }
            },
            "links": [],
        }

    async def list_collections(self, query: CollectionQuery) -> list[JSON]:
        return [self._collection()]

    async def get_collection(self, collection_id: str) -> JSON:
        if collection_id != self.settings.collection:
            raise CollectionNotFound(collection_id)
        return self._collection()

    async def search(self, query: ItemQuery, cursor: Any | None) -> ItemPage:
        for cid in query.collections:
            if cid != self.settings.collection:
                raise CollectionNotFound(cid)
        start = int(cursor or 0)
        end = min(self.settings.items, start + query.limit)
        items = [self._item(i) for i in range(start, end)]
        return ItemPage(
            items=items,
            next_cursor=end if end < self.settings.items else None,
            number_matched=self.settings.items,
        )

    async def get_item(self, collection_id: str, item_id: str) -> JSON | None:
        await self.get_collection(collection_id)
        if item_id.startswith("cell-") and item_id[5:].isdigit():
            i = int(item_id[5:])
            if i < self.settings.items:
                return self._item(i)
        return None

    async def queryables(self, collection_id: str | None) -> JSON:
        return {"datetime": {"type": "string", "format": "date-time"}}

    def proxies(self, href: str) -> bool:
        return href.startswith(SCHEME)

    async def resolve_asset(self, request: AssetRequest) -> AssetResolution:
        if not request.ref.startswith(f"{SCHEME}{self.settings.collection}/"):
            raise NotFound("no such toy file")
        name = request.ref.rsplit("/", 1)[1]
        return AssetRedirect(f"{self.settings.data_url}/{name}")
