"""A STAC API upstream: ESA MAAP's catalogue (STAC 1.1, OIDC-protected data) or Planetary
Computer's (STAC 1.0, filter and sort, SAS-signed blobs).

SYNTHETIC: see `catalogue.py` for what the bodies are built from.  Behaviour follows the STAC
API specification, which both services implement:

* `/search` by GET and POST, `/collections`, `/collections/{id}`, `/collections/{id}/items`
  (`limit`, `bbox`, `datetime`, `token`), `/collections/{id}/items/{item}`;
* paging by opaque `token`: GET next links carry every parameter; POST next links carry
  `{"token"}` with `merge: true` (MAAP) or the whole body with the token (PC);
* `limit` above the service's maximum is cut to it (guess: both cap, neither refuses);
* a parameter the flavour does not declare (`filter` and `sortby` on MAAP, `fields`, anything
  misspelt) is refused with `400` in stac-fastapi's `{"code", "description"}` shape — never
  silently ignored, which is what lets the gateway's tests see that it does not send them;
* MAAP only: `/data/...` files need `Authorization: Bearer <access token>` issued by the
  realm (`401` with `WWW-Authenticate: Bearer` otherwise), Range and validators as the other
  sandbox data hosts; with `presign`, one collection's files redirect (302) to a pre-signed
  URL on another host instead (a guess at how a download service fronting object storage
  behaves; MAAP's own behaviour is not recorded).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import cql2
import orjson
from shapely.geometry import box, shape
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stacbridge.sandbox._kit import Recorder, SandboxClock, sandbox_app
from stacbridge.sandbox.datahost import file_response
from stacbridge.sandbox.files import default_files
from stacbridge.sandbox.oidc.app import Keycloak
from stacbridge.sandbox.sas.app import SasAuthority, sas_token_routes
from stacbridge.sandbox.stac.catalogue import BASE_CONFORMANCE, MAAP, PC, Catalogue, Flavour

#: the MAAP files that redirect to a pre-signed URL when `presign` is given.
PRESIGNED_PREFIX = "data/BiomassLevel1cIOC/"
SEARCH_PARAMS = frozenset(
    {"collections", "ids", "bbox", "intersects", "datetime", "limit", "token"}
)
FILTER_PARAMS = frozenset({"filter", "filter-lang", "filter-crs"})
#: the operators of the basic-cql2 conformance class (all the PC flavour declares).
BASIC_CQL2 = frozenset({"and", "or", "not", "=", "<>", "<", "<=", ">", ">=", "isNull"})


def _operators(expr: Any) -> set[str]:
    """Every `op` in a CQL2-JSON expression."""
    found: set[str] = set()
    if isinstance(expr, dict):
        if isinstance(expr.get("op"), str):
            found.add(expr["op"])
        for value in expr.values():
            found |= _operators(value)
    elif isinstance(expr, list):
        for value in expr:
            found |= _operators(value)
    return found


class Refused(Exception):
    def __init__(self, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.description = description
        self.status = status


def _bad(description: str, status: int = 400) -> JSONResponse:
    code = "BadRequest" if status == 400 else "NotFoundError"
    return JSONResponse({"code": code, "description": description}, status_code=status)


def _geo(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/geo+json")


def _interval(text: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    def one(part: str) -> dt.datetime | None:
        if part in ("", ".."):
            return None
        return dt.datetime.fromisoformat(part.replace("Z", "+00:00"))

    try:
        if "/" in text:
            start, end = text.split("/", 1)
            return one(start), one(end)
        instant = one(text)
        return instant, instant
    except ValueError as exc:
        raise Refused(f"invalid datetime {text!r}") from exc


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in value.split(",") if v]
    if isinstance(value, list):
        return value
    raise Refused("expected a list")


class Upstream:
    """The flavour's catalogue and its search semantics."""

    def __init__(self, flavour: Flavour, catalogue: Catalogue) -> None:
        self.flavour = flavour
        self.catalogue = catalogue
        conformance = set(flavour.extra_conformance)
        self.sorts = any(c.endswith("#sort") for c in conformance)
        self.filters = any(c.endswith("#filter") for c in conformance)

    def allowed(self) -> frozenset[str]:
        allowed = set(SEARCH_PARAMS)
        if self.sorts:
            allowed.add("sortby")
        if self.filters:
            allowed |= FILTER_PARAMS
        return frozenset(allowed)

    def normalise(self, params: dict[str, Any], post: bool) -> dict[str, Any]:
        """The search as one dict; refuses what this flavour does not understand."""
        unknown = sorted(set(params) - self.allowed())
        if unknown:
            raise Refused(f"unsupported parameter(s): {', '.join(unknown)}")
        out: dict[str, Any] = {
            "collections": _list(params.get("collections")),
            "ids": _list(params.get("ids")),
        }
        try:
            limit = int(params.get("limit", 10))
        except (TypeError, ValueError) as exc:
            raise Refused("limit must be an integer") from exc
        if limit < 1:
            raise Refused("limit must be positive")
        out["limit"] = min(limit, self.flavour.max_limit)
        if params.get("bbox") is not None:
            bbox = [float(v) for v in _list(params["bbox"])]
            if len(bbox) not in (4, 6):
                raise Refused("bbox must have 4 or 6 numbers")
            out["bbox"] = bbox
        if params.get("intersects") is not None:
            geom = params["intersects"]
            out["intersects"] = orjson.loads(geom) if isinstance(geom, str) else geom
        if params.get("datetime"):
            out["datetime"] = str(params["datetime"])
        if params.get("sortby"):
            sortby = params["sortby"]
            if isinstance(sortby, str):
                sortby = [
                    {"field": s.lstrip("+-"), "direction": "desc" if s.startswith("-") else "asc"}
                    for s in sortby.split(",")
                ]
            out["sortby"] = sortby
        if params.get("filter") is not None:
            lang = params.get("filter-lang") or ("cql2-json" if post else "cql2-text")
            try:
                expr = cql2.Expr(params["filter"])
                expr.validate()
            except Exception as exc:
                raise Refused(f"invalid {lang} filter: {exc}") from exc
            out["filter"] = expr.to_json()
            unsupported = sorted(_operators(out["filter"]) - BASIC_CQL2)
            if unsupported:
                # basic-cql2 is all the flavour declares: LIKE, arrays, spatial... are refused
                raise Refused(f"unsupported filter operator(s): {', '.join(unsupported)}")
        return out

    def key(self, search: dict[str, Any]) -> str:
        return hashlib.sha256(orjson.dumps(search, option=orjson.OPT_SORT_KEYS)).hexdigest()[:12]

    def run(
        self, search: dict[str, Any], base: str, token: str | None
    ) -> tuple[list[Any], int, int]:
        """(page of items, total, next offset or -1)."""
        built = self.catalogue.build(base)
        for cid in search["collections"]:
            if cid not in built:
                raise Refused(f"Collection {cid} does not exist", 404)
        cids = search["collections"] or list(built)
        items = [item for cid in cids for item in built[cid][1]]
        items = [i for i in items if self._matches(i, search)]
        for spec in reversed(search.get("sortby") or []):
            field = str(spec.get("field", "")).removeprefix("properties.")
            items.sort(
                key=lambda i: (str(i["properties"].get(field, i.get(field, ""))), i["id"]),
                reverse=spec.get("direction") == "desc",
            )
        offset = 0
        if token:
            try:
                state = orjson.loads(base64.urlsafe_b64decode(token.encode()))
                offset, key = int(state["o"]), state["k"]
            except Exception as exc:
                raise Refused("invalid token") from exc
            if key != self.key(search):
                raise Refused("token does not belong to this search")
        page = items[offset : offset + search["limit"]]
        following = offset + len(page)
        return page, len(items), following if following < len(items) else -1

    def token(self, search: dict[str, Any], offset: int) -> str:
        state = {"o": offset, "k": self.key(search)}
        return base64.urlsafe_b64encode(orjson.dumps(state)).decode()

    @staticmethod
    def _matches(item: dict[str, Any], search: dict[str, Any]) -> bool:
        if search["ids"] and item["id"] not in search["ids"]:
            return False
        geom = None
        if search.get("intersects") is not None:
            geom = shape(search["intersects"])
        elif search.get("bbox") is not None:
            b = search["bbox"]
            geom = box(*(b[:2] + b[2:4] if len(b) == 4 else [b[0], b[1], b[3], b[4]]))
        if geom is not None and not geom.intersects(shape(item["geometry"])):
            return False
        if search.get("datetime"):
            start, end = _interval(search["datetime"])
            props = item["properties"]
            when = dt.datetime.fromisoformat(props["datetime"].replace("Z", "+00:00"))
            if (start and when < start) or (end and when > end):
                return False
        if search.get("filter") is not None:
            return bool(cql2.Expr(search["filter"]).matches(item))
        return True


def create_stac_app(
    flavour: str = "maap",
    *,
    clock: SandboxClock | None = None,
    keycloak: Keycloak | None = None,
    sas: SasAuthority | None = None,
    blob_url: str = "",
    oidc_url: str = "",
    presign: Callable[[str], str] | None = None,
) -> Any:
    """The upstream for `flavour` ("maap": needs `keycloak`; "pc": needs `sas`, `blob_url`).

    `presign(path)`: MAAP's `BiomassLevel1cIOC` files then answer an authorised GET with a
    302 to that pre-signed URL on another host, as object stores behind a download service do.
    """
    chosen = MAAP if flavour == "maap" else PC
    clock = clock or SandboxClock()
    upstream = Upstream(chosen, Catalogue(chosen, oidc_url=oidc_url, blob_url=blob_url))
    recorder = Recorder(clock)
    files = default_files()

    def base_of(request: Request) -> str:
        return str(request.base_url)

    async def landing(request: Request) -> Response:
        base = base_of(request)
        return JSONResponse(
            {
                "type": "Catalog",
                "id": "fedeo" if chosen.name == "maap" else "microsoft-pc",
                "stac_version": chosen.stac_version,
                "description": "Sandbox STAC upstream (synthetic).",
                "conformsTo": [*BASE_CONFORMANCE, *chosen.extra_conformance],
                "links": [
                    {"rel": "self", "href": base, "type": "application/json"},
                    {"rel": "root", "href": base, "type": "application/json"},
                    {"rel": "data", "href": f"{base}collections", "type": "application/json"},
                    {
                        "rel": "search",
                        "href": f"{base}search",
                        "type": "application/geo+json",
                        "method": "GET",
                    },
                    {
                        "rel": "search",
                        "href": f"{base}search",
                        "type": "application/geo+json",
                        "method": "POST",
                    },
                ],
            }
        )

    async def conformance(request: Request) -> Response:
        return JSONResponse({"conformsTo": [*BASE_CONFORMANCE, *chosen.extra_conformance]})

    async def collections(request: Request) -> Response:
        base = base_of(request)
        built = upstream.catalogue.build(base)
        return JSONResponse(
            {
                "collections": [c for c, _ in built.values()],
                "links": [{"rel": "self", "href": f"{base}collections"}],
            }
        )

    async def one_collection(request: Request) -> Response:
        base = base_of(request)
        cid = request.path_params["cid"]
        built = upstream.catalogue.build(base)
        if cid not in built:
            return _bad(f"Collection {cid} does not exist", 404)
        accept = request.query_params.get("httpAccept")
        if accept == "application/vnd.iso.19139+xml":
            xml = f'<?xml version="1.0"?><gmd:MD_Metadata id="{cid}"/>'
            return Response(xml, media_type="application/vnd.iso.19139+xml")
        if accept is not None or set(request.query_params) - {"httpAccept"}:
            return _bad("unsupported parameter(s)")
        return JSONResponse(built[cid][0])

    def page_response(request: Request, search: dict[str, Any], post: bool, path: str) -> Response:
        base = base_of(request)
        token = search.pop("token", None)
        page, total, following = upstream.run(search, base, token)
        links: list[dict[str, Any]] = [{"rel": "root", "href": base}]
        if following >= 0:
            next_token = upstream.token(search, following)
            if post:
                body = (
                    {"token": next_token}
                    if chosen.merge_next
                    else {**request.state.body, "token": next_token}
                )
                links.append(
                    {
                        "rel": "next",
                        "href": f"{base}{path}",
                        "method": "POST",
                        "body": body,
                        "merge": chosen.merge_next,
                        "type": "application/geo+json",
                    }
                )
            else:
                params = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                params.append(("token", next_token))
                url = request.url.replace(query="&".join(f"{k}={_q(v)}" for k, v in params))
                links.append({"rel": "next", "href": str(url), "type": "application/geo+json"})
        return _geo(
            {
                "type": "FeatureCollection",
                "features": page,
                "links": links,
                "numberMatched": total,
                "numberReturned": len(page),
            }
        )

    async def search(request: Request) -> Response:
        post = request.method == "POST"
        try:
            if post:
                try:
                    body = orjson.loads(await request.body())
                except orjson.JSONDecodeError:
                    return _bad("body is not JSON")
                if not isinstance(body, dict):
                    return _bad("body is not an object")
                request.state.body = body
                params = body
            else:
                params = dict(request.query_params)
            normal = upstream.normalise(params, post)
            if params.get("token"):
                normal["token"] = str(params["token"])
            return page_response(request, normal, post, "search")
        except Refused as exc:
            return _bad(exc.description, exc.status)

    async def items(request: Request) -> Response:
        cid = request.path_params["cid"]
        params = dict(request.query_params)
        unknown = set(params) - {"limit", "bbox", "datetime", "token"}
        if unknown:
            return _bad(f"unsupported parameter(s): {', '.join(sorted(unknown))}")
        try:
            normal = upstream.normalise({**params, "collections": cid}, False)
            if params.get("token"):
                normal["token"] = params["token"]
            return page_response(request, normal, False, f"collections/{cid}/items")
        except Refused as exc:
            return _bad(exc.description, exc.status)

    async def one_item(request: Request) -> Response:
        base = base_of(request)
        cid, iid = request.path_params["cid"], request.path_params["iid"]
        built = upstream.catalogue.build(base)
        if cid not in built:
            return _bad(f"Collection {cid} does not exist", 404)
        for item in built[cid][1]:
            if item["id"] == iid:
                return _geo(item)
        return _bad(f"Item {iid} in Collection {cid} does not exist", 404)

    async def queryables(request: Request) -> Response:
        return JSONResponse(
            {
                "$schema": "https://json-schema.org/draft/2019-09/schema",
                "$id": str(request.url),
                "type": "object",
                "title": "Queryables",
                "properties": {
                    "eo:cloud_cover": {"type": "number", "minimum": 0, "maximum": 100},
                    "platform": {"type": "string"},
                },
            },
            media_type="application/schema+json",
        )

    async def data(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else None
        if keycloak is None or not keycloak.valid(token):
            recorder.count("unauthorized")
            return Response(
                "", status_code=401, headers={"WWW-Authenticate": 'Bearer realm="esa-maap"'}
            )
        recorder.count("authorized")
        path = "data/" + request.path_params["path"]
        if presign is not None and path.startswith(PRESIGNED_PREFIX):
            return Response("", status_code=302, headers={"Location": presign(path)})
        info = files.stat(path)
        if info is None:
            return Response("not found", status_code=404)
        return file_response(request, files, path, info, _plain_error)

    routes = [
        Route("/", landing),
        Route("/conformance", conformance),
        Route("/collections", collections),
        Route("/collections/{cid}", one_collection),
        Route("/collections/{cid}/items", items),
        Route("/collections/{cid}/items/{iid}", one_item),
        Route("/search", search, methods=["GET", "POST"]),
    ]
    if upstream.filters:
        routes += [
            Route("/queryables", queryables),
            Route("/collections/{cid}/queryables", queryables),
        ]
    if chosen.name == "maap":
        routes.append(Route("/data/{path:path}", data, methods=["GET", "HEAD"]))
    if sas is not None:
        routes += sas_token_routes(sas)
    app = sandbox_app(routes, recorder)
    app.state.upstream = upstream
    return app


def _q(value: str) -> str:
    return quote(value, safe=",:/")


def _plain_error(request: Request, status: int, code: str, message: str, headers: Any) -> Response:
    return Response(message, status_code=status, headers=dict(headers))
