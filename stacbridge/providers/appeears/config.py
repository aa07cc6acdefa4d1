"""The `[appeears]` settings section: the service URL, the products served, task defaults.

AppEEARS has no account of its own: it authenticates with Earthdata Login, so the username and
password come from the shared `[earthdata]` section, never from here.
"""

from __future__ import annotations

from pydantic import Field

from stacbridge.config import HttpSettings, Section


class AppEEARSSettings(Section):
    """NASA AppEEARS (Application for Extracting and Exploring Analysis Ready Samples)."""

    enabled: bool = False
    url: str = "https://appeears.earthdatacloud.nasa.gov/api/"
    #: `ProductAndVersion` ids served as collections; empty: every available product.
    products: list[str] = Field(default_factory=list)
    #: id of the collection holding the account's own tasks.
    tasks_collection: str = "appeears-tasks"
    #: output of the extraction tasks the gateway submits (`geotiff` or `netcdf4`).
    output_format: str = "geotiff"
    #: a name from `/spatial/proj`; `native` keeps each product's own grid.
    projection: str = "native"
    #: the most time steps one search may describe (each step is one Item).
    max_time_steps: int = 1000
    #: seconds between `/status` polls of a running task (doubles up to the max).
    poll_interval: float = 5.0
    max_poll_interval: float = 60.0
    collection_cache_ttl: float = 3600.0
    http: HttpSettings = Field(default_factory=HttpSettings)
