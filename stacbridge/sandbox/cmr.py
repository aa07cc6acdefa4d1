"""A faithful NASA CMR search emulator (UMM-JSON collections and granules) for the sandbox.

``create_cmr_app()`` returns a Starlette ASGI app serving, under ``/search``:

* ``GET|POST /search/collections.umm_json`` and ``GET|POST /search/granules.umm_json``
  (POST takes ``application/x-www-form-urlencoded`` parameters, merged with the query string);
* ``POST /_sandbox/faults`` (JSON ``{"status": 503, "count": 2, "retry_after": 1}`` or
  ``{"delay": 5.0, "count": 1}``; optional ``"path"`` substring filter and ``"errors"`` body
  override) queues a fault for the next ``count`` search requests (a delay, then the status if
  one is given, else the normal answer); ``GET`` lists queued faults, ``DELETE`` clears them;
* ``GET /_sandbox/requests`` returns the recent search-request log (method, path, raw query
  string, form body, the ``cmr-search-after`` request header, response status);
  ``DELETE`` clears it.

Responses copy CMR's shape: body ``{"hits":N,"took":ms,"items":[{"meta":…,"umm":…},…]}``,
content type ``application/vnd.nasa.cmr.umm_results+json;version=1.6.6; charset=utf-8``
(``1.18.4`` for collections, as recorded), headers ``CMR-Hits``, ``CMR-Took``,
``CMR-Request-Id``, ``X-Request-Id``, ``Access-Control-Expose-Headers`` (the recorded value) and
``CMR-Search-After`` (compact JSON array of the last item's sort values) whenever the page has
items — and no ``CMR-Search-After`` on an empty page, exactly as the GAMSSA
``search_after_end_empty`` recording shows. Errors are ``{"errors": ["…"]}`` with the messages
of CMR's own source (nasa/Common-Metadata-Repository, search-app / common-app-lib parameter
validation, read at 543a30f2).

Records
-------
Recorded items (``fixtures/cmr/*umm_json*``) are served **verbatim**: the exact bytes of each
item as CMR sent it (items of the pretty-printed earthaccess fixtures are re-serialised
compactly), de-duplicated by concept-id. ``data_host_map`` rewrites ``"URL":"<prefix>`` in
granule records (recorded and generated) to the replacement base URL.

Collections served: every UMM-C of the ``collections_umm_json__*`` fixtures, verbatim; the bare
HLSS30 UMM-C (``concept_umm_c__HLSS30_C2021957295-LPCLOUD.json``) wrapped in a synthesised
``meta`` (concept-id C2021957295-LPCLOUD, revision-id 1, native-id ``HLSS30.v2.0``,
revision-date = its MetadataDates UPDATE, s3-links ``lp-prod-p*/HLSS30.020/``,
``user-id`` ``stacbridge-sandbox``); and one **derived** record for every collection that has
recorded granules but no recorded UMM-C. Derivations (all deterministic, all marked in ``meta``
by ``"user-id": "stacbridge-sandbox-derived"``):

* collection concept-id: the granule meta's ``collection-concept-id``; for the earthaccess
  fixtures whose UMM-G meta lacks it (ATL03, MYD021KM, GPM_3IMERGHH, NLDAS, Daymet) it is read
  from the twin legacy ``granules_json__*`` fixture (``collection_concept_id``), which also
  gives the EntryTitle (``dataset_id``) and coordinate system;
* ShortName/Version from the granules' ``CollectionReference``; for ATL03 (EntryTitle only)
  from the GranuleUR ``SC:ATL03.005:…``; provider = the granules' provider;
* HLSL30 (C2021957657-LPCLOUD; granules carry only an EntryTitle) is the HLSS30 UMM-C used as a
  template: ShortName HLSL30, the granules' EntryTitle (also as citation title), DOI/URLs/
  attribute values rewritten HLSS30→HLSL30, Platforms LANDSAT-8 and LANDSAT-9 with OLI/TIRS,
  temporal extent from 2013-04-11 (ongoing), the abstract's Sentinel-2-specific sentences
  rewritten and MSI-only additional attributes dropped;
* SWOT_L2_HR_RiverSP_reach_2.0 (C2799438303-POCLOUD) is built from the legacy ATOM-JSON
  collection entry (``collections_json__SWOT_RiverSP_PODAAC.json``): title, summary, boxes,
  time_start, platforms, processing level, archive centre; revision-id 17 from its recorded
  CMR-Search-After;
* all others: Abstract = EntryTitle plus a note that the record is derived, DOI
  ``MissingReason: Unknown``, temporal extent = [earliest start, latest end] of the recorded
  granules, one bounding rectangle enclosing the recorded granule footprints,
  GranuleSpatialRepresentation from the legacy coordinate system (else GEODETIC for GPolygons,
  CARTESIAN for boxes), Platforms from the granules' UMM-G when present, ``s3-links`` from the
  granules' ``s3://`` URLs (bucket/first-prefix), revision-date = latest granule revision-date.

Granules: every recorded UMM-G item plus the generated HLSL30 population of
:mod:`stacbridge.sandbox.cmr_generator` (``generated_granules`` of them, computed on demand and
merged in sort order with the two recorded HLSL30 granules).

Search semantics (CMR's, as far as the emulator goes)
-----------------------------------------------------
* Parameter names: ``x[]`` = ``x``, ``-`` = ``_``, aliases ``provider_id``→``provider``,
  ``dataset_id``→``entry_title``, ``echo_collection_id``/``echo_granule_id``→``concept_id``;
  repeated values OR (``options[x][and]=true`` → AND); strings case-insensitive unless
  ``options[x][ignore_case]=false`` (concept ids always exact); ``options[x][pattern]=true``
  enables ``*``/``?``. Empty values are dropped. Unknown names → CMR's
  ``Parameter [x] was not recognized.``; names CMR knows but the emulator does not evaluate
  (platform on granules, attribute, orbit, cycle, revision_date, updated_since, …) are accepted
  and ignored.
* Default sorts: granules (provider, start_date, concept sequence) →
  ``["lpcloud",1707670711150,2865703626]``; collections (entry title, provider) + sub-sort
  (short name, parsed version, concept sequence, revision) → the recorded 6-tuple.
  ``sort_key`` ``±start_date``/``±end_date`` (granules and collections) and
  ``±entry_title``/``±short_name``/``±provider`` (collections) are emulated; a key CMR accepts
  but the emulator cannot order by gets a 400 saying so; an unknown key gets CMR's message.
* temporal: ``start,end`` or ISO ``start/end`` (``start/P1D`` durations too), either side
  empty; overlap with the granule's range, inclusive (``exclude_boundary`` honoured); repeated
  → OR. The periodic ``start,end,start_day,end_day`` form is refused (not emulated).
* Spatial (bounding_box W,S,E,N with W>E crossing ±180, polygon CCW closed, point, line):
  planar intersection in lon/lat with shapely (CMR uses great-circle edges; identical for the
  tile-sized shapes here). Multiple spatial conditions AND unless ``options[spatial][or]=true``.
  A granule whose UMM-G spatial extent is Orbit-only (ATL03) is matched with the footprint CMR
  computed for it (the ``polygons`` of its recorded legacy JSON twin); without one it would
  never match a spatial query.
* cloud_cover ``min,max`` (either side optional): UMM-G ``CloudCover``, else the
  ``CLOUD_COVERAGE`` additional attribute (what HLS carries); granules with neither never
  match a cloud-cover query.
* keyword (collections): whitespace-separated terms, each a case-insensitive substring (``*``,
  ``?`` wildcards) of ShortName, EntryTitle, Abstract, version, concept-id, DOI, science/
  location/ancillary keywords, platforms, instruments, projects, data centres; all terms must
  match.
* Guessed (no recording or source read): errors are served as
  ``application/json; charset=utf-8``; a malformed ISO interval is a 400 (CMR's converter may
  raise it as 422); a granule search with no collection condition but a spatial one gets the
  spatial variant of the message (production CMR may reject it earlier with the general one);
  fault bodies (``{"errors": ["Service Unavailable"]}`` …) are CMR-like, not recorded.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import calendar
import datetime as dt
import functools
import itertools
import json
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson
from shapely.geometry import LineString, Point, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stacbridge.sandbox.cmr_generator import (
    CONCEPT_BASE,
    HLSL30_CONCEPT_ID,
    HLSGenerator,
    iso_ms,
    ring_geometry,
)

__all__ = ["CmrEmulator", "CmrError", "create_cmr_app"]

FIXTURE_DIR = Path(__file__).resolve().parent / "fixtures" / "cmr"

GRANULE_CONTENT_TYPE = "application/vnd.nasa.cmr.umm_results+json;version=1.6.6; charset=utf-8"
COLLECTION_CONTENT_TYPE = "application/vnd.nasa.cmr.umm_results+json;version=1.18.4; charset=utf-8"
ERROR_CONTENT_TYPE = "application/json; charset=utf-8"
EXPOSE_HEADERS = (
    "CMR-Hits, CMR-Request-Id, X-Request-Id, CMR-Scroll-Id, CMR-Search-After, CMR-Timed-Out, "
    "CMR-Shapefile-Original-Point-Count, CMR-Shapefile-Simplified-Point-Count"
)
MAX_PAGE_SIZE = 2000
PAGING_DEPTH_LIMIT = 1_000_000
DEFAULT_PAGE_SIZE = 10
LONG_MAX = 2**63 - 1
LONG_MIN = -(2**63)
# Above this many candidates the emulator refuses to brute-force a pattern over generated URs.
PATTERN_SCAN_LIMIT = 200_000

HLSS30_CONCEPT_ID = "C2021957295-LPCLOUD"
SWOT_REACH_CONCEPT_ID = "C2799438303-POCLOUD"
HLSL30_ENTRY_TITLE_FALLBACK = (
    "HLS Landsat Operational Land Imager Surface Reflectance and TOA Brightness Daily Global "
    "30m v2.0"
)

# ----------------------------------------------------------------------------- CMR's messages

MSG_ALL_GRANULES = (
    "The CMR does not allow querying across granules in all collections. To help optimize your "
    "search, you should limit your query using conditions that identify one or more "
    "collections, such as provider, provider_id, concept_id, collection_concept_id, "
    "short_name, version or entry_title. For any questions please contact "
    "cmr-support@nasa.gov."
)
MSG_ALL_GRANULES_SPATIAL = (
    "The CMR does not allow querying across granules in all collections with a spatial "
    "condition. You should limit your query using conditions that identify one or more "
    "collections such as provider, concept_id, short_name, or entry_title."
)
MSG_PAGE_SIZE = f"page_size must be a number between 0 and {MAX_PAGE_SIZE}"
MSG_PAGE_NUM = "page_num must be a number greater than or equal to 1"
MSG_OFFSET = f"offset must be an integer between zero and {PAGING_DEPTH_LIMIT}"
MSG_SEARCH_AFTER_ARRAY = (
    "search-after header value is invalid, must be in the form of a JSON array."
)
MSG_SEARCH_AFTER_STRING = (
    'The search failed with error: [{:type "parsing_exception", :reason "Unknown key for a '
    'VALUE_STRING in [search_after].", :line 1, :col 17}]. Please double check your '
    "search_after header."
)
MSG_TEMPORAL_FORMAT = (
    "The valid format for temporal parameters are temporal[]=startdate,stopdate and "
    "temporal[]=startdate,stopdate,startday,endday"
)
MSG_RING_NOT_CLOSED = (
    "Polygon boundary was not closed. The last point must be equal to the first point."
)
MSG_RING_ORDER = (
    "The polygon boundary points are listed in the wrong order. Points must be provided in "
    "counter-clockwise order."
)
MSG_NOT_EMULATED = "The stacbridge CMR sandbox does not emulate {what}."


def _es_error(reason: str, kind: str = "illegal_argument_exception") -> str:
    return (
        f'The search failed with error: [{{:type "{kind}", :reason "{reason}"}}]. '
        "Please double check your search_after header."
    )


def _numeric_range_msg(value: str) -> str:
    return (
        f"[{value}] is not of the form 'value', 'min-value,max-value', 'min-value,', or "
        "',max-value' where value, min-value, and max-value are optional numeric values."
    )


class CmrError(Exception):
    """A search error answered as ``{"errors": [...]}`` with `status`."""

    def __init__(self, errors: Sequence[str], status: int = 400) -> None:
        super().__init__("; ".join(errors))
        self.errors = list(errors)
        self.status = status


# ----------------------------------------------------------------------------- parameters

# Parameter names CMR's search-app accepts (param-mappings + query-level + standard params),
# after aliasing. Those the emulator evaluates are handled explicitly; the rest are ignored.
_STANDARD_PARAMS = {"offset", "options", "page_num", "page_size", "result_format", "scroll"}
_STANDARD_PARAMS |= {"sort_key", "token"}
_GRANULE_PARAMS = {
    "attribute", "bounding_box", "browsable", "cloud_cover", "collection_concept_id",
    "concept_id", "created_at", "day_night", "downloadable", "entry_id", "entry_title",
    "equator_crossing_date", "equator_crossing_longitude", "exclude", "granule_ur",
    "instrument", "line", "native_id", "orbit_number", "platform", "point", "polygon",
    "circle", "producer_granule_id", "production_date", "project", "feature_id", "crid_id",
    "provider", "readable_granule_name", "revision_date", "sensor", "short_name", "temporal",
    "temporal_facet", "two_d_coordinate_system", "updated_since", "version", "cycle",
    "passes", "shapefile", "simplify_shapefile", "force_cartesian", "echo_compatible",
    "include_facets", "spatial",
}  # fmt: skip
_COLLECTION_PARAMS = {
    "archive_center", "attribute", "author", "bounding_box", "browsable", "collection_data_type",
    "collection_progress", "concept_id", "created_at", "data_center", "data_center_h", "doi",
    "downloadable", "entry_id", "entry_title", "exclude", "granule_data_format",
    "granule_data_format_h", "horizontal_data_resolution_range", "has_granules",
    "has_granules_or_cwic", "has_granules_or_opensearch", "has_granules_created_at",
    "has_granules_revised_at", "has_opendap_url", "cloud_hosted", "standard_product",
    "include_non_operational", "instrument", "instrument_h", "keyword", "line", "native_id",
    "platform", "platform_h", "platforms", "platforms_h", "point", "polygon", "circle",
    "processing_level_id", "processing_level_id_h", "project", "project_h", "latency",
    "consortium", "provider", "revision_date", "science_keywords", "science_keywords_h",
    "sensor", "short_name", "spatial_keyword", "temporal", "two_d_coordinate_system",
    "two_d_coordinate_system_name", "updated_since", "version", "facets_size", "shapefile",
    "simplify_shapefile", "force_cartesian", "tag_data", "tag_key", "tag_originator_id",
    "measurement", "variable_name", "variable_concept_id", "variable_native_id", "variables_h",
    "service_name", "service_type", "service_concept_id", "tool_name", "tool_type",
    "tool_concept_id", "include_granule_counts", "include_has_granules", "include_facets",
    "hierarchical_facets", "include_highlights", "include_tags", "all_revisions",
    "echo_compatible", "boosts",
}  # fmt: skip
_ALIASES = {
    "provider_id": "provider",
    "dataset_id": "entry_title",
    "echo_collection_id": "concept_id",
    "echo_granule_id": "concept_id",
    "campaign": "project",
    "online_only": "downloadable",
    "day_night_flag": "day_night",
    "browse_only": "browsable",
    "processing_level": "processing_level_id",
    "grid": "two_d_coordinate_system",
}
_SINGLE_VALUE = {"page_size", "page_num", "offset", "keyword", "cloud_hosted", "has_granules"}
_BOOLEAN = {"cloud_hosted", "has_granules", "downloadable", "browsable", "has_opendap_url"}
_BOOLEAN |= {"standard_product", "include_granule_counts", "include_has_granules"}
_COLLECTION_LIMITING = {
    "concept_id", "provider", "short_name", "entry_title", "version", "entry_id",
    "collection_concept_id",
}  # fmt: skip
_SPATIAL_PARAMS = ("bounding_box", "polygon", "point", "line")
_GRANULE_SORT_KEYS = {
    "granule_ur", "producer_granule_id", "readable_granule_name", "start_date", "end_date",
    "entry_title", "dataset_id", "short_name", "version", "provider", "data_size",
    "cloud_cover", "campaign", "platform", "instrument", "sensor", "project", "day_night",
    "downloadable", "browsable", "revision_date",
}  # fmt: skip
_COLLECTION_SORT_KEYS = {
    "short_name", "entry_title", "entry_id", "dataset_id", "start_date", "end_date",
    "provider", "platform", "instrument", "sensor", "revision_date", "score", "has_granules",
    "has_granules_or_cwic", "has_granules_or_opensearch", "usage_relevancy_score",
    "usage_score", "ongoing", "create_data_date",
}  # fmt: skip
_CONCEPT_ID_RE = re.compile(r"^[A-Z]+\d+-[A-Za-z0-9_]+$")


@dataclass
class _Params:
    values: dict[str, list[str]] = field(default_factory=dict)
    options: dict[str, dict[str, str]] = field(default_factory=dict)
    legacy_ranges: dict[str, dict[str, str]] = field(default_factory=dict)

    def get(self, name: str) -> list[str]:
        return self.values.get(name, [])

    def one(self, name: str) -> str | None:
        vals = self.values.get(name)
        return vals[0] if vals else None

    def opt(self, name: str, option: str) -> str | None:
        return self.options.get(name, {}).get(option)


_OPTION_KEY_RE = re.compile(r"^options\[([^\]]*)\](?:\[([^\]]*)\])?$")


def _norm_name(name: str) -> str:
    name = name.strip().replace("-", "_")
    return _ALIASES.get(name, name)


def parse_params(pairs: Iterable[tuple[str, str]]) -> _Params:
    """CMR's view of raw query/form pairs: ``x[]``→``x``, options, legacy ``x[min]`` ranges."""
    p = _Params()
    for raw_key, value in pairs:
        key = raw_key.strip()
        m = _OPTION_KEY_RE.match(key)
        if m:
            param, option = _norm_name(m.group(1)), (m.group(2) or "").replace("-", "_")
            p.options.setdefault(param, {})[option] = value.strip().lower()
            continue
        base, bracket, rest = key.partition("[")
        name = _norm_name(base)
        sub = rest.rstrip("]") if bracket else ""
        if sub in ("min", "max", "value") and name == "cloud_cover":
            p.legacy_ranges.setdefault(name, {})[sub] = value
            continue
        if value == "":
            continue
        p.values.setdefault(name, []).append(value)
    return p


def _clj_vector(values: Sequence[str]) -> str:
    return values[0] if len(values) == 1 else "[" + " ".join(f'"{v}"' for v in values) + "]"


def _java_double(value: float) -> str:
    """Clojure's str of a double (``200.0``)."""
    return repr(float(value)).replace("e", "E")


def _double_to_string(value: float) -> str:
    """cmr.common.util/double->string: no exponent, no trailing zeros."""
    text = f"{value:.21f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


# ----------------------------------------------------------------------------- date-times

_DT_FORMS = (
    re.compile(r"^\d\d\d\d-\d\d-\d\d$"),
    re.compile(r"^\d\d\d\d$"),
    re.compile(r"^[^T]+T[^.]+\.\d+(?:(?:[+-]\d\d:\d\d)|Z)$"),
    re.compile(r"^[^T]+T[^.]+(?:(?:[+-]\d\d:\d\d)|Z)$"),
    re.compile(r"^[^T]+T[^.]+\.\d+$"),
    re.compile(r"^[^T]+T[^.]+$"),
)
_FULL_TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def parse_datetime_ms(value: str) -> int:
    """Epoch milliseconds of a date-time in one of CMR's accepted forms; ValueError if not."""
    v = value.strip()
    if not any(form.match(v) for form in _DT_FORMS):
        raise ValueError(value)
    if len(v) == 4:
        v += "-01-01"
    if "T" in v and not _FULL_TIME_RE.match(v):
        raise ValueError(value)
    m = re.match(r"^(.*\.\d{3})\d+(.*)$", v)  # CMR truncates beyond milliseconds
    if m:
        v = m.group(1) + m.group(2)
    if v.endswith("Z"):
        v = v[:-1] + "+00:00"
    d = dt.datetime.fromisoformat(v)
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.UTC)
    return (d - _EPOCH) // dt.timedelta(milliseconds=1)


def _cmr_datetime_string(ms: int) -> str:
    text = iso_ms(ms)
    return text.replace(".000Z", "Z")


_DURATION_RE = re.compile(
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


def _apply_duration(ms: int, duration: str, sign: int) -> int:
    m = _DURATION_RE.match(duration)
    if not m or duration in ("P", "PT"):
        raise ValueError(duration)
    years, months, weeks, days, hours, minutes, seconds = m.groups()
    d = _EPOCH + dt.timedelta(milliseconds=ms)
    total_months = sign * (int(years or 0) * 12 + int(months or 0))
    if total_months:
        month0 = d.month - 1 + total_months
        year, month = d.year + month0 // 12, month0 % 12 + 1
        day = min(d.day, calendar.monthrange(year, month)[1])
        d = d.replace(year=year, month=month, day=day)
    d += sign * dt.timedelta(
        weeks=int(weeks or 0),
        days=int(days or 0),
        hours=int(hours or 0),
        minutes=int(minutes or 0),
        seconds=float(seconds or 0),
    )
    return (d - _EPOCH) // dt.timedelta(milliseconds=1)


@dataclass(frozen=True)
class _TimeRange:
    start: int | None
    end: int | None


def parse_temporal(value: str) -> tuple[_TimeRange | None, list[str]]:
    """One ``temporal`` value → (range, errors), following CMR's validation messages."""
    if "/" in value:
        iso, *days = (part.strip() for part in value.split(","))
        errors = _day_errors(days)
        if errors:
            return None, errors
        if any(days):
            return None, [MSG_NOT_EMULATED.format(what="periodic (start_day,end_day) temporal")]
        start_s, _, stop_s = iso.rpartition("/")
        try:
            if not start_s:
                return _TimeRange(None, parse_datetime_ms(stop_s)), []
            if not stop_s:
                return _TimeRange(parse_datetime_ms(start_s), None), []
            if start_s.startswith("P"):
                end = parse_datetime_ms(stop_s)
                return _TimeRange(_apply_duration(end, start_s, -1), end), []
            start = parse_datetime_ms(start_s)
            if stop_s.startswith("P"):
                return _TimeRange(start, _apply_duration(start, stop_s, 1)), []
            return _TimeRange(start, parse_datetime_ms(stop_s)), []
        except ValueError:
            return None, [f"[{iso}] is not a valid date-range"]
    parts = [part.strip() for part in value.split(",")]
    start_s, end_s = parts[0], parts[1] if len(parts) > 1 else ""
    errors: list[str] = []
    start = end = None
    if start_s:
        try:
            start = parse_datetime_ms(start_s)
        except ValueError:
            errors.append(
                f"temporal start datetime is invalid: [{start_s}] is not a valid datetime."
            )
    if end_s:
        try:
            end = parse_datetime_ms(end_s)
        except ValueError:
            errors.append(f"temporal end datetime is invalid: [{end_s}] is not a valid datetime.")
    errors += _day_errors(parts[2:])
    if not errors and any(parts[2:]):
        errors.append(MSG_NOT_EMULATED.format(what="periodic (start_day,end_day) temporal"))
    return (None if errors else _TimeRange(start, end)), errors


def _day_errors(days: Sequence[str]) -> list[str]:
    errors = []
    for tag, day in zip(("temporal_start_day", "temporal_end_day"), days, strict=False):
        if day and not (day.isdigit() and 1 <= int(day) <= 366):
            errors.append(f"{tag} [{day}] must be an integer between 1 and 366")
    return errors


# ----------------------------------------------------------------------------- spatial

_NUM = r"[+\-]?\d+(?:\.\d+)?"
_POINT_RE = re.compile(rf"^({_NUM}),({_NUM})$")
_MBR_RE = re.compile(rf"^({_NUM}),({_NUM}),({_NUM}),({_NUM})$")
_POLYGON_RE = re.compile(rf"^{_NUM},{_NUM}(?:,{_NUM},{_NUM}){{3,}}$")
_LINE_RE = re.compile(rf"^{_NUM},{_NUM}(?:,{_NUM},{_NUM}){{1,}}$")


def _rect(west: float, south: float, east: float, north: float) -> BaseGeometry:
    if west == east and south == north:
        return Point(west, south)
    if west == east or south == north:
        return LineString([(west, south), (east, north)])
    return box(west, south, east, north)


def bbox_geometry(west: float, south: float, east: float, north: float) -> BaseGeometry:
    """A W,S,E,N box; W > E crosses the antimeridian and becomes two parts."""
    if west <= east:
        return _rect(west, south, east, north)
    return unary_union([_rect(west, south, 180.0, north), _rect(-180.0, south, east, north)])


def _pairs(text: str) -> list[tuple[float, float]]:
    nums = [float(x) for x in text.split(",")]
    return list(zip(nums[0::2], nums[1::2], strict=True))


def _signed_area(ring: Sequence[tuple[float, float]]) -> float:
    lons = [p[0] for p in ring]
    if max(lons) - min(lons) > 180.0:
        ring = [(lon + 360.0 if lon < 0 else lon, lat) for lon, lat in ring]
    return sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in itertools.pairwise(ring))


def parse_spatial(kind: str, value: str) -> tuple[BaseGeometry | None, list[str]]:
    """One spatial parameter value → (geometry, errors) with CMR's decode/validation messages."""
    decode_error = [f"[{value}] is not a valid URL encoded {kind}"]
    if kind == "bounding_box":
        m = _MBR_RE.match(value)
        if not m:
            return None, decode_error
        west, south, east, north = (float(x) for x in m.groups())
        errors = []
        for label, v, lim in (
            ("West", west, 180.0),
            ("North", north, 90.0),
            ("East", east, 180.0),
            ("South", south, 90.0),
        ):
            if not -lim <= v <= lim:
                errors.append(
                    f"{label} must be within [{-lim}] and [{lim}] but was [{_java_double(v)}]."
                )
        if north < south:
            errors.append(
                f"The bounding rectangle north value [{_double_to_string(north)}] was less than "
                f"the south value [{_double_to_string(south)}]"
            )
        return (None if errors else bbox_geometry(west, south, east, north)), errors
    if kind == "point":
        m = _POINT_RE.match(value)
        if not m:
            return None, decode_error
        lon, lat = float(m.group(1)), float(m.group(2))
        errors = _point_errors(lon, lat)
        return (None if errors else Point(lon, lat)), errors
    pattern = _POLYGON_RE if kind == "polygon" else _LINE_RE
    if not pattern.match(value):
        return None, decode_error
    pts = _pairs(value)
    errors = [
        f"Point {n} had the following error: {e}"
        for n, (lon, lat) in enumerate(pts, 1)
        for e in _point_errors(lon, lat)
    ]
    if errors:
        return None, errors
    if kind == "line":
        return LineString(pts), []
    if pts[0] != pts[-1]:
        return None, [MSG_RING_NOT_CLOSED]
    if _signed_area(pts) < 0:
        return None, [MSG_RING_ORDER]
    return ring_geometry(pts), []


def _point_errors(lon: float, lat: float) -> list[str]:
    errors = []
    if not -180.0 <= lon <= 180.0:
        errors.append(f"Point longitude [{_double_to_string(lon)}] must be within -180.0 and 180.0")
    if not -90.0 <= lat <= 90.0:
        errors.append(f"Point latitude [{_double_to_string(lat)}] must be within -90 and 90.0")
    return errors


@dataclass
class _Spatial:
    """Spatial conditions: per parameter a list of geometries, combined AND unless 'or'."""

    groups: list[tuple[bool, list[BaseGeometry]]]  # (or-within-group, geometries)
    any_of: bool  # options[spatial][or]=true

    def matches(self, geoms: Sequence[BaseGeometry]) -> bool:
        if not geoms:
            return False

        def hit(q: BaseGeometry) -> bool:
            return any(g.intersects(q) for g in geoms)

        results = [
            (any if or_group else all)(hit(q) for q in group) for or_group, group in self.groups
        ]
        return any(results) if self.any_of else all(results)


# ----------------------------------------------------------------------------- string matching


def _string_matcher(params: _Params, name: str, always_exact: bool = False) -> Callable | None:
    """A predicate over a record's value(s) for string parameter `name`, or None if absent."""
    values = params.get(name)
    if not values:
        return None
    ignore_case = not always_exact and params.opt(name, "ignore_case") != "false"
    pattern = not always_exact and params.opt(name, "pattern") == "true"
    use_and = params.opt(name, "and") == "true"
    flags = re.IGNORECASE if ignore_case else 0
    if pattern:
        regexes = {v: re.compile(_wildcard_regex(v) + r"\Z", flags) for v in values}

        def one(v: str, candidate: str) -> bool:
            return bool(regexes[v].match(candidate))
    elif ignore_case:
        lowered = {v: v.lower() for v in values}

        def one(v: str, candidate: str) -> bool:
            return lowered[v] == candidate.lower()
    else:

        def one(v: str, candidate: str) -> bool:
            return v == candidate

    def matches(*candidates: str | None) -> bool:
        cands = [c for c in candidates if c is not None]
        test = all if use_and else any
        return test(any(one(v, c) for c in cands) for v in values)

    return matches


def _wildcard_regex(text: str) -> str:
    """CMR's pattern syntax: ``*`` any run of characters, ``?`` one character."""
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)


def _keyword_regexes(text: str) -> list[re.Pattern]:
    return [re.compile(_wildcard_regex(term)) for term in text.lower().split()]


# ----------------------------------------------------------------------------- sorting


@functools.total_ordering
class _Desc:
    """Reverses the order of a value inside a sort tuple."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.v == other.v

    def __lt__(self, other: _Desc) -> bool:
        return other.v < self.v

    def __hash__(self) -> int:
        return hash(self.v)


@dataclass(frozen=True)
class _SortField:
    es_field: str
    kind: type
    desc: bool
    get: Callable[[Any], Any]
    is_date: bool = False


class _Sort:
    def __init__(self, fields: list[_SortField]) -> None:
        self.fields = fields

    def raw(self, entry: Any) -> list:
        return [f.get(entry) for f in self.fields]

    def key(self, raw: Sequence) -> tuple:
        return tuple(_Desc(v) if f.desc else v for f, v in zip(self.fields, raw, strict=True))

    def parse_search_after(self, values: list) -> tuple:
        if len(values) != len(self.fields):
            raise CmrError(
                [
                    _es_error(
                        f"search_after has {len(values)} value(s) but sort has {len(self.fields)}."
                    )
                ]
            )
        out = []
        for f, v in zip(self.fields, values, strict=True):
            try:
                if f.kind is int:
                    if isinstance(v, bool) or v is None:
                        raise ValueError(v)
                    iv = int(float(v)) if isinstance(v, (int, float, str)) else None
                    if iv is None:
                        raise ValueError(v)
                    out.append(iv)
                else:
                    if not isinstance(v, (str, int, float)) or isinstance(v, bool):
                        raise ValueError(v)
                    out.append(v if isinstance(v, str) else str(v))
            except (ValueError, TypeError, OverflowError):
                raise CmrError(
                    [_es_error(f"Failed to parse search_after value for field [{f.es_field}].")]
                ) from None
        return self.key(out)


def _provider_lower(entry: Any) -> str:
    return entry.provider_lower


def _seq_of(entry: Any) -> int:
    return entry.seq


def _date_getter(attr: str, desc: bool = False) -> Callable[[Any], int]:
    missing = LONG_MIN if desc else LONG_MAX

    def get(entry: Any) -> int:
        v = getattr(entry, attr)
        return missing if v is None else v

    return get


# ----------------------------------------------------------------------------- records


@dataclass
class _Granule:
    concept_id: str
    seq: int
    provider: str
    collection_id: str
    granule_ur: str
    producer_id: str | None
    start_ms: int | None
    end_ms: int | None
    geoms: list[BaseGeometry]
    cloud: float | None
    revision_date: str
    body: bytes

    @property
    def provider_lower(self) -> str:
        return self.provider.lower()


@dataclass
class _Collection:
    concept_id: str
    seq: int
    revision: int
    provider: str
    short_name: str
    version: str
    entry_title: str
    text: str  # lower-cased keyword haystack
    cloud_hosted: bool
    ranges: list[_TimeRange]
    geoms: list[BaseGeometry]
    platforms: list[str]
    instruments: list[str]
    body: bytes
    derived: bool
    start_ms: int | None = None
    end_ms: int | None = None

    @property
    def parsed_version(self) -> str:
        try:
            return str(int(self.version))
        except ValueError:
            return self.version


def _seq(concept_id: str) -> int:
    m = re.match(r"^[A-Z]+(\d+)-", concept_id)
    return int(m.group(1)) if m else 0


def _item_spans(text: str) -> list[tuple[dict, str]]:
    """Each element of the top-level ``items`` array with its exact source text."""
    dec = json.JSONDecoder()
    pos = text.index("[", text.index('"items"')) + 1
    out: list[tuple[dict, str]] = []
    while True:
        while text[pos] in " \t\r\n,":
            pos += 1
        if text[pos] == "]":
            return out
        obj, end = dec.raw_decode(text, pos)
        raw = text[pos:end]
        if "\n" in raw:  # pretty-printed fixture (earthaccess): serve it compactly
            raw = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        out.append((obj, raw))
        pos = end


@dataclass(frozen=True)
class _Fixtures:
    granules: list[tuple[dict, str]]
    legacy_granules: dict[str, dict]
    collections: list[tuple[dict, str]]
    hlss30: dict
    swot_collection: dict | None
    hlsl30_template: dict


@functools.lru_cache(maxsize=1)
def _load_fixtures() -> _Fixtures:
    granules: list[tuple[dict, str]] = []
    seen: set[str] = set()
    template = None
    for path in sorted(FIXTURE_DIR.glob("granules_umm_json__*.json")):
        for obj, raw in _item_spans(path.read_text(encoding="utf-8")):
            cid = obj["meta"]["concept-id"]
            if cid in seen:
                continue
            seen.add(cid)
            granules.append((obj, raw))
            if template is None and "HLSL30" in path.name:
                template = obj
    legacy: dict[str, dict] = {}
    for path in sorted(FIXTURE_DIR.glob("granules_json__*.json")):
        for entry in json.loads(path.read_text(encoding="utf-8"))["feed"]["entry"]:
            legacy[entry["id"]] = entry
    collections: list[tuple[dict, str]] = []
    seen.clear()
    for path in sorted(FIXTURE_DIR.glob("collections_umm_json__*.json")):
        for obj, raw in _item_spans(path.read_text(encoding="utf-8")):
            if obj["meta"]["concept-id"] not in seen:
                seen.add(obj["meta"]["concept-id"])
                collections.append((obj, raw))
    hlss30 = json.loads(
        (FIXTURE_DIR / "concept_umm_c__HLSS30_C2021957295-LPCLOUD.json").read_text("utf-8")
    )
    swot = None
    swot_path = FIXTURE_DIR / "collections_json__SWOT_RiverSP_PODAAC.json"
    if swot_path.exists():
        entries = json.loads(swot_path.read_text("utf-8"))["feed"]["entry"]
        swot = entries[0] if entries else None
    if template is None:  # pragma: no cover - fixture set is fixed
        raise RuntimeError("no recorded HLSL30 granule to template the generator on")
    return _Fixtures(granules, legacy, collections, hlss30, swot, template)


def _host_mapped(raw: bytes, host_map: dict[str, str]) -> bytes:
    for prefix, repl in host_map.items():
        raw = raw.replace(b'"URL":"' + prefix.encode(), b'"URL":"' + repl.encode())
    return raw


def _umm_range(umm: dict) -> tuple[int | None, int | None]:
    te = umm.get("TemporalExtent") or {}
    rdt = te.get("RangeDateTime")
    if rdt:
        start = rdt.get("BeginningDateTime")
        end = rdt.get("EndingDateTime")
        return (
            parse_datetime_ms(start) if start else None,
            parse_datetime_ms(end) if end else None,
        )
    single = te.get("SingleDateTime")
    if single:
        ms = parse_datetime_ms(single)
        return ms, ms
    return None, None


def _umm_geometries(umm: dict, legacy: dict | None = None) -> list[BaseGeometry]:
    hsd = (umm.get("SpatialExtent") or {}).get("HorizontalSpatialDomain") or {}
    geom = hsd.get("Geometry") or {}
    out: list[BaseGeometry] = []
    for br in geom.get("BoundingRectangles") or []:
        out.append(
            bbox_geometry(
                br["WestBoundingCoordinate"],
                br["SouthBoundingCoordinate"],
                br["EastBoundingCoordinate"],
                br["NorthBoundingCoordinate"],
            )
        )
    for gp in geom.get("GPolygons") or []:
        pts = [(p["Longitude"], p["Latitude"]) for p in gp["Boundary"]["Points"]]
        out.append(ring_geometry(pts))
    for p in geom.get("Points") or []:
        out.append(Point(p["Longitude"], p["Latitude"]))
    for line in geom.get("Lines") or []:
        out.append(LineString([(p["Longitude"], p["Latitude"]) for p in line["Points"]]))
    if not out and legacy:
        # Orbit-only UMM-G: use the footprint CMR computed (recorded in the legacy JSON twin).
        for poly in legacy.get("polygons") or []:
            nums = [float(x) for x in poly[0].split()]
            out.append(ring_geometry(list(zip(nums[1::2], nums[0::2], strict=True))))
    return out


def _umm_cloud(umm: dict) -> float | None:
    if isinstance(umm.get("CloudCover"), (int, float)):
        return float(umm["CloudCover"])
    for attr in umm.get("AdditionalAttributes") or []:
        if attr.get("Name") == "CLOUD_COVERAGE" and attr.get("Values"):
            try:
                return float(attr["Values"][0])
            except ValueError:
                return None
    return None


def _producer_id(umm: dict) -> str | None:
    for ident in (umm.get("DataGranule") or {}).get("Identifiers") or []:
        if ident.get("IdentifierType") == "ProducerGranuleId":
            return ident.get("Identifier")
    return None


def _collection_ranges(umm: dict) -> list[_TimeRange]:
    ranges = []
    for te in umm.get("TemporalExtents") or []:
        for r in te.get("RangeDateTimes") or []:
            begin, end = r.get("BeginningDateTime"), r.get("EndingDateTime")
            ranges.append(
                _TimeRange(
                    parse_datetime_ms(begin) if begin else None,
                    parse_datetime_ms(end) if end else None,
                )
            )
        for single in te.get("SingleDateTimes") or []:
            ms = parse_datetime_ms(single)
            ranges.append(_TimeRange(ms, ms))
    return ranges


def _keyword_text(umm: dict, meta: dict) -> str:
    parts: list[str] = [meta.get("concept-id", "")]
    for key in ("ShortName", "EntryTitle", "Abstract", "Version", "Purpose"):
        if isinstance(umm.get(key), str):
            parts.append(umm[key])
    doi = umm.get("DOI") or {}
    if doi.get("DOI"):
        parts.append(doi["DOI"])
    for kw in umm.get("ScienceKeywords") or []:
        parts.extend(str(v) for v in kw.values())
    for kw in umm.get("LocationKeywords") or []:
        parts.extend(str(v) for v in kw.values())
    parts.extend(umm.get("AncillaryKeywords") or [])
    for plat in umm.get("Platforms") or []:
        parts.extend([plat.get("ShortName", ""), plat.get("LongName", "")])
        for inst in plat.get("Instruments") or []:
            parts.extend([inst.get("ShortName", ""), inst.get("LongName", "")])
    for proj in umm.get("Projects") or []:
        parts.extend([proj.get("ShortName", ""), proj.get("LongName", "")])
    for dc in umm.get("DataCenters") or []:
        parts.extend([dc.get("ShortName", ""), dc.get("LongName", "") or ""])
    pl = umm.get("ProcessingLevel") or {}
    if pl.get("Id"):
        parts.append(str(pl["Id"]))
    return "\n".join(p for p in parts if p).lower()


def _collection_entry(item: dict, body: bytes, derived: bool) -> _Collection:
    meta, umm = item["meta"], item["umm"]
    ranges = _collection_ranges(umm)
    starts = [r.start for r in ranges if r.start is not None]
    ends = [r.end for r in ranges]
    platforms = [p.get("ShortName", "") for p in umm.get("Platforms") or []]
    instruments = [
        i.get("ShortName", "")
        for p in umm.get("Platforms") or []
        for i in p.get("Instruments") or []
    ]
    cloud = bool(
        umm.get("DirectDistributionInformation")
        or meta.get("s3-links")
        or meta["provider-id"].upper().endswith("CLOUD")
    )
    return _Collection(
        concept_id=meta["concept-id"],
        seq=_seq(meta["concept-id"]),
        revision=int(meta.get("revision-id", 1)),
        provider=meta["provider-id"],
        short_name=umm.get("ShortName", ""),
        version=str(umm.get("Version", "")),
        entry_title=umm.get("EntryTitle", ""),
        text=_keyword_text(umm, meta),
        cloud_hosted=cloud,
        ranges=ranges,
        geoms=_umm_collection_geoms(umm),
        platforms=platforms,
        instruments=instruments,
        body=body,
        derived=derived,
        start_ms=min(starts) if starts else None,
        end_ms=None if (not ends or None in ends) else max(e for e in ends if e is not None),
    )


def _umm_collection_geoms(umm: dict) -> list[BaseGeometry]:
    return _umm_geometries(umm)


# ----------------------------------------------------------------------------- derivations


def _meta(
    concept_id: str,
    provider: str,
    native_id: str,
    revision_date: str,
    *,
    revision: int = 1,
    s3_links: list[str] | None = None,
    user_id: str = "stacbridge-sandbox-derived",
) -> dict:
    meta: dict[str, Any] = {
        "revision-id": revision,
        "deleted": False,
        "format": "application/vnd.nasa.cmr.umm+json",
        "provider-id": provider,
        "has-combine": False,
        "user-id": user_id,
        "has-formats": False,
    }
    if s3_links:
        meta["s3-links"] = s3_links
    meta.update(
        {
            "has-spatial-subsetting": False,
            "native-id": native_id,
            "has-transforms": False,
            "has-variables": False,
            "concept-id": concept_id,
            "revision-date": revision_date,
            "has-temporal-subsetting": False,
            "concept-type": "collection",
        }
    )
    return meta


_UMM_C_SPEC = {
    "URL": "https://cdn.earthdata.nasa.gov/umm/collection/v1.18.4",
    "Name": "UMM-C",
    "Version": "1.18.4",
}


def _s3_links(items: list[dict]) -> list[str]:
    links: list[str] = []
    for item in items:
        for ru in item["umm"].get("RelatedUrls") or []:
            m = re.match(r"^s3://([^/]+)/([^/]+)/", ru.get("URL", ""))
            if m:
                link = f"{m.group(1)}/{m.group(2)}/"
                if link not in links:
                    links.append(link)
    return links


def _hlss30_item(hlss30: dict) -> dict:
    """The bare HLSS30 UMM-C wrapped in a synthesised meta (the UMM-C itself is verbatim)."""
    updated = next(
        (d["Date"] for d in hlss30.get("MetadataDates", []) if d.get("Type") == "UPDATE"),
        "2022-09-08T13:54:00.000Z",
    )
    meta = _meta(
        HLSS30_CONCEPT_ID,
        "LPCLOUD",
        f"{hlss30['ShortName']}.v{hlss30['Version']}",
        updated,
        s3_links=["lp-prod-protected/HLSS30.020/", "lp-prod-public/HLSS30.020/"],
        user_id="stacbridge-sandbox",
    )
    return {"meta": meta, "umm": hlss30}


def _hlsl30_item(hlss30: dict, granule_items: list[dict]) -> dict:
    """DERIVED: HLSL30 v2.0 from the HLSS30 v2.0 UMM-C (the two records are siblings)."""
    entry_title = HLSL30_ENTRY_TITLE_FALLBACK
    for item in granule_items:
        title = (item["umm"].get("CollectionReference") or {}).get("EntryTitle")
        if title:
            entry_title = title
            break
    text = json.dumps(hlss30, ensure_ascii=False)
    text = text.replace(json.dumps(hlss30["EntryTitle"])[1:-1], entry_title)
    text = text.replace("HLSS30 and HLSL30", "@@PAIR@@")  # a sentence naming both products
    text = text.replace("HLSS30", "HLSL30").replace("HLS_S30", "HLS_L30")
    text = text.replace("@@PAIR@@", "HLSS30 and HLSL30")
    text = text.replace(HLSS30_CONCEPT_ID, HLSL30_CONCEPT_ID)
    umm = json.loads(text)
    umm["Abstract"] = (
        umm["Abstract"]
        .replace(
            "is derived from Sentinel-2A and Sentinel-2B MSI data products",
            "is derived from Landsat 8 and Landsat 9 Operational Land Imager (OLI) data products",
        )
        .replace("There are 13 bands included", "There are 11 bands included")
    )
    umm["Platforms"] = [
        {
            "Type": "Earth Observation Satellites",
            "ShortName": name,
            "LongName": long_name,
            "Instruments": [
                {"ShortName": "OLI", "LongName": "Operational Land Imager"},
                {"ShortName": "TIRS", "LongName": "Thermal Infrared Sensor"},
            ],
        }
        for name, long_name in (("LANDSAT-8", "Landsat 8"), ("LANDSAT-9", "Landsat 9"))
    ]
    umm["TemporalExtents"] = [
        {
            "EndsAtPresentFlag": True,
            "RangeDateTimes": [{"BeginningDateTime": "2013-04-11T00:00:00.000Z"}],
        }
    ]
    umm["AdditionalAttributes"] = [
        a
        for a in umm.get("AdditionalAttributes", [])
        if not a["Name"].startswith("MSI_") and a["Name"] != "PROCESSING_BASELINE"
    ]
    updated = next(
        (d["Date"] for d in umm.get("MetadataDates", []) if d.get("Type") == "UPDATE"),
        "2022-09-08T13:54:00.000Z",
    )
    meta = _meta(
        HLSL30_CONCEPT_ID,
        "LPCLOUD",
        "HLSL30.v2.0",
        updated,
        s3_links=_s3_links(granule_items)
        or ["lp-prod-protected/HLSL30.020/", "lp-prod-public/HLSL30.020/"],
    )
    return {"meta": meta, "umm": umm}


def _swot_item(entry: dict, granule_items: list[dict]) -> dict:
    """DERIVED: UMM-C from the recorded legacy ATOM-JSON collection entry."""
    boxes = []
    for b in entry.get("boxes") or []:
        s, w, n, e = (float(x) for x in b.split())
        boxes.append(
            {
                "WestBoundingCoordinate": w,
                "NorthBoundingCoordinate": n,
                "EastBoundingCoordinate": e,
                "SouthBoundingCoordinate": s,
            }
        )
    cs = entry.get("coordinate_system", "CARTESIAN")
    umm: dict[str, Any] = {
        "ShortName": entry["short_name"],
        "Version": entry["version_id"],
        "EntryTitle": entry["dataset_id"],
        "Abstract": entry.get("summary", entry["dataset_id"]),
        "DOI": {"MissingReason": "Unknown", "Explanation": "Not in the recorded legacy entry."},
        "ProcessingLevel": {"Id": entry.get("processing_level_id", "Not provided")},
        "Platforms": [{"ShortName": p} for p in entry.get("platforms") or []],
        "TemporalExtents": [
            {
                "EndsAtPresentFlag": True,
                "RangeDateTimes": [{"BeginningDateTime": entry["time_start"]}],
            }
        ],
        "SpatialExtent": {
            "HorizontalSpatialDomain": {
                "Geometry": {"CoordinateSystem": cs, "BoundingRectangles": boxes}
            },
            "GranuleSpatialRepresentation": cs,
        },
        "DataCenters": [{"Roles": ["ARCHIVER"], "ShortName": entry.get("archive_center", "")}],
        "MetadataSpecification": _UMM_C_SPEC,
    }
    meta = _meta(
        entry["id"],
        entry["data_center"],
        entry["short_name"],
        entry.get("updated", "2022-07-20T18:09:34.000Z"),
        revision=17,
        s3_links=_s3_links(granule_items),
    )
    return {"meta": meta, "umm": umm}


def _derived_item(coll_id: str, items: list[dict], legacy: dict[str, dict]) -> dict:
    """DERIVED: a minimal UMM-C from a collection's recorded granules (see module docstring)."""
    umm0 = items[0]["umm"]
    ref = umm0.get("CollectionReference") or {}
    leg = legacy.get(items[0]["meta"]["concept-id"], {})
    short_name, version = ref.get("ShortName"), ref.get("Version")
    if not short_name:
        m = re.match(r"^SC:([^.]+)\.(\w+):", umm0.get("GranuleUR", ""))
        short_name, version = (m.group(1), m.group(2)) if m else (coll_id, "Not provided")
    entry_title = ref.get("EntryTitle") or leg.get("dataset_id") or f"{short_name} v{version}"
    starts, ends, geoms, platforms, revdates = [], [], [], [], []
    for item in items:
        start, end = _umm_range(item["umm"])
        if start is not None:
            starts.append(start)
        ends.append(end if end is not None else start)
        geoms += _umm_geometries(item["umm"], legacy.get(item["meta"]["concept-id"]))
        revdates.append(item["meta"].get("revision-date", ""))
        for p in item["umm"].get("Platforms") or []:
            plat = {"ShortName": p["ShortName"]}
            if p.get("Instruments"):
                plat["Instruments"] = [{"ShortName": i["ShortName"]} for i in p["Instruments"]]
            if plat not in platforms:
                platforms.append(plat)
    cs = (leg.get("coordinate_system") or "").upper()
    if not cs:
        has_poly = any(
            ((it["umm"].get("SpatialExtent") or {}).get("HorizontalSpatialDomain") or {})
            .get("Geometry", {})
            .get("GPolygons")
            for it in items
        )
        cs = "GEODETIC" if has_poly else "CARTESIAN"
    rects = []
    if geoms:
        w, s, e, n = unary_union(geoms).bounds
        rects.append(
            {
                "WestBoundingCoordinate": max(-180.0, w),
                "NorthBoundingCoordinate": min(90.0, n),
                "EastBoundingCoordinate": min(180.0, e),
                "SouthBoundingCoordinate": max(-90.0, s),
            }
        )
    valid_ends = [e for e in ends if e is not None]
    umm: dict[str, Any] = {
        "ShortName": short_name,
        "Version": version,
        "EntryTitle": entry_title,
        "Abstract": (
            f"{entry_title}. Collection record derived by the stacbridge CMR sandbox from "
            "recorded granule metadata; the real UMM-C was not recorded."
        ),
        "DOI": {"MissingReason": "Unknown", "Explanation": "Derived record; DOI not recorded."},
        "TemporalExtents": [
            {
                "EndsAtPresentFlag": False,
                "RangeDateTimes": [
                    {
                        "BeginningDateTime": iso_ms(min(starts)) if starts else None,
                        "EndingDateTime": iso_ms(max(valid_ends)) if valid_ends else None,
                    }
                ],
            }
        ],
        "SpatialExtent": {
            "HorizontalSpatialDomain": {
                "Geometry": {
                    "CoordinateSystem": "GEODETIC" if cs == "GEODETIC" else "CARTESIAN",
                    "BoundingRectangles": rects,
                }
            },
            "GranuleSpatialRepresentation": cs,
        },
        "MetadataSpecification": _UMM_C_SPEC,
    }
    if platforms:
        umm["Platforms"] = platforms
    meta = _meta(
        coll_id,
        items[0]["meta"]["provider-id"],
        f"{short_name}_{version}",
        max(revdates),
        s3_links=_s3_links(items),
    )
    return {"meta": meta, "umm": umm}


# ----------------------------------------------------------------------------- the catalogue


class _GenRef:
    """Sort-value view of generated granule `i`."""

    __slots__ = ("end_ms", "i", "provider_lower", "seq", "start_ms")

    def __init__(self, gen: HLSGenerator, i: int) -> None:
        self.i = i
        self.provider_lower = "lpcloud"
        self.start_ms = self.end_ms = gen.time_ms(i)
        self.seq = CONCEPT_BASE + i


class _GeneratedStream:
    """The generated granules of one query in sort order, addressed by rank."""

    def __init__(self, gen: HLSGenerator, selection: Any, sort: _Sort, desc: bool) -> None:
        self.gen, self.sel, self.sort, self.desc = gen, selection, sort, desc
        self.n = len(selection)

    def index(self, rank: int) -> int:
        return self.sel.select(self.n - 1 - rank if self.desc else rank)

    def raw(self, rank: int) -> list:
        return self.sort.raw(_GenRef(self.gen, self.index(rank)))

    def key(self, rank: int) -> tuple:
        return self.sort.key(self.raw(rank))

    def count_before(self, key: tuple, inclusive: bool) -> int:
        lo, hi = 0, self.n
        while lo < hi:
            mid = (lo + hi) // 2
            k = self.key(mid)
            if k < key or (inclusive and k == key):
                lo = mid + 1
            else:
                hi = mid
        return lo

    def body(self, rank: int) -> bytes:
        return self.gen.render(self.index(rank)).encode()


class _ListSelection:
    """An explicit sorted list of generated indices with the Selection interface."""

    def __init__(self, indices: Iterable[int]) -> None:
        self.indices = sorted(set(indices))

    def __len__(self) -> int:
        return len(self.indices)

    def select(self, k: int) -> int:
        return self.indices[k]


@dataclass
class _Page:
    hits: int
    items: list[bytes]
    search_after: list | None


class CmrEmulator:
    """The catalogue and the search logic, independent of HTTP."""

    def __init__(
        self,
        *,
        data_host_map: dict[str, str] | None = None,
        generated_granules: int = 1_000_000,
        seed: int = 0,
    ) -> None:
        fx = _load_fixtures()
        host_map = dict(data_host_map or {})
        self.host_map = host_map
        self.seed = seed
        # -- granules
        self.granules: list[_Granule] = []
        items_by_coll: dict[str, list[dict]] = {}
        for obj, raw in fx.granules:
            meta, umm = obj["meta"], obj["umm"]
            leg = fx.legacy_granules.get(meta["concept-id"])
            coll_id = meta.get("collection-concept-id") or (leg or {}).get(
                "collection_concept_id", ""
            )
            start, end = _umm_range(umm)
            self.granules.append(
                _Granule(
                    concept_id=meta["concept-id"],
                    seq=_seq(meta["concept-id"]),
                    provider=meta["provider-id"],
                    collection_id=coll_id,
                    granule_ur=umm.get("GranuleUR", ""),
                    producer_id=_producer_id(umm),
                    start_ms=start,
                    end_ms=end,
                    geoms=_umm_geometries(umm, leg),
                    cloud=_umm_cloud(umm),
                    revision_date=meta.get("revision-date", ""),
                    body=_host_mapped(raw.encode(), host_map),
                )
            )
            items_by_coll.setdefault(coll_id, []).append(obj)
        # -- collections
        self.collections: list[_Collection] = []
        for obj, raw in fx.collections:
            self.collections.append(_collection_entry(obj, raw.encode(), derived=False))
        known = {c.concept_id for c in self.collections}
        derived_items: list[tuple[dict, bool]] = []
        if HLSS30_CONCEPT_ID not in known:
            derived_items.append((_hlss30_item(fx.hlss30), False))
        for coll_id, items in items_by_coll.items():
            if coll_id in known or coll_id in (HLSS30_CONCEPT_ID, ""):
                continue
            if coll_id == HLSL30_CONCEPT_ID:
                derived_items.append((_hlsl30_item(fx.hlss30, items), True))
            elif coll_id == SWOT_REACH_CONCEPT_ID and fx.swot_collection:
                derived_items.append((_swot_item(fx.swot_collection, items), True))
            else:
                derived_items.append((_derived_item(coll_id, items, fx.legacy_granules), True))
        if HLSL30_CONCEPT_ID not in items_by_coll and generated_granules > 0:
            derived_items.append((_hlsl30_item(fx.hlss30, []), True))
        for item, derived in derived_items:
            self.collections.append(_collection_entry(item, orjson.dumps(item), derived=derived))
        self.collections_by_id = {c.concept_id: c for c in self.collections}
        # -- generator (kept clear of the recorded HLSL30 granules' area)
        avoid = unary_union(
            [g for gr in self.granules if gr.collection_id == HLSL30_CONCEPT_ID for g in gr.geoms]
            or [Point(0, 0)]
        ).buffer(1.0)
        self.generator = HLSGenerator(
            fx.hlsl30_template, n=generated_granules, seed=seed, host_map=host_map, avoid=avoid
        )
        self.collection_granule_counts: dict[str, int] = {}
        for g in self.granules:
            self.collection_granule_counts[g.collection_id] = (
                self.collection_granule_counts.get(g.collection_id, 0) + 1
            )
        self.collection_granule_counts[HLSL30_CONCEPT_ID] = (
            self.collection_granule_counts.get(HLSL30_CONCEPT_ID, 0) + self.generator.n
        )

    # ------------------------------------------------------------------ validation helpers
    @staticmethod
    def _search_after_values(p: _Params, search_after: str | None) -> list | None:
        """CMR's checks of the ``CMR-Search-After`` header (done before anything else)."""
        if search_after is None:
            return None
        try:
            values = json.loads(search_after)
        except ValueError:
            raise CmrError([MSG_SEARCH_AFTER_ARRAY]) from None
        if isinstance(values, str):
            raise CmrError([MSG_SEARCH_AFTER_STRING])
        if not isinstance(values, list):
            raise CmrError([MSG_SEARCH_AFTER_ARRAY])
        for name in ("page_num", "offset", "scroll"):
            if p.get(name):
                raise CmrError([f"{name} is not allowed with search-after"])
        return values

    def _param_errors(self, concept_type: str, p: _Params) -> list[str]:
        allowed = _STANDARD_PARAMS | (
            _GRANULE_PARAMS if concept_type == "granule" else _COLLECTION_PARAMS
        )
        errors = [
            f"Parameter [{name}] was not recognized."
            for name in sorted(set(p.values) | set(p.legacy_ranges))
            if name not in allowed
        ]
        errors += [
            f"Parameter [{name}] must have a single value."
            for name in sorted(_SINGLE_VALUE)
            if len(p.get(name)) > 1
        ]
        page_size = page_num = offset = None
        if p.get("page_size"):
            try:
                page_size = int(p.get("page_size")[0])
                if not 0 <= page_size <= MAX_PAGE_SIZE:
                    errors.append(MSG_PAGE_SIZE)
            except ValueError:
                errors.append(MSG_PAGE_SIZE)
        if p.get("page_num"):
            try:
                page_num = int(p.get("page_num")[0])
                if page_num < 1:
                    errors.append(MSG_PAGE_NUM)
            except ValueError:
                errors.append(MSG_PAGE_NUM)
        if p.get("offset"):
            if p.get("page_num"):
                errors.append("Only one of offset or page-num may be specified")
            else:
                try:
                    offset = int(p.get("offset")[0])
                    if not 0 <= offset <= PAGING_DEPTH_LIMIT:
                        errors.append(MSG_OFFSET)
                except ValueError:
                    errors.append(MSG_OFFSET)
        if (
            page_size is not None
            and page_num is not None
            and page_size * page_num > (PAGING_DEPTH_LIMIT)
        ):
            errors.append(
                f"The paging depth (page_num * page_size) of [{page_size * page_num}] exceeds "
                f"the limit of {PAGING_DEPTH_LIMIT}."
            )
        if (
            page_size is not None
            and offset is not None
            and page_size + offset > (PAGING_DEPTH_LIMIT)
        ):
            errors.append(
                f"The paging depth (page_size + offset) of [{page_size + offset}] exceeds the "
                f"limit of {PAGING_DEPTH_LIMIT}."
            )
        valid_sorts = _GRANULE_SORT_KEYS if concept_type == "granule" else _COLLECTION_SORT_KEYS
        for sk in p.get("sort_key"):
            name = sk.lstrip("+-")
            if name not in valid_sorts:
                errors.append(
                    f"The sort key [{name}] is not a valid field for sorting {concept_type}s."
                )
        for name in ("concept_id", "collection_concept_id"):
            label = "Concept-id" if name == "concept_id" else "Collection-concept-id"
            for v in p.get(name):
                if not _CONCEPT_ID_RE.match(v):
                    errors.append(f"{label} [{v}] is not valid.")
        for name in sorted(_BOOLEAN):
            for v in p.get(name):
                if v.lower() not in ("true", "false") and not (
                    name == "has_granules" and v == "unset"
                ):
                    errors.append(
                        f"Parameter {name} must take value of true or false but was [{v}]"
                    )
        return errors

    def _parse_conditions(self, concept_type: str, p: _Params) -> dict[str, Any]:
        """Temporal/spatial/cloud-cover parsing; raises CmrError with all errors."""
        errors: list[str] = []
        ranges: list[_TimeRange] = []
        for value in p.get("temporal"):
            rng, errs = parse_temporal(value)
            errors += errs
            if rng is not None:
                ranges.append(rng)
        spatial_groups: list[tuple[bool, list[BaseGeometry]]] = []
        for kind in _SPATIAL_PARAMS:
            geoms = []
            for value in p.get(kind):
                geom, errs = parse_spatial(kind, value)
                errors += errs
                if geom is not None:
                    geoms.append(geom)
            if geoms:
                spatial_groups.append((p.opt(kind, "or") == "true", geoms))
        if p.get("circle") or p.get("shapefile"):
            errors.append(MSG_NOT_EMULATED.format(what="circle or shapefile spatial searches"))
        cloud = None
        if concept_type == "granule" and (p.get("cloud_cover") or "cloud_cover" in p.legacy_ranges):
            cloud, errs = self._parse_cloud(p)
            errors += errs
        for r in ranges:
            if r.start is not None and r.end is not None and r.start > r.end:
                errors.append(
                    f"start_date [{_cmr_datetime_string(r.start)}] must be before end_date "
                    f"[{_cmr_datetime_string(r.end)}]"
                )
        if errors:
            raise CmrError(errors)
        if p.opt("temporal", "exclude_boundary") == "true":
            ranges = [
                _TimeRange(
                    None if r.start is None else r.start + 1,
                    None if r.end is None else r.end - 1,
                )
                for r in ranges
            ]
        spatial = (
            _Spatial(spatial_groups, p.opt("spatial", "or") == "true") if spatial_groups else None
        )
        return {
            "ranges": ranges,
            "temporal_and": p.opt("temporal", "and") == "true",
            "spatial": spatial,
            "cloud": cloud,
        }

    @staticmethod
    def _parse_cloud(p: _Params) -> tuple[tuple[float | None, float | None] | None, list[str]]:
        if "cloud_cover" in p.legacy_ranges:
            legacy = p.legacy_ranges["cloud_cover"]
            try:
                if "value" in legacy:
                    v = float(legacy["value"])
                    return (v, v), []
                lo = float(legacy["min"]) if legacy.get("min") else None
                hi = float(legacy["max"]) if legacy.get("max") else None
                return (lo, hi), []
            except ValueError:
                return None, [_numeric_range_msg(json.dumps(legacy))]
        value = p.get("cloud_cover")[0]
        parts = value.split(",")
        try:
            if len(parts) == 1:
                v = float(parts[0])
                return (v, v), []
            if len(parts) != 2 or not (parts[0].strip() or parts[1].strip()):
                raise ValueError(value)
            lo = float(parts[0]) if parts[0].strip() else None
            hi = float(parts[1]) if parts[1].strip() else None
            return (lo, hi), []
        except ValueError:
            return None, [_numeric_range_msg(value)]

    # ------------------------------------------------------------------ sorting
    def _granule_sort(self, p: _Params) -> _Sort:
        keys = p.get("sort_key")
        if not keys:
            return _Sort(
                [
                    _SortField("provider-id-lowercase-doc-values", str, False, _provider_lower),
                    _SortField("start-date-doc-values", int, False, _date_getter("start_ms"), True),
                    _SortField("concept-seq-id-long", int, False, _seq_of),
                ]
            )
        if len(keys) > 1:
            raise CmrError([MSG_NOT_EMULATED.format(what="granule sorts on several keys")])
        desc = keys[0].startswith("-")
        name = keys[0].lstrip("+-")
        if name not in ("start_date", "end_date"):
            raise CmrError([MSG_NOT_EMULATED.format(what=f"sorting granules by [{name}]")])
        attr = "start_ms" if name == "start_date" else "end_ms"
        es_field = f"{name.replace('_', '-')}-doc-values"
        return _Sort(
            [
                _SortField(es_field, int, desc, _date_getter(attr, desc), is_date=True),
                _SortField("concept-seq-id-long", int, False, _seq_of),
            ]
        )

    def _collection_sort(self, p: _Params) -> _Sort:
        sub = [
            _SortField("short-name-lowercase", str, False, lambda c: c.short_name),
            _SortField("parsed-version-id-lowercase", str, True, lambda c: c.parsed_version),
            _SortField("concept-seq-id", int, False, _seq_of),
            _SortField("revision-id", int, True, lambda c: c.revision),
        ]
        keys = p.get("sort_key")
        if not keys:
            title = _SortField("entry-title-lowercase", str, False, lambda c: c.entry_title.lower())
            return _Sort([title, _SortField("provider-id", str, False, lambda c: c.provider), *sub])
        fields = []
        getters: dict[str, tuple[type, Callable]] = {
            "entry_title": (str, lambda c: c.entry_title.lower()),
            "dataset_id": (str, lambda c: c.entry_title.lower()),
            "short_name": (str, lambda c: c.short_name.lower()),
            "provider": (str, lambda c: c.provider.lower()),
        }
        for key in keys:
            desc = key.startswith("-")
            name = key.lstrip("+-")
            if name in ("start_date", "end_date"):
                attr = "start_ms" if name == "start_date" else "end_ms"
                fields.append(
                    _SortField(name.replace("_", "-"), int, desc, _date_getter(attr, desc))
                )
            elif name in getters:
                kind, get = getters[name]
                fields.append(_SortField(f"{name.replace('_', '-')}-lowercase", kind, desc, get))
            else:
                raise CmrError([MSG_NOT_EMULATED.format(what=f"sorting collections by [{name}]")])
        return _Sort([*fields, *sub])

    # ------------------------------------------------------------------ searches
    def search(
        self, concept_type: str, pairs: Iterable[tuple[str, str]], search_after: str | None = None
    ) -> _Page:
        p = parse_params(pairs)
        sa_values = self._search_after_values(p, search_after)
        if concept_type == "granule":
            self._granule_collection_guard(p)
        errors = self._param_errors(concept_type, p)
        if errors:
            raise CmrError(errors)
        cond = self._parse_conditions(concept_type, p)
        size = int(p.one("page_size") or DEFAULT_PAGE_SIZE)
        if p.one("offset") is not None:
            offset = int(p.one("offset") or 0)
        else:
            offset = (int(p.one("page_num") or 1) - 1) * size
        if concept_type == "granule":
            sort = self._granule_sort(p)
            records, stream = self._granule_candidates(p, cond, sort)
        else:
            sort = self._collection_sort(p)
            records, stream = self._collection_candidates(p, cond), None
        sa_key = sort.parse_search_after(sa_values) if sa_values is not None else None
        return self._page(records, stream, sort, size, offset, sa_key)

    def _granule_collection_guard(self, p: _Params) -> None:
        for name in ("concept_id", "collection_concept_id"):
            vals = p.get(name)
            if vals:
                if any(not v.startswith(("G", "C")) for v in vals):
                    raise CmrError(
                        [
                            f"Invalid concept_id [{_clj_vector(vals)}]. For granule queries "
                            "concept_id must be either a granule or collection concept ID."
                        ]
                    )
                break
        if not any(p.get(name) for name in _COLLECTION_LIMITING):
            spatial = any(p.get(k) for k in (*_SPATIAL_PARAMS, "circle", "shapefile"))
            raise CmrError([MSG_ALL_GRANULES_SPATIAL if spatial else MSG_ALL_GRANULES])

    def _time_ok(self, start: int | None, end: int | None, cond: dict) -> bool:
        ranges: list[_TimeRange] = cond["ranges"]
        if not ranges:
            return True

        def overlaps(r: _TimeRange) -> bool:
            if r.end is not None and start is not None and start > r.end:
                return False
            return not (r.start is not None and end is not None and end < r.start)

        return (all if cond["temporal_and"] else any)(overlaps(r) for r in ranges)

    def _collection_filters(self, p: _Params) -> Callable[[_Collection], bool]:
        """Predicate over collections for the collection-identifying parameters."""
        provider = _string_matcher(p, "provider")
        short_name = _string_matcher(p, "short_name")
        version = _string_matcher(p, "version")
        entry_title = _string_matcher(p, "entry_title")
        entry_id = _string_matcher(p, "entry_id")
        coll_ids = set(p.get("collection_concept_id"))

        def ok(c: _Collection) -> bool:
            return (
                (provider is None or provider(c.provider))
                and (short_name is None or short_name(c.short_name))
                and (version is None or version(c.version))
                and (entry_title is None or entry_title(c.entry_title))
                and (entry_id is None or entry_id(f"{c.short_name}_{c.version}"))
                and (not coll_ids or c.concept_id in coll_ids)
            )

        return ok

    def _granule_candidates(
        self, p: _Params, cond: dict, sort: _Sort
    ) -> tuple[list[_Granule], _GeneratedStream | None]:
        coll_ok = self._collection_filters(p)
        cids = p.get("concept_id")
        c_ids = {v for v in cids if v.startswith("C")}
        g_ids = {v for v in cids if v.startswith("G")}
        granule_ur = _string_matcher(p, "granule_ur")
        readable = _string_matcher(p, "readable_granule_name")
        producer = _string_matcher(p, "producer_granule_id")
        spatial: _Spatial | None = cond["spatial"]
        cloud = cond["cloud"]

        def coll_pass(coll_id: str) -> bool:
            c = self.collections_by_id.get(coll_id)
            if c is None:
                return False
            return coll_ok(c) and (not c_ids or coll_id in c_ids)

        records = []
        for g in self.granules:
            if not coll_pass(g.collection_id):
                continue
            if g_ids and g.concept_id not in g_ids:
                continue
            if granule_ur and not granule_ur(g.granule_ur):
                continue
            if producer and not producer(g.producer_id):
                continue
            if readable and not readable(g.granule_ur, g.producer_id):
                continue
            if not self._time_ok(g.start_ms, g.end_ms, cond):
                continue
            if spatial and not spatial.matches(g.geoms):
                continue
            if cloud is not None:
                lo, hi = cloud
                if g.cloud is None or (lo is not None and g.cloud < lo):
                    continue
                if hi is not None and g.cloud > hi:
                    continue
            records.append(g)

        gen = self.generator
        if gen.n == 0 or not coll_pass(HLSL30_CONCEPT_ID):
            return records, None
        # temporal → index intervals
        if cond["ranges"]:
            ivs = [gen.index_interval(r.start, r.end) for r in cond["ranges"]]
            if cond["temporal_and"]:
                lo = max(iv[0] for iv in ivs)
                hi = min(iv[1] for iv in ivs)
                ivs = [(lo, max(lo, hi))]
        else:
            ivs = [(0, gen.n)]
        tiles = None
        if spatial is not None:
            tiles = {s for s, t in enumerate(gen.tiles) if spatial.matches([t.geometry])}
        selection: Any = gen.selection(ivs, tiles, cloud)
        # explicit-identity filters: invert to indices instead of scanning
        explicit: set[int] | None = None
        if g_ids:
            explicit = {i for v in g_ids if (i := gen.index_for_concept_id(v)) is not None}
        identity = (
            (granule_ur, "granule_ur"),
            (readable, "readable_granule_name"),
            (producer, "producer_granule_id"),
        )
        for matcher, name in identity:
            if matcher is None:
                continue
            if p.opt(name, "pattern") == "true":
                base = explicit
                if base is None:
                    if len(selection) > PATTERN_SCAN_LIMIT:
                        raise CmrError(
                            [
                                MSG_NOT_EMULATED.format(
                                    what=f"{name} patterns over more than {PATTERN_SCAN_LIMIT} "
                                    "generated granules (narrow the temporal range)"
                                )
                            ]
                        )
                    base = set(selection)
                explicit = {i for i in base if matcher(*self._generated_names(i, name))}
            else:
                inverted = (gen.index_for_granule_ur(v) for v in p.get(name))
                found = {
                    i
                    for i in inverted
                    if i is not None and matcher(*self._generated_names(i, name))
                }
                explicit = found if explicit is None else explicit & found
        if explicit is not None:
            if isinstance(selection, _ListSelection):  # pragma: no cover - defensive
                selection = _ListSelection(i for i in explicit if i in selection.indices)
            else:
                selection = _ListSelection(i for i in explicit if i in selection)
        if len(selection) == 0:
            return records, None
        # Generated sort values grow with the index: the stream runs backwards for a descending
        # date sort (provider, the other leading field, is the same for all of them).
        desc = any(f.desc for f in sort.fields if f.is_date)
        return records, _GeneratedStream(gen, selection, sort, desc)

    def _generated_names(self, i: int, param: str) -> tuple[str, ...]:
        """The names of generated granule `i` that string parameter `param` is matched against."""
        ur = self.generator.granule_ur(i)
        producer_id = ur.removesuffix(".v2.0")  # as in the recorded DataGranule.Identifiers
        if param == "granule_ur":
            return (ur,)
        if param == "producer_granule_id":
            return (producer_id,)
        return ur, producer_id  # readable_granule_name: either

    def _collection_candidates(self, p: _Params, cond: dict) -> list[_Collection]:
        coll_ok = self._collection_filters(p)
        ids = set(p.get("concept_id"))
        keyword = _keyword_regexes(p.one("keyword") or "")
        cloud_hosted = p.one("cloud_hosted")
        has_granules = p.one("has_granules")
        platform = _string_matcher(p, "platform")
        instrument = _string_matcher(p, "instrument")
        spatial: _Spatial | None = cond["spatial"]
        out = []
        for c in self.collections:
            if not coll_ok(c) or (ids and c.concept_id not in ids):
                continue
            if keyword and not all(rx.search(c.text) for rx in keyword):
                continue
            if cloud_hosted is not None and c.cloud_hosted != (cloud_hosted.lower() == "true"):
                continue
            if has_granules is not None and has_granules != "unset":
                has = self.collection_granule_counts.get(c.concept_id, 0) > 0
                if has != (has_granules.lower() == "true"):
                    continue
            if platform and not platform(*c.platforms):
                continue
            if instrument and not instrument(*c.instruments):
                continue
            if cond["ranges"] and not any(self._time_ok(r.start, r.end, cond) for r in c.ranges):
                continue
            if spatial and not spatial.matches(c.geoms):
                continue
            out.append(c)
        return out

    def _page(
        self,
        records: list[Any],
        stream: _GeneratedStream | None,
        sort: _Sort,
        size: int,
        offset: int,
        sa_key: tuple | None,
    ) -> _Page:
        rec_keys = [sort.key(sort.raw(r)) for r in records]
        order = sorted(range(len(records)), key=rec_keys.__getitem__)
        records = [records[j] for j in order]
        rec_keys = [rec_keys[j] for j in order]
        n_gen = stream.n if stream else 0
        hits = len(records) + n_gen
        if sa_key is not None:
            ri = bisect.bisect_right(rec_keys, sa_key)
            gi = stream.count_before(sa_key, inclusive=True) if stream else 0
        else:
            ri = 0
            for j, k in enumerate(rec_keys):
                pos = j + (stream.count_before(k, inclusive=False) if stream else 0)
                if pos < offset:
                    ri = j + 1
                else:
                    break
            gi = max(0, offset - ri)
        items: list[bytes] = []
        last_raw = None
        gkey = stream.key(gi) if stream and gi < n_gen else None
        while len(items) < size and (ri < len(records) or gi < n_gen):
            take_record = ri < len(records) and (gkey is None or rec_keys[ri] < gkey)
            if take_record:
                items.append(records[ri].body)
                last_raw = sort.raw(records[ri])
                ri += 1
            else:
                assert stream is not None
                items.append(stream.body(gi))
                last_raw = stream.raw(gi)
                gi += 1
                gkey = stream.key(gi) if gi < n_gen else None
        return _Page(hits, items, last_raw if items else None)


# ----------------------------------------------------------------------------- HTTP layer


@dataclass
class _Fault:
    status: int | None
    count: int
    retry_after: float | None
    delay: float
    path: str | None
    errors: list[str] | None


_FAULT_MESSAGES = {
    429: "Too Many Requests",
    500: "An Internal Error has occurred.",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class _SandboxState:
    def __init__(self, seed: int) -> None:
        self.lock = threading.Lock()
        self.faults: list[_Fault] = []
        self.requests: deque[dict] = deque(maxlen=2000)
        self.counter = 0
        self.seed = seed

    def take_fault(self, path: str) -> _Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.path is None or fault.path in path:
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def next_ids(self) -> tuple[str, str]:
        with self.lock:
            self.counter += 1
            n = self.counter
        rng = random.Random(f"cmr-request-{self.seed}-{n}")
        request_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        x_request_id = base64.urlsafe_b64encode(rng.randbytes(40)).decode()
        return request_id, x_request_id


def _error_response(status: int, errors: list[str], headers: dict[str, str]) -> Response:
    return Response(
        orjson.dumps({"errors": errors}),
        status_code=status,
        headers={**headers, "content-type": ERROR_CONTENT_TYPE},
    )


def create_cmr_app(
    *,
    data_host_map: dict[str, str] | None = None,
    generated_granules: int = 1_000_000,
    seed: int = 0,
) -> Starlette:
    """The CMR emulator as an ASGI app (search under ``/search``, controls under ``/_sandbox``)."""
    emulator = CmrEmulator(
        data_host_map=data_host_map, generated_granules=generated_granules, seed=seed
    )
    state = _SandboxState(seed)

    async def search(request: Request) -> Response:
        concept_type = (
            "granule" if request.url.path.endswith("granules.umm_json") else ("collection")
        )
        pairs = parse_qsl(request.url.query, keep_blank_values=True)
        form = ""
        content_type = request.headers.get("content-type", "")
        if request.method == "POST":
            body = (await request.body()).decode("utf-8", "replace")
            form = body
            if content_type.startswith("application/x-www-form-urlencoded") or not body:
                pairs += parse_qsl(body, keep_blank_values=True)
            elif content_type.startswith("application/json"):
                pairs = None
            else:
                return Response(
                    f"Unsupported content type [{content_type}]",
                    status_code=415,
                    headers={"access-control-allow-origin": "*"},
                )
        search_after = request.headers.get("cmr-search-after")
        entry = {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "form": form,
            "cmr_search_after": search_after,
            "status": None,
            "time": time.time(),
        }
        with state.lock:
            state.requests.append(entry)
        request_id, x_request_id = state.next_ids()
        headers = {
            "access-control-allow-origin": "*",
            "access-control-expose-headers": EXPOSE_HEADERS,
            "cmr-request-id": request_id,
            "x-request-id": x_request_id,
        }
        fault = state.take_fault(request.url.path)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status:
                fault_headers = dict(headers)
                if fault.retry_after is not None:
                    ra = fault.retry_after
                    fault_headers["retry-after"] = str(int(ra) if float(ra).is_integer() else ra)
                entry["status"] = fault.status
                return _error_response(
                    fault.status,
                    fault.errors or [_FAULT_MESSAGES.get(fault.status, "Error")],
                    fault_headers,
                )
        if pairs is None:
            entry["status"] = 400
            return _error_response(
                400, [MSG_NOT_EMULATED.format(what="JSON query language searches")], headers
            )
        started = time.perf_counter()
        try:
            page = emulator.search(concept_type, pairs, search_after)
        except CmrError as exc:
            entry["status"] = exc.status
            return _error_response(exc.status, exc.errors, headers)
        took = max(1, round((time.perf_counter() - started) * 1000))
        body = b"".join(
            (
                b'{"hits":%d,"took":%d,"items":[' % (page.hits, took),
                b",".join(page.items),
                b"]}",
            )
        )
        headers["cmr-hits"] = str(page.hits)
        headers["cmr-took"] = str(took)
        if page.search_after is not None:
            headers["cmr-search-after"] = json.dumps(
                page.search_after, separators=(",", ":"), ensure_ascii=False
            )
        headers["content-type"] = (
            GRANULE_CONTENT_TYPE if concept_type == "granule" else COLLECTION_CONTENT_TYPE
        )
        entry["status"] = 200
        return Response(body, status_code=200, headers=headers)

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            with state.lock:
                state.faults.clear()
            return JSONResponse({"faults": []})
        if request.method == "POST":
            try:
                spec = await request.json()
                fault = _Fault(
                    status=int(spec["status"]) if spec.get("status") is not None else None,
                    count=int(spec.get("count", 1)),
                    retry_after=spec.get("retry_after"),
                    delay=float(spec.get("delay", 0) or 0),
                    path=spec.get("path"),
                    errors=spec.get("errors"),
                )
            except (ValueError, TypeError, KeyError) as exc:
                return JSONResponse({"errors": [f"bad fault spec: {exc}"]}, status_code=400)
            if fault.count > 0 and (fault.status or fault.delay):
                with state.lock:
                    state.faults.append(fault)
        with state.lock:
            listed = [f.__dict__.copy() for f in state.faults]
        return JSONResponse({"faults": listed})

    async def requests_log(request: Request) -> Response:
        with state.lock:
            if request.method == "DELETE":
                state.requests.clear()
            entries = [dict(e) for e in state.requests]
        return JSONResponse({"requests": entries})

    app = Starlette(
        routes=[
            Route("/search/collections.umm_json", search, methods=["GET", "POST"]),
            Route("/search/granules.umm_json", search, methods=["GET", "POST"]),
            Route("/_sandbox/faults", faults, methods=["GET", "POST", "DELETE"]),
            Route("/_sandbox/requests", requests_log, methods=["GET", "DELETE"]),
        ]
    )
    app.state.cmr = emulator
    app.state.sandbox = state
    return app
