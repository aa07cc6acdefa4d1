"""The M2M API key: one `login-token` shared by every request and worker.

Keys die after two hours without use, so the cached key is also given a lifetime; an upstream
`AUTH_*` error invalidates exactly the key that failed, and the next caller logs in once for
everyone (`store.cached_token` is single flight across coroutines and processes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from stacbridge.providers.m2m.config import M2MSettings
from stacbridge.store import Store, cached_token, invalidate

#: M2M's own spellings, AUTH_UNAUTHROIZED included.
AUTH_ERRORS = frozenset(
    {"AUTH_EXPIRED", "AUTH_INVALID", "AUTH_UNAUTHROIZED", "AUTH_UNAUTHORIZED", "AUTH_KEY_INVALID"}
)

KEY_LIFETIME = 2 * 3600.0


class APIKey:
    """The cached API key (`X-Auth-Token`)."""

    def __init__(
        self, settings: M2MSettings, store: Store, login: Callable[[], Awaitable[str]]
    ) -> None:
        self.store = store
        self._login = login
        self.key = f"token:m2m:api-key:{settings.url}:{settings.username or ''}"

    async def _fetch(self) -> tuple[bytes, float]:
        value = await self._login()
        return value.encode(), self.store.clock() + KEY_LIFETIME

    async def get(self) -> str:
        value = await cached_token(self.store, self.key, self._fetch, refresh_margin=300.0)
        return value.decode()

    async def invalidate(self, value: str) -> None:
        await invalidate(self.store, self.key, value.encode())
