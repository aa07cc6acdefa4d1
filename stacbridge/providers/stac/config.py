"""The `[stac]` settings section: any number of STAC API upstreams, each a provider of its own.

    [stac]
    enabled = true

    [stac.upstreams.maap]
    url = "https://catalog.maap.eo.esa.int/catalogue/"
    title = "ESA MAAP"
    assets = { scheme = "oidc" }

    [stac.upstreams.maap.auth]
    token_url = "https://iam.maap.eo.esa.int/realms/esa-maap/protocol/openid-connect/token"
    refresh_token = "..."   # the offline token (or STACBRIDGE_STAC__UPSTREAMS__MAAP__AUTH__...)

    [stac.upstreams.pc]
    url = "https://planetarycomputer.microsoft.com/api/stac/v1/"
    assets = { scheme = "sas" }   # sas_url: .../api/sas/v1/token/{collection} (the default)

The table name (`maap`, `pc`) is the provider's name: its child catalog, the first field of its
asset tokens, its label in metrics and `/readyz`.  Environment variables nest the same way:
`STACBRIDGE_STAC__UPSTREAMS='{"maap": {"url": "..."}}'`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from stacbridge.auth.oidc import OIDCSettings
from stacbridge.config import HttpSettings, Section

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class AssetAuthSettings(Section):
    """How the upstream's asset hrefs are made downloadable (`auth:schemes` says which applies).

    `none`: hrefs are left as they are (public files).  `oidc`: hrefs on `hosts` go through the
    proxy, which sends the provider's OIDC bearer (`auth`) and streams, or follows the host's
    redirect to a pre-signed URL.  `sas`: hrefs on `hosts` go through the proxy, which appends
    a SAS token from `sas_url` (cached per collection or container until shortly before its
    `msft:expiry`) and redirects the client to the signed URL.
    """

    scheme: Literal["none", "oidc", "sas"] = "none"
    #: hosts (suffix match, `.example.org`) whose hrefs are proxied; empty: the upstream's own
    #: host for `oidc`, `.blob.core.windows.net` for `sas`.
    hosts: list[str] = Field(default_factory=list)
    #: the SAS token endpoint, with `{collection}` or `{account}`/`{container}` placeholders
    #: (Planetary Computer documents both forms).
    sas_url: str = "https://planetarycomputer.microsoft.com/api/sas/v1/token/{collection}"
    #: seconds before `msft:expiry` a SAS token is replaced.
    sas_refresh_margin: float = 300.0
    #: send credentials over plain http too (only for the local sandbox).
    allow_insecure_http: bool = False


class UpstreamSettings(Section):
    """One STAC API upstream."""

    #: the upstream's landing page (its `/collections`, `/search` are resolved against it).
    url: str
    title: str | None = None
    #: prepended to every collection id when set (`maap:`), so ids never collide with another
    #: provider's and the native id is the id without it; empty: ids kept as they are (a
    #: collision then stops the gateway's start, naming both providers).
    id_prefix: str = ""
    #: the upstream collections served; empty: every collection `/collections` lists.
    collections: list[str] = Field(default_factory=list)
    #: how `/search` is called (the upstream's own next links may switch method).
    search_method: Literal["GET", "POST"] = "GET"
    #: fields the upstream sorts by, used only when it declares the sort conformance class.
    sortable: list[str] = Field(default_factory=lambda: ["datetime"])
    #: the largest `limit` sent upstream (many STAC APIs cap pages; larger asks are cut).
    max_page_size: int = 500
    #: OIDC client: its bearer goes with asset requests (`assets.scheme = "oidc"`) and, when
    #: `api_auth` is set, with the API calls too.
    auth: OIDCSettings | None = None
    api_auth: bool = False
    assets: AssetAuthSettings = Field(default_factory=AssetAuthSettings)
    collection_cache_ttl: float = 300.0
    http: HttpSettings = Field(default_factory=HttpSettings)


class StacSettings(Section):
    """STAC API upstreams federated next to the translated providers."""

    enabled: bool = False
    upstreams: dict[str, UpstreamSettings] = Field(default_factory=dict)

    @field_validator("upstreams")
    @classmethod
    def _names(cls, value: dict[str, UpstreamSettings]) -> dict[str, UpstreamSettings]:
        for name, upstream in value.items():
            if not _NAME.match(name):
                raise ValueError(
                    f"stac upstream name {name!r}: use lower-case letters, digits, - and _ "
                    "(it becomes a URL path segment and a metrics label)"
                )
            if upstream.assets.scheme == "oidc" and upstream.auth is None:
                raise ValueError(f"stac upstream {name!r}: assets.scheme 'oidc' needs [auth]")
            if upstream.api_auth and upstream.auth is None:
                raise ValueError(f"stac upstream {name!r}: api_auth needs [auth]")
        return value
