"""The links real clients follow, built in one place.

pystac-client follows `next` links with `merge: true` POST bodies; GDAL's STACIT driver and
QGIS follow only GET `next` hrefs, which therefore carry every parameter of the request.
Every link has a title (STAC Browser shows them) and a media type.
"""

from __future__ import annotations

from urllib.parse import urlencode

import orjson
from stac_fastapi.types.requests import get_base_url
from starlette.requests import Request
from starlette.responses import Response

from stacbridge.protocols import JSON

GEOJSON = "application/geo+json"
JSON_TYPE = "application/json"
SCHEMA_JSON = "application/schema+json"
#: OGC API's relation for queryables; STAC's own `queryables` rel is emitted next to it.
OGC_QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
STAC_VERSION = "1.0.0"


def base_url(request: Request) -> str:
    """The gateway's public base URL for this request, ending in a slash."""
    return str(get_base_url(request))


def json_response(body: object, media_type: str = JSON_TYPE, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=media_type)


def link(
    rel: str, href: str, media_type: str = JSON_TYPE, title: str | None = None, **extra: object
) -> JSON:
    out: JSON = {"rel": rel, "type": media_type, "href": href}
    if title is not None:
        out["title"] = title
    out.update(extra)
    return out


def root_links(base: str, title: str) -> list[JSON]:
    """`root` and `parent` pointing at the landing page."""
    return [link("root", base, title=title), link("parent", base, title=title)]


def collection_links(base: str, cid: str, title: str, root_title: str) -> list[JSON]:
    """What every collection carries: self, root, parent, items, queryables."""
    href = f"{base}collections/{cid}"
    return [
        link("self", href, title=title),
        link("root", base, title=root_title),
        link("parent", base, title=root_title),
        link("items", f"{href}/items", GEOJSON, title="Items"),
        *queryables_links(f"{href}/queryables"),
    ]


def queryables_links(href: str) -> list[JSON]:
    """The queryables link under both relations clients look for (STAC's and OGC's)."""
    return [
        link("queryables", href, SCHEMA_JSON, title="Queryables"),
        link(OGC_QUERYABLES, href, SCHEMA_JSON, title="Queryables"),
    ]


def item_links(base: str, cid: str, item_id: str, root_title: str) -> list[JSON]:
    href = f"{base}collections/{cid}"
    return [
        link("self", f"{href}/items/{item_id}", GEOJSON),
        link("parent", href),
        link("collection", href),
        link("root", base, title=root_title),
    ]


def replace_query(request: Request, **values: str) -> str:
    """The request's own URL with `values` replacing those query parameters (GET next links)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in values]
    params += list(values.items())
    return str(request.url.replace(query=urlencode(params)))


def next_link(
    request: Request, base: str, token: str, *, post: bool, body: JSON | None = None
) -> JSON:
    """The `next` link; POST: the whole search `body` with the token, so that a client which
    sends the body as given gets page 2 of the same search, and one that merges (`merge: true`,
    pystac-client) gets the same."""
    if post:
        return link(
            "next",
            f"{base}search",
            GEOJSON,
            method="POST",
            body={**(body or {}), "token": token},
            merge=True,
        )
    return link("next", replace_query(request, token=token), GEOJSON, method="GET")


def dedupe(links: list[JSON]) -> list[JSON]:
    seen, out = set(), []
    for entry in links:
        key = (entry.get("rel"), entry.get("href"), entry.get("method", "GET"))
        if key not in seen:
            seen.add(key)
            out.append(entry)
    return out
