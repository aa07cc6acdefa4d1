"""Signed, opaque, URL-safe tokens: paging tokens and asset tokens share this one mechanism.

A token is `base64url(payload JSON) "." base64url(HMAC-SHA256)`, signed with the first of the
configured keys and verified against all of them, so keys rotate without breaking tokens in
flight.  Each token is bound to a *purpose* ("page", "asset"...) that is part of the MAC, so a
token minted for one use is refused for another.  Payloads are not encrypted: they must never
hold secrets (they hold upstream references and cursors, which clients may see anyway).

`tag`/`tag_matches` are the same idea for callers that lay out their own compact bytes (the
asset hrefs, ~36,000 per page): a 15-byte keyed BLAKE2b tag, bound to the purpose, made with
the first key and checked against all of them.  Keyed BLAKE2b is a MAC by construction and,
started from a pre-keyed state, costs a quarter of an HMAC-SHA256.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

#: bytes in a `Signer.tag` (120 bits).
TAG_SIZE = 15


class InvalidToken(ValueError):
    """The token is malformed, was tampered with, or was signed by a key we do not hold."""


class ExpiredToken(InvalidToken):
    """The token was genuine but its expiry has passed."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    # validate: junk appended to a token must not still verify
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


class Signer:
    """HMAC signer over a list of keys: `keys[0]` signs, every key verifies."""

    def __init__(self, keys: Sequence[bytes | str], clock: Callable[[], float] = time.time):
        if not keys:
            raise ValueError("at least one signing key is required")
        self._keys = [k.encode() if isinstance(k, str) else bytes(k) for k in keys]
        self._clock = clock
        # BLAKE2b keys are at most 64 bytes, and the tag keys must differ from the HMAC keys
        self._tag_keys = [hashlib.sha256(b"stacbridge tag\x00" + k).digest() for k in self._keys]
        self._tag_bases: dict[tuple[str, int], list[Any]] = {}

    def now(self) -> float:
        """The signer's clock (seconds since the epoch): what expiries are compared with."""
        return self._clock()

    def _bases(self, purpose: str, size: int) -> list[Any]:
        bases = self._tag_bases.get((purpose, size))
        if bases is None:
            bases = []
            for key in self._tag_keys:
                state = hashlib.blake2b(key=key, digest_size=size)
                state.update(purpose.encode() + b"\x00")
                bases.append(state)
            self._tag_bases[(purpose, size)] = bases
        return bases

    def tag(self, purpose: str, data: bytes, size: int = TAG_SIZE) -> bytes:
        """A `size`-byte MAC of `data` for `purpose`, with the signing key."""
        state = self._bases(purpose, size)[0].copy()
        state.update(data)
        return state.digest()

    def tag_matches(self, purpose: str, data: bytes, tag: bytes) -> bool:
        """Whether `tag` is `tag(purpose, data)` under any of the keys (constant-time compare)."""
        for base in self._bases(purpose, len(tag)) if 8 <= len(tag) <= 64 else ():
            state = base.copy()
            state.update(data)
            if hmac.compare_digest(state.digest(), tag):
                return True
        return False

    def _mac(self, key: bytes, purpose: str, body: bytes) -> bytes:
        # hmac.digest is the one-shot C path: asset hrefs are signed ~40,000 times a page
        return hmac.digest(key, purpose.encode() + b"\x00" + body, "sha256")

    def sign(
        self, purpose: str, payload: Any, ttl: float | None = None, granularity: int = 1
    ) -> str:
        """Seal `payload` (JSON-serialisable) for `purpose`, valid for `ttl` seconds if given.

        `granularity` rounds the expiry up to a multiple of that many seconds, so the same
        payload signed again within that window gives the very same token (stable hrefs that
        clients such as GDAL can cache).
        """
        envelope = {"p": payload}
        if ttl is not None:
            expiry = int(self._clock() + ttl)
            envelope["x"] = -(-expiry // granularity) * granularity
        body = orjson.dumps(envelope)
        return f"{_b64encode(body)}.{_b64encode(self._mac(self._keys[0], purpose, body))}"

    def verify(self, purpose: str, token: str) -> Any:
        """The payload of a genuine, unexpired token; raises InvalidToken / ExpiredToken."""
        try:
            body_part, mac_part = token.split(".", 1)
            body, mac = _b64decode(body_part), _b64decode(mac_part)
        except (ValueError, TypeError, binascii.Error) as exc:
            raise InvalidToken("malformed token") from exc
        if not any(hmac.compare_digest(mac, self._mac(k, purpose, body)) for k in self._keys):
            raise InvalidToken("token signature does not match")
        envelope = orjson.loads(body)
        expiry = envelope.get("x")
        if expiry is not None and self._clock() > expiry:
            raise ExpiredToken("token has expired")
        return envelope["p"]
