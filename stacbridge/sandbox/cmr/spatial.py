"""CMR's spatial parameters (bounding_box, polygon, point, line) as shapely geometries.

Validation messages follow CMR; matching is planar lon/lat (see the package docstring).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from shapely.geometry import LineString, Point, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from stacbridge.sandbox.cmr.errors import MSG_RING_NOT_CLOSED, MSG_RING_ORDER
from stacbridge.sandbox.cmr.generator import ring_geometry
from stacbridge.sandbox.cmr.params import _double_to_string, _java_double

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
