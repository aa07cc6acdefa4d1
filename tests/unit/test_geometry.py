"""Geometry helpers: ring orientation, antimeridian cutting, bboxes, combining shapes."""

from __future__ import annotations

import copy

import antimeridian
import pytest
import shapely
from shapely.geometry import LineString, Polygon, shape

from stacbridge.stac import geometry as geo


def _square(x0: float, y0: float, x1: float, y1: float, ccw: bool = True) -> list[list[float]]:
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return ring if ccw else ring[::-1]


def _same_area(a: dict, b: dict) -> bool:
    """Same region up to float noise (the package leaves e.g. 146.89999999999998)."""
    ga, gb = shape(a), shape(b)
    return ga.symmetric_difference(gb).area < 1e-9 and abs(ga.area - gb.area) < 1e-9


# -- rings ------------------------------------------------------------------------------------
def test_signed_area_sign_follows_winding():
    assert geo.signed_area(_square(0, 0, 2, 1)) == pytest.approx(4.0)
    assert geo.signed_area(_square(0, 0, 2, 1, ccw=False)) == pytest.approx(-4.0)
    assert geo.is_ccw(_square(0, 0, 1, 1))
    assert not geo.is_ccw(_square(0, 0, 1, 1, ccw=False))


def test_crosses_antimeridian_only_on_jumps_over_180():
    assert not geo.crosses_antimeridian([[-179, 0], [179, 0]][:1])
    assert geo.crosses_antimeridian([[179, 0], [-179, 1]])
    assert not geo.crosses_antimeridian([[-90, 0], [89, 1]])


# -- polygons ---------------------------------------------------------------------------------
def test_polygon_reorients_a_clockwise_exterior():
    s = geo.polygon(_square(10, 20, 11, 21, ccw=False))
    ring = s.geometry["coordinates"][0]
    assert s.geometry["type"] == "Polygon"
    assert geo.is_ccw(ring)
    assert s.bbox == [10, 20, 11, 21]
    assert not s.split


def test_polygon_closes_an_open_ring():
    s = geo.polygon([[0, 0], [1, 0], [1, 1]])
    ring = s.geometry["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 4


def test_polygon_holes_are_clockwise_and_exterior_counter_clockwise():
    # both rings come counter-clockwise, as CMR writes every ring
    s = geo.polygon(_square(0, 0, 10, 10), [_square(2, 2, 4, 4)])
    exterior, hole = s.geometry["coordinates"]
    assert geo.is_ccw(exterior)
    assert not geo.is_ccw(hole)
    assert shape(s.geometry).is_valid
    assert shape(s.geometry).area == pytest.approx(96.0)


def test_degenerate_polygon_is_dropped():
    assert geo.polygon([[0, 0], [1, 1]]) is None
    assert geo.polygon([]) is None


def test_antimeridian_polygon_is_cut_into_a_multipolygon_with_crossing_bbox():
    ring = [[170.0, -10.0], [-170.0, -10.0], [-170.0, 10.0], [170.0, 10.0], [170.0, -10.0]]
    s = geo.polygon(copy.deepcopy(ring))
    assert s.geometry["type"] == "MultiPolygon"
    assert s.split
    west, south, east, north = s.bbox
    assert west > east
    assert (west, east) == (170.0, -170.0)
    # CMR polygons are geodetic: the edge meets the antimeridian on the great circle
    assert south == pytest.approx(-10.1510817) and north == pytest.approx(10.1510817)
    for poly in s.geometry["coordinates"]:
        assert geo.is_ccw(poly[0])
        xs = [p[0] for p in poly[0]]
        assert min(xs) >= 170 or max(xs) <= -170  # each part stays on its side
    # the fast path and the antimeridian package agree
    ref = antimeridian.fix_polygon(Polygon(ring), fix_winding=False)
    assert _same_area(s.geometry, shapely.geometry.mapping(ref))


def test_recorded_modis_swath_over_the_antimeridian_matches_the_package():
    # MOD02QKM G1462754409-LAADS (granules_umm_json__MOD02QKM_LAADS__search_after_p2.json)
    ring = [
        [149.302688, 41.059722],
        [176.683798, 37.346414],
        [-171.857924, 53.834299],
        [149.956049, 59.32217],
        [149.302688, 41.059722],
    ]
    s = geo.polygon(copy.deepcopy(ring))
    ref = antimeridian.fix_polygon(Polygon(ring), fix_winding=False)
    assert s.geometry["type"] == "MultiPolygon"
    assert _same_area(s.geometry, shapely.geometry.mapping(ref))
    assert s.bbox == pytest.approx(antimeridian.bbox(ref))


@pytest.mark.parametrize("north", [True, False])
def test_ring_round_a_pole_reaches_the_pole(north):
    if north:  # counter-clockwise seen from space = eastward round the north pole
        ring = [[146.9, 76.5], [-145.5, 66.8], [-94.8, 70.5], [10.0, 84.1], [146.9, 76.5]]
    else:
        ring = [[10.0, -84.1], [-94.8, -70.5], [-145.5, -66.8], [146.9, -76.5], [10.0, -84.1]]
    s = geo.polygon(copy.deepcopy(ring))
    assert s.geometry["type"] == "Polygon"
    assert geo.is_ccw(s.geometry["coordinates"][0])
    assert shape(s.geometry).is_valid
    if north:
        assert s.bbox == [-180.0, 66.8, 180.0, 90.0]
    else:
        assert s.bbox == [-180.0, -90.0, 180.0, -66.8]
    ref = antimeridian.fix_polygon(Polygon(ring), fix_winding=False)
    assert _same_area(s.geometry, shapely.geometry.mapping(ref))


def test_crossing_latitude_is_the_great_circle_one_the_package_uses():
    from antimeridian._implementation import crossing_latitude_great_circle

    for a, b in [((-171.857924, 53.834299), (176.683798, 37.346414)), ((-170, -10), (170, 10))]:
        assert geo.crossing_latitude(a, b) == crossing_latitude_great_circle(a, b)


def test_ring_crossing_four_times_falls_back_to_the_package():
    ring = [
        [170.0, 0.0], [-170.0, 0.0], [-170.0, 5.0], [170.0, 5.0], [170.0, 10.0],
        [-170.0, 10.0], [-170.0, 15.0], [160.0, 15.0], [160.0, 0.0], [170.0, 0.0],
    ]  # fmt: skip
    assert geo._fast_split(copy.deepcopy(ring)) is None
    s = geo.polygon(copy.deepcopy(ring))
    assert s is not None and s.split
    assert shape(s.geometry).is_valid
    assert s.bbox[0] > s.bbox[2]


def test_polygon_with_hole_over_the_antimeridian_uses_the_package():
    s = geo.polygon(
        [[170.0, -10.0], [-170.0, -10.0], [-170.0, 10.0], [170.0, 10.0]],
        [[[175.0, -1.0], [-175.0, -1.0], [-175.0, 1.0], [175.0, 1.0]]],
    )
    assert s.geometry["type"] == "MultiPolygon"
    assert shape(s.geometry).is_valid
    # the hole straddles the cut, so each half gets a notch instead of an interior ring
    g = shape(s.geometry)
    assert not g.covers(shapely.Point(179.5, 0.0))
    assert not g.covers(shapely.Point(-179.5, 0.0))
    assert g.covers(shapely.Point(171.0, 0.0)) and g.covers(shapely.Point(-171.0, 0.0))
    for poly in s.geometry["coordinates"]:
        assert geo.is_ccw(poly[0])
    assert s.bbox[0] > s.bbox[2]


# -- boxes, points, lines -----------------------------------------------------------------------
def test_box():
    s = geo.box(-125, 25, -67, 53)
    assert s.geometry["type"] == "Polygon"
    assert geo.is_ccw(s.geometry["coordinates"][0])
    assert s.bbox == [-125, 25, -67, 53]


def test_global_box():
    s = geo.box(-180, -90, 180, 90)
    assert s.geometry["type"] == "Polygon"
    assert s.bbox == [-180, -90, 180, 90]
    assert shape(s.geometry).area == pytest.approx(360 * 180)


def test_box_over_the_antimeridian():
    s = geo.box(170, -5, -170, 5)
    assert s.geometry["type"] == "MultiPolygon"
    assert s.bbox == [170, -5, -170, 5]
    assert shape(s.geometry).area == pytest.approx(200.0)
    for poly in s.geometry["coordinates"]:
        assert geo.is_ccw(poly[0])


def test_degenerate_boxes_become_points_and_lines():
    assert geo.box(1, 2, 1, 2).geometry == {"type": "Point", "coordinates": [1, 2]}
    assert geo.box(1, 2, 3, 2).geometry["type"] == "LineString"


def test_line_over_the_antimeridian_is_split():
    s = geo.line([[170.0, 0.0], [-170.0, 10.0]])
    assert s.geometry["type"] == "MultiLineString"
    assert s.bbox[0] == 170.0 and s.bbox[2] == -170.0
    ref = antimeridian.fix_line_string(LineString([(170.0, 0.0), (-170.0, 10.0)]), True)
    assert _same_area(s.geometry, shapely.geometry.mapping(ref))


# -- combining --------------------------------------------------------------------------------
def test_combine_points_lines_and_mixed():
    pts = geo.combine([geo.point(1, 2), geo.point(3, 4)])
    assert pts.geometry == {"type": "MultiPoint", "coordinates": [[1, 2], [3, 4]]}
    assert pts.bbox == [1, 2, 3, 4]
    lines = geo.combine([geo.line([[0, 0], [1, 1]]), geo.line([[2, 2], [3, 3]])])
    assert lines.geometry["type"] == "MultiLineString"
    mixed = geo.combine([geo.point(5, 5), geo.box(0, 0, 1, 1)], allow_collection=True)
    assert mixed.geometry["type"] == "GeometryCollection"
    assert mixed.bbox == [0, 0, 5, 5]
    # STAC 1.0.0 Items have no GeometryCollection: the areas win, the bbox is theirs
    areas = geo.combine([geo.point(5, 5), geo.box(0, 0, 1, 1), geo.line([[7, 7], [8, 8]])])
    assert areas.geometry["type"] == "Polygon"
    assert areas.bbox == [0, 0, 1, 1]
    assert geo.combine([]) is None


def test_combine_merges_overlapping_polygons_into_a_valid_geometry():
    s = geo.combine([geo.box(0, 0, 2, 2), geo.box(1, 1, 3, 3), geo.box(10, 10, 11, 11)])
    assert s.geometry["type"] == "MultiPolygon"
    assert shape(s.geometry).is_valid
    assert shape(s.geometry).area == pytest.approx(4 + 4 - 1 + 1)
    assert s.bbox == [0, 0, 11, 11]


def test_combine_keeps_disjoint_polygons_as_given():
    a, b = geo.box(0, 0, 1, 1), geo.box(5, 5, 6, 6)
    s = geo.combine([a, b])
    assert s.geometry["coordinates"] == [a.geometry["coordinates"], b.geometry["coordinates"]]


def test_combine_with_an_antimeridian_part_keeps_a_crossing_bbox():
    s = geo.combine([geo.box(170, 0, -170, 5), geo.box(175, 10, 178, 12)])
    assert s.split
    assert s.bbox == [170, 0, -170, 12]


def test_geometry_bbox_and_bbox_union():
    g = {"type": "MultiPolygon", "coordinates": geo.box(170, 0, -170, 5).geometry["coordinates"]}
    assert geo.geometry_bbox(g, antimeridian=True) == [170, 0, -170, 5]
    assert geo.geometry_bbox(g) == [-180, 0, 180, 5]
    assert geo.bbox_union([[0, 0, 1, 1], [2, -1, 3, 0]]) == [0, -1, 3, 1]
    assert geo.bbox_union([[170, 0, -170, 1], [-175, -1, -160, 0]]) == [170, -1, -160, 1]
    assert geo.lon_intervals_bbox([(-180, -170), (170, 180)], 0, 1) == [170, 0, -170, 1]
    assert geo.lon_intervals_bbox([(-10, 10)], 0, 1) == [-10, 0, 10, 1]
