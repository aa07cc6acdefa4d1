"""Pure push-down helpers (stac/cql2.py), the query extension's mapping and fields semantics."""

from __future__ import annotations

import datetime as dt

import cql2
import pytest

from stacbridge.api.fields import apply_fields
from stacbridge.api.request import Search, and_filters, parse_fields, parse_query
from stacbridge.api.search import pushdown
from stacbridge.errors import BadRequest
from stacbridge.protocols import Interval
from stacbridge.stac import cql2 as kit

UTC = dt.UTC


def j(text: str) -> dict:
    return cql2.Expr(text).to_json()


def test_allowed_ids_intersects_id_terms():
    assert kit.allowed_ids(j("id IN ('a','b','c') AND id IN ('b','c') AND x = 1")) == {"b", "c"}
    assert kit.allowed_ids(j("id = 'a' AND id = 'b'")) == frozenset()
    assert kit.allowed_ids(j("id = 'a' OR id = 'b'")) is None  # under or: not guessed at
    assert kit.allowed_ids({"op": "in", "args": [{"property": "id"}, ["a", 1]]}) is None
    assert kit.allowed_ids(True) is None


def test_spatial_geometry_reads_literals_of_intersecting_predicates():
    polygon = j("S_INTERSECTS(geometry, POLYGON((0 0, 1 0, 1 1, 0 0)))")
    assert kit.intersecting_geometry(polygon)["type"] == "Polygon"
    box = kit.intersecting_geometry(j("S_WITHIN(geometry, BBOX(-97, 39, -96, 40)) AND x = 1"))
    assert box == {
        "type": "Polygon",
        "coordinates": [[[-97, 39], [-96, 39], [-96, 40], [-97, 40], [-97, 39]]],
    }
    assert kit.intersecting_geometry(j("S_DISJOINT(geometry, POINT(0 0))")) is None
    assert kit.intersecting_geometry(j("S_INTERSECTS(geometry, POINT(0 0)) OR x = 1")) is None


def test_time_bounds_are_inclusive_supersets():
    start, end = kit.time_bounds(
        j(
            "datetime >= TIMESTAMP('2024-01-01T00:00:00Z') AND datetime < DATE('2024-03-01')"
            " AND eo:cloud_cover < 10"
        )
    )
    assert start == dt.datetime(2024, 1, 1, tzinfo=UTC)
    assert end == dt.datetime(2024, 3, 1, 23, 59, 59, 999999, tzinfo=UTC)  # the whole day
    flipped = {"op": ">", "args": [{"timestamp": "2024-05-01T00:00:00Z"}, {"property": "datetime"}]}
    assert kit.time_bounds(flipped) == (None, dt.datetime(2024, 5, 1, tzinfo=UTC))
    between = j(
        "datetime BETWEEN TIMESTAMP('2024-01-01T00:00:00Z') AND TIMESTAMP('2024-02-01T00:00:00Z')"
    )
    assert kit.time_bounds(between)[1] == dt.datetime(2024, 2, 1, tzinfo=UTC)
    interval = j("T_INTERSECTS(datetime, INTERVAL('2024-01-01T00:00:00Z', '..'))")
    assert kit.time_bounds(interval) == (dt.datetime(2024, 1, 1, tzinfo=UTC), None)
    assert kit.time_bounds(j("datetime >= TIMESTAMP('2024-01-01T00:00:00Z') OR x = 1")) == (
        None,
        None,
    )


def test_bounded_property_needs_a_numeric_literal():
    assert kit.bounded_property(j("eo:cloud_cover < 10")) == "eo:cloud_cover"
    assert kit.bounded_property({"op": "=", "args": [{"property": "p"}, "7"]}) is None
    assert kit.bounded_property(j("p LIKE 'a%'")) is None


def test_pushdown_narrows_the_search_and_spots_contradictions():
    search = Search(
        ids=["a", "b"],
        filter=j(
            "id IN ('b','c') AND S_INTERSECTS(geometry, BBOX(0, 0, 1, 1))"
            " AND datetime >= TIMESTAMP('2024-01-01T00:00:00Z')"
        ),
    )
    narrowed = pushdown(search, Interval(None, dt.datetime(2024, 6, 1, tzinfo=UTC)))
    assert narrowed.ids == ("b",)
    assert narrowed.intersects["type"] == "Polygon"
    assert narrowed.interval == Interval(
        dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 6, 1, tzinfo=UTC)
    )
    assert narrowed.pushed == {"id", "geometry", "datetime"} and not narrowed.empty
    late = Search(filter=j("datetime >= TIMESTAMP('2024-07-01T00:00:00Z')"))
    assert pushdown(late, Interval(None, dt.datetime(2024, 6, 1, tzinfo=UTC))).empty
    assert pushdown(Search(ids=["a"], filter=j("id = 'b'")), None).empty
    # the search's own bbox stays what the upstream is sent
    assert pushdown(Search(bbox=[0, 0, 1, 1], filter=search.filter), None).intersects is None


def test_query_extension_maps_onto_cql2():
    expr = parse_query(
        '{"eo:cloud_cover": {"lt": "20", "gte": 5}, "platform": {"startsWith": "l_"}}'
    )
    assert kit.numeric_bounds(expr, "eo:cloud_cover") == (5, 20.0)  # "20" is the number 20
    item = {"type": "Feature", "id": "x", "geometry": None, "properties": {"eo:cloud_cover": 10}}
    item["properties"]["platform"] = "l_8"
    assert cql2.Expr(expr).matches(item)
    item["properties"]["platform"] = "lx8"  # `_` is a literal underscore, not a wildcard
    assert not cql2.Expr(expr).matches(item)
    ids = parse_query({"id": {"in": ["a", "b"]}})
    assert kit.allowed_ids(ids) == {"a", "b"}  # pushed down like the filter's ids
    for bad in ('{"eo:cloud_cover": {"below": 3}}', "[1]", "{", '{"x": 3}', '{"x": {"in": []}}'):
        with pytest.raises(BadRequest):
            parse_query(bad)
    both = and_filters(j("platform = 'landsat-8'"), parse_query({"eo:cloud_cover": {"lt": 20}}))
    assert kit.numeric_bounds(both, "eo:cloud_cover") == (None, 20)
    assert and_filters(False, parse_query({"eo:cloud_cover": {"lt": 20}})) is False


ITEM = {
    "type": "Feature",
    "stac_version": "1.0.0",
    "id": "a",
    "collection": "c",
    "geometry": {"type": "Point", "coordinates": [0, 0]},
    "bbox": [0, 0, 0, 0],
    "links": [{"rel": "self", "href": "x"}],
    "assets": {"data": {"href": "y"}},
    "properties": {"datetime": "2024-01-01T00:00:00Z", "eo:cloud_cover": 3, "gsd": 30},
}


def test_fields_semantics_follow_the_extension():
    default = apply_fields(ITEM, None, [])
    assert default["properties"] == {"datetime": ITEM["properties"]["datetime"]}
    assert default["geometry"] and default["assets"]
    only = apply_fields(ITEM, ["geometry"], [])
    assert set(only) == {"type", "stac_version", "id", "collection", "geometry"}
    nested = apply_fields(ITEM, ["properties.eo:cloud_cover"], ["properties"])
    assert nested["properties"] == {"eo:cloud_cover": 3} and "geometry" not in nested
    assert "geometry" in apply_fields(ITEM, ["geometry"], ["geometry"])
    everything_but = apply_fields(ITEM, None, ["geometry", "properties.gsd"])
    assert "geometry" not in everything_but and everything_but["properties"]["eo:cloud_cover"] == 3
    assert "gsd" in ITEM["properties"]  # the item itself is not changed
    default_but = apply_fields(ITEM, [], ["geometry"])
    assert "geometry" not in default_but and "eo:cloud_cover" not in default_but["properties"]


def test_parse_fields_tells_absent_include_from_empty():
    assert parse_fields(None, given=False) is None
    assert parse_fields(None, given=True) == (None, [])  # GET fields=
    assert parse_fields(["-geometry"], given=True) == (None, ["geometry"])
    assert parse_fields({"exclude": ["geometry"]}, given=True) == (None, ["geometry"])
    assert parse_fields({"exclude": ["geometry"], "include": None}, given=True) == (
        [],
        ["geometry"],
    )
