"""The AppEEARS bearer token: one `/login` shared by every request, coroutine and worker.

AppEEARS logs in with the Earthdata Login username and password (HTTP Basic on `POST /login`)
and answers a bearer token with its `expiration` (about 48 hours).  The token is cached in the
state store until shortly before that time (`store.cached_token`, single flight across
processes), so a burst of requests after expiry logs in once.  AppEEARS answers a token it no
longer accepts with 403; the client then drops exactly that token (`invalidate`) and asks once
more.  `/logout` is never called per request: it would end the token every worker shares.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from stacbridge.stac.values import rfc3339
from stacbridge.store import Store, cached_token, invalidate

#: assumed lifetime when `/login` states no readable expiration (AppEEARS gives ~48 h).
DEFAULT_LIFETIME = 48 * 3600.0
#: refresh this long before the stated expiration, so no request leaves with a dying token.
REFRESH_MARGIN = 600.0


def lifetime(expiration: object, now: float) -> float:
    """Seconds left (from wall-clock `now`) of an `expiration` text like `2020-04-30T18:26:32Z`.

    A lifetime, not an instant: the store may run on another clock (tests move theirs), so the
    caller adds it to the store's own `clock()`.
    """
    text = rfc3339(expiration)
    if text is None:
        return DEFAULT_LIFETIME
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() - now


class BearerToken:
    """The cached AppEEARS token for one service URL and Earthdata user."""

    def __init__(
        self,
        url: str,
        username: str | None,
        store: Store,
        login: Callable[[], Awaitable[tuple[str, float]]],
    ) -> None:
        self.store = store
        self._login = login
        self.key = f"token:appeears:{url}:{username or ''}"

    async def _fetch(self) -> tuple[bytes, float]:
        token, seconds = await self._login()
        return token.encode(), self.store.clock() + seconds

    async def get(self) -> str:
        value = await cached_token(self.store, self.key, self._fetch, refresh_margin=REFRESH_MARGIN)
        return value.decode()

    async def invalidate(self, token: str) -> None:
        await invalidate(self.store, self.key, token.encode())
