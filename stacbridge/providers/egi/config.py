"""The `[egi]` settings section: the EGI endpoint, the collections it customises, the assets.

EGI authenticates with Earthdata Login: the token or username/password come from the shared
`[earthdata]` section, never from here.
"""

from __future__ import annotations

from pydantic import Field

from stacbridge.config import HttpSettings, Section


class EGISettings(Section):
    """NASA/NSIDC EGI (ESI programmatic access): customised granules of CMR collections."""

    enabled: bool = False
    #: the request endpoint; status is polled at `<url>/<orderId>`.
    url: str = "https://n5eil02u.ecs.nsidc.org/egi/request"
    #: CMR collection ids (`ATL03.v006`) whose items get customised assets.
    collections: list[str] = Field(default_factory=list)
    #: output formats offered when the collection's capabilities cannot be read.
    formats: list[str] = Field(default_factory=lambda: ["GeoTIFF"])
    #: named variable subsets (`Coverage`) offered as assets: name → variable paths.
    variable_sets: dict[str, list[str]] = Field(default_factory=dict)
    #: a spatial subset of at most `stream_max_area` square degrees is small: it streams
    #: (`request_mode=stream`); anything larger, a time-only subset and every whole-granule
    #: reformat is an order (`async`).  `stream_subsets = false`: everything is an order.
    stream_subsets: bool = True
    stream_max_area: float = 25.0
    #: seconds between status polls of an async order (doubles up to the max).
    poll_interval: float = 5.0
    max_poll_interval: float = 60.0
    #: seconds the collections' capabilities are cached.
    capabilities_ttl: float = 3600.0
    http: HttpSettings = Field(default_factory=HttpSettings)
