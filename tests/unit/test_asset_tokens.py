"""Compact (v2) asset hrefs, and the v1 hrefs issued before them, which stay valid until they
expire (design §4, docs/performance.md)."""

from __future__ import annotations

import os

import pytest

from stacbridge.assets.rewrite import (
    AssetRewriter,
    NameMissing,
    WrongName,
    asset_of_href,
    asset_token,
    file_name,
    open_asset_token,
)
from stacbridge.signing import ExpiredToken, InvalidToken, Signer

BASE = "http://gw.example/"
HLS_DIR = (
    "https://data.lpdaac.earthdatacloud.nasa.gov/lp-prod-protected/HLSL30.020/"
    "HLS.L30.T15UXP.2024042T165831.v2.0/"
)
REFS = [
    HLS_DIR + "HLS.L30.T15UXP.2024042T165831.v2.0.B03.tif",
    HLS_DIR + "HLS.L30.T15UXP.2024042T165831.v2.0.Fmask.tif",
    "https://data.example/a/b/other-name.nc",  # a directory that is not the name's stem
    "http://127.0.0.1:8123/x/large/1GB.bin",
    "https://h/x.tif?a=1&b=/c.tif",  # a query: the name stays inside the token
    "https://h/a%20b.tif",  # a quoted name: inside the token, quoted after it
    "https://h/",
    "https://h",
    "m2m://landsat_ot_c2_l2/LC80/5e83#LC08_L2SP_SR_B4.TIF",
    "m2m://landsat_ot_c2_l2/LC80/5e83",
    "s3://bucket/key.tif",
    "https://h/dir/ünïcode.tif",
]


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _parts(href: str) -> tuple[str, str | None]:
    rest = href.split("/assets/", 1)[1]
    token, _, name = rest.partition("/")
    return token, name or None


@pytest.mark.parametrize("ref", REFS)
def test_every_reference_round_trips_through_a_compact_href(ref):
    signer = Signer(["k"])
    href = AssetRewriter(signer, 600).href(BASE, "cmr", ref)
    token, name = _parts(href)
    assert "." not in token  # the v2 form
    assert asset_of_href(signer, href) == ("cmr", ref)
    # the name after the token is the asset's own, as before
    assert (name or "") == file_name(ref)


def test_compact_hrefs_are_much_shorter_than_v1():
    signer = Signer(["k"])
    ref = REFS[0]
    v2 = AssetRewriter(signer, 7 * 24 * 3600).href(BASE, "cmr", ref)
    v1 = f"{BASE}assets/{asset_token(signer, 'cmr', ref, 7 * 24 * 3600)}/{file_name(ref)}"
    assert len(v2) < 0.65 * len(v1)
    assert "lpdaac" not in v2


def test_the_assets_of_one_item_share_the_token_head_but_not_the_tag():
    signer = Signer(["k"])
    rewriter = AssetRewriter(signer, 600)
    a, b = (_parts(rewriter.href(BASE, "cmr", ref))[0] for ref in REFS[:2])
    assert a[:-20] == b[:-20] and a[-20:] != b[-20:]


def test_the_name_is_signed():
    signer = Signer(["k"])
    token, name = _parts(AssetRewriter(signer, 600).href(BASE, "cmr", REFS[0]))
    assert name is not None
    for sidecar in (f"{name}.ovr", f"{name}.aux.xml", f"{name}.msk"):
        with pytest.raises(WrongName, match="sidecar"):
            open_asset_token(signer, token, sidecar)
    with pytest.raises(WrongName):
        # the sibling file in the same directory was never signed with this token
        open_asset_token(signer, token, name.replace("B03", "B04"))
    with pytest.raises(NameMissing):
        open_asset_token(signer, token, None)


def test_tampered_and_forged_compact_tokens_are_invalid():
    signer = Signer(["k"])
    token, name = _parts(AssetRewriter(signer, 600).href(BASE, "cmr", REFS[0]))
    for i in (0, 5, 9, 40, len(token) - 25, len(token) - 1):
        flipped = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
        with pytest.raises((InvalidToken, WrongName)):
            open_asset_token(signer, flipped, name)
    with pytest.raises(InvalidToken):
        open_asset_token(Signer(["someone-else"]), token, name)


def test_garbage_tokens_only_ever_raise_the_refusals():
    signer = Signer(["k"])
    rng = __import__("random").Random(13)
    for n in range(400):
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 90)))
        if raw:
            raw = bytes((0x02 | (raw[0] & 0xF0),)) + raw[1:]
        token = __import__("base64").urlsafe_b64encode(raw).decode().rstrip("=")
        with pytest.raises((InvalidToken, WrongName, NameMissing)):
            open_asset_token(signer, token or "x", "a.tif" if n % 2 else None)


def test_compact_tokens_expire_and_survive_key_rotation():
    clock = Clock()
    old = Signer(["old"], clock=clock)
    href = AssetRewriter(old, 600).href(BASE, "cmr", REFS[0])
    rotated = Signer(["new", "old"], clock=clock)
    assert asset_of_href(rotated, href) == ("cmr", REFS[0])
    clock.now += 600 + 3600  # past the expiry, rounded up to the hour
    with pytest.raises(ExpiredToken):
        asset_of_href(rotated, href)


def test_old_v1_hrefs_keep_working_until_they_expire():
    """Hrefs handed out before the compact form: both with and without the name."""
    clock = Clock()
    signer = Signer(["k"], clock=clock)
    first = asset_token(signer, "cmr", REFS[0], 600)
    for ref in REFS:
        token = asset_token(signer, "cmr", ref, 600)
        name = file_name(ref)
        assert open_asset_token(signer, token, None) == ("cmr", ref)
        assert asset_of_href(signer, f"{BASE}assets/{token}/{name}") == ("cmr", ref)
    clock.now += 600 + 3600
    with pytest.raises(ExpiredToken):
        open_asset_token(signer, first, None)


def test_fields_that_do_not_fit_the_compact_form_fall_back_to_v1():
    signer = Signer(["k"])
    href = AssetRewriter(signer, 600).href(BASE, "p" * 300, REFS[0])
    token, _ = _parts(href)
    assert "." in token
    assert asset_of_href(signer, href) == ("p" * 300, REFS[0])


def test_the_head_cache_stays_bounded():
    signer = Signer(["k"])
    rewriter = AssetRewriter(signer, 600)
    for i in range(500):
        ref = f"https://h/{os.urandom(4).hex()}/{i}.tif"
        assert asset_of_href(signer, rewriter.href(BASE, "cmr", ref)) == ("cmr", ref)
    assert len(rewriter._heads) <= 64
