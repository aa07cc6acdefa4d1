"""Point every asset href at the gateway's `/assets/<token>` (design §4).

Translators emit upstream hrefs; this is the one place they are replaced, when Items and
Collections leave the API. The token is signed and names the provider and the upstream
reference, so the proxy only ever fetches what a translator produced (no open proxy, no SSRF).
The file name is appended after the token so that downloads keep their names.

An asset source decides which hrefs go through the proxy (`AssetSource.proxies(href)`): CMR
proxies the Earthdata hosts on its allow-list and leaves public hosts (the browse-image CDN)
alone; M2M proxies its `m2m://` download references, which only become URLs once a download is
requested. `s3://` alternates stay as they are: they are for clients with their own in-region
AWS access. Assets a decorator added name their source under `ASSET_SOURCE_KEY`; they are signed
for that source, so the proxy hands them back to it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from urllib.parse import quote, unquote

from stacbridge.protocols import ASSET_SOURCE_KEY, JSON, AssetSource
from stacbridge.signing import TAG_SIZE, ExpiredToken, InvalidToken, Signer

ASSET_PURPOSE = "asset"
#: the v2 tag over the file name taken from the path (its own purpose: never a token tag).
_NAME_PURPOSE = "asset-name"
#: expiries are rounded up to the hour: an asset keeps one href across searches within it.
_GRANULARITY = 3600

# v2 header flags: the low nibble is the version
_V2 = 0x02
_NAMED = 0x10  # the file name follows the token in the path, covered by the name tag
_HTTPS = 0x20  # "https://" elided
_STEM = 0x40  # the last directory is the name's first k characters (k follows the provider)
_HTTP = 0x80  # "http://" elided
_KNOWN = _V2 | _NAMED | _HTTPS | _STEM | _HTTP
#: the token tag of a named v2 token: it only tells a genuine token from a forged one; the
#: name tag (TAG_SIZE) is what authorises a fetch.
_TOKEN_TAG = 9
#: GDAL's sidecar probes (`name.ovr`, `name.aux.xml`...): how many suffixes are stripped to
#: tell a probe next to a real file (404) from a name the token never had (also 404, but
#: only after the check).
_SIDECAR_DEPTH = 2


class WrongName(ValueError):
    """A genuine asset token followed by a name that is not its file's."""


class NameMissing(ValueError):
    """A genuine v2 token whose file name (part of what it signs) was cut off the path."""


def asset_token(signer: Signer, provider: str, ref: str, ttl: float) -> str:
    # expiry rounded to the hour: an asset keeps one href across searches within the hour
    return signer.sign(ASSET_PURPOSE, [provider, ref], ttl=ttl, granularity=3600)


_PLAIN_NAME = re.compile(r"^[A-Za-z0-9._%~-]+$")
#: names carried in the path rather than the token: nothing a client could re-encode.
_ELIDABLE = re.compile(r"[A-Za-z0-9._~-]+")
_B64_OUT = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).translate(_B64_OUT).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def _split(ref: str) -> tuple[str, str] | None:
    """(`ref` without its file name, the name) when the name can travel in the path.

    Only when `file_name(ref)` is exactly the tail of `ref` (no query, no fragment, nothing
    quoted), so that prefix + name is `ref` again, character for character.
    """
    scheme_end = ref.find("://")
    if ref.startswith(("http://", "https://")):
        if "?" in ref or "#" in ref:
            return None
        cut = ref.rfind("/")
        if cut <= scheme_end + 2:
            return None  # no path
    else:
        cut = ref.find("#")
        if cut < 0:
            return None
    name = ref[cut + 1 :]
    if not _ELIDABLE.fullmatch(name):
        return None
    return ref[: cut + 1], name


def _sidecar_bases(name: str) -> list[str]:
    out = []
    for _ in range(_SIDECAR_DEPTH):
        name, dot, _ext = name.rpartition(".")
        if not dot or not name:
            break
        out.append(name)
    return out


def open_asset_token(signer: Signer, token: str, name: str | None) -> tuple[str, str]:
    """(provider, upstream reference) of a v1 or v2 asset token followed by `name`.

    Raises `InvalidToken` (tampered, forged, malformed), `ExpiredToken`, `WrongName` (a
    genuine token, another file's name) or `NameMissing` (a genuine v2 token without the name
    it signs).  For v1 tokens the name is the caller's to compare (`file_name`).
    """
    if "." in token:
        provider, ref = signer.verify(ASSET_PURPOSE, token)
        return str(provider), str(ref)
    try:
        raw = _unb64(token)
    except (ValueError, binascii.Error) as exc:
        raise InvalidToken("malformed token") from exc
    if len(raw) < 8 + _TOKEN_TAG:
        raise InvalidToken("malformed token")
    flags = raw[0]
    if flags & 0x0F != _V2 or flags & ~_KNOWN:
        raise InvalidToken("malformed token")
    named = bool(flags & _NAMED)
    name_tag = raw[-TAG_SIZE:] if named else b""
    common = raw[: len(raw) - len(name_tag)]
    token_tag_size = _TOKEN_TAG if named else TAG_SIZE
    data, token_tag = common[:-token_tag_size], common[-token_tag_size:]
    if len(data) < 7 or not signer.tag_matches(ASSET_PURPOSE, data, token_tag):
        raise InvalidToken("token signature does not match")
    if named:
        if not name:
            raise NameMissing("this link names its file after the token")
        head = len(data).to_bytes(2, "big") + data
        if not signer.tag_matches(_NAME_PURPOSE, head + name.encode(), name_tag):
            for base in _sidecar_bases(name):
                if signer.tag_matches(_NAME_PURPOSE, head + base.encode(), name_tag):
                    raise WrongName("a sidecar of the asset's file")
            raise WrongName("not the asset's file name")
    pad, expiry, size = data[1], int.from_bytes(data[2:6], "big"), data[6]
    if signer.now() > expiry:
        raise ExpiredToken("token has expired")
    at = 7 + size
    stem = 0
    if flags & _STEM:
        stem, at = data[at], at + 1
    try:
        provider = data[7 : 7 + size].decode()
        prefix = data[at : len(data) - pad].decode()
    except UnicodeDecodeError as exc:
        raise InvalidToken("malformed token") from exc
    if flags & _HTTPS:
        prefix = "https://" + prefix
    elif flags & _HTTP:
        prefix = "http://" + prefix
    if named:
        assert name is not None
        if stem:
            if len(name) < stem:
                raise WrongName("not the asset's file name")
            prefix = f"{prefix}{name[:stem]}/"
        prefix += name
    return provider, prefix


def file_name(ref: str) -> str:
    """The file name of `ref`, URL-quoted; '' when it has none.

    An http(s) URL: its last path segment.  A provider reference (`m2m://...`) ends in opaque
    ids, so it names its file after `#` (`m2m://dataset/entity/product#LC08_..._SR_B4.TIF`);
    one without a fragment has no name.  The proxy answers only this name after the token.
    """
    if not ref.startswith(("http://", "https://")):
        _, hash_, name = ref.partition("#")
        if not hash_ or not name or "/" in name:
            return ""
        return name if _PLAIN_NAME.match(name) else quote(name, safe="._-~%")
    path = ref.split("://", 1)[1].split("?", 1)[0].split("#", 1)[0]
    if "/" not in path:
        return ""
    name = path.rsplit("/", 1)[1]
    return name if _PLAIN_NAME.match(name) else quote(name, safe="._-~%")


class AssetRewriter:
    """Rewrites `assets[*].href` (http/https only) to signed gateway URLs."""

    def __init__(self, signer: Signer, ttl: float) -> None:
        self.signer = signer
        self.ttl = ttl
        # token heads made lately: the assets of one item share a few (data, browse, metadata)
        self._heads: dict[tuple[int, int, str, int, str], tuple[bytes, str]] = {}
        # (provider, directory URL) → (expiry, stem, name-tag prefix, head): the fast path for
        # the next file of a directory already seen (an item's bands)
        self._dirs: dict[tuple[str, str], tuple[int, str, bytes, str]] = {}

    def href(self, base: str, provider: str, ref: str) -> str:
        """The gateway href for `ref` (a v2 token; v1 when a field does not fit v2's bytes)."""
        expiry = -(-int(self.signer.now() + self.ttl) // _GRANULARITY) * _GRANULARITY
        cut = ref.rfind("/") + 1
        held = self._dirs.get((provider, ref[:cut])) if cut else None
        if held is not None and held[0] == expiry:
            name = ref[cut:]
            # the directory was cached only from a reference `_split` accepted, so a plain
            # name after it is all this one needs (a query or fragment fails the match)
            if name.startswith(held[1]) and _ELIDABLE.fullmatch(name):
                tag = self.signer.tag(_NAME_PURPOSE, held[2] + name.encode())
                return f"{base}assets/{held[3]}{_b64(tag)}/{name}"
        split = _split(ref)
        flags, stem = _V2, 0
        if split is None:
            prefix, name = ref, ""
        else:
            flags |= _NAMED
            prefix, name = split
        if prefix.startswith("https://"):
            flags, prefix = flags | _HTTPS, prefix[8:]
        elif prefix.startswith("http://"):
            flags, prefix = flags | _HTTP, prefix[7:]
        if name and flags & (_HTTPS | _HTTP):
            start = prefix.rfind("/", 0, len(prefix) - 1) + 1
            segment = prefix[start:-1]
            if start > 0 and segment and len(segment) < 256 and name.startswith(segment):
                flags, stem, prefix = flags | _STEM, len(segment), prefix[:start]
        key = (flags, expiry, provider, stem, prefix)
        made = self._heads.get(key)
        if made is None:
            made = self._head(key)
            if made is None:
                return self._v1_href(base, provider, ref)
            if len(self._heads) >= 64:
                self._heads.clear()  # bounded; a page's items share no heads with each other
            self._heads[key] = made
        data, head = made
        if not name:
            name = file_name(ref)
            return f"{base}assets/{head}/{name}" if name else f"{base}assets/{head}"
        if flags & (_HTTPS | _HTTP):
            if len(self._dirs) >= 64:
                self._dirs.clear()
            stem_text = name[:stem] if stem else ""
            self._dirs[(provider, ref[: len(ref) - len(name)])] = (expiry, stem_text, data, head)
        tag = self.signer.tag(_NAME_PURPOSE, data + name.encode())
        return f"{base}assets/{head}{_b64(tag)}/{name}"

    def _head(self, key: tuple[int, int, str, int, str]) -> tuple[bytes, str] | None:
        """(what the name tag covers, the token's base64 head) for one header, or None."""
        flags, expiry, provider, stem, prefix = key
        provider_bytes = provider.encode()
        if len(provider_bytes) > 255 or expiry >= 1 << 32:
            return None
        body = [
            expiry.to_bytes(4, "big"),
            bytes((len(provider_bytes),)),
            provider_bytes,
            bytes((stem,)) if flags & _STEM else b"",
            prefix.encode(),
        ]
        size = 2 + sum(map(len, body))
        tag_size = _TOKEN_TAG if flags & _NAMED else TAG_SIZE
        pad = -(size + tag_size) % 3  # whole base64 quanta: the head encodes on its own
        data = b"".join([bytes((flags, pad)), *body, b"\x00" * pad])
        head = _b64(data + self.signer.tag(ASSET_PURPOSE, data, tag_size))
        return len(data).to_bytes(2, "big") + data, head

    def _v1_href(self, base: str, provider: str, ref: str) -> str:
        token = asset_token(self.signer, provider, ref, self.ttl)
        name = file_name(ref)
        return f"{base}assets/{token}/{name}" if name else f"{base}assets/{token}"

    def __call__(
        self,
        source: AssetSource,
        obj: JSON,
        base: str,
        source_named: Callable[[str], AssetSource | None] | None = None,
    ) -> JSON:
        """Rewrite `obj`'s asset hrefs for `source` (or the source an asset names)."""
        assets = obj.get("assets")
        if not assets:
            return obj
        proxies, name = source.proxies, source.name
        new_assets = {}
        for key, asset in assets.items():
            href = asset.get("href", "")
            if ASSET_SOURCE_KEY in asset:
                asset = dict(asset)
                other = source_named(asset.pop(ASSET_SOURCE_KEY)) if source_named else None
                if other is None or not other.proxies(href):
                    continue  # a reference no source resolves is never handed out
                asset["href"] = self.href(base, other.name, href)
            elif proxies(href):
                asset = {**asset, "href": self.href(base, name, href)}
            new_assets[key] = asset
        obj["assets"] = new_assets
        return obj


def asset_of_href(signer: Signer, href: str) -> tuple[str, str]:
    """(provider, upstream reference) of a gateway asset href of either form (tests, tools).

    Raises what `open_asset_token` raises.
    """
    path = href.split("?", 1)[0].split("#", 1)[0]
    _, marker, rest = path.partition("/assets/")
    if not marker:
        raise InvalidToken("not an asset href")
    token, _, name = rest.partition("/")
    return open_asset_token(signer, token, unquote(name) if name else None)
