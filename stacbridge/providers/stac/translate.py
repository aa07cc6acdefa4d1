"""STAC in, STAC out: what the gateway changes on an upstream STAC API's objects (pure, no I/O).

Items and collections pass through nearly whole, in whatever STAC version the upstream speaks
(1.0 or 1.1).  What changes:

* **ids** — collection ids get the upstream's `id_prefix` (when one is configured), on
  collections and on items' `collection`;
* **links** — the gateway writes self/root/parent/collection/items/queryables itself
  (`api/present.py`), and next/prev belong to the gateway's own paging, so the upstream's are
  dropped; so is every other link into the upstream (its HTML/ATOM alternates, OpenSearch
  descriptions): no href that leaves the gateway names the upstream API.  Links elsewhere
  (licences, DOIs) are kept;
* **authentication** — `auth:schemes` and `auth:refs` describe how to reach the *upstream*;
  through the gateway nothing is required, so they go, with the extension's URI;
* relative asset hrefs are made absolute against the upstream, so the proxy can sign them.

`next_cursor` turns an upstream page's `next` link (GET href, or POST body with `merge`) into
the cursor the API seals in its own signed paging token.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

from stacbridge.checks import check_collection, check_item
from stacbridge.protocols import JSON

#: relations the gateway writes itself, or that belong to the upstream's paging.
GATEWAY_RELS = frozenset(
    {
        "self",
        "root",
        "parent",
        "collection",
        "items",
        "next",
        "prev",
        "previous",
        "first",
        "last",
        "queryables",
        "http://www.opengis.net/def/rel/ogc/1.0/queryables",
        "search",
        "child",
        "item",
    }
)
AUTH_EXTENSION = "https://stac-extensions.github.io/authentication/"


def origin(url: str) -> str:
    """`scheme://host[:port]` of `url`, lower-cased."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def on_upstream(href: Any, upstream: str) -> bool:
    """Whether `href` points into the upstream (same origin, or relative to it)."""
    if not isinstance(href, str):
        return True
    if "://" not in href:
        return True  # relative: resolved against the upstream
    return origin(href) == origin(upstream)


def clean_links(links: Any, upstream: str) -> list[JSON]:
    """The upstream links a client may still follow: none into the upstream, none the gateway
    writes itself."""
    if not isinstance(links, list):
        return []
    out = []
    for entry in links:
        if not isinstance(entry, dict) or entry.get("rel") in GATEWAY_RELS:
            continue
        if on_upstream(entry.get("href"), upstream):
            continue
        entry = {k: v for k, v in entry.items() if k != "auth:refs"}
        out.append(entry)
    return out


def _strip_auth(obj: JSON) -> None:
    obj.pop("auth:schemes", None)
    extensions = obj.get("stac_extensions")
    if isinstance(extensions, list):
        obj["stac_extensions"] = [
            e for e in extensions if not (isinstance(e, str) and e.startswith(AUTH_EXTENSION))
        ]


def _assets(assets: Any, upstream: str, base: str) -> JSON:
    if not isinstance(assets, dict):
        return {}
    out: JSON = {}
    for key, asset in assets.items():
        if not isinstance(asset, dict):
            continue
        asset = {k: v for k, v in asset.items() if k != "auth:refs"}
        href = asset.get("href")
        if isinstance(href, str) and "://" not in href:
            asset["href"] = urljoin(base, href)
        out[key] = asset
    return out


def _self_href(obj: JSON, upstream: str) -> str:
    for entry in obj.get("links") or []:
        if isinstance(entry, dict) and entry.get("rel") == "self":
            href = entry.get("href")
            if isinstance(href, str):
                return urljoin(upstream, href)
    return upstream


def to_item(raw: Any, upstream: str, prefix: str = "") -> JSON:
    """An upstream Item as the gateway serves it; `ValueError` when it is not one."""
    if not isinstance(raw, dict):
        raise ValueError("an item that is not a JSON object")
    item = dict(raw)
    collection = item.get("collection")
    if isinstance(collection, str) and prefix:
        item["collection"] = prefix + collection
    props = item.get("properties")
    if isinstance(props, dict):
        props = dict(props)
        _strip_auth(props)
        item["properties"] = props
    _strip_auth(item)
    item["assets"] = _assets(item.get("assets"), upstream, _self_href(raw, upstream))
    item["links"] = clean_links(item.get("links"), upstream)
    return check_item(item)


def to_collection(raw: Any, upstream: str, prefix: str = "") -> JSON:
    """An upstream Collection as the gateway serves it; `ValueError` when it is not one."""
    if not isinstance(raw, dict):
        raise ValueError("a collection that is not a JSON object")
    collection = dict(raw)
    cid = collection.get("id")
    if not isinstance(cid, str) or not cid:
        raise ValueError("a collection without an id")
    collection["id"] = prefix + cid
    _strip_auth(collection)
    if "assets" in collection:
        collection["assets"] = _assets(
            collection.get("assets"), upstream, _self_href(raw, upstream)
        )
    if isinstance(collection.get("item_assets"), dict):
        collection["item_assets"] = {
            k: {kk: vv for kk, vv in v.items() if kk != "auth:refs"} if isinstance(v, dict) else v
            for k, v in collection["item_assets"].items()
        }
    collection["links"] = clean_links(collection.get("links"), upstream)
    return check_collection(collection)


def native_id(collection_id: str, prefix: str) -> str | None:
    """The upstream's id of a gateway collection id; None when the prefix does not match."""
    if not prefix:
        return collection_id
    return collection_id[len(prefix) :] if collection_id.startswith(prefix) else None


def next_cursor(page: JSON, upstream: str, sent: JSON | None) -> JSON | None:
    """The upstream's `next` link as a cursor: `{"m": method, "h": path?query, "b": body}`.

    Only the path and query are kept (the origin is the upstream's, and the cursor is visible,
    if sealed, in the gateway's token); a next link to another origin is refused — following it
    would send the upstream's credentials elsewhere.  A POST link's body is merged into the
    body `sent` when it says `merge: true` (STAC API's paging rule), else replaces it.
    """
    for entry in page.get("links") or []:
        if not isinstance(entry, dict) or entry.get("rel") != "next":
            continue
        href = entry.get("href")
        if not isinstance(href, str) or not href:
            raise ValueError("a next link without an href")
        absolute = urljoin(upstream, href)
        if origin(absolute) != origin(upstream):
            raise ValueError(f"a next link to another host ({origin(absolute)})")
        parts = urlsplit(absolute)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        method = str(entry.get("method") or "GET").upper()
        if method not in ("GET", "POST"):
            raise ValueError(f"a next link with method {method}")
        cursor: JSON = {"m": method, "h": path}
        if method == "POST":
            body = entry.get("body")
            if body is not None and not isinstance(body, dict):
                raise ValueError("a next link whose body is not an object")
            cursor["b"] = {**(sent or {}), **(body or {})} if entry.get("merge") else body or {}
        return cursor
    return None
