"""Start all emulators together and derive the gateway settings that use them."""

from __future__ import annotations

from typing import Any

from stacbridge.config import CMRSettings, HttpSettings, Settings
from stacbridge.sandbox.server import ServerThread

#: the CMR provider ids whose recorded collections the sandbox serves.
SANDBOX_CMR_PROVIDERS = ["LPCLOUD", "POCLOUD", "GES_DISC", "LAADS", "NSIDC_ECS", "ORNL_CLOUD"]


class Sandbox:
    """Every provider emulator on 127.0.0.1, started and stopped together."""

    def __init__(self, *, host: str = "127.0.0.1", generated_granules: int = 1_000_000,
                 cmr_port: int = 0) -> None:
        self.host = host
        self.generated_granules = generated_granules
        self._ports = {"cmr": cmr_port}
        self.servers: dict[str, ServerThread] = {}

    def start(self) -> Sandbox:
        from stacbridge.sandbox.cmr import create_cmr_app

        cmr = create_cmr_app(generated_granules=self.generated_granules)
        self.servers["cmr"] = ServerThread(cmr, self.host, self._ports["cmr"]).start()
        return self

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def cmr_url(self) -> str:
        return f"{self.servers['cmr'].url}/search"

    def settings(self, **overrides: Any) -> Settings:
        """Gateway settings wired to these emulators (fast retries: the emulators are local)."""
        http = HttpSettings(timeout=30.0, retries=2, backoff=0.05, max_backoff=0.5)
        cmr = CMRSettings(url=self.cmr_url, providers=list(SANDBOX_CMR_PROVIDERS), http=http)
        values: dict[str, Any] = {"cmr": cmr, "store_url": "memory://"}
        values.update(overrides)
        return Settings(**values)
