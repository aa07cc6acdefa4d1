"""GeoJSON geometry helpers shared by the provider translators.

Translators call these once per Item, so the common path is plain Python on lists: rings are
oriented with the shoelace formula and bounding boxes come from min/max loops.  A ring with a
longitude jump of more than 180° between consecutive vertices is cut at the antimeridian —
in pure Python when it crosses once (round a pole) or twice (the usual swath), with the same
great-circle crossing latitude as the `antimeridian` package; anything harder (holes over the
antimeridian, more crossings, vertices on ±180) goes to that package, and overlapping polygons
are merged with shapely.  Those slow paths are rare.

Every builder returns a `Shape`: the GeoJSON dict (coordinates as lists, never tuples, so the
result validates and serialises as is), its bbox, and whether the antimeridian split it.  A
bbox of a shape split at the antimeridian has west > east, as RFC 7946 §5.2 prescribes.
Builders may reuse (and reorient or close in place) the coordinate lists they are given.
"""

from __future__ import annotations

import math
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
    c: Any = geometry.get("coordinates")  # nesting depth depends on `kind`
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
                [[[-180.0, south], [east, south], [east, north], [-180.0, north], [-180.0, south]]],
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
    antimeridian (and a ring round a pole is extended to it).  Returns None for a degenerate
    exterior (fewer than three distinct positions).
    """
    if not exterior:
        return None
    first, last = exterior[0], exterior[-1]
    if first[0] != last[0] or first[1] != last[1]:
        exterior.append([first[0], first[1]])
    if len(exterior) < 4:
        return None
    # one pass: winding (shoelace), bounds and antimeridian jumps
    area = 0.0
    px, py = exterior[-1][0], exterior[-1][1]
    minx = maxx = px
    miny = maxy = py
    crossing = False
    for p in exterior:
        x, y = p[0], p[1]
        area += px * y - x * py
        d = x - px
        if d > 180.0 or d < -180.0:
            crossing = True
        if x < minx:
            minx = x
        elif x > maxx:
            maxx = x
        if y < miny:
            miny = y
        elif y > maxy:
            maxy = y
        px, py = x, y
    if holes:
        holes = [h for h in (close_ring(h) for h in holes) if len(h) >= 4]
        crossing = crossing or any(crosses_antimeridian(h) for h in holes)
    if crossing:
        return _split_polygon(exterior, list(holes))
    if area < 0:
        exterior.reverse()
    for h in holes:
        if signed_area(h) > 0:
            h.reverse()
    return Shape({"type": "Polygon", "coordinates": [exterior, *holes]}, [minx, miny, maxx, maxy])


def crossing_latitude(west: Sequence[float], east: Sequence[float]) -> float:
    """Latitude where the great circle between two points meets the antimeridian.

    `west` is the point with negative longitude, `east` the one with positive longitude; the
    same computation (and rounding) as `antimeridian`'s `crossing_latitude_great_circle`.
    """
    lon1, lat1 = math.radians(west[0]), math.radians(west[1])
    lon2, lat2 = math.radians(east[0]), math.radians(east[1])
    c1, c2 = math.cos(lat1), math.cos(lat2)
    x1, y1, z1 = math.cos(lon1) * c1, math.sin(lon1) * c1, math.sin(lat1)
    x2, y2, z2 = math.cos(lon2) * c2, math.sin(lon2) * c2, math.sin(lat2)
    nx = y1 * z2 - z1 * y2
    nz = x1 * y2 - y1 * x2
    norm = math.hypot(nx, nz)
    if norm == 0.0:  # coincident or antipodal points: no defined great circle
        return round((west[1] + east[1]) / 2.0, 7)
    return round(math.degrees(math.asin(-nx / norm)), 7)


def _fast_split(ring: Ring) -> Shape | None:
    """Cut a ring that crosses the antimeridian once (round a pole) or twice, in pure Python.

    The ring is closed and wound counter-clockwise (on unwrapped longitudes).  Anything else
    (more crossings, vertices on ±180) returns None and goes to the `antimeridian` package.
    """
    pts = ring[:-1]
    n = len(pts)
    crossings: list[tuple[int, float]] = []
    for i in range(n):
        a = pts[i]
        b = pts[i + 1] if i + 1 < n else pts[0]
        d = b[0] - a[0]
        if d > 180.0 or d < -180.0:
            if abs(a[0]) >= 180.0 or abs(b[0]) >= 180.0:
                return None
            crossings.append((i, crossing_latitude(a, b) if d > 0 else crossing_latitude(b, a)))
    if len(crossings) == 1:
        i, lat = crossings[0]
        seq = [list(p[:2]) for p in pts[i + 1 :] + pts[: i + 1]]
        lats = [p[1] for p in seq]
        if pts[i][0] > 0:  # moving east over the antimeridian: the north pole is inside
            out = [[-180.0, lat], *seq, [180.0, lat], [180.0, 90.0], [-180.0, 90.0], [-180.0, lat]]
            bbox = [-180.0, min(min(lats), lat), 180.0, 90.0]
        else:  # moving west: the south pole is inside
            out = [[180.0, lat], *seq, [-180.0, lat], [-180.0, -90.0], [180.0, -90.0], [180.0, lat]]
            bbox = [-180.0, -90.0, 180.0, max(max(lats), lat)]
        return Shape({"type": "Polygon", "coordinates": [out]}, bbox, False)
    if len(crossings) != 2:
        return None
    (i1, lat1), (i2, lat2) = crossings
    piece1 = [list(p[:2]) for p in pts[i1 + 1 : i2 + 1]]
    piece2 = [list(p[:2]) for p in pts[i2 + 1 :] + pts[: i1 + 1]]
    side1 = 180.0 if piece1[0][0] > 0 else -180.0
    side2 = -side1
    ring1 = [[side1, lat1], *piece1, [side1, lat2], [side1, lat1]]
    ring2 = [[side2, lat2], *piece2, [side2, lat1], [side2, lat2]]
    east_part, west_part = (piece1, piece2) if side1 > 0 else (piece2, piece1)
    lats = [p[1] for p in piece1] + [p[1] for p in piece2] + [lat1, lat2]
    bbox = [
        min(p[0] for p in east_part),
        min(lats),
        max(p[0] for p in west_part),
        max(lats),
    ]
    return Shape({"type": "MultiPolygon", "coordinates": [[ring1], [ring2]]}, bbox, True)


def _split_polygon(exterior: Ring, holes: list[Ring]) -> Shape | None:
    # Orientation has to be judged on unwrapped longitudes.  A ring round a pole has no planar
    # orientation; its vertex order (CMR: counter-clockwise seen from space) says which side
    # is inside, and both the fast path and the antimeridian package read it that way.
    if not _encloses_pole(exterior) and signed_area(_unwrap(exterior)) < 0:
        exterior.reverse()
    if not holes:
        fast = _fast_split(exterior)
        if fast is not None:
            return fast
    for h in holes:
        if not _encloses_pole(h) and signed_area(_unwrap(h)) > 0:
            h.reverse()
    return _split_with_package(exterior, holes)


def _split_with_package(exterior: Ring, holes: list[Ring]) -> Shape | None:
    import antimeridian
    from shapely.geometry import Polygon

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


_DIMENSION = {"Point": 0, "LineString": 1, "Polygon": 2}


def combine(shapes: Sequence[Shape | None], allow_collection: bool = False) -> Shape | None:
    """One geometry for several shapes: Multi* when all are of one kind.

    Overlapping polygons are merged (planar union) so that the MultiPolygon stays valid.
    Shapes of mixed kinds make a GeometryCollection only with `allow_collection`: STAC 1.0.0
    Items take the GeoJSON `Geometry` schema, which has no GeometryCollection, so by default
    only the shapes of the highest dimension are kept (areas over lines over points) and the
    bbox is theirs.
    """
    present = [s for s in shapes if s is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    kinds = {s.geometry["type"].removeprefix("Multi") for s in present}
    if len(kinds) > 1 and not allow_collection:
        top = max(_DIMENSION[k] for k in kinds)
        present = [
            s for s in present if _DIMENSION[s.geometry["type"].removeprefix("Multi")] == top
        ]
        if len(present) == 1:
            return present[0]
        kinds = {s.geometry["type"].removeprefix("Multi") for s in present}
    split = any(s.split for s in present)
    coords: list[Any]
    if kinds == {"Polygon"}:
        geom = _merge_polygons(present)
    elif kinds == {"Point"}:
        coords = []
        for s in present:
            g = s.geometry
            coords.extend([g["coordinates"]] if g["type"] == "Point" else g["coordinates"])
        geom = {"type": "MultiPoint", "coordinates": coords}
    elif kinds == {"LineString"}:
        coords = []
        for s in present:
            g = s.geometry
            coords.extend([g["coordinates"]] if g["type"] == "LineString" else g["coordinates"])
        geom = {"type": "MultiLineString", "coordinates": coords}
    else:
        geom = {"type": "GeometryCollection", "geometries": [s.geometry for s in present]}
    if split:
        bbox = geometry_bbox(geom, antimeridian=True)
    else:
        bboxes = [s.bbox for s in present]
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
        return lon_intervals_bbox(intervals, min(b[1] for b in bboxes), max(b[3] for b in bboxes))
    return [
        min(b[0] for b in bboxes),
        min(b[1] for b in bboxes),
        max(b[2] for b in bboxes),
        max(b[3] for b in bboxes),
    ]
