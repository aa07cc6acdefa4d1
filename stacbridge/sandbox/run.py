"""Start all emulators together and derive the gateway settings that use them."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from stacbridge.config import EarthdataSettings, HttpSettings, Settings, load_settings
from stacbridge.providers.appeears.config import AppEEARSSettings
from stacbridge.providers.cmr.config import CMRSettings
from stacbridge.providers.m2m.config import M2MSettings
from stacbridge.sandbox.server import ServerThread

#: the CMR provider ids whose recorded collections the sandbox serves.
SANDBOX_CMR_PROVIDERS = ["LPCLOUD", "POCLOUD", "GES_DISC", "LAADS", "NSIDC_ECS", "ORNL_CLOUD"]

#: the CMR collections the EGI emulator customises (ATL03 as NSIDC's EGI did; NLDAS is a
#: sandbox-only stand-in whose granule has a footprint, see stacbridge.sandbox.egi.app).
SANDBOX_EGI_COLLECTIONS = ["ATL03.v005", "NLDAS_NOAH0125_H.v002"]

#: the Earthdata Login account the sandbox knows (the gateway's service credentials).
SANDBOX_EDL_USER = ("sandbox", "sandbox-password")
#: the USGS ERS user and M2M application token the sandbox knows.
SANDBOX_M2M_USER = ("sandbox", "sandbox-app-token")

#: recorded NASA hosts → which sandbox host stands in for them.  Cloud DAACs (TEA) redirect
#: to pre-signed S3 URLs; on-premises DAACs serve the bytes themselves; the public CDN needs
#: no login.
CLOUD_HOSTS = (
    "data.lpdaac.earthdatacloud.nasa.gov",
    "data.ornldaac.earthdata.nasa.gov",
    "archive.swot.podaac.earthdata.nasa.gov",
    "archive.podaac.earthdata.nasa.gov",
    "data.laadsdaac.earthdatacloud.nasa.gov",
    "data.gesdisc.earthdata.nasa.gov",
)
ONPREM_HOSTS = (
    "n5eil01u.ecs.nsidc.org",
    "ladsweb.modaps.eosdis.nasa.gov",
    "hydro1.gesdisc.eosdis.nasa.gov",
    "gpm1.gesdisc.eosdis.nasa.gov",
)
PUBLIC_HOSTS = ("cdn.earthdata.nasa.gov",)


class Sandbox:
    """Every provider emulator on loopback, started and stopped together."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        generated_granules: int = 1_000_000,
        generated_scenes: int = 200_000,
        cmr_port: int = 0,
        token_ttl: float = 3600.0,
    ) -> None:
        self.host = host
        self.generated_granules = generated_granules
        self.generated_scenes = generated_scenes
        self.token_ttl = token_ttl
        self._cmr_port = cmr_port
        self.earthdata: Any = None
        self.cmr: ServerThread | None = None
        self.m2m: ServerThread | None = None
        self.m2m_clock: Any = None
        self.appeears: Any = None
        self.stac: Any = None
        self.egi: ServerThread | None = None
        self.egi_state: Any = None

    def start(self) -> Sandbox:
        from stacbridge.sandbox.cmr import create_cmr_app
        from stacbridge.sandbox.datahost import EarthdataSandbox

        self.earthdata = EarthdataSandbox(
            {SANDBOX_EDL_USER[0]: SANDBOX_EDL_USER[1]}, token_ttl=self.token_ttl
        ).start()
        host_map = {f"https://{h}": self.earthdata.host.url for h in CLOUD_HOSTS}
        host_map |= {f"https://{h}": self.earthdata.onprem.url for h in ONPREM_HOSTS}
        host_map |= {f"https://{h}": self.earthdata.plain.url for h in PUBLIC_HOSTS}
        cmr = create_cmr_app(data_host_map=host_map, generated_granules=self.generated_granules)
        self.cmr = ServerThread(cmr, self.host, self._cmr_port).start()

        from stacbridge.sandbox.edl import SandboxClock
        from stacbridge.sandbox.m2m import create_m2m_app

        self.m2m_clock = SandboxClock()
        m2m = create_m2m_app(
            clock=self.m2m_clock,
            generated_scenes=self.generated_scenes,
            users={SANDBOX_M2M_USER[0]: SANDBOX_M2M_USER[1]},
            landsatlook_url="self",
        )
        self.m2m = ServerThread(m2m, self.host).start()

        from stacbridge.sandbox.appeears import AppEEARSSandbox

        # AppEEARS logs in with the Earthdata Login account
        self.appeears = AppEEARSSandbox(dict([SANDBOX_EDL_USER]), host=self.host).start()

        from stacbridge.sandbox.stac import StacUpstreams

        # STAC upstreams: ESA MAAP (OIDC) and Planetary Computer (SAS)
        self.stac = StacUpstreams(self.host).start()

        from stacbridge.sandbox.datahost import loopback_host
        from stacbridge.sandbox.egi import EgiState, create_egi_app

        # EGI customises the CMR emulator's granules and checks tokens at the EDL emulator
        self.egi_state = EgiState()
        egi = create_egi_app(
            self.cmr_url, self.earthdata.edl.url, clock=self.earthdata.clock, state=self.egi_state
        )
        self.egi = ServerThread(egi, loopback_host(6)).start()
        return self

    def stop(self) -> None:
        if self.egi is not None:
            self.egi.stop()
        if self.stac is not None:
            self.stac.stop()
        if self.appeears is not None:
            self.appeears.stop()
        if self.m2m is not None:
            self.m2m.stop()
        if self.cmr is not None:
            self.cmr.stop()
        if self.earthdata is not None:
            self.earthdata.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def cmr_url(self) -> str:
        assert self.cmr is not None, "sandbox not started"
        return f"{self.cmr.url}/search"

    def cmr_settings(self, **overrides: Any) -> CMRSettings:
        """CMR settings for the emulator: the sandbox's provider ids, fast retries."""
        values: dict[str, Any] = {
            "url": self.cmr_url,
            "providers": list(SANDBOX_CMR_PROVIDERS),
            "http": _fast_http(),
        }
        values.update(overrides)
        return CMRSettings(**values)

    def earthdata_settings(self, **overrides: Any) -> EarthdataSettings:
        """Earthdata Login for the emulators: the sandbox account, its data hosts."""
        ed = self.earthdata
        values: dict[str, Any] = {
            "url": ed.edl.url,
            "username": SANDBOX_EDL_USER[0],
            "password": SecretStr(SANDBOX_EDL_USER[1]),
            "data_hosts": [_netloc(ed.host.url), _netloc(ed.onprem.url)],
            "allow_insecure_http": True,  # the emulators speak plain http on loopback
            "http": _fast_http(),
        }
        values.update(overrides)
        return EarthdataSettings(**values)

    @property
    def m2m_url(self) -> str:
        assert self.m2m is not None, "sandbox not started"
        return f"{self.m2m.url}/api/api/json/stable/"

    def m2m_settings(self, **overrides: Any) -> M2MSettings:
        """M2M settings for the emulator: the sandbox account, quick polls of orders."""
        values: dict[str, Any] = {
            "enabled": True,
            "url": self.m2m_url,
            "username": SANDBOX_M2M_USER[0],
            "token": SecretStr(SANDBOX_M2M_USER[1]),
            "poll_interval": 0.2,
            "max_poll_interval": 1.0,
            "http": _fast_http(),
        }
        values.update(overrides)
        return M2MSettings(**values)

    def appeears_settings(self, **overrides: Any) -> AppEEARSSettings:
        """AppEEARS settings for the emulator (its account is `earthdata_settings()`'s)."""
        assert self.appeears is not None, "sandbox not started"
        values: dict[str, Any] = {
            "enabled": True,
            "url": self.appeears.url,
            "poll_interval": 0.2,
            "max_poll_interval": 1.0,
            "http": _fast_http(),
        }
        values.update(overrides)
        return AppEEARSSettings(**values)

    @property
    def egi_url(self) -> str:
        assert self.egi is not None, "sandbox not started"
        return f"{self.egi.url}/egi/request"

    def egi_settings(self, **overrides: Any) -> Any:
        """EGI settings for the emulator: its EGI-enabled collections, quick polls."""
        from stacbridge.providers.egi.config import EGISettings

        values: dict[str, Any] = {
            "enabled": True,
            "url": self.egi_url,
            "collections": list(SANDBOX_EGI_COLLECTIONS),
            "variable_sets": {"pressure": ["/PRES"]},
            "poll_interval": 0.2,
            "max_poll_interval": 1.0,
            "http": _fast_http(),
        }
        values.update(overrides)
        return EGISettings(**values)

    def settings(self, **overrides: Any) -> Settings:
        """Gateway settings wired to these emulators.

        AppEEARS is known (even where the installed metadata predates its entry point) but
        enabled only when asked, `settings(appeears=self.appeears_settings())`: the suite-wide
        gateway's tests pin the exact provider set.  `environment()` (serve --sandbox) has it.
        """
        from stacbridge.providers.appeears import SPEC as APPEEARS_SPEC
        from stacbridge.providers.egi import SPEC as EGI_SPEC
        from stacbridge.providers.stac import SPEC as STAC_SPEC
        from stacbridge.registry import discover

        values: dict[str, Any] = {
            "cmr": self.cmr_settings(),
            "m2m": self.m2m_settings(),
            "earthdata": self.earthdata_settings(),
            "store_url": "memory://",
        }
        values.update(overrides)
        return load_settings(discover(extra=[APPEEARS_SPEC, EGI_SPEC, STAC_SPEC]), **values)

    def environment(self) -> dict[str, str]:
        """The same settings as STACBRIDGE_* variables (for worker processes)."""
        cmr = self.cmr_settings()
        earthdata = self.earthdata_settings()
        return {
            "STACBRIDGE_CMR__URL": cmr.url,
            "STACBRIDGE_CMR__PROVIDERS": _json(cmr.providers),
            "STACBRIDGE_CMR__HTTP__RETRIES": "2",
            "STACBRIDGE_CMR__HTTP__BACKOFF": "0.05",
            "STACBRIDGE_EARTHDATA__URL": earthdata.url,
            "STACBRIDGE_EARTHDATA__USERNAME": SANDBOX_EDL_USER[0],
            "STACBRIDGE_EARTHDATA__PASSWORD": SANDBOX_EDL_USER[1],
            "STACBRIDGE_EARTHDATA__DATA_HOSTS": _json(earthdata.data_hosts),
            "STACBRIDGE_EARTHDATA__ALLOW_INSECURE_HTTP": "true",
            "STACBRIDGE_EARTHDATA__HTTP__RETRIES": "2",
            "STACBRIDGE_EARTHDATA__HTTP__BACKOFF": "0.05",
            "STACBRIDGE_M2M__ENABLED": "true",
            "STACBRIDGE_M2M__URL": self.m2m_url,
            "STACBRIDGE_M2M__USERNAME": SANDBOX_M2M_USER[0],
            "STACBRIDGE_M2M__TOKEN": SANDBOX_M2M_USER[1],
            "STACBRIDGE_M2M__POLL_INTERVAL": "1.0",
            "STACBRIDGE_APPEEARS__ENABLED": "true",
            "STACBRIDGE_APPEEARS__URL": self.appeears.url,
            "STACBRIDGE_APPEEARS__POLL_INTERVAL": "1.0",
            "STACBRIDGE_STAC__ENABLED": "true",
            "STACBRIDGE_STAC__UPSTREAMS": self.stac.upstreams_json(),
            "STACBRIDGE_EGI__ENABLED": "true",
            "STACBRIDGE_EGI__URL": self.egi_url,
            "STACBRIDGE_EGI__COLLECTIONS": _json(SANDBOX_EGI_COLLECTIONS),
            "STACBRIDGE_EGI__VARIABLE_SETS": _json({"pressure": ["/PRES"]}),
            "STACBRIDGE_EGI__POLL_INTERVAL": "1.0",
        }


def _fast_http() -> HttpSettings:
    return HttpSettings(timeout=30.0, retries=2, backoff=0.05, max_backoff=0.5)


def _netloc(url: str) -> str:
    return url.split("://", 1)[1].rstrip("/")


def _json(value: Any) -> str:
    import json

    return json.dumps(value)
