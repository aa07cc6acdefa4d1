"""Upstream error text is quoted to clients without the credentials in it (issue 10 #14)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from stacbridge.errors import REDACTED, add_error_handlers, scrub
from stacbridge.protocols import ProviderError

SECRET = "s3cr3tV4lue9f8e7d6c5b4a3"


@pytest.mark.parametrize(
    "text",
    [
        f"bad request: apiKey={SECRET}&q=1",
        f"invalid token={SECRET}",
        f'{{"access_token": "{SECRET}"}}',
        f"Authorization: Bearer {SECRET}",
        f"header X-Auth-Token: {SECRET} was refused",
        f"see https://bucket.s3.amazonaws.com/f.tif?X-Amz-Signature={SECRET}&X-Amz-Date=1",
        f"X-Amz-Credential={SECRET}/20240101/us-west-2/s3/aws4_request",
        f"password: {SECRET}",
        f"client_secret={SECRET}",
        "key 0123456789abcdef0123456789abcdef0123 rejected",
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl expired",
        "AWS key AKIAIOSFODNN7EXAMPLE is not allowed",
        "blob dGhpcyBpcyBhIHNlY3JldCBzdHJpbmcgb2YgYnl0ZXM9PQ3 leaked",
    ],
)
def test_credentials_are_redacted(text):
    out = scrub(text)
    assert REDACTED in out, out
    for secret in (
        SECRET,
        "0123456789abcdef0123456789abcdef0123",
        "AKIAIOSFODNN7EXAMPLE",
        "eyJhbGciOiJIUzI1NiJ9",
        "dGhpcyBpcyBhIHNlY3Jld",
    ):
        assert secret not in out, out


@pytest.mark.parametrize(
    "text",
    [
        "Collection [C2021957657-LPCLOUD] not found",
        "entity LC08_L2SP_028033_20130411_20201104_02_T1 is not downloadable",
        "granule HLS.L30.T15UWP.2024032T165000.v2.0 has no data",
        "Parameter [foo] was not recognized.",
        "the token expired; log in again",
    ],
)
def test_ordinary_text_stays_readable(text):
    assert scrub(text) == text


def test_long_text_is_cut_and_control_characters_go():
    out = scrub("a\x00b\x1b[31m" + "x" * 2000)
    assert "\x00" not in out and "\x1b" not in out
    assert len(out) <= 510 and out.endswith("…")


def test_the_provider_error_handler_scrubs_and_answers_json():
    app = FastAPI()
    add_error_handlers(app)

    @app.get("/boom")
    async def boom():
        raise ProviderError("m2m", f"<script>alert(1)</script> apiKey={SECRET} refused")

    response = TestClient(app).get("/boom")
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    body = response.json()
    assert SECRET not in response.text
    assert body["code"] == "UpstreamError" and body["provider"] == "m2m"
    assert body["description"].startswith("m2m: ")
    assert f"apiKey={REDACTED}" in body["description"]
