"""What the gateway checks itself on every item an upstream returns.

Upstreams match approximately (CMR's spherical geometry, M2M's acquisition days, ids and
filters they cannot express), so every item is checked here against the search exactly as STAC
defines it; what fails is dropped, and the API stops claiming an upstream count it no longer
matches.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import cql2
from shapely import prepare
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from stacbridge.api.request import Search
from stacbridge.protocols import JSON, Interval


class PostFilter:
    """What the gateway checks on every item an upstream returns."""

    def __init__(self, search: Search, interval: Interval | None = None) -> None:
        self.ids = set(search.ids) or None
        self.interval = interval
        self.geometry: BaseGeometry | None = None
        if search.intersects is not None:
            self.geometry = shape(search.intersects)
        elif search.bbox is not None:
            b = search.bbox
            west, south, east, north = (b[0], b[1], b[3], b[4]) if len(b) == 6 else b
            if west > east:  # crosses the antimeridian
                self.geometry = box(west, south, 180, north).union(box(-180, south, east, north))
            else:
                self.geometry = box(west, south, east, north)
        if self.geometry is not None:
            prepare(self.geometry)
        # cql2 takes the boolean literals too, though its stub only says str | dict
        self.cql = cql2.Expr(cast(Any, search.filter)) if search.filter is not None else None

    @property
    def drops_items(self) -> bool:
        return self.geometry is not None or self.cql is not None or self.ids is not None

    def _in_interval(self, props: JSON) -> bool:
        """Whether the item's time (instant or range) overlaps the search interval."""
        start_text = props.get("start_datetime") or props.get("datetime")
        end_text = props.get("end_datetime") or props.get("datetime")
        if not start_text or not end_text:
            return True  # an item without time cannot be judged; the upstream matched it
        interval = self.interval
        if interval is None:
            return True
        try:
            start = dt.datetime.fromisoformat(start_text.replace("Z", "+00:00"))
            end = dt.datetime.fromisoformat(end_text.replace("Z", "+00:00"))
            if interval.start is not None and end < interval.start:
                return False
            return not (interval.end is not None and start > interval.end)
        except (TypeError, ValueError):
            return True  # unparseable or naive upstream times: the upstream matched it

    def __call__(self, item: JSON, *, spatial: bool = True, unlocated: bool = False) -> bool:
        """Whether `item` matches.

        `spatial=False` trusts an upstream with exact geometry; `unlocated=True` keeps an item
        without a geometry in an area search, because its upstream matched it on metadata the
        item cannot carry (`Capabilities.matches_area`).
        """
        if self.ids is not None and item.get("id") not in self.ids:
            return False
        if self.interval is not None and not self._in_interval(item.get("properties") or {}):
            return False
        if spatial and self.geometry is not None:
            geom = item.get("geometry")
            if geom is None:
                if not unlocated:
                    return False
            else:
                try:
                    if not self.geometry.intersects(shape(geom)):
                        return False
                except Exception:  # noqa: BLE001 - an upstream footprint shapely cannot read
                    return False
        if self.cql is not None:
            try:
                return bool(self.cql.matches(item))
            except Exception:  # noqa: BLE001 - an item the expression cannot evaluate is no match
                return False
        return True
