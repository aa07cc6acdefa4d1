"""The STAC upstream emulators started together: MAAP + its Keycloak, PC + its blob host.

One `SandboxClock` is shared by the realm, the SAS authority and both catalogues, so a test
that moves it expires access tokens and SAS tokens together; tests that need the gateway's
store on the same clock pass `clock` to it too.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import SecretStr

from stacbridge.auth.oidc import OIDCSettings
from stacbridge.config import HttpSettings
from stacbridge.providers.stac.config import AssetAuthSettings, StacSettings, UpstreamSettings
from stacbridge.sandbox._kit import SandboxClock
from stacbridge.sandbox.oidc.app import REALM, Keycloak, create_oidc_app
from stacbridge.sandbox.sas.app import SasAuthority, create_blob_app
from stacbridge.sandbox.server import ServerThread
from stacbridge.sandbox.stac.app import create_stac_app


class StacUpstreams:
    """MAAP (OIDC) and PC (SAS) upstreams on loopback, with the settings that use them."""

    def __init__(self, host: str = "127.0.0.1", *, clock: SandboxClock | None = None) -> None:
        self.host = host
        self.clock = clock or SandboxClock()
        self.keycloak = Keycloak(clock=self.clock)
        self.sas = SasAuthority(clock=self.clock)
        self.servers: list[ServerThread] = []
        self.oidc: ServerThread | None = None
        self.maap: ServerThread | None = None
        self.blob: ServerThread | None = None
        self.pc: ServerThread | None = None
        #: the offline token the gateway is configured with (what a MAAP user downloads).
        self.offline_token = ""

    def start(self) -> StacUpstreams:
        self.oidc = self._serve(create_oidc_app(self.keycloak))
        realm_url = f"{self.oidc.url}/realms/{REALM}"
        self.blob = self._serve(create_blob_app(self.sas))
        blob_url = self.blob.url

        def presign(path: str) -> str:
            # `data/...` on the blob host, signed for its container `data`
            return f"{blob_url}/{path}?{self.sas.issue('maap-presign', 'data')['token']}"

        self.maap = self._serve(
            create_stac_app(
                "maap",
                clock=self.clock,
                keycloak=self.keycloak,
                oidc_url=realm_url,
                presign=presign,
            )
        )
        self.pc = self._serve(
            create_stac_app("pc", clock=self.clock, sas=self.sas, blob_url=self.blob.url)
        )
        return self

    def _serve(self, app: Any) -> ServerThread:
        server = ServerThread(app, self.host).start()
        self.servers.append(server)
        return server

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()

    @property
    def token_url(self) -> str:
        assert self.oidc is not None, "sandbox not started"
        return f"{self.oidc.url}/realms/{REALM}/protocol/openid-connect/token"

    def maap_settings(self, **overrides: Any) -> UpstreamSettings:
        """MAAP settings with an offline token of their own: the realm rotates refresh tokens,
        so two gateways (two stores) sharing one would make each other's stale."""
        assert self.maap is not None, "sandbox not started"
        self.offline_token = self.keycloak.issue_offline_token()
        values: dict[str, Any] = {
            "url": self.maap.url + "/",
            "title": "ESA MAAP (sandbox)",
            "auth": OIDCSettings(
                token_url=self.token_url,
                refresh_token=SecretStr(self.offline_token),
                http=_fast_http(),
            ),
            "assets": AssetAuthSettings(scheme="oidc", allow_insecure_http=True),
            "http": _fast_http(),
        }
        values.update(overrides)
        return UpstreamSettings(**values)

    def pc_settings(self, **overrides: Any) -> UpstreamSettings:
        assert self.pc is not None and self.blob is not None, "sandbox not started"
        values: dict[str, Any] = {
            "url": self.pc.url + "/",
            "title": "Planetary Computer (sandbox)",
            "id_prefix": "pc:",
            "search_method": "POST",
            "assets": AssetAuthSettings(
                scheme="sas",
                hosts=[self.blob.url.split("://", 1)[1]],
                sas_url=self.pc.url + "/api/sas/v1/token/{collection}",
            ),
            "http": _fast_http(),
        }
        values.update(overrides)
        return UpstreamSettings(**values)

    def settings(self) -> StacSettings:
        """The `[stac]` section federating both upstreams."""
        return StacSettings(
            enabled=True, upstreams={"maap": self.maap_settings(), "pc": self.pc_settings()}
        )

    def upstreams_json(self) -> str:
        """`settings().upstreams` as JSON, secrets included (for STACBRIDGE_STAC__UPSTREAMS)."""
        upstreams = self.settings().upstreams
        out = {}
        for name, upstream in upstreams.items():
            data = upstream.model_dump(mode="json")
            if upstream.auth is not None and upstream.auth.refresh_token is not None:
                data["auth"]["refresh_token"] = upstream.auth.refresh_token.get_secret_value()
            out[name] = data
        return json.dumps(out)


def _fast_http() -> HttpSettings:
    return HttpSettings(timeout=30.0, retries=2, backoff=0.05, max_backoff=0.5)
