"""Value conversions every translator needs, each with one behaviour.

Upstream metadata is loosely typed: numbers arrive as numbers, as strings (`" 12.5"`), as
placeholders (`"Not provided"`), or not at all; checksums name their algorithm in several
spellings (`SHA-256`, `sha256sum`); DOIs come bare, as `doi:` or as resolver URLs.  These
functions turn such values into what STAC wants, or None — a translator omits what it cannot
read rather than guessing (design §3).  They are pure and cheap: several run per asset on the
hot path (design §9).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Container
from typing import Any

# -- numbers ------------------------------------------------------------------------------------


def as_float(value: Any) -> float | None:
    """A finite float from a number or numeric string; None for anything else.

    None, booleans (`True` is not 1.0 cloud cover), placeholders such as `"Not provided"`,
    NaN and ±inf all give None: none of them is a measurement STAC can carry.
    """
    if value is None or value.__class__ is bool:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if f - f == 0.0 else None  # NaN and ±inf give NaN


def as_int(value: Any) -> int | None:
    """An int from an int, an integral float (`12.0`) or a numeric string (`"12"`, `"1e3"`).

    Ints and digit strings are read exactly (file sizes beyond 2**53 stay exact); a fractional
    value is not an int and gives None, as does everything `as_float` rejects.
    """
    cls = value.__class__
    if cls is int:
        return value
    if cls is str:
        text = value.strip()
        digits = text[1:] if text[:1] in ("+", "-") else text
        if digits.isascii() and digits.isdigit():
            return int(text)
    f = as_float(value)
    if f is None or f != int(f):
        return None
    return int(f)


# -- time ---------------------------------------------------------------------------------------
_RFC3339_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z")


def format_rfc3339(value: dt.datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS[.ffffff]Z` in UTC, trailing zeros of the fraction dropped.

    A naive datetime is taken to be UTC already (what the providers' zone-less times are);
    an aware one is converted.  Years are always four digits, whatever the platform's strftime.
    """
    offset = value.utcoffset()
    if offset:
        value = (value - offset).replace(tzinfo=None)
    text = (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def rfc3339(value: Any) -> str | None:
    """An RFC 3339 UTC timestamp ending in `Z` from ISO 8601 text, or None if it is not one.

    Text already in that form is returned as is (the common case, no parsing); a time
    without a zone is read as UTC; a bare date is its midnight UTC.
    """
    if not isinstance(value, str) or not value:
        return None
    if _RFC3339_Z.fullmatch(value):
        return value
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return format_rfc3339(parsed)


# -- checksums ----------------------------------------------------------------------------------
def _varint(n: int) -> str:
    """The unsigned-varint encoding multihash uses for its code and length, as hex."""
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return out.hex()


def _algorithm_key(name: str) -> str:
    """`SHA-256`, `sha_256`, `sha256sum`, `SHA2-256` → `SHA256`: one spelling per algorithm."""
    key = name.upper().replace("-", "").replace("_", "").replace(" ", "")
    if key.endswith("SUM"):
        key = key[:-3]
    if key.startswith("SHA2") and len(key) == 7:  # SHA2256 / SHA2384 / SHA2512
        key = "SHA" + key[4:]
    return key


# multihash table codes (https://github.com/multiformats/multicodec): algorithm → (code, bytes)
_MULTIHASH_CODES = {
    "MD5": (0xD5, 16),
    "SHA1": (0x11, 20),
    "SHA256": (0x12, 32),
    "SHA384": (0x20, 48),
    "SHA512": (0x13, 64),
}
# algorithm → (multihash prefix: varint code + varint digest length, digest length in hex)
_MULTIHASH: dict[str, tuple[str, int]] = {
    name: (_varint(code) + _varint(size), size * 2)
    for name, (code, size) in _MULTIHASH_CODES.items()
}


def _spellings() -> dict[str, tuple[str, int]]:
    """The spellings providers actually send (`MD5`, `SHA-256`, `sha256sum`…) → table entry,
    so the common case is one dict lookup instead of normalising the name on every asset."""
    out: dict[str, tuple[str, int]] = {}
    for name, spec in _MULTIHASH.items():
        dashed = name if name == "MD5" else f"SHA-{name[3:]}"
        for s in (name, dashed):
            out[s] = out[s.lower()] = out[s.lower() + "sum"] = spec
    return out


_BY_SPELLING = _spellings()
_HEX = re.compile(r"[0-9a-f]+")


def multihash(algorithm: Any, hexdigest: Any) -> str | None:
    """The `file:checksum` multihash (hex) of a digest, or None if it cannot be one.

    `algorithm` is matched in any usual spelling (`MD5`, `SHA-256`, `sha256sum`, `SHA2-512`);
    the digest must be hex of exactly that algorithm's length.  Algorithms without a multihash
    code (Adler-32, Fletcher, POSIX cksum), the ambiguous bare `SHA-2`, and truncated or
    non-hex digests give None: a wrong checksum is worse than none.
    """
    if not isinstance(algorithm, str) or not isinstance(hexdigest, str):
        return None
    spec = _BY_SPELLING.get(algorithm) or _MULTIHASH.get(_algorithm_key(algorithm))
    if spec is None:
        return None
    digest = hexdigest.strip().lower()
    if len(digest) != spec[1] or not _HEX.fullmatch(digest):
        return None
    return spec[0] + digest


# -- DOIs ---------------------------------------------------------------------------------------
# An optional resolver prefix (https://doi.org/, http://dx.doi.org/, doi:), then the DOI: the
# `10.` directory, a numeric registrant code of ≥ 4 digits, `/`, a suffix without whitespace.
# The registrant is numeric as the DOI Handbook has it (CMR's old alphanumeric class admitted
# non-DOIs), and without `.` subdivisions (M2M's old pattern admitted `10.1000.10/x`, which the
# scientific extension's own pattern `^10\.[0-9a-zA-Z]{4,}/[^\s]+$` rejects).
_DOI = re.compile(r"(?:https?://(?:dx\.)?doi\.org/|doi:\s*)?(10\.[0-9]{4,}/\S+)", re.IGNORECASE)


def doi(value: Any) -> str | None:
    """The bare DOI (`10.5067/HLS/HLSL30.002`) in a DOI, `doi:` or resolver URL; else None."""
    if not isinstance(value, str):
        return None
    m = _DOI.fullmatch(value.strip())
    return m.group(1) if m else None


# -- keys ---------------------------------------------------------------------------------------
def unique_key(key: str, taken: Container[str]) -> str:
    """`key` itself if it is free in `taken`, else the first free `key_2`, `key_3`, ….

    Numbering starts at 2 because the key already taken is the first of its name: a second
    browse image is `browse_2`.  Callers on the hot path test `key in assets` first and only
    call this on a clash.
    """
    if key not in taken:
        return key
    i = 2
    while f"{key}_{i}" in taken:
        i += 1
    return f"{key}_{i}"
