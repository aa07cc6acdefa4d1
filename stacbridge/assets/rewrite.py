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

import re
from collections.abc import Callable
from urllib.parse import quote

from stacbridge.protocols import ASSET_SOURCE_KEY, JSON, AssetSource
from stacbridge.signing import Signer

ASSET_PURPOSE = "asset"


def asset_token(signer: Signer, provider: str, ref: str, ttl: float) -> str:
    # expiry rounded to the hour: an asset keeps one href across searches within the hour
    return signer.sign(ASSET_PURPOSE, [provider, ref], ttl=ttl, granularity=3600)


_PLAIN_NAME = re.compile(r"^[A-Za-z0-9._%~-]+$")


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

    def href(self, base: str, provider: str, ref: str) -> str:
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
