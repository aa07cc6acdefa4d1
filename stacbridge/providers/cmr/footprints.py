"""Footprints of orbit-only granules, from CMR's legacy JSON answer (pure: no I/O).

ICESat-2 and every other collection with orbit-only spatial metadata give their granules a UMM-G
`HorizontalSpatialDomain.Orbit` (ascending crossing, start/end latitude and direction) and no
`Geometry`.  CMR matches spatial searches against the swath it computes from that orbit and the
collection's orbit parameters, but UMM-G never states the swath; CMR's legacy `.json` format
does, as `polygons`.  Without it such a granule is an Item with `geometry: null`: kept in an area
search (CMR matched it), but invisible on a map and unmatchable by a CQL2 spatial filter.  So the
provider asks `.json` for the footprints of the orbit-only granules of a page, by concept id, and
this module reads them.

Legacy JSON writes a polygon as rings of `"lat lon lat lon …"` text (the first ring the outer
boundary, the others holes) and a box as `"south west north east"`.
"""

from __future__ import annotations

from typing import Any

from stacbridge.protocols import JSON
from stacbridge.stac import geometry as geo

_EMPTY: JSON = {}


def is_orbit_only(umm: JSON) -> bool:
    """Whether a UMM-G record locates the granule by its orbit alone (no `Geometry`)."""
    hsd = (umm.get("SpatialExtent") or _EMPTY).get("HorizontalSpatialDomain") or _EMPTY
    return bool(hsd.get("Orbit")) and not hsd.get("Geometry")


def _ring(text: Any) -> geo.Ring:
    numbers = [float(x) for x in str(text).split()]
    if len(numbers) % 2:
        raise ValueError("a ring of latitude/longitude pairs has an odd count of numbers")
    return [[lon, lat] for lat, lon in zip(numbers[0::2], numbers[1::2], strict=True)]


def entry_footprint(entry: JSON) -> geo.Shape | None:
    """The footprint of one legacy JSON granule entry (None when CMR gives none)."""
    shapes: list[geo.Shape | None] = []
    for rings in entry.get("polygons") or ():
        if isinstance(rings, list) and rings:
            shapes.append(geo.polygon(_ring(rings[0]), [_ring(r) for r in rings[1:]]))
    for text in entry.get("boxes") or ():
        south, west, north, east = (float(x) for x in str(text).split())
        shapes.append(geo.box(west, south, east, north))
    return geo.combine([s for s in shapes if s is not None])


def footprints(body: Any) -> dict[str, geo.Shape]:
    """Concept id → footprint for every entry of a legacy JSON granule feed that has one.

    An entry whose footprint cannot be read is left out (its Item keeps `geometry: null`);
    a body that is not a feed raises `ValueError`.
    """
    entries = body.get("feed", {}).get("entry") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise ValueError("not a CMR JSON feed: no feed.entry list")
    out: dict[str, geo.Shape] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue
        try:
            shape = entry_footprint(entry)
        except (TypeError, ValueError):
            continue
        if shape is not None:
            out[entry["id"]] = shape
    return out
