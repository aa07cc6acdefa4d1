"""`/readyz`: is every provider usable right now?  (`/healthz` only says the process runs.)

A load balancer should send traffic only to a gateway whose providers answer.  For each
provider the check is, in order:

1. the provider's own ``ready()`` coroutine if it has one (the place for a cheap
   authenticated call such as a token check); otherwise, for a catalogue, ``collection_ids()``
   - for M2M a local list, for CMR a listing that is cached for ``collection_cache_ttl``;
2. the last upstream exchange `send_with_retries` saw for that provider: if it failed for good
   (timeout, unreachable, 5xx or 429 after every retry) within the last `RECENT` seconds, the
   provider is failing even when its listing still comes from a cache.  A later success clears
   it, so a provider that recovers is ready again after its next good request.

Each check has a short timeout, and the answer is cached for `CACHE_SECONDS` so frequent probes
from several load balancers do not become upstream traffic.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

#: seconds a definitive upstream failure keeps a provider "failing" without a later success
RECENT = 60.0
#: seconds one readiness answer is reused
CACHE_SECONDS = 5.0

_last: dict[str, tuple[float, bool, str]] = {}


def record_upstream(provider: str, ok: bool, detail: str = "") -> None:
    """Called by `send_with_retries` with each exchange's final outcome."""
    _last[provider] = (time.monotonic(), ok, detail)


def recent_failure(provider: str) -> str | None:
    seen = _last.get(provider)
    if seen is None:
        return None
    when, ok, detail = seen
    if ok or time.monotonic() - when > RECENT:
        return None
    return detail or "upstream failing"


class Readiness:
    """Probes the registry's providers; `check()` gives ``(ready, per-provider details)``."""

    def __init__(self, registry: Any, timeout: float = 3.0) -> None:
        self.registry = registry
        self.timeout = timeout
        self._cached: tuple[float, bool, dict[str, str]] | None = None
        self._lock = asyncio.Lock()

    async def _probe(self, plugin: Any) -> str | None:
        """None if `plugin` is usable, else why not (one line, no secrets)."""
        probe = getattr(plugin, "ready", None)
        try:
            if probe is not None:
                await asyncio.wait_for(probe(), self.timeout)
            elif "catalog" in getattr(plugin, "roles", ()):
                await asyncio.wait_for(plugin.collection_ids(), self.timeout)
        except TimeoutError:
            return f"no answer within {self.timeout:g} s"
        except Exception as exc:  # noqa: BLE001 - any failure makes it unready; say which
            return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return recent_failure(plugin.name)

    async def check(self) -> tuple[bool, dict[str, str]]:
        async with self._lock:
            now = time.monotonic()
            if self._cached and now - self._cached[0] < CACHE_SECONDS:
                return self._cached[1], self._cached[2]
            plugins = list(self.registry.plugins)
            results = await asyncio.gather(*(self._probe(p) for p in plugins))
            details = {p.name: (r or "ok") for p, r in zip(plugins, results, strict=True)}
            ready = all(r is None for r in results)
            self._cached = (time.monotonic(), ready, details)
            return ready, details
