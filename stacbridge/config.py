"""Gateway settings, from environment variables, a TOML file, or code.

Environment variables use the prefix `STACBRIDGE_` and `__` for nesting, e.g.
`STACBRIDGE_CMR__PROVIDERS='["LPCLOUD","POCLOUD"]'`, `STACBRIDGE_CMR__URL=...`,
`STACBRIDGE_SECRET_KEYS='["k2","k1"]'`.  A TOML file named by `STACBRIDGE_CONFIG` (or
`stacbridge serve --config FILE`) supplies the same keys (`[cmr]` table etc.); environment
variables win over the file.  Provider endpoints are configuration: the defaults are the real
services, and `stacbridge serve --sandbox` points them at the local emulators.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class HttpSettings(BaseModel):
    """How the gateway talks to one upstream."""

    timeout: float = 30.0
    connect_timeout: float = 10.0
    retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 10.0
    max_connections: int = 50


class CMRSettings(BaseModel):
    """NASA CMR (Earthdata search)."""

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

    # Earthdata Login, used by the signing proxy for the data hosts.
    edl_url: str = "https://urs.earthdata.nasa.gov"
    edl_token: SecretStr | None = None
    edl_username: str | None = None
    edl_password: SecretStr | None = None
    #: read EDL username/password for `edl_url`'s host from this .netrc when not set above.
    netrc: Path | None = None
    #: "service": the gateway's own credentials; "passthrough": the caller's Authorization.
    credentials: str = "service"
    #: send credentials over plain http too (only for the local sandbox).
    allow_insecure_http: bool = False
    #: hosts (suffix match) that may receive EDL credentials; the EDL host is always allowed.
    data_hosts: list[str] = Field(default_factory=lambda: [
        ".earthdata.nasa.gov", ".earthdatacloud.nasa.gov", ".nasa.gov", ".nsidc.org"])


class M2MSettings(BaseModel):
    """USGS EarthExplorer Machine-to-Machine API."""

    enabled: bool = False
    url: str = "https://m2m.cr.usgs.gov/api/api/json/stable/"
    #: ERS username and M2M application token (`login-token`).
    username: str | None = None
    token: SecretStr | None = None
    #: dataset aliases served as collections.
    datasets: list[str] = Field(default_factory=lambda: ["landsat_ot_c2_l2",
                                                         "landsat_ot_c2_l1"])
    #: scenes asked of one scene-search.
    max_page_size: int = 5000
    #: seconds between download-retrieve polls of a preparing order (doubles up to the max).
    poll_interval: float = 5.0
    max_poll_interval: float = 60.0
    #: seconds a download URL from download-request/-retrieve is reused.
    download_url_ttl: float = 600.0
    collection_cache_ttl: float = 300.0
    http: HttpSettings = Field(default_factory=HttpSettings)


class Settings(BaseSettings):
    """Everything the gateway needs to start."""

    model_config = SettingsConfigDict(env_prefix="STACBRIDGE_", env_nested_delimiter="__",
                                      extra="ignore")

    title: str = "stacbridge"
    description: str = ("One STAC API over NASA CMR, USGS M2M, AppEEARS, EGI and STAC catalogues, "
                        "with every asset downloadable through one signing proxy.")
    #: HMAC keys for paging and asset tokens: the first signs, all verify (rotation).  Several
    #: workers must share them; when empty a random per-process key is used.
    secret_keys: list[SecretStr] = Field(default_factory=list)
    #: seconds an asset href stays valid.
    asset_token_ttl: int = 7 * 24 * 3600
    #: state store: memory://, sqlite:///path (the embedded default), later redis://.
    store_url: str = "sqlite://stacbridge-state.sqlite"  # relative: the working directory
    default_limit: int = 10
    #: the largest page a client may ask for (a 2,000-item HLS page is ~30 MB of JSON).
    max_limit: int = 2000
    cors_origins: list[str] = Field(default_factory=lambda: ["*"])
    log_level: str = "info"

    cmr: CMRSettings | None = Field(default_factory=CMRSettings)
    m2m: M2MSettings | None = Field(default_factory=M2MSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("STACBRIDGE_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    def signing_keys(self) -> list[bytes]:
        keys = [k.get_secret_value().encode() for k in self.secret_keys]
        return keys or [_process_key()]

    def public_dict(self) -> dict[str, Any]:
        """Settings with secrets masked, for `stacbridge providers` and logs."""
        return self.model_dump(mode="json")


_PROCESS_KEY: bytes | None = None


def _process_key() -> bytes:
    global _PROCESS_KEY
    if _PROCESS_KEY is None:
        _PROCESS_KEY = secrets.token_bytes(32)
    return _PROCESS_KEY
