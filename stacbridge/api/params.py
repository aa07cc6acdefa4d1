"""Refuse query parameters a search route does not declare (issue 10 #8).

FastAPI ignores query parameters a route does not declare.  On the search routes that is a
silent wrong answer: `?query={...}` (an extension this gateway may not implement), `?colections=`
or `?bbbox=` return an unfiltered result that looks like an answer.  So an unknown parameter
there is a 400 naming it and listing what the route accepts.

The allowed set is not a list kept here: it is read, once, from the OpenAPI document the app
generates from its request models, i.e. the parameters the route documents.  An extension that
adds a parameter to a request model (the query extension, say) is accepted as soon as it is
declared.  Only `CHECKED_PATHS` are checked; other routes have nothing a stray parameter could
silently fail to filter.  Preflight (`OPTIONS`) and `HEAD` requests match no checked route and
pass through.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from stacbridge.api.openapi import path_pattern

__all__ = ["CHECKED_PATHS", "UnknownParametersMiddleware", "declared_query_parameters"]

#: the routes whose answers a stray parameter would silently leave unfiltered.
CHECKED_PATHS = frozenset({"/search", "/collections", "/collections/{collection_id}/items"})


def declared_query_parameters(document: dict[str, Any], path: str, method: str) -> frozenset[str]:
    """The names of the query parameters `method path` declares in the OpenAPI `document`."""
    operation = document.get("paths", {}).get(path, {}).get(method.lower(), {})
    return frozenset(p["name"] for p in operation.get("parameters", ()) if p.get("in") == "query")


Table = list[tuple[re.Pattern[str], str, str, frozenset[str]]]


def checked_operations(document: dict[str, Any], paths: Iterable[str]) -> Table:
    """(path regex, METHOD, "METHOD path", allowed names) for each documented operation on
    `paths`.  The document, not the router, is the source: it lists what the request models
    declare, whatever the framework's route objects look like."""
    table: Table = []
    for path in sorted(paths):
        for method in sorted(document.get("paths", {}).get(path, {})):
            if method in ("get", "post", "put", "patch", "delete"):
                allowed = declared_query_parameters(document, path, method)
                label = f"{method.upper()} {path}"
                table.append((path_pattern(path), method.upper(), label, allowed))
    return table


class UnknownParametersMiddleware:
    """400 for a query parameter that the matched operation (one of `paths`) does not declare.

    The table is built on the first request that has a query string, from `scope["app"]`'s
    OpenAPI document, when every route and extension is registered.
    """

    def __init__(self, app: ASGIApp, paths: Iterable[str] = CHECKED_PATHS) -> None:
        self.app = app
        self.paths = frozenset(paths)
        self._table: Table | None = None

    def table(self, app: Any) -> Table:
        if self._table is None:
            self._table = checked_operations(app.openapi(), self.paths)
        return self._table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"")
        if scope["type"] != "http" or not query or "app" not in scope:
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        for pattern, method, label, allowed in self.table(scope["app"]):
            match = pattern.match(path) if method == scope["method"] else None
            if match is None:
                continue
            pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
            unknown = sorted({k for k, _ in pairs} - allowed - _redundant(match, pairs))
            if unknown:
                await _refuse(send, label, unknown, allowed)
                return
            break
        await self.app(scope, receive, send)


def _redundant(match: re.Match[str], pairs: list[tuple[str, str]]) -> set[str]:
    """`collections=<the path's collection>` on `/collections/{id}/items`: pystac-client's
    `Collection.get_items()` sends it, as item search does.  Naming the same collection says
    nothing new, so it is accepted; naming another (which the route would ignore) is not."""
    collection = match.groupdict().get("collection_id")
    values = [v for k, v in pairs if k == "collections"]
    if collection is not None and values and all(v == collection for v in values):
        return {"collections"}
    return set()


async def _refuse(send: Send, label: str, unknown: list[str], allowed: frozenset[str]) -> None:
    which = ", ".join(repr(n) for n in unknown)
    accepted = ", ".join(sorted(allowed)) or "no query parameters"
    plural = "s" if len(unknown) > 1 else ""
    body = orjson.dumps(
        {
            "code": "BadRequest",
            "description": f"unknown query parameter{plural} {which} on {label}; it accepts: "
            f"{accepted}",
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
