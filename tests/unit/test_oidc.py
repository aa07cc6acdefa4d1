"""OIDC access tokens against the Keycloak emulator (in process): refresh before expiry, single
flight, rotation, and `invalid_grant` remembered instead of retried."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import SecretStr

from stacbridge.auth.oidc import OIDCError, OIDCSettings, OIDCTokens
from stacbridge.config import HttpSettings
from stacbridge.sandbox.oidc.app import REALM, Keycloak, create_oidc_app
from stacbridge.store import MemoryStore

TOKEN_URL = f"http://iam.test/realms/{REALM}/protocol/openid-connect/token"


def _tokens(realm: Keycloak, refresh: str, **extra) -> OIDCTokens:
    settings = OIDCSettings(
        token_url=TOKEN_URL,
        refresh_token=SecretStr(refresh),
        http=HttpSettings(retries=0),
        **extra,
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_oidc_app(realm)))
    return OIDCTokens(settings, MemoryStore(clock=realm.clock), client, "maap")


def test_cached_until_the_margin_then_refreshed_once_for_a_burst():
    realm = Keycloak(access_ttl=300)
    tokens = _tokens(realm, realm.issue_offline_token())

    async def run() -> None:
        first = await tokens.access_token()
        realm.clock.advance(200)
        assert await tokens.access_token() == first  # 100 s left > 30 s margin
        assert realm.grants == 1
        realm.clock.advance(80)  # 20 s left: refreshed before it dies in flight
        burst = await asyncio.gather(*(tokens.access_token() for _ in range(50)))
        assert len(set(burst)) == 1 and burst[0] != first
        assert realm.grants == 2 and realm.valid(burst[0])

    asyncio.run(run())


def test_rotation_is_followed_and_the_stale_token_never_sent_again():
    realm = Keycloak(rotate=True)
    offline = realm.issue_offline_token()
    tokens = _tokens(realm, offline)

    async def run() -> None:
        for _ in range(3):
            await tokens.access_token()
            realm.clock.advance(400)
        assert realm.grants == 3
        rotated = await tokens.store.get(tokens.refresh_key)
        assert rotated is not None and rotated.decode() != offline
        assert realm.refresh[offline][2] == "stale"

    asyncio.run(run())


def test_invalid_grant_is_remembered_and_named_not_retried():
    realm = Keycloak()
    offline = realm.issue_offline_token()
    realm.revoke(offline)
    tokens = _tokens(realm, offline)

    async def run() -> None:
        for _ in range(5):
            with pytest.raises(OIDCError) as refused:
                await tokens.access_token()
            assert refused.value.code == "invalid_grant"
            assert "renew the offline token" in refused.value.message
            assert refused.value.status_code == 502
        assert realm.grants == 1
        with pytest.raises(OIDCError):
            await tokens.ready()

    asyncio.run(run())


def test_an_expired_offline_token_is_invalid_grant():
    realm = Keycloak()
    tokens = _tokens(realm, realm.issue_offline_token(ttl=10))
    realm.clock.advance(20)

    async def run() -> None:
        with pytest.raises(OIDCError, match="Token is not active"):
            await tokens.access_token()

    asyncio.run(run())


def test_a_token_the_host_rejected_is_dropped_only_if_still_cached():
    realm = Keycloak()
    tokens = _tokens(realm, realm.issue_offline_token())

    async def run() -> None:
        first = await tokens.access_token()
        await tokens.invalidate("some-older-token")
        assert await tokens.access_token() == first
        await tokens.invalidate(first)
        assert await tokens.access_token() != first
        assert realm.grants == 2

    asyncio.run(run())


def test_unknown_client_is_invalid_client():
    realm = Keycloak()
    tokens = _tokens(realm, realm.issue_offline_token(), client_id="nobody")

    async def run() -> None:
        with pytest.raises(OIDCError) as refused:
            await tokens.access_token()
        assert refused.value.code == "invalid_client"

    asyncio.run(run())
