"""How catalogue objects leave the gateway: links, decorators' assets, signed hrefs.

Catalogues return STAC dicts with upstream hrefs and no gateway links; this is the one place
that adds the gateway's links, lets item decorators add their assets, and rewrites every asset
href through the signing proxy.
"""

from __future__ import annotations

from stacbridge.api import links as L
from stacbridge.assets.rewrite import AssetRewriter
from stacbridge.protocols import JSON, AssetSource, DecorationContext
from stacbridge.registry import Registry

_ITEM_RELS = ("self", "root", "parent", "collection")
_COLLECTION_RELS = ("self", "root", "parent", "items", "queryables")


class Presenter:
    """Turns catalogue dicts into what clients receive."""

    def __init__(self, registry: Registry, rewriter: AssetRewriter | None, title: str) -> None:
        self.registry = registry
        self.rewriter = rewriter
        self.title = title

    def item(self, source: AssetSource, item: JSON, base: str) -> JSON:
        """Gateway links and signed hrefs on one item (mutates and returns it)."""
        cid = item.get("collection")
        props = item.get("properties")
        if isinstance(props, dict) and not props.get("title"):
            # STAC Browser and QGIS list items by title; the id is the one every item has
            props["title"] = str(item["id"])
        kept = [x for x in item.get("links", []) if x.get("rel") not in _ITEM_RELS]
        item["links"] = kept + L.item_links(base, str(cid), str(item["id"]), self.title)
        if self.rewriter is not None and item.get("assets"):
            item = self.rewriter(source, item, base, self.registry.source_named)
        return item

    def collection(self, source: AssetSource, collection: JSON, base: str) -> JSON:
        out = dict(collection)
        cid = out["id"]
        for decorator in self.registry.decorators_for(cid):
            decorator.decorate_collection(out)
        kept = [x for x in out.get("links", []) if x.get("rel") not in _COLLECTION_RELS]
        out["links"] = kept + L.collection_links(base, cid, out.get("title") or cid, self.title)
        if self.rewriter is not None and out.get("assets"):
            out = self.rewriter(source, out, base, self.registry.source_named)
        return out

    async def decorate(self, items: list[JSON], context: DecorationContext) -> None:
        """Let each decorator add its assets to the items of the collections it serves."""
        if not self.registry.decorators or not items:
            return
        by_collection: dict[str, list[JSON]] = {}
        for item in items:
            by_collection.setdefault(str(item.get("collection")), []).append(item)
        for cid, group in by_collection.items():
            for decorator in self.registry.decorators_for(cid):
                await decorator.decorate_items(group, context)
