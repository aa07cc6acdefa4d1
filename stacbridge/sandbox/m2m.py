"""A faithful USGS EarthExplorer Machine-to-Machine (M2M) JSON API emulator for the sandbox.

``create_m2m_app()`` returns a Starlette ASGI app. The API lives under
``/api/api/json/stable/<endpoint>`` (so a client's base URL is
``http://127.0.0.1:PORT/api/api/json/stable/``); every endpoint takes a JSON body (``POST``, and
``GET`` with a body as ``landsatxplore`` sends it; the body is parsed whatever the
``Content-Type``, as ``usgs`` posts a bare JSON string) and answers M2M's envelope
``{"requestId", "version": "stable", "sessionId", "data", "errorCode", "errorMessage"}``,
serialised with orjson. Recorded bodies are ``fixtures/m2m/`` (see its ``SOURCES.md``).

Endpoints
---------
* ``login-token`` ``{"username", "token"}`` → ``data`` = API key (``users`` maps usernames to
  application tokens). Every other endpoint needs ``X-Auth-Token``: missing →
  ``AUTH_UNAUTHROIZED`` (M2M's spelling), unknown or logged out → ``AUTH_INVALID``, idle longer
  than ``key_idle_ttl`` by the clock → ``AUTH_EXPIRED`` "API key has expired due to
  inactivity" in the recorded error envelope (``requestId: 0``, ``sessionId``/``version``
  ``null``). Each successful call restarts the idle timer (the reference: "active for two hours,
  which is restarted after each subsequent request"). ``logout`` → ``data: null``, key dropped.
  A ``login-token`` sent *with* a stale ``X-Auth-Token`` header fails with that key's error
  (kapadia/usgs issues #59 and #68 show exactly this happening to clients that cached keys).
* ``dataset-search`` (``datasetName``: case-insensitive substring of the alias or collection
  names, as the reference's "wildcards inserted at the beginning and the end"; ``catalog``) →
  the 9 recorded entries of the SUBSET fixture, byte-for-byte. ``dataset`` → one of them.
* ``dataset-filters`` → ``landsat_8_c1``: the recorded 14 filters verbatim;
  ``landsat_ot_c2_l1``/``_l2``: the same 14 rewritten with Collection 2 names (Landsat Product
  Identifier L1/L2, Scene Cloud Cover L1, Data Type L1/L2 (L2: ``DATA_TYPE_L2 = ?``, values
  L2SP/L2SR), Sun Elevation L0RA, Date Product Generated L1/L2, Geometric RMSE Model, Landsat
  Scene Identifier), ids hashed from the dataset id, ``legacyFieldId: null``, links to the
  Collection 2 data dictionary; everything else (``fieldConfig``, ``valueList``) as recorded.
  ``dataset-download-options`` → recorded for ``landsat_8_c1``, derived for Collection 2.
* ``scene-search`` — see below. ``scene-metadata`` ``{"datasetName", "entityId", "idType",
  "metadataType"}`` (default ``full``) → the recorded body for ``LC82260782020217LGN00``,
  generated scenes rendered in the same shape.
* ``download-options`` ``{"datasetName", "entityIds": [...] | "a,b"}`` → a flat product list:
  recorded for ``LC82260782020217LGN00``; for Collection 2 scenes, as the current reference's
  sample shapes them: a ``Landsat Collection 2 Level-N Product Bundle`` (``downloadSystem:
  "dds"``, ``filesize``, ``secondaryDownloads: []``) and a ``Landsat Collection 2 Level-N Band
  File`` folder product (``downloadSystem: "folder"``, ``filesize: 0``, ``downloadName``
  ``C2LN Tile Product Files``) whose ``secondaryDownloads`` are the files — ``{id, downloadName:
  "SR_B4.TIF", displayId: "<displayId>_SR_B4.TIF", entityId: "L2SR_<displayId>_SR_B4_TIF",
  datasetId, available, filesize, productName, productCode, bulkAvailable, downloadSystem:
  "dds", secondaryDownloads: [], displayOrder}`` (+ ``fileGroups`` with
  ``includeSecondaryFileGroups``). A secondary's ``id`` is one per file kind and dataset (the
  reference's ``dataset-file-groups`` maps ``ANG.txt`` to one product id), so download-request
  names a file by its own ``entityId`` plus that id (the scene's ``entityId`` works too).
* ``download-request`` ``{"downloads": [{"entityId", "productId", "label"?}], "label"?}`` →
  ``availableDownloads`` / ``preparingDownloads`` (``{downloadId, eulaCode, entityId, url}``),
  ``newRecords`` and ``duplicateProducts`` (``{downloadId: label}``; an empty one is ``[]``, as
  PHP encodes it and as recorded), ``failed`` (``{entityId, productId, errorMessage}``),
  ``numInvalidScenes``, ``remainingLimits`` (the reference's shape: one ``limitType: "user"`` and
  one ``"ip"`` entry counting down from 15000 recent / 20000 pending / 20000 unattempted). The
  label defaults to ``m2m_<requestId>_<YYYYMMDDHHMMSS>`` as recorded; labels over 50 characters
  are refused (observed live by a third-party client). **Preparing**: bundles (and the recorded
  ``Level-1 GeoTIFF Data Product``) of scenes whose index is divisible by 3 — for
  ``landsat_8_c1`` that is ``LC82260782020217LGN00``, which the recording shows preparing; band
  files and LandsatLook images are available at once. A repeated request for a product the user
  already queued lands in ``duplicateProducts`` and, by its current state, in available/preparing.
* ``download-retrieve`` ``{"label"?}`` → ``available`` (the recorded shape: downloadId,
  collectionName, datasetId, displayId, entityId, eulaCode, filesize, label, productCode,
  productName, statusCode ``"A"``, statusText ``"Available"``, url), ``requested`` (same shape,
  statusCode ``"S"``/``"Staging"``, url = the ``download-staging`` link), ``eulas: []``,
  ``queueSize`` (number still staging). A preparing download is listed under ``available`` from
  the ``prepare_polls``-th retrieve that includes it (2: first under ``requested``, then
  ``available``; 0 or 1: at the first), or at once after ``POST /_sandbox/orders/ready``.
  ``download-search``, ``download-remove``, ``download-order-remove``, ``permissions`` and
  ``rate-limit-summary`` are served too.
* ``GET|HEAD /download/<token>``: the file, with Range/ETag/Last-Modified/conditionals through
  ``datahost.file_response``, ``Content-Disposition: attachment; filename="<name>"``. Tokens are
  DDS's: base64 of ``{"id":<downloadId>,"contactId":<contact>}`` (a re-issued URL adds
  ``"issue":n``); a URL expires ``url_lifespan`` seconds after it was handed out (→ 403 XML
  ``AccessDenied``/``Request has expired``; retrieve then hands out a fresh one); unknown → 404.
  Band ``.TIF`` files are ``files.CogFiles`` COGs georeferenced on the scene's MGRS tile, padded
  with zeros to the advertised ``filesize`` (a TIFF ignores trailing bytes; nothing is built for a
  ``HEAD``/``stat`` but the small COG); ``.txt/.xml/.json`` are ``CogFiles`` files whose real
  size is advertised; bundles are ``SyntheticFiles`` bytes of exactly ``filesize`` (never stored).
  ``/download-staging/<token>``: 202 while staging, then 302 to the download URL.
  ``GET /gen-browse?size&type&product_id``: a small JPEG, for ``landsatlook_url="self"``.

scene-search
------------
``{"datasetName", "maxResults" (default 100), "startingNumber" (1-based), "metadataType"
("summary" | "full"), "sceneFilter": {"spatialFilter", "acquisitionFilter", "cloudCoverFilter",
"metadataFilter", "seasonalFilter"}, "sortDirection"}`` → ``{results, recordsReturned, totalHits,
totalHitsAccuracy, isCustomized: false, numExcluded: 0, startingNumber, nextRecord}``.

* Paging as recorded: ``nextRecord = min(startingNumber + recordsReturned, totalHits)`` — the
  reference's sample has 1/100/42989 → 101, the recording 1/1/1 → **1**: on the last page
  ``nextRecord`` equals ``totalHits`` (so ``nextRecord == totalHits`` does *not* mean "no more
  records" when exactly one is left). Past the end: no results, ``nextRecord = totalHits``.
* ``maxResults`` above 50,000 (the reference's "50,000 scene limit") or below 1 →
  ``INPUT_PARAMETER_INVALID``.
* ``totalHitsAccuracy``: ``"approximate"`` when there is no scene filter (the reference: such
  searches use "a cached scene count … instead of computing the actual row count"), otherwise
  ``"exact"``. The emulator's cached count is exact (nothing is ingested), so paging to
  ``totalHits`` always works; the recorded dataset ``sceneCount`` values are not that count.
* Spatial: ``mbr`` (``lowerLeft``/``upperRight``; west > east crosses 180) or ``geojson``
  (standard GeoJSON, or ``landsatxplore``'s ``{latitude, longitude}`` coordinate objects), matched
  against the footprint (``spatialCoverage``). Acquisition: date level only, as the reference
  says ("discarding any time information"), inclusive. Cloud cover: ``min``/``max`` percent,
  inclusive (every served scene has a known cloud cover, so ``includeUnknown`` changes nothing).
  ``seasonalFilter``: month numbers. Metadata: ``value`` / ``between`` / ``and`` / ``or`` on the
  dataset-filters ids, following each filter's ``searchSql`` (``like`` is case-insensitive and
  wraps a pattern without ``%`` in ``%…%``; ``<= ?`` compares less-or-equal; an ``operand``
  of ``like``/``=`` is honoured). Unknown filter id → ``INPUT_PARAMETER_INVALID``.
* Order: acquisition date ascending; ``sortDirection: "DESC"`` reverses. ``sortField`` is
  accepted and otherwise ignored. ``ingestFilter``, scene lists, customizations: ignored.
* Datasets: ``landsat_8_c1`` holds the two recorded scenes (``LC82330832016255LGN01`` from the
  scene-search recording, ``LC82260782020217LGN00`` from the scene-metadata recording; each
  rendered in the other shape by moving the recorded values — ``metadata`` stays ``[]`` for the
  first, whose full metadata was not recorded). ``landsat_ot_c2_l1``/``_l2`` hold
  ``generated_scenes`` scenes of :mod:`stacbridge.sandbox.m2m_generator` (filters run on index
  arithmetic; a metadata filter on a per-scene field such as Sun Elevation or a product id
  scans the candidates). The other 6 recorded datasets search empty; an unknown dataset →
  ``DATASET_INVALID``.

HTTP statuses (none were recorded; the reference documents none)
-----------------------------------------------------------------
* 200 for every success, and for ``login-token`` with a wrong username/token
  (``AUTH_INVALID``): kapadia/usgs issue #54 (2021) shows the login failure arriving with 200.
* 500 for every other error envelope (auth errors, ``RATE_LIMIT``, input errors): a third-party
  client records ``RATE_LIMIT`` "Your account does not support multiple requests at a time"
  live as HTTP 500, Fergui/m2m-api issue #2 shows ``500 - VERSION_UNKNOWN``, and kapadia/usgs
  0.3.x only printed the raw AUTH_EXPIRED body of issue #59 for a non-200 status.
* 404 ``NOT_FOUND`` for an unknown endpoint (a guess).
Error messages other than AUTH_EXPIRED's, RATE_LIMIT's and AUTH_UNAUTHROIZED's ("Your account
does not have access to this endpoint", MrChebur/usgs-machine-to-machine-API issue #1) are guesses.

Sandbox controls (not M2M)
--------------------------
``POST /_sandbox/faults`` ``{"errorCode": "RATE_LIMIT", "count": 2, "endpoint": "scene-search"}``
(the M2M envelope, HTTP 500 unless ``"status"`` says otherwise), ``{"status": 503, "count": n}``
(an HTML error page, as a front-end proxy answers; ``"retry_after"`` adds the header) or
``{"delay": s, "count": n}`` — for the next ``count`` matching requests (``endpoint`` omitted:
any; ``"download"``: the file route), checked before authentication; ``GET`` lists, ``DELETE``
clears. ``GET /_sandbox/stats`` (``logins``, ``requests_by_endpoint``, ``downloads``,
``errors_by_code``, ``active_keys`` and the ``Recorder`` counters), ``GET /_sandbox/requests``
(the ``Recorder`` log plus ``endpoint``, ``body`` — with ``token``/``password`` replaced by
``"REDACTED"`` — ``errorCode`` and ``user``; the ``X-Auth-Token`` header value is replaced by
``"REDACTED"``), ``POST /_sandbox/clock {"advance": s}``, ``POST /_sandbox/reset`` (logs,
counters, faults, keys and downloads), ``POST /_sandbox/orders/ready``.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime as dt
import hashlib
import json
import re
import secrets
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import orjson
from shapely.affinity import translate
from shapely.geometry import Polygon, box, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from stacbridge.sandbox.cmr.generator import Selection
from stacbridge.sandbox.datahost import file_response
from stacbridge.sandbox.edl import Recorder, RecordingMiddleware, SandboxClock, as_clock
from stacbridge.sandbox.files import CHUNK_SIZE, FileInfo, FileSource, default_files
from stacbridge.sandbox.m2m_generator import (
    D0,
    EPOCH,
    LandsatC2Scenes,
    SceneRenderer,
    alnum_id,
    hex_id,
)

__all__ = ["M2MEmulator", "M2MError", "create_m2m_app"]

FIXTURE_DIR = Path(__file__).resolve().parent / "fixtures" / "m2m"
API_ROOT = "/api/api/json"
VERSION = "stable"
MAX_RESULTS = 50_000
DEFAULT_MAX_RESULTS = 100
MAX_LABEL = 50
RECENT_WINDOW = 900.0  # "downloads requested in the past 15 minutes"
INITIAL_LIMITS = {
    "recentDownloadCount": 15_000,
    "pendingDownloadCount": 20_000,
    "unattemptedDownloadCount": 20_000,
}
DEFAULT_USERS = {"sandbox": "sandbox-app-token"}
L8C1 = "landsat_8_c1"
C2_LEVELS = {"landsat_ot_c2_l1": "L1", "landsat_ot_c2_l2": "L2"}

MSG_EXPIRED = "API key has expired due to inactivity"  # recorded
MSG_UNAUTHORIZED = "Your account does not have access to this endpoint"  # issue text
MSG_RATE_LIMIT = "Your account does not support multiple requests at a time."
MSG_KEY_INVALID = "Invalid API key"
MSG_LOGIN_INVALID = "User credential verification failed"
_FAULT_MESSAGES = {
    "RATE_LIMIT": MSG_RATE_LIMIT,
    "SERVER_ERROR": "An internal server error occurred",
    "AUTH_EXPIRED": MSG_EXPIRED,
    "AUTH_INVALID": MSG_KEY_INVALID,
    "AUTH_UNAUTHROIZED": MSG_UNAUTHORIZED,
}
_STATUS_TEXT = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
                503: "Service Unavailable", 504: "Gateway Timeout"}  # fmt: skip


class M2MError(Exception):
    """An M2M error envelope: `code`, `message`, HTTP `status`."""

    def __init__(self, code: str, message: str, status: int = 500, *, auth: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.auth = auth  # the auth layer's envelope: requestId 0, sessionId/version null


def _invalid(message: str) -> M2MError:
    return M2MError("INPUT_PARAMETER_INVALID", message)


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def _php_map(value: Mapping[str, Any]) -> Any:
    """PHP's json_encode writes an empty associative array as ``[]``."""
    return dict(value) if value else []


# ----------------------------------------------------------------------------- fixtures


def _load(name: str) -> tuple[dict, str]:
    raw = (FIXTURE_DIR / name).read_text()
    return json.loads(raw), raw


def _verbatim(value: Any, raw: str) -> bytes:
    """`value` as the bytes the fixture holds (its json.dumps rendering, checked)."""
    text = json.dumps(value)
    if text not in raw:  # pragma: no cover - fixtures are checked by the tests
        raise ValueError("fixture fragment is not verbatim")
    return text.encode()


@dataclass
class _Dataset:
    alias: str
    entry: dict
    raw: bytes

    @property
    def dataset_id(self) -> str:
        return self.entry["datasetId"]

    @property
    def collection_name(self) -> str:
        return self.entry["collectionName"]

    def matches(self, text: str) -> bool:
        pattern = re.escape(text.lower()).replace("%", ".*").replace(r"\*", ".*")
        names = (self.alias, self.collection_name, self.entry.get("collectionLongName") or "")
        return any(re.search(pattern, n.lower()) for n in names)


# ----------------------------------------------------------------------------- metadata filters

_SQL = re.compile(r"^(?P<column>.+?)\s+(?P<op>like|between|<=|=)\s+\?$", re.IGNORECASE)
_NUMERIC = {"WRS_PATH", "WRS_ROW", "CLOUD_COVER_LAND", "CLOUD_COVER", "SUN_ELEVATION_L1",
            "SUN_ELEVATION_L0RA", "GEOMETRIC_RMSE_MODEL"}  # fmt: skip


@dataclass(frozen=True)
class _Column:
    name: str
    op: str  # like | between | le | eq
    numeric: bool


def _column(search_sql: str) -> _Column:
    m = _SQL.match(search_sql.strip())
    if not m:  # pragma: no cover - every recorded searchSql matches
        raise ValueError(search_sql)
    op = {"like": "like", "between": "between", "<=": "le", "=": "eq"}[m["op"].lower()]
    return _Column(m["column"], op, m["column"] in _NUMERIC)


@dataclass
class _Cond:
    kind: str  # test | and | or
    column: _Column | None = None
    mode: str = "eq"  # like | le | eq | range
    values: tuple = ()
    low: Any = None
    high: Any = None
    children: list[_Cond] = field(default_factory=list)

    def columns(self) -> set[str]:
        if self.kind == "test":
            return {self.column.name} if self.column else set()
        return set().union(*(c.columns() for c in self.children)) if self.children else set()

    def test(self, get: Callable[[str], Any]) -> bool:
        if self.kind == "and":
            return all(c.test(get) for c in self.children)
        if self.kind == "or":
            return any(c.test(get) for c in self.children)
        value = get(self.column.name)
        if value is None:
            return False
        if self.mode == "like":
            return any(p.fullmatch(str(value)) for p in self.values)
        if self.mode == "range":
            return (self.low is None or value >= self.low) and (
                self.high is None or value <= self.high
            )
        if self.mode == "le":
            return any(value <= v for v in self.values)
        if isinstance(value, str):
            return any(value.upper() == str(v).upper() for v in self.values)
        return any(value == v for v in self.values)


def _coerce(column: _Column, value: Any) -> Any:
    if value is None or value == "":
        return None
    if column.numeric:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise _invalid(f"Invalid value for {column.name}: {value!r}") from None
    text = str(value).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        text = text.replace("-", "/")  # the date columns are to_char(..,'YYYY/MM/DD')
    return text


def _like(value: Any) -> re.Pattern:
    text = str(value).upper()
    if "%" not in text:
        text = f"%{text}%"
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in text)
    return re.compile(regex, re.IGNORECASE | re.DOTALL)


def parse_metadata_filter(spec: Any, columns: Mapping[str, _Column]) -> _Cond | None:
    if not spec:
        return None
    if not isinstance(spec, dict):
        raise _invalid("metadataFilter must be an object")
    kind = str(spec.get("filterType", "")).lower()
    if kind in ("and", "or"):
        children = [parse_metadata_filter(c, columns) for c in spec.get("childFilters") or []]
        return _Cond(kind, children=[c for c in children if c is not None])
    fid = spec.get("filterId")
    column = columns.get(str(fid))
    if column is None:
        raise _invalid(f"Invalid metadata filter id: {fid}")
    if kind == "between":
        low = _coerce(column, spec.get("firstValue"))
        high = _coerce(column, spec.get("secondValue"))
        return _Cond("test", column, "range", low=low, high=high)
    if kind != "value":
        raise _invalid(f"Invalid metadata filter type: {spec.get('filterType')}")
    raw = spec.get("value")
    raw_values = raw if isinstance(raw, list) else [raw]
    operand = str(spec.get("operand") or spec.get("operator") or "").lower()
    if operand == "like" or (not operand and column.op == "like"):
        return _Cond("test", column, "like", values=tuple(_like(v) for v in raw_values))
    values = tuple(v for v in (_coerce(column, v) for v in raw_values) if v is not None)
    if not values:
        return None
    return _Cond("test", column, "le" if column.op == "le" else "eq", values=values)


# ----------------------------------------------------------------------------- scene queries


def _parse_day(value: Any) -> int | None:
    if value in (None, ""):
        return None
    text = str(value).strip()[:10].replace("/", "-")
    try:
        return (dt.date.fromisoformat(text) - EPOCH).days
    except ValueError:
        raise M2MError("INPUT_FORMAT", f"Invalid date: {value}") from None


def _coords(value: Any) -> Any:
    """GeoJSON coordinates, also from M2M's `{latitude, longitude}` Coordinate objects."""
    if isinstance(value, dict):
        return [float(value["longitude"]), float(value["latitude"])]
    if isinstance(value, list | tuple):
        return [_coords(v) for v in value]
    return float(value)


def _depth(value: Any) -> int:
    d = 0
    while isinstance(value, list) and value:
        value, d = value[0], d + 1
    return d


def _wrapped(geom: BaseGeometry) -> BaseGeometry:
    """`geom` plus its copies shifted by ±360, so footprints written past 180 match."""
    return unary_union([geom, translate(geom, xoff=360.0), translate(geom, xoff=-360.0)])


def parse_spatial_filter(spec: Any) -> BaseGeometry | None:
    if not spec:
        return None
    if not isinstance(spec, dict):
        raise _invalid("spatialFilter must be an object")
    kind = str(spec.get("filterType", "")).lower()
    try:
        if kind == "mbr":
            ll, ur = spec["lowerLeft"], spec["upperRight"]
            west, south = float(ll["longitude"]), float(ll["latitude"])
            east, north = float(ur["longitude"]), float(ur["latitude"])
            south, north = min(south, north), max(south, north)
            if west <= east:
                return box(west, south, east, north)
            return box(west, south, 180.0, north).union(box(-180.0, south, east, north))
        if kind == "geojson":
            gj = dict(spec["geoJson"])
            coords = _coords(gj["coordinates"])
            expected = {"Point": 1, "LineString": 2, "Polygon": 3, "MultiPolygon": 4}
            want = expected.get(gj.get("type"), 0)
            while want and _depth(coords) < want:
                coords = [coords]
            gj["coordinates"] = coords
            geom = shape(gj)
            return geom if geom.is_valid else geom.buffer(0)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _invalid(f"Invalid spatialFilter: {exc}") from None
    raise _invalid(f"Invalid spatial filter type: {spec.get('filterType')}")


@dataclass
class _Query:
    days: list[tuple[int | None, int | None]] | None = None  # inclusive day ranges
    geometry: BaseGeometry | None = None
    cloud: tuple[float | None, float | None] | None = None
    meta: _Cond | None = None
    descending: bool = False


def _month_ranges(first: int, last: int, months: set[int]) -> list[tuple[int, int]]:
    out = []
    d0 = EPOCH + dt.timedelta(days=first)
    d1 = EPOCH + dt.timedelta(days=last)
    for year in range(d0.year, d1.year + 1):
        for month in sorted(months):
            start = dt.date(year, month, 1)
            end = dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)
            lo, hi = max(first, (start - EPOCH).days), min(last, (end - EPOCH).days)
            if lo <= hi:
                out.append((lo, hi))
    return out


def parse_scene_filter(body: dict, columns: Mapping[str, _Column], span: tuple[int, int]) -> _Query:
    q = _Query(descending=str(body.get("sortDirection") or "ASC").upper() == "DESC")
    sf = body.get("sceneFilter") or {}
    if not isinstance(sf, dict):
        raise _invalid("sceneFilter must be an object")
    q.geometry = parse_spatial_filter(sf.get("spatialFilter"))
    acq = sf.get("acquisitionFilter") or None
    first, last = (None, None)
    if acq:
        first, last = _parse_day(acq.get("start")), _parse_day(acq.get("end"))
        q.days = [(first, last)]
    months = sf.get("seasonalFilter")
    if months:
        try:
            wanted = {int(m) for m in months if 1 <= int(m) <= 12}
        except (TypeError, ValueError):
            raise _invalid("seasonalFilter must list month numbers") from None
        lo = span[0] if first is None else max(first, span[0])
        hi = span[1] if last is None else min(last, span[1])
        q.days = _month_ranges(lo, hi, wanted) if lo <= hi else []
    cc = sf.get("cloudCoverFilter")
    if cc:
        lo_c, hi_c = cc.get("min"), cc.get("max")
        q.cloud = (
            None if lo_c in (None, "") else float(lo_c),
            None if hi_c in (None, "") else float(hi_c),
        )
    q.meta = parse_metadata_filter(sf.get("metadataFilter"), columns)
    return q


def _has_scene_filter(body: dict) -> bool:
    sf = body.get("sceneFilter")
    return isinstance(sf, dict) and any(v not in (None, {}, [], "") for v in sf.values())


# ----------------------------------------------------------------------------- products


@dataclass(frozen=True)
class _Product:
    """One downloadable thing: what download-retrieve lists and what /download serves."""

    dataset: str
    scene: Any  # the scene key in its source (index or entity id)
    entity_id: str  # as listed (a band file's own entity id)
    display_id: str
    product_id: str
    product_code: str
    product_name: str
    dataset_id: str
    collection_name: str
    filesize: int
    path: str  # FileSource path (``pad/<size>/<path>`` pads a small file to `filesize`)
    filename: str
    prepares: bool  # starts "preparing"


# (file kind, nominal size in bytes or None for "ask the FileSource", display order)
_L2_FILES = (
    ("ANG.txt", None), ("MTL.txt", None), ("MTL.xml", None), ("MTL.json", None),
    ("QA_PIXEL.TIF", 4_200_000), ("QA_RADSAT.TIF", 520_000),
    ("SR_B1.TIF", 68_000_000), ("SR_B2.TIF", 69_000_000), ("SR_B3.TIF", 70_000_000),
    ("SR_B4.TIF", 71_000_000), ("SR_B5.TIF", 74_000_000), ("SR_B6.TIF", 73_000_000),
    ("SR_B7.TIF", 72_000_000), ("SR_QA_AEROSOL.TIF", 2_600_000), ("ST_B10.TIF", 66_000_000),
    ("ST_ATRAN.TIF", 41_000_000), ("ST_CDIST.TIF", 23_000_000), ("ST_DRAD.TIF", 39_000_000),
    ("ST_EMIS.TIF", 37_000_000), ("ST_EMSD.TIF", 33_000_000), ("ST_QA.TIF", 43_000_000),
    ("ST_TRAD.TIF", 42_000_000), ("ST_URAD.TIF", 40_000_000),
)  # fmt: skip
_L1_FILES = (
    ("ANG.txt", None), ("MTL.txt", None), ("MTL.xml", None), ("MTL.json", None),
    ("B1.TIF", 64_000_000), ("B2.TIF", 65_000_000), ("B3.TIF", 66_000_000),
    ("B4.TIF", 67_000_000), ("B5.TIF", 70_000_000), ("B6.TIF", 69_000_000),
    ("B7.TIF", 68_000_000), ("B8.TIF", 255_000_000), ("B9.TIF", 44_000_000),
    ("B10.TIF", 57_000_000), ("B11.TIF", 56_000_000), ("QA_PIXEL.TIF", 4_000_000),
    ("QA_RADSAT.TIF", 500_000), ("SAA.TIF", 5_600_000), ("SZA.TIF", 4_400_000),
    ("VAA.TIF", 6_100_000), ("VZA.TIF", 4_700_000),
)  # fmt: skip


def _entity_prefix(level: str, kind: str) -> str:
    if level == "L1":
        return "L1_"  # the reference: L1_LC09_L1TP_…_ANG_TXT
    if kind.startswith("SR_"):
        return "L2SR_"
    if kind.startswith("ST_"):
        return "L2ST_"  # observed live: L2ST_LC09_L2SP_…_ST_B10_TIF
    return "L2QA_" if kind.startswith("QA_") else "L2_"


class _C2Products:
    """Product ids, codes and files of one Collection 2 dataset level."""

    def __init__(self, level: str, dataset: _Dataset) -> None:
        n = level[1]
        self.level = level
        self.dataset = dataset
        self.bundle_id = hex_id("m2m-bundle", dataset.dataset_id, prefix=dataset.dataset_id[:6])
        self.folder_id = hex_id("m2m-folder", dataset.dataset_id, prefix=dataset.dataset_id[:6])
        self.bundle_code = "D684" if level == "L1" else "D688"
        self.band_code = "D687" if level == "L1" else "D689"  # D687: the reference's L1 sample
        self.bundle_name = f"Landsat Collection 2 Level-{n} Product Bundle"
        self.band_name = f"Landsat Collection 2 Level-{n} Band File"
        self.download_name = f"C2L{n} Tile Product Files"
        # landsat_band_files_c2_l1's id is the reference's; the L2 one is made up
        self.files_dataset_id = (
            "5e81ff5f86d11d08" if level == "L1" else hex_id("m2m-band-files-c2-l2", prefix="5e83")
        )
        self.files = _L1_FILES if level == "L1" else _L2_FILES
        self.file_ids = {kind: alnum_id("m2m-file", level, kind) for kind, _ in self.files}
        self.kind_for_id = {v: k for k, v in self.file_ids.items()}
        self.groups = (f"ls_c2l{n}_all", f"ls_c2l{n}_ot_band")

    def dataset_download_options(self) -> list[dict]:
        return [
            {"productId": self.bundle_id, "productCode": self.bundle_code,
             "productName": self.bundle_name, "downloadName": None, "downloadSystem": "dds",
             "fileGroups": None},
            {"productId": self.folder_id, "productCode": self.band_code,
             "productName": self.band_name, "downloadName": self.download_name,
             "downloadSystem": "folder", "fileGroups": list(self.groups)},
        ]  # fmt: skip


# ----------------------------------------------------------------------------- the emulator


@dataclass
class _Session:
    key: str
    username: str
    session_id: int
    contact_id: int
    last_used: float


@dataclass
class _Download:
    download_id: int
    product: _Product
    username: str
    contact_id: int
    ip: str
    label: str
    created: float
    status: str  # preparing | available | removed
    polls: int = 0
    token: str | None = None
    issued: float = 0.0
    issues: int = 0
    downloaded: bool = False

    @property
    def staging_token(self) -> str:
        payload = f'{{"id":{self.download_id},"contactId":{self.contact_id}}}'
        return base64.b64encode(payload.encode()).decode()


@dataclass
class _Fault:
    error_code: str | None
    status: int | None
    count: int
    delay: float
    endpoint: str | None
    message: str | None
    retry_after: float | None


class _RecordedC1:
    """``landsat_8_c1``: the two recorded scenes."""

    def __init__(self) -> None:
        search, search_raw = _load("kapadia-usgs_scene-search_LANDSAT_8_C1_summary_1hit.json")
        meta, meta_raw = _load("kapadia-usgs_scene-metadata_LANDSAT_8_C1_full.json")
        options, options_raw = _load("kapadia-usgs_download-options_LANDSAT_8_C1.json")
        filters, filters_raw = _load("kapadia-usgs_dataset-filters_LANDSAT_8_C1.json")
        ddo, ddo_raw = _load("kapadia-usgs_dataset-download-options_LANDSAT_8_C1.json")
        self.filters = filters["data"]
        self.filters_raw = _verbatim(filters["data"], filters_raw)
        self.dataset_download_options_raw = _verbatim(ddo["data"], ddo_raw)
        self.columns = {f["id"]: _column(f["searchSql"]) for f in self.filters}
        a = search["data"]["results"][0]  # LC82330832016255LGN01
        b = meta["data"]  # LC82260782020217LGN00
        a_raw = _verbatim(a, search_raw)
        b_raw = _verbatim(b, meta_raw)
        # b in the scene-search shape: the recorded search result's conventions
        b_search = copy.deepcopy(b)
        for entry in b_search["browse"]:
            entry["browseRotationEnabled"] = None
        b_search.update(
            orderingId=None, metadata=[], hasCustomizedMetadata=None,
            selected={"bulk": False, "compare": False, "order": False},
            publishDate=b["publishDate"].replace("T", " "),
        )  # fmt: skip
        b_search_full = dict(b_search, metadata=b["metadata"])
        # a in the scene-metadata shape: the recorded metadata body's conventions
        a_meta = copy.deepcopy(a)
        for entry in a_meta["browse"]:
            entry["browseRotationEnabled"] = False
        a_meta.update(
            orderingId=a["entityId"], hasCustomizedMetadata=False, selected=None,
            publishDate=a["publishDate"].replace(" ", "T"),
        )  # fmt: skip
        self.scenes = {
            a["entityId"]: {
                "index": 1,
                "item": a,
                ("search", False): a_raw,
                ("search", True): a_raw,  # its full metadata was not recorded
                ("metadata", False): _dumps(a_meta),
                ("metadata", True): _dumps(a_meta),
            },
            b["entityId"]: {
                "index": 0,
                "item": b,
                ("search", False): _dumps(b_search),
                ("search", True): _dumps(b_search_full),
                ("metadata", False): _dumps(dict(b, metadata=[])),
                ("metadata", True): b_raw,
            },
        }
        for scene in self.scenes.values():
            item = scene["item"]
            ring = item["spatialCoverage"]["coordinates"][0]
            scene["geometry"] = Polygon(ring)
            scene["day"] = _parse_day(item["temporalCoverage"]["startDate"])
            scene["cloud"] = float(item["cloudCover"])
            scene["columns"] = self._column_values(item)
        self.order = sorted(self.scenes, key=lambda e: self.scenes[e]["day"])
        # download-options: recorded for b, derived for a by swapping its identifiers
        self.options_raw = {b["entityId"]: [_verbatim(o, options_raw) for o in options["data"]]}
        self.options = {b["entityId"]: options["data"]}
        swapped = [
            json.loads(
                json.dumps(o)
                .replace(b["displayId"], a["displayId"])
                .replace(b["entityId"], a["entityId"])
            )
            for o in options["data"]
        ]
        self.options[a["entityId"]] = swapped
        self.options_raw[a["entityId"]] = [json.dumps(o).encode() for o in swapped]

    @staticmethod
    def _column_values(item: dict) -> dict[str, Any]:
        meta = {m["fieldName"]: m["value"] for m in item.get("metadata") or []}
        display = item["displayId"]
        parts = display.split("_")  # LC08_L1TP_233083_20160911_20170321_01_T1

        def number(name: str, fallback: Any = None) -> float | None:
            value = meta.get(name, fallback)
            try:
                return float(value)
            except (TypeError, ValueError):
                return None

        generated = meta.get("Date L-1 Generated") or (
            f"{parts[4][:4]}/{parts[4][4:6]}/{parts[4][6:]}"
        )
        return {
            "EE_DISPLAY_ID": display,
            "ENTITY_ID": item["entityId"],
            "WRS_PATH": float(parts[2][:3]),
            "WRS_ROW": float(parts[2][3:]),
            "CLOUD_COVER_LAND": number("Land Cloud Cover"),
            "CLOUD_COVER": number("Scene Cloud Cover", item["cloudCover"]),
            "COLLECTION_CATEGORY": parts[6],
            "RIGHT(DATA_TYPE_L1, 4)": parts[1],
            "SENSOR_ID": meta.get("Sensor Identifier", "OLI_TIRS"),
            "DAY_NIGHT": meta.get("Day/Night Indicator", "DAY"),
            "SUN_ELEVATION_L1": number("Sun Elevation L1"),
            "to_char(DATE_L1_GENERATED,'YYYY/MM/DD')": generated,
            "GEOMETRIC_RMSE_MODEL": number("Geometric RMSE Model (meters)"),
            "NADIR_OFFNADIR": meta.get("Nadir/Off Nadir", "NADIR"),
        }

    def find(self, value: str, id_type: str) -> str | None:
        value = value.strip().upper()
        for eid, scene in self.scenes.items():
            if value == (scene["item"]["displayId"] if id_type == "displayid" else eid):
                return eid
        return None

    def search(self, q: _Query) -> tuple[int, Callable[[int], str]]:
        hits = []
        geom = _wrapped(q.geometry) if q.geometry is not None else None
        for eid in self.order:
            s = self.scenes[eid]
            if geom is not None and not s["geometry"].intersects(geom):
                continue
            if q.days is not None and not any(
                (a is None or s["day"] >= a) and (b is None or s["day"] <= b) for a, b in q.days
            ):
                continue
            if q.cloud is not None and not (
                (q.cloud[0] is None or s["cloud"] >= q.cloud[0])
                and (q.cloud[1] is None or s["cloud"] <= q.cloud[1])
            ):
                continue
            if q.meta is not None and not q.meta.test(s["columns"].get):
                continue
            hits.append(eid)
        if q.descending:
            hits.reverse()
        return len(hits), hits.__getitem__

    def render(self, key: str, variant: str, full: bool) -> bytes:
        return self.scenes[key][(variant, full)]


class _GeneratedC2:
    """``landsat_ot_c2_l1`` / ``_l2``: the generated population."""

    def __init__(
        self, scenes: LandsatC2Scenes, level: str, dataset: _Dataset, c1: _RecordedC1
    ) -> None:
        self.scenes = scenes
        self.level = level
        self.dataset = dataset
        c1_search = c1.scenes["LC82330832016255LGN01"]["item"]
        c1_meta = c1.scenes["LC82260782020217LGN00"]["item"]
        self.renderer = SceneRenderer(scenes, level, dataset.dataset_id, c1_search, c1_meta)
        self.products = _C2Products(level, dataset)
        self.filters = self._filters(c1.filters)
        self.filters_raw = _dumps(self.filters)
        self.columns = {f["id"]: _column(f["searchSql"]) for f in self.filters}
        g = scenes
        self._getters: dict[str, Callable[[int], Any]] = {
            "EE_DISPLAY_ID": lambda i: g.display_id(i, level),
            "ENTITY_ID": g.entity_id,
            "WRS_PATH": lambda i: float(g.cell(i).path),
            "WRS_ROW": lambda i: float(g.cell(i).row),
            "CLOUD_COVER_LAND": lambda i: g.land_cloud(i) / 100,
            "CLOUD_COVER": lambda i: g.cloud(i) / 100,
            "COLLECTION_CATEGORY": g.category,
            "RIGHT(DATA_TYPE_L1, 4)": g.l1_type,
            "DATA_TYPE_L2": lambda i: g.product_type(i, "L2"),
            "SENSOR_ID": lambda i: "OLI_TIRS",
            "DAY_NIGHT": lambda i: "DAY",
            "NADIR_OFFNADIR": lambda i: "NADIR",
            "GEOMETRIC_RMSE_MODEL": g.rmse,
            "SUN_ELEVATION_L0RA": lambda i: g.sun_angles(i)[0],
            "to_char(DATE_PRODUCT_GENERATED,'YYYY/MM/DD')": lambda i: (
                EPOCH + dt.timedelta(days=g.processing_day(i))
            ).strftime("%Y/%m/%d"),
        }
        # columns that depend on i mod P only: filters on them are index arithmetic
        self._periodic = {
            "WRS_PATH", "WRS_ROW", "CLOUD_COVER_LAND", "CLOUD_COVER", "COLLECTION_CATEGORY",
            "RIGHT(DATA_TYPE_L1, 4)", "DATA_TYPE_L2", "SENSOR_ID", "DAY_NIGHT",
            "NADIR_OFFNADIR", "GEOMETRIC_RMSE_MODEL",
        }  # fmt: skip

    def _filters(self, recorded: list[dict]) -> list[dict]:
        n = self.level[1]
        dictionary = (
            "https://www.usgs.gov/centers/eros/science/landsat-collection-2-data-dictionary#"
        )
        renames = {
            "Landsat Product Identifier": (f"Landsat Product Identifier L{n}", None,
                                           "landsat_product_id"),
            "Scene Cloud Cover": ("Scene Cloud Cover L1", None, "cloud_cover"),
            "Data Type Level-1": (
                f"Data Type L{n}",
                "RIGHT(DATA_TYPE_L1, 4) = ?" if n == "1" else "DATA_TYPE_L2 = ?",
                "data_type",
            ),
            "Sun Elevation": ("Sun Elevation L0RA", "SUN_ELEVATION_L0RA between ?",
                              "sun_elevation"),
            "Date L-1 Generated (Ex. YYYY/MM/DD)": (
                f"Date Product Generated L{n} (Ex. YYYY/MM/DD)",
                "to_char(DATE_PRODUCT_GENERATED,'YYYY/MM/DD') between ?",
                "date_product_generated",
            ),
            "Geometric RMSE Model (meters)": ("Geometric RMSE Model", None,
                                              "geometric_rmse_model"),
            "Landsat Scene Identifier (Legacy)": ("Landsat Scene Identifier", None,
                                                  "landsat_scene_id"),
        }  # fmt: skip
        out = []
        for f in recorded:
            g = copy.deepcopy(f)
            label, sql, anchor = renames.get(f["fieldLabel"], (f["fieldLabel"], None, None))
            anchor = anchor or f["dictionaryLink"].rsplit("#", 1)[-1]
            g["id"] = hex_id("m2m-filter", self.dataset.dataset_id, label,
                             prefix=self.dataset.dataset_id[:6])  # fmt: skip
            g["legacyFieldId"] = None
            g["dictionaryLink"] = dictionary + anchor
            g["fieldLabel"] = label
            g["searchSql"] = sql or f["searchSql"]
            if label == "Data Type L2":
                g["valueList"] = {"": "All", "L2SP": "Level 2SP", "L2SR": "Level 2SR"}
            out.append(g)
        return out

    def find(self, value: str, id_type: str) -> int | None:
        if id_type == "displayid":
            return self.scenes.index_for_display_id(value, self.level)
        return self.scenes.index_for_entity_id(value)

    def search(self, q: _Query) -> tuple[int, Callable[[int], int]]:
        g = self.scenes
        intervals = None
        if q.days is not None:
            intervals = [g.day_interval(a, b) for a, b in q.days]
        cells = None if q.geometry is None else g.cells_intersecting(_wrapped(q.geometry))
        offset_filter = scan = None
        if q.meta is not None:
            if q.meta.columns() <= self._periodic:
                cond = q.meta

                def offset_filter(o: int) -> bool:
                    return cond.test(lambda col: self._getters[col](o))
            else:
                scan = q.meta
        sel = g.selection(intervals, cells, q.cloud, offset_filter)
        if scan is None:
            count, pick = len(sel), sel.select
        else:
            cond = scan
            matches = [
                i
                for i in _iter_selection(sel)
                if cond.test(lambda col, i=i: self._getters.get(col, lambda _: None)(i))
            ]
            count, pick = len(matches), matches.__getitem__
        if q.descending:
            return count, lambda k: pick(count - 1 - k)
        return count, pick

    def render(self, key: int, variant: str, full: bool) -> str:
        return self.renderer.render(key, full=full, variant=variant)


def _iter_selection(sel: Selection) -> Iterator[int]:
    """Every index of `sel` in ascending order, without a bisect per element."""
    for lo, hi in sel.intervals:
        base = lo - lo % sel.period
        while base < hi:
            for off in sel.offsets:
                i = base + off
                if i >= hi:
                    break
                if i >= lo:
                    yield i
            base += sel.period


class _EmptyScenes:
    columns: dict[str, _Column] = {}
    filters_raw = b"[]"

    def find(self, value: str, id_type: str) -> None:
        return None

    def search(self, q: _Query) -> tuple[int, Callable[[int], Any]]:
        return 0, lambda k: None


class M2MEmulator:
    """The emulator's data and rules; `create_m2m_app` puts HTTP, auth and orders in front."""

    def __init__(self, *, generated_scenes: int = 200_000, files: FileSource | None = None):
        data, raw = _load("kapadia-usgs_dataset-search_SUBSET-9-of-1163.json")
        self.datasets = {
            e["datasetAlias"].lower(): _Dataset(e["datasetAlias"], e, _verbatim(e, raw))
            for e in data["data"]
        }
        self.files = files if files is not None else default_files()
        self.c1 = _RecordedC1()
        self.c2 = LandsatC2Scenes(generated_scenes)
        self.sources: dict[str, Any] = {alias: _EmptyScenes() for alias in self.datasets}
        self.sources[L8C1] = self.c1
        for alias, level in C2_LEVELS.items():
            self.sources[alias] = _GeneratedC2(self.c2, level, self.datasets[alias], self.c1)
        self._products: dict[str, _Product] = {}  # recorded products by (entity, id) key
        self._size_cache: dict[str, int] = {}

    # -- datasets ----------------------------------------------------------------------------------
    def dataset(self, name: Any) -> _Dataset:
        if not name:
            raise _invalid("datasetName is required")
        found = self.datasets.get(str(name).lower())
        if found is None:
            for d in self.datasets.values():
                if d.dataset_id == name:
                    return d
            raise M2MError("DATASET_INVALID", f"Invalid dataset name: {name}")
        return found

    def dataset_search(self, body: dict) -> bytes:
        name = body.get("datasetName")
        catalog = body.get("catalog")
        picked = [
            d.raw
            for d in self.datasets.values()
            if (not name or d.matches(str(name)))
            and (not catalog or catalog in (d.entry.get("catalogs") or []))
        ]
        return b"[" + b", ".join(picked) + b"]"

    def dataset_filters(self, body: dict) -> bytes:
        return self.sources[self.dataset(body.get("datasetName")).alias.lower()].filters_raw

    def dataset_download_options(self, body: dict) -> bytes:
        alias = self.dataset(body.get("datasetName")).alias.lower()
        if alias == L8C1:
            return self.c1.dataset_download_options_raw
        if alias in C2_LEVELS:
            return _dumps(self.sources[alias].products.dataset_download_options())
        return b"[]"

    # -- scenes ------------------------------------------------------------------------------------
    def scene_search(self, body: dict) -> bytes:
        ds = self.dataset(body.get("datasetName"))
        source = self.sources[ds.alias.lower()]
        try:
            max_results = int(body.get("maxResults") or DEFAULT_MAX_RESULTS)
            starting = int(body.get("startingNumber") or 1)
        except (TypeError, ValueError):
            raise _invalid("maxResults and startingNumber must be integers") from None
        if not 1 <= max_results <= MAX_RESULTS:
            raise _invalid(f"maxResults must be between 1 and {MAX_RESULTS}")
        starting = max(1, starting)
        full = str(body.get("metadataType") or "summary").lower() == "full"
        span = (D0, self.c2.last_day)
        query = parse_scene_filter(body, source.columns, span)
        total, pick = source.search(query)
        first = starting - 1
        last = min(total, first + max_results)
        parts = [source.render(pick(k), "search", full) for k in range(first, last)]
        joined = (
            ",".join(parts).encode()
            if parts and isinstance(parts[0], str)
            else b", ".join(parts)  # recorded bytes keep their separators
        )
        returned = max(0, last - first)
        accuracy = "exact" if _has_scene_filter(body) else "approximate"
        return b"".join(
            (
                b'{"results":[',
                joined,
                b'],"recordsReturned":%d,"totalHits":%d,"totalHitsAccuracy":"%s",'
                b'"isCustomized":false,"numExcluded":0,"startingNumber":%d,"nextRecord":%d}'
                % (returned, total, accuracy.encode(), starting, min(starting + returned, total)),
            )
        )

    def scene_key(self, body: dict, field_name: str = "entityId") -> tuple[str, Any]:
        ds = self.dataset(body.get("datasetName"))
        alias = ds.alias.lower()
        value = body.get(field_name)
        if not value:
            raise _invalid(f"{field_name} is required")
        id_type = str(body.get("idType") or "entityId").lower()
        key = self.sources[alias].find(str(value), id_type)
        if key is None:
            raise M2MError("NOT_FOUND", f"Scene not found: {value}")
        return alias, key

    def scene_metadata(self, body: dict) -> bytes:
        alias, key = self.scene_key(body)
        full = str(body.get("metadataType") or "full").lower() != "summary"
        rendered = self.sources[alias].render(key, "metadata", full)
        return rendered.encode() if isinstance(rendered, str) else rendered

    # -- products ----------------------------------------------------------------------------------
    def _small_size(self, path: str, fallback: int) -> int:
        size = self._size_cache.get(path)
        if size is None:
            info = self.files.stat(path)
            size = info.size if info is not None else fallback
            if len(self._size_cache) > 100_000:
                self._size_cache.clear()
            self._size_cache[path] = size
        return size

    def _c2_file(self, alias: str, i: int, kind: str) -> tuple[str, int, str]:
        """(FileSource path, filesize, file displayId) of one Collection 2 band file."""
        source: _GeneratedC2 = self.sources[alias]
        display = self.c2.display_id(i, source.level)
        name = f"{display}_{kind}"
        base = f"m2m/{alias}/{display}"
        nominal = dict(source.products.files)[kind]
        if nominal is None:
            path = f"{base}/{name}"
            return path, self._small_size(path, 12_000), name
        stem = name.rsplit(".", 1)[0]
        size = nominal + (i * 7919 + len(kind) * 104_729) % (nominal // 8)
        mgrs = self.c2.cell(i).mgrs
        return f"pad/{size}/{base}/{stem}.T{mgrs}.TIF", size, name

    def _c2_products(self, alias: str, i: int) -> list[_Product]:
        source: _GeneratedC2 = self.sources[alias]
        p = source.products
        ds = source.dataset
        display = self.c2.display_id(i, source.level)
        entity = self.c2.entity_id(i)
        size = self.c2.bundle_size(i, source.level)
        out = [
            _Product(
                alias, i, entity, display, p.bundle_id, p.bundle_code, p.bundle_name,
                ds.dataset_id, ds.collection_name, size,
                f"m2m/{alias}/{display}/large/{size}.bin", f"{display}.tar", i % 3 == 0,
            )
        ]  # fmt: skip
        for kind, _ in p.files:
            path, fsize, name = self._c2_file(alias, i, kind)
            file_entity = _entity_prefix(source.level, kind) + name.replace(".", "_").upper()
            out.append(
                _Product(
                    alias, i, file_entity, name, p.file_ids[kind], p.band_code, p.band_name,
                    p.files_dataset_id, ds.collection_name, fsize, path, name, False,
                )
            )  # fmt: skip
        return out

    def _c1_products(self, entity: str) -> list[_Product]:
        scene = self.c1.scenes[entity]
        ds = self.datasets[L8C1]
        out = []
        suffixes = {"D220": ".jpg", "D219": "_TIR.jpg", "D222": "_QB.jpg", "D221": ".zip"}
        for o in self.c1.options[entity]:
            display = o["displayId"]
            if o["downloadSystem"] == "dds":
                path = f"m2m/{L8C1}/{display}/large/{o['filesize']}.bin"
                name, prepares = f"{display}.tar.gz", scene["index"] % 3 == 0
            else:
                name = display + suffixes.get(o["productCode"], ".jpg")
                path, prepares = f"pad/{o['filesize']}/m2m/{L8C1}/{display}/{name}", False
            out.append(
                _Product(
                    L8C1, entity, entity, display, o["id"], o["productCode"], o["productName"],
                    ds.dataset_id, ds.collection_name, o["filesize"], path, name, prepares,
                )
            )  # fmt: skip
        return out

    def download_options(self, body: dict) -> bytes:
        ds = self.dataset(body.get("datasetName"))
        alias = ds.alias.lower()
        ids = body.get("entityIds") or []
        if isinstance(ids, str):
            ids = [x for x in ids.split(",") if x]
        with_groups = bool(body.get("includeSecondaryFileGroups"))
        parts: list[bytes] = []
        for value in ids:
            if alias == L8C1:
                eid = self.c1.find(str(value), "entityid")
                if eid is not None:
                    parts.extend(self.c1.options_raw[eid])
            elif alias in C2_LEVELS:
                i = self.c2.index_for_entity_id(str(value))
                if i is not None:
                    parts.extend(_dumps(o) for o in self._c2_options(alias, i, with_groups))
        return b"[" + b", ".join(parts) + b"]"

    def _c2_options(self, alias: str, i: int, with_groups: bool) -> list[dict]:
        source: _GeneratedC2 = self.sources[alias]
        p = source.products
        products = self._c2_products(alias, i)
        bundle, files = products[0], products[1:]
        secondaries = []
        for order, f in enumerate(files, 1):
            kind = p.kind_for_id[f.product_id]
            entry = {
                "id": f.product_id,
                "downloadName": kind,
                "displayId": f.display_id,
                "entityId": f.entity_id,
                "datasetId": f.dataset_id,
                "available": True,
                "filesize": f.filesize,
                "productName": f.product_name,
                "productCode": f.product_code,
                "bulkAvailable": True,
                "downloadSystem": "dds",
                "secondaryDownloads": [],
            }
            if with_groups:
                band = kind.endswith(".TIF") and not kind.startswith(("ST_", "SA", "SZ", "VA"))
                entry["fileGroups"] = [p.groups[0], *([p.groups[1]] if band else [])]
            entry["displayOrder"] = order
            secondaries.append(entry)
        common = {
            "displayId": bundle.display_id,
            "entityId": bundle.entity_id,
            "datasetId": bundle.dataset_id,
            "available": True,
        }
        return [
            {"id": p.bundle_id, "downloadName": None, **common, "filesize": bundle.filesize,
             "productName": p.bundle_name, "productCode": p.bundle_code, "bulkAvailable": True,
             "downloadSystem": "dds", "secondaryDownloads": []},
            {"id": p.folder_id, "downloadName": p.download_name, **common, "filesize": 0,
             "productName": p.band_name, "productCode": p.band_code, "bulkAvailable": True,
             "downloadSystem": "folder", "secondaryDownloads": secondaries},
        ]  # fmt: skip

    def resolve(self, entity_id: Any, product_id: Any) -> _Product | None:
        """The product a download-request entry names, or None."""
        entity, pid = str(entity_id or ""), str(product_id or "")
        if not entity or not pid:
            return None
        eid = self.c1.find(entity, "entityid")
        if eid is not None:
            return next((p for p in self._c1_products(eid) if p.product_id == pid), None)
        for alias in C2_LEVELS:
            products = self.sources[alias].products
            if pid not in products.kind_for_id and pid != products.bundle_id:
                continue
            i = self.c2.index_for_entity_id(entity)
            if i is None:  # a band file's own entity id: L2SR_<displayId>_SR_B4_TIF
                m = re.match(r"^L[12][A-Z]*_(LC0[89]_\w{4}_\d{6}_\d{8}_\d{8}_02_T[12])_", entity)
                if m:
                    i = self.c2.index_for_display_id(m[1], products.level)
            if i is None:
                return None
            return next((p for p in self._c2_products(alias, i) if p.product_id == pid), None)
        return None


# ----------------------------------------------------------------------------- files


class _PaddedFiles:
    """A FileSource over `base` where ``pad/<size>/<path>`` is `path` followed by zeros up to
    `size` bytes (a TIFF/JPEG reader ignores trailing bytes)."""

    def __init__(self, base: FileSource) -> None:
        self.base = base
        self._zeros = bytes(CHUNK_SIZE)

    @staticmethod
    def _split(path: str) -> tuple[int, str] | None:
        if not path.startswith("pad/"):
            return None
        _, size, inner = path.split("/", 2)
        return int(size), inner

    def stat(self, path: str) -> FileInfo | None:
        padded = self._split(path)
        if padded is None:
            return self.base.stat(path)
        size, inner = padded
        info = self.base.stat(inner)
        if info is None:
            return None
        total = max(size, info.size)
        etag = '"' + hashlib.md5(f"{info.etag}:{total}".encode()).hexdigest() + '"'
        return FileInfo(total, etag, info.last_modified, info.content_type)

    async def read(self, path: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        padded = self._split(path)
        if padded is None:
            async for chunk in self.base.read(path, start, end):
                yield chunk
            return
        size, inner = padded
        info = self.base.stat(inner)
        if info is None:
            raise FileNotFoundError(path)
        total = max(size, info.size)
        end = total if end is None else min(end, total)
        if start < info.size:
            async for chunk in self.base.read(inner, start, min(end, info.size)):
                yield chunk
        pos, zeros = max(start, info.size), memoryview(self._zeros)
        while pos < end:
            n = min(len(zeros), end - pos)
            yield zeros[:n]
            pos += n


def _dds_error(
    request: Request, status: int, code: str, message: str, headers: Mapping[str, str]
) -> Response:
    keep = {k: v for k, v in headers.items() if k == "Content-Range"}
    if request.method == "HEAD":
        return Response(status_code=status, headers=keep)
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message></Error>"
    )
    return Response(body, status, headers=keep, media_type="application/xml")


# ----------------------------------------------------------------------------- HTTP


class _TagEntries:
    """Runs inside `RecordingMiddleware`: hands its log entry (the one just appended, before any
    await) to the endpoint and hides the API key in it."""

    def __init__(self, app: ASGIApp, recorder: Recorder) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and not scope["path"].startswith("/_sandbox/")
            and self.recorder.entries
        ):
            entry = self.recorder.entries[-1]
            if entry.get("path") == scope["path"]:
                if "x-auth-token" in entry["headers"]:
                    entry["headers"]["x-auth-token"] = "REDACTED"
                scope.setdefault("state", {})["m2m_entry"] = entry
        await self.app(scope, receive, send)


_SECRET_FIELDS = {"token", "password", "applicationToken", "userToken"}


def _redacted(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: ("REDACTED" if k in _SECRET_FIELDS else _redacted(v)) for k, v in body.items()}
    if isinstance(body, list):
        return [_redacted(v) for v in body]
    return body


class _State:
    """Everything the app mutates: sessions, downloads, faults, counters."""

    def __init__(self, users: Mapping[str, str]) -> None:
        self.lock = threading.RLock()
        self.users = dict(users)
        self.contacts = {u: 676_404 + n for n, u in enumerate(sorted(self.users))}
        self.reset()

    def reset(self) -> None:
        self.sessions: dict[str, _Session] = {}
        self.downloads: dict[int, _Download] = {}
        self.tokens: dict[str, tuple[int, float]] = {}  # url token → (downloadId, issued)
        self.staging: dict[str, int] = {}
        self.faults: list[_Fault] = []
        self.by_endpoint: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.request_id = 226_000_000
        self.session_id = 48_213_211
        self.download_id = 26_107_136

    def next_request_id(self) -> int:
        with self.lock:
            self.request_id += 1
            return self.request_id

    def take_fault(self, endpoint: str) -> _Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.endpoint in (None, endpoint):
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    return fault
        return None


def _envelope(request_id: int, session_id: int | None, data: bytes) -> bytes:
    sid = b"null" if session_id is None else str(session_id).encode()
    return b"".join(
        (
            b'{"requestId":%d,"version":"stable","sessionId":' % request_id,
            sid,
            b',"data":',
            data,
            b',"errorCode":null,"errorMessage":null}',
        )
    )


def _error_body(exc: M2MError, request_id: int, session_id: int | None) -> bytes:
    if exc.auth:  # the recorded auth-layer envelope
        return _dumps(
            {"errorCode": exc.code, "errorMessage": exc.message, "data": None,
             "requestId": 0, "sessionId": None, "version": None}
        )  # fmt: skip
    return _dumps(
        {"requestId": request_id, "version": VERSION, "sessionId": session_id, "data": None,
         "errorCode": exc.code, "errorMessage": exc.message}
    )  # fmt: skip


def _json(body: bytes, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body, status, headers=dict(headers or {}), media_type="application/json")


def create_m2m_app(
    *,
    clock: Callable[[], float] | None = None,
    generated_scenes: int = 200_000,
    key_idle_ttl: float = 7200.0,
    prepare_polls: int = 2,
    url_lifespan: float = 3600.0,
    users: dict[str, str] | None = None,
    files: FileSource | None = None,
    landsatlook_url: str | None = None,
) -> Starlette:
    """The M2M emulator (see the module docstring).

    `clock`: a `SandboxClock` to share with other sandbox apps (default: a new one over
    `time.time`). `users`: username → application token (default ``{"sandbox":
    "sandbox-app-token"}``). `files`: where downloads come from (default
    `files.default_files()`). `landsatlook_url`: rewrite the generated scenes'
    ``https://landsatlook.usgs.gov`` browse links to this base (``"self"``: this app, which
    serves ``/gen-browse``); default: the real links. ``app.state.m2m`` is the `M2MEmulator`,
    ``app.state.sandbox`` the mutable state, ``app.state.recorder`` the request log.
    """
    sandbox_clock: SandboxClock = as_clock(clock)
    emulator = M2MEmulator(generated_scenes=generated_scenes, files=files)
    source = _PaddedFiles(emulator.files)
    recorder = Recorder(sandbox_clock)
    recorder.count("logins", 0)
    recorder.count("downloads", 0)
    state = _State(users if users is not None else DEFAULT_USERS)

    def now() -> float:
        return sandbox_clock()

    # -- auth --------------------------------------------------------------------------------------
    def session_for(key: str | None) -> _Session:
        if not key:
            raise M2MError("AUTH_UNAUTHROIZED", MSG_UNAUTHORIZED, auth=True)
        with state.lock:
            session = state.sessions.get(key)
            if session is None:
                raise M2MError("AUTH_INVALID", MSG_KEY_INVALID, auth=True)
            t = now()
            if t - session.last_used > key_idle_ttl:
                raise M2MError("AUTH_EXPIRED", MSG_EXPIRED, auth=True)
            session.last_used = t
            return session

    def login(body: dict, key: str | None) -> tuple[bytes, int]:
        if key:
            session_for(key)  # a stale key in the header fails the login (issues #59, #68)
        username, token = body.get("username"), body.get("token")
        known = state.users.get(str(username)) if username else None
        if known is None or not isinstance(token, str) or not secrets.compare_digest(known, token):
            raise M2MError("AUTH_INVALID", MSG_LOGIN_INVALID, status=200)
        with state.lock:
            state.session_id += 1
            sid = state.session_id
            contact = state.contacts.get(str(username), 676_404)
            t = now()
            payload = {
                "cid": contact, "s": str(int(t)), "permissions": [],
                "k": secrets.token_hex(8),
            }  # fmt: skip
            api_key = base64.b64encode(_dumps(payload)).decode()
            state.sessions[api_key] = _Session(api_key, str(username), sid, contact, t)
        recorder.count("logins")
        return _dumps(api_key), sid

    # -- downloads ---------------------------------------------------------------------------------
    def base_url(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def current_url(request: Request, d: _Download) -> str:
        """The download URL of `d`, re-issued when the last one has expired."""
        t = now()
        if d.token is None or t - d.issued > url_lifespan:
            d.issues += 1
            payload = {"id": d.download_id, "contactId": d.contact_id}
            if d.issues > 1:
                payload["issue"] = d.issues - 1
            raw = json.dumps(payload, separators=(",", ":")).encode()
            d.token, d.issued = base64.b64encode(raw).decode(), t
            state.tokens[d.token] = (d.download_id, t)
        return f"{base_url(request)}/download/{d.token}"

    def staging_url(request: Request, d: _Download) -> str:
        state.staging[d.staging_token] = d.download_id
        return f"{base_url(request)}/download-staging/{d.staging_token}"

    def link(request: Request, d: _Download) -> dict:
        url = current_url(request, d) if d.status == "available" else staging_url(request, d)
        return {"downloadId": d.download_id, "eulaCode": None,
                "entityId": d.product.entity_id, "url": url}  # fmt: skip

    def listed(request: Request, d: _Download, code: str, text: str) -> dict:
        p = d.product
        url = current_url(request, d) if d.status == "available" else staging_url(request, d)
        return {
            "downloadId": d.download_id, "collectionName": p.collection_name,
            "datasetId": p.dataset_id, "displayId": p.display_id, "entityId": p.entity_id,
            "eulaCode": None, "filesize": p.filesize, "label": d.label,
            "productCode": p.product_code, "productName": p.product_name,
            "statusCode": code, "statusText": text, "url": url,
        }  # fmt: skip

    def remaining(session: _Session, ip: str) -> list[dict]:
        t = now()

        def counts(pred: Callable[[_Download], bool]) -> dict[str, int]:
            mine = [d for d in state.downloads.values() if pred(d) and d.status != "removed"]
            recent = sum(1 for d in mine if t - d.created <= RECENT_WINDOW)
            pending = sum(1 for d in mine if d.status == "preparing")
            unattempted = sum(1 for d in mine if d.status == "available" and not d.downloaded)
            return {
                "recentDownloadCount": INITIAL_LIMITS["recentDownloadCount"] - recent,
                "pendingDownloadCount": INITIAL_LIMITS["pendingDownloadCount"] - pending,
                "unattemptedDownloadCount": INITIAL_LIMITS["unattemptedDownloadCount"]
                - unattempted,
            }

        return [
            {"username": session.username, "limitType": "user",
             **counts(lambda d: d.username == session.username)},
            {"ipAddress": ip, "limitType": "ip", **counts(lambda d: d.ip == ip)},
        ]  # fmt: skip

    def download_request(request: Request, body: dict, session: _Session, rid: int) -> bytes:
        ip = request.client.host if request.client else "127.0.0.1"
        stamp = dt.datetime.fromtimestamp(now(), dt.UTC).strftime("%Y%m%d%H%M%S")
        default_label = body.get("label") or f"m2m_{rid}_{stamp}"
        if len(str(default_label)) > MAX_LABEL:
            raise _invalid(f"label must be at most {MAX_LABEL} characters")
        available, preparing, failed = [], [], []
        new_records: dict[str, str] = {}
        duplicates: dict[str, str] = {}
        invalid = 0
        downloads = body.get("downloads") or []
        if not isinstance(downloads, list):
            raise _invalid("downloads must be a list")
        for item in downloads:
            item = item if isinstance(item, dict) else {}
            product = emulator.resolve(item.get("entityId"), item.get("productId"))
            if product is None:
                invalid += 1
                failed.append({"entityId": item.get("entityId"), "productId": item.get("productId"),
                               "errorMessage": "Invalid entity or product ID"})  # fmt: skip
                continue
            label = str(body.get("label") or item.get("label") or default_label)[:MAX_LABEL]
            with state.lock:
                existing = next(
                    (
                        d
                        for d in state.downloads.values()
                        if d.username == session.username
                        and d.status != "removed"
                        and d.product.entity_id == product.entity_id
                        and d.product.product_id == product.product_id
                    ),
                    None,
                )
                if existing is not None:
                    duplicates[str(existing.download_id)] = existing.label
                    d = existing
                else:
                    state.download_id += 1
                    d = _Download(
                        state.download_id, product, session.username, session.contact_id, ip,
                        label, now(), "preparing" if product.prepares else "available",
                    )  # fmt: skip
                    state.downloads[d.download_id] = d
                    new_records[str(d.download_id)] = label
                (available if d.status == "available" else preparing).append(link(request, d))
        data = {
            "availableDownloads": available,
            "duplicateProducts": _php_map(duplicates),
            "preparingDownloads": preparing,
            "failed": failed,
            "newRecords": _php_map(new_records),
            "numInvalidScenes": invalid,
            "remainingLimits": remaining(session, ip),
        }
        return _dumps(data)

    def mine(session: _Session, label: Any) -> list[_Download]:
        return [
            d
            for d in state.downloads.values()
            if d.username == session.username
            and d.status != "removed"
            and (not label or d.label == str(label))
        ]

    def download_retrieve(request: Request, body: dict, session: _Session) -> bytes:
        available, requested = [], []
        with state.lock:
            for d in mine(session, body.get("label")):
                if d.status == "preparing":
                    d.polls += 1
                    if d.polls >= prepare_polls:
                        d.status = "available"
                if d.status == "available":
                    available.append(listed(request, d, "A", "Available"))
                else:
                    requested.append(listed(request, d, "S", "Staging"))
        return _dumps({"available": available, "queueSize": len(requested),
                       "requested": requested, "eulas": []})  # fmt: skip

    def download_search(request: Request, body: dict, session: _Session) -> bytes:
        with state.lock:
            out = [
                listed(request, d, *(("A", "Available") if d.status == "available"
                                     else ("S", "Staging")))
                for d in mine(session, body.get("label"))
            ]  # fmt: skip
        return _dumps(out)

    def download_remove(body: dict, session: _Session) -> bytes:
        with state.lock:
            d = state.downloads.get(int(body.get("downloadId") or 0))
            if d is None or d.username != session.username or d.status == "removed":
                return b"false"
            d.status = "removed"
            return b"true"

    def download_order_remove(body: dict, session: _Session) -> bytes:
        label = body.get("label")
        if not label:
            raise _invalid("label is required")
        with state.lock:
            gone = mine(session, label)
            for d in gone:
                d.status = "removed"
        return str(len(gone)).encode()

    def rate_limit_summary(request: Request, session: _Session) -> bytes:
        ip = request.client.host if request.client else "127.0.0.1"
        with state.lock:
            counts = Counter(
                "Available" if d.status == "available" else "Staging"
                for d in state.downloads.values()
                if d.username == session.username
                and d.status != "removed"
                and now() - d.created <= RECENT_WINDOW
            )
            limits = remaining(session, ip)
        per_status = [{"status": s, "downloadCount": n} for s, n in sorted(counts.items())]
        return _dumps({
            "initialLimits": [INITIAL_LIMITS],
            "remainingLimits": limits,
            "recentDownloadCounts": [
                {"countType": "username", "username": session.username,
                 "downloadCounts": per_status},
                {"countType": "ip", "ipAddress": ip, "downloadCounts": per_status},
            ],
        })  # fmt: skip

    # -- the API route -----------------------------------------------------------------------------
    def browse_base(request: Request) -> bytes | None:
        if not landsatlook_url:
            return None
        base = base_url(request) if landsatlook_url == "self" else landsatlook_url.rstrip("/")
        return base.encode()

    async def api(request: Request) -> Response:
        version = request.path_params["version"]
        endpoint = request.path_params["endpoint"].strip("/")
        entry = request.scope.get("state", {}).get("m2m_entry")
        raw = await request.body()
        body: Any = None
        parse_error = None
        if raw.strip():
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                parse_error = M2MError("INPUT_FORMAT", "Invalid JSON in request body")
        body = body if body is not None else {}
        if entry is not None:
            entry.update(endpoint=endpoint, body=_redacted(body), errorCode=None, user=None)
        with state.lock:
            state.by_endpoint[endpoint] += 1
        rid = state.next_request_id()
        key = request.headers.get("x-auth-token")
        session_id: int | None = None

        def fail(exc: M2MError, headers: Mapping[str, str] | None = None) -> Response:
            with state.lock:
                state.errors[exc.code] += 1
            if entry is not None:
                entry["errorCode"] = exc.code
            return _json(_error_body(exc, rid, session_id), exc.status, headers)

        fault = state.take_fault(endpoint)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            headers = {}
            if fault.retry_after is not None:
                ra = fault.retry_after
                headers["Retry-After"] = str(int(ra) if float(ra).is_integer() else ra)
            if fault.error_code:
                message = fault.message or _FAULT_MESSAGES.get(fault.error_code, "Error")
                return fail(M2MError(fault.error_code, message, fault.status or 500), headers)
            if fault.status:
                text = _STATUS_TEXT.get(fault.status, "Error")
                page = (f"<html><head><title>{fault.status} {text}</title></head><body>"
                        f"<h1>{text}</h1></body></html>")  # fmt: skip
                return Response(page, fault.status, headers=headers, media_type="text/html")
        try:
            if version != VERSION:
                raise M2MError("VERSION_UNKNOWN", "Unknown version used")
            if parse_error is not None:
                raise parse_error
            if not isinstance(body, dict):
                raise M2MError("INPUT_FORMAT", "The request body must be a JSON object")
            if endpoint == "login-token":
                if request.method != "POST":
                    raise M2MError("INPUT_PARAMETER_INVALID", "login-token requires POST")
                data, session_id = login(body, key)
                if entry is not None:
                    entry["user"] = body.get("username")
                return _json(_envelope(rid, session_id, data))
            handler = HANDLERS.get(endpoint)
            if handler is None:
                raise M2MError("NOT_FOUND", f"Endpoint not found: {endpoint}", status=404)
            session = session_for(key)
            session_id = session.session_id
            if entry is not None:
                entry["user"] = session.username
            data = handler(request, body, session, rid)
            base = browse_base(request)
            if base is not None and endpoint in ("scene-search", "scene-metadata"):
                data = data.replace(SceneRenderer.LANDSATLOOK.encode(), base)
            return _json(_envelope(rid, session_id, data))
        except M2MError as exc:
            return fail(exc)

    def logout(request: Request, body: dict, session: _Session, rid: int) -> bytes:
        with state.lock:
            state.sessions.pop(session.key, None)
        return b"null"

    HANDLERS: dict[str, Callable[[Request, dict, _Session, int], bytes]] = {
        "logout": logout,
        "dataset-search": lambda r, b, s, i: emulator.dataset_search(b),
        "dataset": lambda r, b, s, i: (
            emulator.dataset(b.get("datasetName") or b.get("datasetId")).raw
        ),
        "dataset-filters": lambda r, b, s, i: emulator.dataset_filters(b),
        "dataset-download-options": lambda r, b, s, i: emulator.dataset_download_options(b),
        "scene-search": lambda r, b, s, i: emulator.scene_search(b),
        "scene-metadata": lambda r, b, s, i: emulator.scene_metadata(b),
        "download-options": lambda r, b, s, i: emulator.download_options(b),
        "download-request": download_request,
        "download-retrieve": lambda r, b, s, i: download_retrieve(r, b, s),
        "download-search": lambda r, b, s, i: download_search(r, b, s),
        "download-remove": lambda r, b, s, i: download_remove(b, s),
        "download-order-remove": lambda r, b, s, i: download_order_remove(b, s),
        "permissions": lambda r, b, s, i: b'["download","order"]',
        "rate-limit-summary": lambda r, b, s, i: rate_limit_summary(r, s),
    }

    # -- files -------------------------------------------------------------------------------------
    async def download(request: Request) -> Response:
        fault = state.take_fault("download")
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status:
                return _dds_error(request, fault.status, "ServiceUnavailable", "Try again", {})
        token = request.path_params["token"]
        with state.lock:
            found = state.tokens.get(token)
            d = state.downloads.get(found[0]) if found else None
        if found is None or d is None or d.status == "removed":
            return _dds_error(request, 404, "NotFound", "The requested download was not found", {})
        if now() - found[1] > url_lifespan:
            return _dds_error(request, 403, "AccessDenied", "Request has expired", {})
        info = source.stat(d.product.path)
        if info is None:
            return _dds_error(request, 404, "NotFound", "The requested file was not found", {})
        extra = {"Content-Disposition": f'attachment; filename="{d.product.filename}"'}
        response = file_response(request, source, d.product.path, info, _dds_error, extra)
        if request.method == "GET" and response.status_code in (200, 206):
            d.downloaded = True
            recorder.count("downloads")
        return response

    async def staging(request: Request) -> Response:
        with state.lock:
            d = state.downloads.get(state.staging.get(request.path_params["token"], -1))
        if d is None or d.status == "removed":
            return _dds_error(request, 404, "NotFound", "The requested download was not found", {})
        if d.status == "available":
            return RedirectResponse(current_url(request, d), status_code=302)
        return Response(
            "Your download is being prepared. Please try again later.\n",
            202,
            headers={"Retry-After": "30"},
            media_type="text/plain",
        )

    async def gen_browse(request: Request) -> Response:
        q = request.query_params
        name = re.sub(r"[^\w.-]", "_", f"{q.get('product_id', 'x')}_{q.get('type', 'refl')}")
        path = f"m2m/browse/{q.get('size', 'thumb')}/{name}.jpg"
        info = emulator.files.stat(path)
        if info is None:
            return _dds_error(request, 404, "NotFound", "No browse", {})
        return file_response(request, emulator.files, path, info, _dds_error)

    # -- sandbox controls --------------------------------------------------------------------------
    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            with state.lock:
                state.faults.clear()
        elif request.method == "POST":
            try:
                spec = await request.json()
                fault = _Fault(
                    error_code=spec.get("errorCode"),
                    status=int(spec["status"]) if spec.get("status") is not None else None,
                    count=int(spec.get("count", 1)),
                    delay=float(spec.get("delay", 0) or 0),
                    endpoint=spec.get("endpoint"),
                    message=spec.get("message"),
                    retry_after=spec.get("retry_after"),
                )
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                return JSONResponse({"error": f"bad fault spec: {exc}"}, status_code=400)
            if fault.count > 0 and (fault.error_code or fault.status or fault.delay):
                with state.lock:
                    state.faults.append(fault)
        with state.lock:
            listed_faults = [f.__dict__.copy() for f in state.faults]
        return JSONResponse({"faults": listed_faults})

    async def requests_log(request: Request) -> Response:
        if request.method == "DELETE":
            recorder.entries.clear()
        path = request.query_params.get("path")
        endpoint = request.query_params.get("endpoint")
        entries = [
            e
            for e in list(recorder.entries)
            if (path is None or e["path"] == path)
            and (endpoint is None or e.get("endpoint") == endpoint)
        ]
        return Response(_dumps(entries), media_type="application/json")

    async def stats(request: Request) -> Response:
        with state.lock:
            t = now()
            extra = {
                "requests_by_endpoint": dict(state.by_endpoint),
                "errors_by_code": dict(state.errors),
                "active_keys": sum(
                    1 for s in state.sessions.values() if t - s.last_used <= key_idle_ttl
                ),
                "downloads_queued": sum(
                    1 for d in state.downloads.values() if d.status != "removed"
                ),
            }
        return JSONResponse({**recorder.stats(), **extra})

    async def reset(request: Request) -> Response:
        recorder.reset()
        with state.lock:
            state.reset()
        return JSONResponse({"reset": True})

    async def orders_ready(request: Request) -> Response:
        with state.lock:
            waiting = [d for d in state.downloads.values() if d.status == "preparing"]
            for d in waiting:
                d.status = "available"
        return JSONResponse({"ready": len(waiting)})

    clock_routes = [r for r in recorder.routes() if r.path == "/_sandbox/clock"]
    routes = [
        *clock_routes,
        Route("/_sandbox/requests", requests_log, methods=["GET", "DELETE"]),
        Route("/_sandbox/stats", stats),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/orders/ready", orders_ready, methods=["POST"]),
        Route(API_ROOT + "/{version}/{endpoint:path}", api, methods=["GET", "POST"]),
        Route("/download/{token:path}", download, methods=["GET", "HEAD"]),
        Route("/download-staging/{token:path}", staging, methods=["GET", "HEAD"]),
        Route("/gen-browse", gen_browse, methods=["GET", "HEAD"]),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(_TagEntries, recorder=recorder)
    app.add_middleware(RecordingMiddleware, recorder=recorder)
    app.state.m2m = emulator
    app.state.sandbox = state
    app.state.recorder = recorder
    app.state.clock = sandbox_clock
    return app
