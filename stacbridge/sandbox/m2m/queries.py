"""A ``scene-search`` body parsed into one query: spatial, acquisition, cloud, season, metadata.

Parsing is separate from searching so recorded and generated datasets share it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shapely.affinity import translate
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from stacbridge.sandbox.m2m.errors import M2MError, _invalid
from stacbridge.sandbox.m2m.filters import _Column, _Cond, parse_metadata_filter
from stacbridge.sandbox.m2m.generator import EPOCH


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
            want = expected.get(str(gj.get("type")), 0)
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
    # inclusive day ranges
    days: list[tuple[int, int]] | list[tuple[int | None, int | None]] | None = None
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
        q.days = list(_month_ranges(lo, hi, wanted)) if lo <= hi else []
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
