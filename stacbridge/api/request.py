"""Request parsing: every way a search arrives (GET, POST, /items) becomes one `Search`.

Each parser says exactly what is wrong with a bad value (a 400 the client can act on); nothing
here does I/O.  The STAC semantics of a parsed search live in `api/search.py`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import cql2
import orjson
from shapely.geometry import shape
from stac_fastapi.types.rfc3339 import str_to_interval

from stacbridge.api.cql2_guard import FilterTooComplex, check_filter
from stacbridge.errors import BadRequest
from stacbridge.protocols import JSON, Interval
from stacbridge.stac.cql2 import SHARED_QUERYABLES, allowed_ids

#: ids one search may name (the `ids` parameter, or a filter's top-level `id` terms): each
#: id is upstream work (a lookup on a shared USGS account, a CMR `granule_ur`), so their number
#: is bounded like the page size.  `Settings.max_ids` sets it per deployment.
MAX_IDS = 500


@dataclass(slots=True)
class Search:
    """One normalised search request (GET or POST, /search or /collections/{id}/items)."""

    collections: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    bbox: list[float] | None = None
    intersects: JSON | None = None
    datetime: str | None = None
    limit: int = 10
    #: parsed CQL2-JSON; None when there is no filter or it matches everything, False when it
    #: matches nothing (see `parse_filter`)
    filter: JSON | bool | None = None
    sortby: list[tuple[str, str]] = field(default_factory=list)
    #: the fields extension's `(include, exclude)`, None without `fields` (`parse_fields`)
    fields: tuple[list[str] | None, list[str]] | None = None
    token: str | None = None

    def fingerprint(self) -> str:
        """What a paging token is bound to: the search, not the page size or the page."""
        # collection order matters: it is the order in which providers are searched
        canonical = orjson.dumps(
            [
                self.collections,
                sorted(self.ids),
                self.bbox,
                self.intersects,
                self.datetime,
                self.filter,
                self.sortby,
            ],
            option=orjson.OPT_SORT_KEYS,
        )
        return hashlib.sha256(canonical).hexdigest()[:16]


def parse_bbox(value: Iterable[float] | str | None) -> list[float] | None:
    """Validate a bbox: 4 or 6 numbers, latitudes in range and south ≤ north."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            numbers = [float(v) for v in value.split(",")]
        except ValueError as exc:
            raise BadRequest(f"bbox must be 4 or 6 comma-separated numbers, got {value!r}") from exc
    else:
        numbers = [float(v) for v in value]
    if len(numbers) not in (4, 6):
        raise BadRequest(f"bbox must have 4 or 6 numbers, got {len(numbers)}")
    if len(numbers) == 4:
        west, south, east, north = numbers
    else:
        west, south, _, east, north, _ = numbers
        if numbers[2] > numbers[5]:
            raise BadRequest("bbox minimum elevation is greater than its maximum")
    for lat in (south, north):
        if not -90 <= lat <= 90:
            raise BadRequest(f"bbox latitude {lat} is outside [-90, 90]")
    for lon in (west, east):
        if not -180 <= lon <= 180:
            raise BadRequest(f"bbox longitude {lon} is outside [-180, 180]")
    if south > north:
        raise BadRequest(f"bbox south latitude {south} is greater than north latitude {north}")
    return numbers


def parse_datetime(value: str | None) -> Interval | None:
    """An RFC 3339 instant or interval (`a/b`, `../b`, `a/..`) as an `Interval`."""
    if value is None or value == "":
        return None
    parsed = str_to_interval(value)
    if isinstance(parsed, dt.datetime):
        return Interval(parsed, parsed)
    start, end = parsed  # type: ignore[misc]
    if start and end and start > end:
        raise BadRequest(f"datetime interval {value!r} ends before it starts")
    return Interval(start, end)


def parse_intersects(value: Any) -> JSON | None:
    if value is None:
        return None
    if hasattr(value, "model_dump"):
        value = value.model_dump(exclude_none=True)
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise BadRequest("intersects is not valid GeoJSON") from exc
    try:
        geom = shape(value)
    except Exception as exc:
        raise BadRequest(f"intersects is not a valid GeoJSON geometry: {exc}") from exc
    if geom.is_empty:
        raise BadRequest("intersects geometry is empty")
    return value


CRS84 = (
    "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
    "https://www.opengis.net/def/crs/OGC/1.3/CRS84",
)


def parse_filter(expr: Any, lang: str | None, crs: str | None = None) -> JSON | bool | None:
    """Parse CQL2 text or JSON into CQL2-JSON, with a message that says what is wrong.

    A filter that is constant whatever the item (`true`, `false`, `x < 5 OR true`, `NOT true`)
    is answered as such: None when it matches everything (the search is the unfiltered one, so
    upstream counts and push-downs still apply), False when it matches nothing (the engine
    answers an empty page without asking any upstream).
    """
    if crs not in (None, "", *CRS84):
        raise BadRequest(f"filter-crs {crs!r} is not supported; use CRS84 (longitude, latitude)")
    if expr is None or expr == "":
        return None
    try:
        # bounded before cql2 sees it: deep filters crash or exhaust cql2 (see cql2_guard)
        check_filter(expr, lang)
    except FilterTooComplex as exc:
        raise BadRequest(f"filter too complex: {exc}") from exc
    try:
        if isinstance(expr, dict | bool):
            # cql2 takes the boolean literals too, though its stub only says str | dict
            parsed = cql2.Expr(cast(Any, expr))
        elif lang == "cql2-json" or (isinstance(expr, str) and expr.lstrip().startswith("{")):
            parsed = cql2.Expr(orjson.loads(expr))
        else:
            parsed = cql2.Expr(expr)
        parsed.validate()
    except Exception as exc:
        message = " ".join(str(exc).split())
        raise BadRequest(f"invalid CQL2 filter: {message}") from exc
    out = parsed.to_json()
    try:
        constant = parsed.reduce().to_json()
    except Exception:  # noqa: BLE001 - no reduction (older cql2, odd input): keep it as sent
        constant = out
    if constant is True:
        return None
    if constant is False:
        return False
    return out


#: query-extension operators as CQL2-JSON comparison operators
_QUERY_OPS = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
#: query-extension substring operators as CQL2 `like` patterns around the escaped value
_QUERY_LIKE = {"startsWith": "{}%", "endsWith": "%{}", "contains": "%{}%"}


def _like_literal(value: str) -> str:
    """`value` with CQL2 `like`'s wildcards and escape character escaped."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _typed(name: str, operand: Any) -> Any:
    """`operand` as the queryable's type: `{"eo:cloud_cover": {"eq": "7"}}` means the number 7.

    Query values often arrive as strings (from forms, command lines, stac-api-validator); a
    string compared with a numeric property would match nothing, silently.  Only the shared
    queryables' declared types are known here; other values are taken as sent.
    """
    kind = SHARED_QUERYABLES.get(name, {}).get("type")
    if kind in ("number", "integer") and isinstance(operand, str):
        try:
            return float(operand)
        except ValueError:
            raise BadRequest(f"query[{name!r}] needs a number, got {operand!r}") from None
    return operand


def parse_query(value: Any) -> JSON | None:
    """The STAC query extension (`{"eo:cloud_cover": {"lt": 20}}`) as CQL2-JSON.

    Every property's operators are and-ed, so the gateway evaluates (and pushes down) a query
    exactly like the equivalent filter.  GET sends it as a JSON string, POST as an object.
    An unknown operator or a value of the wrong shape is a 400, never ignored.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"query is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise BadRequest("query must be a JSON object of {property: {operator: value}}")
    terms: list[JSON] = []
    for name, ops in value.items():
        if not isinstance(ops, dict) or not ops:
            raise BadRequest(f"query[{name!r}] must be an object of {{operator: value}}")
        key = str(name).removeprefix("properties.")
        prop = {"property": key}
        for op, operand in ops.items():
            if op in _QUERY_OPS:
                if isinstance(operand, dict | list) or operand is None:
                    raise BadRequest(f"query[{name!r}].{op} needs a string, number or boolean")
                terms.append({"op": _QUERY_OPS[op], "args": [prop, _typed(key, operand)]})
            elif op in _QUERY_LIKE:
                if not isinstance(operand, str):
                    raise BadRequest(f"query[{name!r}].{op} needs a string")
                pattern = _QUERY_LIKE[op].format(_like_literal(operand))
                terms.append({"op": "like", "args": [prop, pattern]})
            elif op == "in":
                if not isinstance(operand, list) or not operand:
                    raise BadRequest(f"query[{name!r}].in needs a non-empty array")
                values = [_typed(key, v) for v in operand]
                member: JSON = {"op": "in", "args": [prop, values]}
                if key != "id":
                    # a property that is an array (`instruments`) matches when it shares a
                    # value with the list, as the extension's users (and its validator) expect
                    overlap = {"op": "a_overlaps", "args": [prop, values]}
                    member = {"op": "or", "args": [member, overlap]}
                terms.append(member)
            else:
                known = ", ".join([*_QUERY_OPS, *_QUERY_LIKE, "in"])
                raise BadRequest(f"query operator {op!r} is not one of {known}")
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else {"op": "and", "args": terms}


def and_filters(filter_expr: JSON | bool | None, query_expr: JSON | None) -> JSON | bool | None:
    """The search's filter and its query together (`parse_filter`'s None/False kept)."""
    if query_expr is None or filter_expr is False:
        return filter_expr
    if filter_expr is None:
        return parse_filter(query_expr, "cql2-json")
    return parse_filter({"op": "and", "args": [filter_expr, query_expr]}, "cql2-json")


def parse_sortby(value: Any) -> list[tuple[str, str]]:
    out = []
    for entry in value or []:
        if isinstance(entry, str):
            entry = entry.strip()
            direction = "desc" if entry.startswith("-") else "asc"
            name = entry.lstrip("+-").strip()
        else:
            data = entry.model_dump() if hasattr(entry, "model_dump") else dict(entry)
            name, direction = (
                data["field"],
                str(getattr(data["direction"], "value", data["direction"])),
            )
        if name:
            out.append((name.removeprefix("properties."), direction))
    return out


def parse_fields(value: Any, *, given: bool) -> tuple[list[str] | None, list[str]] | None:
    """The fields extension's `(include, exclude)`, or None when the search has no `fields`.

    `include` is None when the request did not name it at all, and `[]` when it sent it empty
    or null: the extension treats "only exclude" (everything but the excluded fields) and
    "exclude with an empty include" (the default set but the excluded fields) differently.
    GET `fields=` (empty) and POST `{}` both ask for the default set; POST `"fields": null` is
    not a fields object and is refused.
    """
    if not given:
        return None
    if isinstance(value, list | tuple) or value is None:  # GET: ["a", "-b", "+c"]
        entries = [f.strip() for f in value or [] if f and f.strip()]
        include = [f.lstrip("+") for f in entries if not f.startswith("-")]
        exclude = [f[1:] for f in entries if f.startswith("-")]
        return (include or None), exclude
    if isinstance(value, dict):
        data, named = value, set(value)
    else:
        data, named = value.model_dump(), set(getattr(value, "model_fields_set", ()))
    named_include = sorted(data.get("include") or []) if "include" in named else None
    return named_include, sorted(data.get("exclude") or [])


def check_ids(search: Search, max_ids: int) -> Search:
    """`search`, unless it names more than `max_ids` ids: a 400 that says the limit.

    The ids a filter's top-level terms allow count too (`id IN (...)` is pushed down as an
    id lookup), intersected with `ids` as the engine's push-down does.
    """
    ids = set(search.ids)
    allowed = allowed_ids(search.filter) if isinstance(search.filter, dict) else None
    if allowed is not None:
        ids = ids & allowed if ids else set(allowed)
    if len(ids) > max_ids:
        source = "ids" if len(set(search.ids)) > max_ids else "the filter's id terms"
        raise BadRequest(
            f"too many ids: {source} name {len(ids)} items, at most {max_ids} per search "
            "(the max_ids setting); split the ids over several searches"
        )
    return search


def _split_list(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [v for v in value.split(",") if v]
    return [str(v) for v in value]


def search_from_get(
    params: dict[str, Any],
    default_limit: int,
    query: Iterable[str] = (),
    *,
    max_ids: int = MAX_IDS,
) -> Search:
    """A `Search` from stac-fastapi's parsed GET parameters (/search and /items).

    `query`: the names of the request's query parameters, to tell `fields=` (the default
    set) from no `fields` at all, which stac-fastapi's parsing makes look the same.
    """
    bbox = params.get("bbox")
    search = Search(
        collections=_split_list(params.get("collections")),
        ids=_split_list(params.get("ids")),
        bbox=parse_bbox(list(bbox) if bbox is not None and not isinstance(bbox, str) else bbox),
        intersects=parse_intersects(params.get("intersects")),
        datetime=params.get("datetime"),
        limit=int(params.get("limit") or default_limit),
        filter=and_filters(
            parse_filter(
                params.get("filter_expr"), params.get("filter_lang"), params.get("filter_crs")
            ),
            parse_query(params.get("query")),
        ),
        sortby=parse_sortby(params.get("sortby")),
        token=params.get("token"),
    )
    given = params.get("fields") is not None or "fields" in set(query)
    search.fields = parse_fields(params.get("fields"), given=given)
    return check_ids(search, max_ids)


def search_from_post(body: Any, default_limit: int, *, max_ids: int = MAX_IDS) -> Search:
    """A `Search` from stac-fastapi's parsed POST body model."""
    bbox = getattr(body, "bbox", None)
    search = Search(
        collections=list(body.collections or []),
        ids=list(body.ids or []),
        bbox=parse_bbox(list(bbox) if bbox is not None else None),
        intersects=parse_intersects(getattr(body, "intersects", None)),
        datetime=getattr(body, "datetime", None),
        limit=body.limit or default_limit,
        filter=and_filters(
            parse_filter(
                getattr(body, "filter_expr", None),
                getattr(body, "filter_lang", None),
                getattr(body, "filter_crs", None),
            ),
            parse_query(getattr(body, "query", None)),
        ),
        sortby=parse_sortby(getattr(body, "sortby", None)),
        token=getattr(body, "token", None),
    )
    named: set[str] = set(getattr(body, "model_fields_set", ()))
    if "fields" in named and getattr(body, "fields", None) is None:
        raise BadRequest('fields must be an object {"include": [...], "exclude": [...]}, not null')
    search.fields = parse_fields(getattr(body, "fields", None), given="fields" in named)
    return check_ids(search, max_ids)
