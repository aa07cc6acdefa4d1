"""Gateway settings, from environment variables, a TOML file, or code.

The core settings (`Settings`) hold what belongs to no provider: signing keys, the state store,
limits, Earthdata Login. Each provider owns its section, defined in its own folder and added
under its name by `settings_model()` from the registered provider specs, so a new provider never
edits this file. `load_settings()` builds the complete settings.

Environment variables use the prefix `STACBRIDGE_` and `__` for nesting, e.g.
`STACBRIDGE_CMR__PROVIDERS='["LPCLOUD","POCLOUD"]'`, `STACBRIDGE_CMR__URL=...`,
`STACBRIDGE_EARTHDATA__TOKEN=...`, `STACBRIDGE_SECRET_KEYS='["k2","k1"]'`. A TOML file named by
`STACBRIDGE_CONFIG` (or `stacbridge serve --config FILE`) supplies the same keys (`[cmr]` table
etc.); environment variables win over the file. Provider endpoints are configuration: the
defaults are the real services, and `stacbridge serve --sandbox` points them at the local
emulators.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, create_model, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

if TYPE_CHECKING:
    from stacbridge.registry import ProviderSpec


class Section(BaseModel):
    """A settings section: a key it does not know is an error, never silently ignored
    (a misspelt or retired key such as `[cmr] edl_token` must not start a gateway without
    the credentials its operator meant to give it)."""

    model_config = ConfigDict(extra="forbid")


class HttpSettings(Section):
    """How the gateway talks to one upstream."""

    timeout: float = 30.0
    connect_timeout: float = 10.0
    retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 10.0
    max_connections: int = 50
    #: connections that may carry a streamed download at once, on top of `max_connections`
    #: (which stay free for API calls and redirect resolution, however many clients stall).
    max_streams: int = 50


class EarthdataSettings(Section):
    """NASA Earthdata Login: one account shared by every NASA provider (CMR, EGI, AppEEARS).

    The signing proxy uses it for EDL-protected data hosts; it is a section of its own because
    it belongs to no single provider.
    """

    url: str = "https://urs.earthdata.nasa.gov"
    #: a service bearer token (EDL "generate token"), sent to allow-listed data hosts.
    token: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    #: read username/password for `url`'s host from this .netrc when not set above.
    netrc: Path | None = None
    #: "service": the gateway's own credentials; "passthrough": the caller's Authorization.
    credentials: str = "service"
    #: send credentials over plain http too (only for the local sandbox).
    allow_insecure_http: bool = False
    #: hosts (suffix match) that may receive EDL credentials; the EDL host is always allowed.
    data_hosts: list[str] = Field(
        default_factory=lambda: [
            ".earthdata.nasa.gov",
            ".earthdatacloud.nasa.gov",
            ".nasa.gov",
            ".nsidc.org",
        ]
    )
    #: hosts (same matching) that serve public files: never proxied, never sent credentials,
    #: even when `data_hosts` covers them (the default `.nasa.gov` covers the browse CDN).
    public_hosts: list[str] = Field(default_factory=lambda: ["cdn.earthdata.nasa.gov"])
    http: HttpSettings = Field(default_factory=HttpSettings)

    @field_validator("token", "username", "password", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        """An empty or blank credential is no credential: `STACBRIDGE_EARTHDATA__TOKEN=""` (as a
        compose file or a CI secret that is not set renders it) must not make the gateway send
        `Authorization: Bearer ` to data hosts, nor hide the username/password it was given."""
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str) and not value.strip():
            return None
        return value


class ProxySettings(Section):
    """The signing proxy's own behaviour, whatever the provider (`[proxy]`)."""

    #: seconds a client may stop reading a streamed download before the proxy closes it and
    #: releases the upstream connection.
    idle_timeout: float = 60.0
    #: hand out redirects whose URL names the service account (TEA's `A-userid`, the USGS
    #: contact id in M2M download URLs).  False: stream those files through the proxy instead.
    redirects_reveal_account: bool = True
    #: how the proxy itself fetches redirect targets it streams (HEAD, browsers, see above);
    #: no credentials are ever attached to these requests.
    http: HttpSettings = Field(default_factory=HttpSettings)


class Settings(BaseSettings):
    """Everything the gateway needs to start."""

    model_config = SettingsConfigDict(
        env_prefix="STACBRIDGE_", env_nested_delimiter="__", extra="ignore"
    )

    title: str = "stacbridge"
    description: str = (
        "One STAC API over NASA CMR, USGS M2M, AppEEARS, EGI and STAC catalogues, "
        "with every asset downloadable through one signing proxy."
    )
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
    #: the most ids one search may name (`ids`, or a filter's `id` terms): a larger list is a
    #: 400 naming this limit.  Each id is upstream work on a shared account.
    max_ids: int = 500
    #: seconds each provider has for its part of a request that spans providers (the
    #: collection listing): one that is slower is left out and named, never waited for.
    provider_deadline: float = 10.0
    #: upstream pages one search request may read, across every provider it asks, once it
    #: found an item, before it answers with what it found and a next link.
    search_max_upstream_pages: int = 8
    #: upstream items one search request may read in any case (a scan that found nothing
    #: within it is a 400 naming the filter terms no provider narrows).
    search_max_upstream_items: int = 16_000
    #: seconds after which one search request starts no further upstream page (same rules).
    search_max_seconds: float = 10.0
    #: seconds a provider that failed (5xx, timeout) is skipped by every request of this
    #: process and reported missing with "circuit open" (0 disables the circuit breaker).
    breaker_seconds: float = 15.0
    #: the largest request body accepted (a search body; larger is a 413).
    max_body_bytes: int = 1 << 20
    cors_origins: list[str] = Field(default_factory=lambda: ["*"])
    #: IPs/CIDRs of the reverse proxies whose Forwarded / X-Forwarded-* headers set the links'
    #: host and scheme; from anyone else they are ignored (links must not follow a client's
    #: say-so).  Default: a proxy on this host.  Empty: nobody's.
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    #: host names the gateway answers for (`*.example.org` for subdomains); another Host (or
    #: forwarded host) is a 400.  None: any syntactically valid host.
    allowed_hosts: list[str] | None = None
    #: seconds browsers and shared caches may keep metadata (landing page, collections...).
    metadata_max_age: int = 60
    log_level: str = "info"

    earthdata: EarthdataSettings = Field(default_factory=EarthdataSettings)
    proxy: ProxySettings = Field(default_factory=ProxySettings)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        """A misspelt proxy address must stop the start, not silently trust nobody."""
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError as exc:
                raise ValueError(f"trusted_proxies: {entry!r} is not an IP or CIDR") from exc
        return value

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


_MODELS: dict[tuple[str, ...], type[Settings]] = {}


def settings_model(specs: Sequence[ProviderSpec] | None = None) -> type[Settings]:
    """`Settings` plus one optional section per provider spec (default: every installed one)."""
    if specs is None:
        from stacbridge.registry import discover

        specs = discover()
    key = tuple(f"{s.name}:{s.settings.__module__}.{s.settings.__qualname__}" for s in specs)
    model = _MODELS.get(key)
    if model is None:
        sections: dict[str, Any] = {
            spec.name: (spec.settings | None, Field(default_factory=spec.settings))
            for spec in specs
        }
        model = create_model("GatewaySettings", __base__=Settings, **sections)
        _MODELS[key] = model
    return model


def load_settings(specs: Sequence[ProviderSpec] | None = None, **values: Any) -> Settings:
    """The complete settings: environment, the TOML file named by STACBRIDGE_CONFIG, `values`.

    A named config file that does not exist is an error, never silently ignored.
    """
    config_file = os.environ.get("STACBRIDGE_CONFIG")
    if config_file and not Path(config_file).is_file():
        raise FileNotFoundError(f"config file not found: {config_file}")
    return settings_model(specs)(**values)
