"""The `[m2m]` settings section: the USGS account, the datasets served, order polling."""

from __future__ import annotations

from pydantic import Field, SecretStr

from stacbridge.config import HttpSettings, Section


class M2MSettings(Section):
    """USGS EarthExplorer Machine-to-Machine API."""

    enabled: bool = False
    url: str = "https://m2m.cr.usgs.gov/api/api/json/stable/"
    #: ERS username and M2M application token (`login-token`).
    username: str | None = None
    token: SecretStr | None = None
    #: dataset aliases served as collections.
    datasets: list[str] = Field(default_factory=lambda: ["landsat_ot_c2_l2", "landsat_ot_c2_l1"])
    #: scenes asked of one scene-search.
    max_page_size: int = 5000
    #: seconds between download-retrieve polls of a preparing order (doubles up to the max).
    poll_interval: float = 5.0
    max_poll_interval: float = 60.0
    #: seconds a download URL from download-request/-retrieve is reused.
    download_url_ttl: float = 600.0
    collection_cache_ttl: float = 300.0
    http: HttpSettings = Field(default_factory=HttpSettings)
