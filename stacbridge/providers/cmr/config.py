"""The `[cmr]` settings section: which part of NASA CMR the gateway serves, and how."""

from __future__ import annotations

from pydantic import Field

from stacbridge.config import HttpSettings, Section


class CMRSettings(Section):
    """NASA CMR (Earthdata search).  Data downloads use the shared `[earthdata]` section."""

    enabled: bool = True
    url: str = "https://cmr.earthdata.nasa.gov/search"
    #: CMR provider ids whose collections the gateway serves (its "scope").
    providers: list[str] = Field(default_factory=lambda: ["LPCLOUD"])
    #: extra collections by concept id (C...-PROV) or stacbridge id (ShortName.vVersion).
    collections: list[str] = Field(default_factory=list)
    #: restrict to collections whose data is in the cloud (CMR `cloud_hosted`).
    cloud_hosted_only: bool = False
    #: largest upstream page; CMR refuses more than 2000.
    max_page_size: int = 2000
    #: seconds a collection listing is cached.
    collection_cache_ttl: float = 300.0
    http: HttpSettings = Field(default_factory=HttpSettings)
