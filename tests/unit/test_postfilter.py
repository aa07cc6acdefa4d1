"""The gateway's own check of upstream items: area searches and items without a geometry."""

from __future__ import annotations

from stacbridge.api.postfilter import PostFilter
from stacbridge.api.request import Search

SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}


def item(geometry):
    return {"type": "Feature", "id": "a", "geometry": geometry, "properties": {}}


def test_an_unlocated_item_is_kept_only_from_a_catalogue_that_matched_the_area():
    check = PostFilter(Search(bbox=[-1, -1, 2, 2]))
    assert check(item(None), unlocated=True)  # CMR matched an orbit-only granule on its orbit
    assert not check(item(None))  # a catalogue that never applied the area: cannot be judged


def test_a_located_item_is_judged_by_its_geometry_whatever_the_catalogue_declares():
    check = PostFilter(Search(bbox=[5, 5, 6, 6]))
    assert not check(item(SQUARE), unlocated=True)
    assert PostFilter(Search(bbox=[0.5, 0.5, 2, 2]))(item(SQUARE))


def test_without_an_area_an_unlocated_item_passes():
    assert PostFilter(Search())(item(None))
