"""GeoJSON geometry helpers shared by the provider translators.

Translators call these once per Item, so the common path is plain Python on lists: rings are
oriented with the shoelace formula and bounding boxes come from min/max loops.  shapely and
the `antimeridian` package are only touched when a shape really crosses the antimeridian (a
longitude jump of more than 180° between consecutive vertices) or when several polygons overlap
and must be merged into a valid MultiPolygon — both rare, and both slow.

Every builder returns a `Shape`: the GeoJSON dict (coordinates as lists, never tuples, so the
result validates and serialises as is), its bbox, and whether the antimeridian split it.  A
bbox of a shape split at the antimeridian has west > east, as RFC 7946 §5.2 prescribes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

GeoJSON = dict[str, Any]
Position = list[float]
Ring = list[Position]

GLOBAL_BBOX: tuple[float, float, float, float] = (-180.0, -90.0, 180.0, 90.0)


class Shape(NamedTuple):
    """A GeoJSON geometry, its 2D bbox, and whether it was split at the antimeridian."""

    geometry: GeoJSON
    bbox: list[float]
    split: bool = False


# -- rings -----------------------------------------------------------------------------------
def signed_area(ring: Sequence[Sequence[float]]) -> float:
    """Twice the signed planar area of a ring (shoelace); > 0 means counter-clockwise."""
    total = 0.0
    n = len(ring)
    if n < 3:
        return 0.0
    x0, y0 = ring[-1][0], ring[-1][1]
    for p in ring:
        x1, y1 = p[0], p[1]
        total += x0 * y1 - x1 * y0
        x0, y0 = x1, y1
    return total


def is_ccw(ring: Sequence[Sequence[float]]) -> bool:
    return signed_area(ring) > 0


def close_ring(ring: Ring) -> Ring:
    """The ring with its first position repeated at the end (GeoJSON linear ring)."""
    if ring and (ring[0][0] != ring[-1][0] or ring[0][1] != ring[-1][1]):
        ring.append(list(ring[0]))
    return ring


def crosses_antimeridian(coords: Sequence[Sequence[float]]) -> bool:
    """Whether consecutive positions jump by more than 180° of longitude."""
    prev = None
    for p in coords:
        x = p[0]
        if prev is not None and (x - prev > 180.0 or prev - x > 180.0):
            return True
        prev = x
    return False


def _unwrap(ring: Sequence[Sequence[float]]) -> list[list[float]]:
    """Longitudes made continuous (no jump > 180°) so planar winding can be measured."""
    out = []
    shift = 0.0
    prev = None
    for p in ring:
        x = p[0]
        if prev is not None:
            d = x - prev
            if d > 180.0:
                shift -= 360.0
            elif d < -180.0:
                shift += 360.0
        prev = x
        out.append([x + shift, p[1]])
    return out


def _encloses_pole(ring: Sequence[Sequence[float]]) -> bool:
    """A closed ring whose unwrapped longitudes do not come back goes round a pole."""
    unwrapped = _unwrap(ring)
    return abs(unwrapped[-1][0] - unwrapped[0][0]) > 180.0


def _ring_bounds(ring: Sequence[Sequence[float]]) -> list[float]:
    xs = [p[0] for p in ring]
    ys = [p[1] for p in ring]
    return [min(xs), min(ys), max(xs), max(ys)]


# -- bounding boxes ----------------------------------------------------------------------------
def lon_intervals_bbox(
    intervals: Iterable[tuple[float, float]], south: float, north: float
) -> list[float]:
    """The smallest bbox whose longitude span covers every [west, east] interval on the circle.

    Used for shapes cut at the antimeridian: the pieces touch ±180, and the covering arc that
    skips the widest empty gap gives west > east when the shape straddles the antimeridian.
    """
    merged: list[list[float]] = []
    for w, e in sorted(intervals):
        if merged and w <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1][1] = e
        else:
            merged.append([w, e])
    if not merged:
        raise ValueError("no intervals")
    wrap_gap = merged[0][0] + 360.0 - merged[-1][1]
    best_gap, best = wrap_gap, -1
    for i in range(len(merged) - 1):
        gap = merged[i + 1][0] - merged[i][1]
        if gap > best_gap:
            best_gap, best = gap, i
    if best < 0:
        return [merged[0][0], south, merged[-1][1], north]
    return [merged[best + 1][0], south, merged[best][1], north]


def _positions(geometry: GeoJSON) -> Iterable[Sequence[float]]:
    kind = geometry["type"]
    c = geometry.get("coordinates")
    if kind == "Point":
        yield c
    elif kind in ("MultiPoint", "LineString"):
        yield from c
    elif kind in ("MultiLineString", "Polygon"):
        for part in c:
            yield from part
    elif kind == "MultiPolygon":
        for poly in c:
            for ring in poly:
                yield from ring
    elif kind == "GeometryCollection":
        for g in geometry["geometries"]:
            yield from _positions(g)


def _parts(geometry: GeoJSON) -> list[GeoJSON]:
    kind = geometry["type"]
    if kind == "GeometryCollection":
        out = []
        for g in geometry["geometries"]:
            out.extend(_parts(g))
        return out
    if kind.startswith("Multi"):
        single = kind[5:]
        return [{"type": single, "coordinates": c} for c in geometry["coordinates"]]
    return [geometry]


def geometry_bbox(geometry: GeoJSON, antimeridian: bool = False) -> list[float]:
    """2D bbox of any GeoJSON geometry.

    With `antimeridian=True` the parts are assumed already cut at ±180 and the bbox may cross
    it (west > east); otherwise it is the plain min/max.
    """
    if not antimeridian:
        return _ring_bounds(list(_positions(geometry)))
    intervals = []
    south, north = 90.0, -90.0
    for part in _parts(geometry):
        w, s, e, n = _ring_bounds(list(_positions(part)))
        intervals.append((w, e))
        south = min(south, s)
        north = max(north, n)
    return lon_intervals_bbox(intervals, south, north)


# -- shapely bridge (slow path only) ------------------------------------------------------------
def _to_lists(obj: Any) -> Any:
    if isinstance(obj, (list, tuple)):
        if obj and isinstance(obj[0], (int, float)):
            # antimeridian's longitude normalisation leaves float noise (9.997242999999997)
            return [round(float(v), 9) for v in obj[:2]]
        return [_to_lists(o) for o in obj]
    return obj


def _from_shapely(geom: Any) -> GeoJSON:
    from shapely.geometry import mapping

    m = mapping(geom)
    if m["type"] == "GeometryCollection":
        return {"type": m["type"], "geometries": [_from_shapely(g) for g in geom.geoms]}
    return {"type": m["type"], "coordinates": _to_lists(m["coordinates"])}


# -- builders ------------------------------------------------------------------------------
def point(lon: float, lat: float) -> Shape:
    return Shape({"type": "Point", "coordinates": [lon, lat]}, [lon, lat, lon, lat])


def line(coords: Ring) -> Shape | None:
    """A LineString; split into a MultiLineString where it crosses the antimeridian."""
    if len(coords) < 2:
        return None
    if crosses_antimeridian(coords):
        import antimeridian
        from shapely.geometry import LineString

        fixed = antimeridian.fix_line_string(LineString(coords), great_circle=True)
        geom = _from_shapely(fixed)
        split = geom["type"] == "MultiLineString"
        return Shape(geom, geometry_bbox(geom, antimeridian=split), split)
    return Shape({"type": "LineString", "coordinates": coords}, _ring_bounds(coords))


def box(west: float, south: float, east: float, north: float) -> Shape:
    """A lon/lat box; west > east means it crosses the antimeridian (two boxes)."""
    if west > east:
        if west == 180.0:
            west = -180.0
        elif east == -180.0:
            east = 180.0
    if west > east:
        geom = {
            "type": "MultiPolygon",
            "coordinates": [
                [[[west, south], [180.0, south], [180.0, north], [west, north], [west, south]]],
                [[[-180.0, south], [east, south], [east, north], [-180.0, north],
                  [-180.0, south]]],
            ],
        }
        return Shape(geom, [west, south, east, north], True)
    if west == east and south == north:
        return point(west, south)
    if west == east or south == north:
        coords = [[west, south], [east, north]]
        return Shape({"type": "LineString", "coordinates": coords}, [west, south, east, north])
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return Shape({"type": "Polygon", "coordinates": [ring]}, [west, south, east, north])


def polygon(exterior: Ring, holes: Sequence[Ring] = ()) -> Shape | None:
    """A Polygon with the exterior counter-clockwise and holes clockwise (RFC 7946 §3.1.6).

    Rings are closed if needed.  A ring with a longitude jump > 180° is cut at the
    antimeridian (and a ring round a pole is extended to it) by the `antimeridian` package.
    Returns None for a degenerate exterior (fewer than three distinct positions).
    """
    exterior = close_ring(exterior)
    if len(exterior) < 4:
        return None
    holes = [close_ring(h) for h in holes]
    holes = [h for h in holes if len(h) >= 4]
    crossing = crosses_antimeridian(exterior) or any(crosses_antimeridian(h) for h in holes)
    if not crossing:
        if signed_area(exterior) < 0:
            exterior.reverse()
        for h in holes:
            if signed_area(h) > 0:
                h.reverse()
        return Shape({"type": "Polygon", "coordinates": [exterior, *holes]},
                     _ring_bounds(exterior))
    return _split_polygon(exterior, holes)


def _split_polygon(exterior: Ring, holes: list[Ring]) -> Shape | None:
    import antimeridian
    from shapely.geometry import Polygon

    # Orientation has to be judged on unwrapped longitudes.  A ring round a pole has no planar
    # orientation; its vertex order (CMR: counter-clockwise seen from space) says which side
    # is inside, and the antimeridian package reads it that way.
    if not _encloses_pole(exterior) and signed_area(_unwrap(exterior)) < 0:
        exterior.reverse()
    for h in holes:
        if not _encloses_pole(h) and signed_area(_unwrap(h)) > 0:
            h.reverse()
    try:
        fixed = antimeridian.fix_polygon(
            Polygon(exterior, holes), fix_winding=False, great_circle=True
        )
    except Exception:  # noqa: BLE001 - malformed upstream rings must not crash a translation
        return None
    if fixed.is_empty:
        return None
    geom = _from_shapely(fixed)
    split = geom["type"] == "MultiPolygon"
    return Shape(geom, geometry_bbox(geom, antimeridian=split), split)


# -- combining --------------------------------------------------------------------------------
def _boxes_overlap(a: Sequence[float], b: Sequence[float]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _polygons_of(shape: Shape) -> list[list[Ring]]:
    g = shape.geometry
    return [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]


def combine(shapes: Sequence[Shape]) -> Shape | None:
    """One geometry for several shapes: Multi* when all are of one kind, else a collection.

    Overlapping polygons are merged (planar union) so that the MultiPolygon stays valid.
    """
    shapes = [s for s in shapes if s is not None]
    if not shapes:
        return None
    if len(shapes) == 1:
        return shapes[0]
    split = any(s.split for s in shapes)
    kinds = {s.geometry["type"].removeprefix("Multi") for s in shapes}
    if kinds == {"Polygon"}:
        geom = _merge_polygons(shapes)
    elif kinds == {"Point"}:
        coords = []
        for s in shapes:
            g = s.geometry
            coords.extend([g["coordinates"]] if g["type"] == "Point" else g["coordinates"])
        geom = {"type": "MultiPoint", "coordinates": coords}
    elif kinds == {"LineString"}:
        coords = []
        for s in shapes:
            g = s.geometry
            coords.extend([g["coordinates"]] if g["type"] == "LineString" else g["coordinates"])
        geom = {"type": "MultiLineString", "coordinates": coords}
    else:
        geom = {"type": "GeometryCollection", "geometries": [s.geometry for s in shapes]}
    if split:
        bbox = geometry_bbox(geom, antimeridian=True)
    else:
        bboxes = [s.bbox for s in shapes]
        bbox = [
            min(b[0] for b in bboxes),
            min(b[1] for b in bboxes),
            max(b[2] for b in bboxes),
            max(b[3] for b in bboxes),
        ]
    return Shape(geom, bbox, split)


def _merge_polygons(shapes: Sequence[Shape]) -> GeoJSON:
    polys: list[list[Ring]] = []
    boxes: list[list[float]] = []
    for s in shapes:
        for p in _polygons_of(s):
            polys.append(p)
            boxes.append(_ring_bounds(p[0]))
    overlap = any(
        _boxes_overlap(boxes[i], boxes[j])
        for i in range(len(boxes))
        for j in range(i + 1, len(boxes))
    )
    if overlap:
        from shapely import make_valid, unary_union
        from shapely.geometry import Polygon
        from shapely.geometry.polygon import orient

        merged = unary_union([make_valid(Polygon(p[0], p[1:])) for p in polys])
        if merged.geom_type == "Polygon":
            return _from_shapely(orient(merged, 1.0))
        if merged.geom_type == "MultiPolygon":
            from shapely.geometry import MultiPolygon

            return _from_shapely(MultiPolygon([orient(g, 1.0) for g in merged.geoms]))
    return {"type": "MultiPolygon", "coordinates": polys}


def bbox_union(bboxes: Sequence[Sequence[float]]) -> list[float]:
    """The bbox covering several 2D bboxes, any of which may cross the antimeridian."""
    if any(b[0] > b[2] for b in bboxes):
        intervals: list[tuple[float, float]] = []
        for b in bboxes:
            if b[0] > b[2]:
                intervals.extend([(b[0], 180.0), (-180.0, b[2])])
            else:
                intervals.append((b[0], b[2]))
        return lon_intervals_bbox(
            intervals, min(b[1] for b in bboxes), max(b[3] for b in bboxes)
        )
    return [
        min(b[0] for b in bboxes),
        min(b[1] for b in bboxes),
        max(b[2] for b in bboxes),
        max(b[3] for b in bboxes),
    ]
