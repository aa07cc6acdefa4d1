"""Blank credentials in the environment are no credentials."""

from __future__ import annotations

import httpx
import pytest

from stacbridge.auth.earthdata import EarthdataLogin
from stacbridge.config import EarthdataSettings, load_settings
from stacbridge.registry import discover
from stacbridge.store import MemoryStore


@pytest.mark.parametrize("blank", ["", "   "])
async def test_a_blank_earthdata_token_is_unset_and_login_still_applies(monkeypatch, blank):
    # a compose file or CI secret that is not set renders as an empty string: the gateway must
    # not then send `Authorization: Bearer ` and skip the username/password it was given
    monkeypatch.setenv("STACBRIDGE_EARTHDATA__TOKEN", blank)
    monkeypatch.setenv("STACBRIDGE_EARTHDATA__USERNAME", "scientist")
    monkeypatch.setenv("STACBRIDGE_EARTHDATA__PASSWORD", "s3cret")
    settings = load_settings(discover())
    assert settings.earthdata.token is None
    async with httpx.AsyncClient() as client:
        login = EarthdataLogin(settings.earthdata, MemoryStore(), client, provider="cmr")
        assert login.mode == "login"


def test_blank_username_and_password_are_unset():
    settings = EarthdataSettings(username=" ", password="")
    assert settings.username is None and settings.password is None
    assert EarthdataSettings(token="t0k").token.get_secret_value() == "t0k"
