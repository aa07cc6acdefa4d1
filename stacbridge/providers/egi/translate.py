"""EGI, pure: asset references, EGI's XML answers, capabilities.  No I/O.

An EGI asset's upstream reference is `egi://request?<EGI query>#<file name>`: the exact EGI
request for one granule (`producer_granule_id`), signed by the proxy like any href, so the
resolver never runs a request that a decoration did not produce.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode
from xml.etree import ElementTree as ET

from stacbridge.protocols import ASSET_SOURCE_KEY, JSON, Interval

PROVIDER = "egi"
REF_SCHEME = "egi://request?"
#: the EGI parameters a reference may carry (anything else is not ours: refused).
REF_PARAMS = frozenset(
    {
        "short_name", "version", "producer_granule_id", "bbox", "time", "Coverage", "format",
        "projection", "request_mode", "agent", "include_meta", "page_size", "client_string",
    }
)  # fmt: skip
ZIP = "application/zip"
#: format value → the slug used in asset keys.
_SLUGS = {"GeoTIFF": "geotiff", "NetCDF4-CF": "netcdf4", "NetCDF-3": "netcdf3", "HDF": "hdf5"}
_NAME_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def slug(fmt: str) -> str:
    return _SLUGS.get(fmt) or _NAME_SAFE.sub("-", fmt.lower())


def split_collection_id(cid: str) -> tuple[str, str] | None:
    """CMR's `<ShortName>.v<Version>` → (short name, version)."""
    short, sep, version = cid.rpartition(".v")
    return (short, version) if sep and short and version else None


@dataclass(frozen=True)
class Capabilities:
    formats: tuple[str, ...]
    variables: tuple[str, ...] = ()
    projections: tuple[str, ...] = ()
    spatial: bool = True
    temporal: bool = True


def parse_capabilities(body: bytes) -> Capabilities:
    root = ET.fromstring(body)
    agents = [e for e in root.iter() if _local(e.tag) == "SubsetAgent"]
    formats: list[str] = []
    variables: list[str] = []
    projections: list[str] = []
    spatial = temporal = False
    for agent in agents:
        spatial |= agent.get("spatialSubsetting") == "true" or agent.get("bboxSubsetting") == "true"
        temporal |= agent.get("temporalSubsetting") == "true"
        for e in agent.iter():
            value = e.get("value")
            kind = _local(e.tag)
            if not value:
                continue
            if kind == "Format" and value not in formats:
                formats.append(value)
            elif kind == "SubsetVariable" and value not in variables:
                variables.append(value)
            elif kind == "Projection" and value not in projections:
                projections.append(value)
    return Capabilities(tuple(formats), tuple(variables), tuple(projections), spatial, temporal)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@dataclass
class AgentResponse:
    """What an `eesi:agentResponse` says (the elements the real one has)."""

    order_id: str | None = None
    status: str | None = None
    processed: int | None = None
    total: int | None = None
    messages: list[str] = field(default_factory=list)
    download_urls: list[str] = field(default_factory=list)


def parse_agent_response(body: bytes) -> AgentResponse:
    root = ET.fromstring(body)
    out = AgentResponse()
    for e in root.iter():
        name, text = _local(e.tag), (e.text or "").strip()
        if name == "orderId" and text:
            out.order_id = text
        elif name == "status" and text:
            out.status = text
        elif name == "numberProcessed" and text.isdigit():
            out.processed = int(text)
        elif name == "totalNumber" and text.isdigit():
            out.total = int(text)
        elif name == "message" and text:
            out.messages.append(text)
        elif name == "downloadUrl" and text:
            out.download_urls.append(text)
    return out


def error_message(body: bytes) -> str | None:
    """EGI's error text from an XML error body (`Code: Message`), None if it has none."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    texts = {_local(e.tag): (e.text or "").strip() for e in root.iter()}
    code, message = texts.get("Code"), texts.get("Message") or texts.get("message")
    if message:
        return f"{code}: {message}" if code else message
    return None


def error_code(body: bytes) -> str | None:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    return next(((e.text or "").strip() for e in root.iter() if _local(e.tag) == "Code"), None)


# --------------------------------------------------------------------------- references


def make_ref(params: dict[str, str], name: str) -> str:
    return f"{REF_SCHEME}{urlencode(sorted(params.items()))}#{name}"


def parse_ref(ref: str) -> dict[str, str] | None:
    if not ref.startswith(REF_SCHEME):
        return None
    query = ref[len(REF_SCHEME) :].split("#", 1)[0]
    params = dict(parse_qsl(query, keep_blank_values=False))
    if not set(params) <= REF_PARAMS or "producer_granule_id" not in params:
        return None
    return params


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def time_param(window: Interval | None) -> str | None:
    if window is None or (window.start is None and window.end is None):
        return None
    start = _iso(window.start) if window.start else ""
    end = _iso(window.end) if window.end else ""
    return f"{start},{end}"


def bbox_param(bbox: tuple[float, ...] | None) -> str | None:
    """EGI's `bbox` (W,S,E,N); None for one crossing the antimeridian, which EGI refuses."""
    if bbox is None:
        return None
    w, s, e, n = (bbox[0], bbox[1], bbox[-3], bbox[-2]) if len(bbox) == 6 else bbox
    if w >= e or s >= n:
        return None
    return ",".join(f"{v:.6f}".rstrip("0").rstrip(".") for v in (w, s, e, n))


def producer_granule_id(item: JSON) -> str | None:
    """The granule's file name: the last path segment of its native data asset."""
    for asset in (item.get("assets") or {}).values():
        href = asset.get("href") if isinstance(asset, dict) else None
        if (
            isinstance(href, str)
            and href.startswith(("https://", "http://"))
            and "data" in (asset.get("roles") or [])
        ):
            name = href.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
            if name:
                return name
    return None


def customised_asset(ref: str, title: str, description: str, *, ordered: bool) -> JSON:
    asset: JSON = {
        "href": ref,
        "type": ZIP,
        "title": title,
        "description": description,
        "roles": ["data"],
        ASSET_SOURCE_KEY: PROVIDER,
    }
    if ordered:
        asset["roles"] = ["data", "order"]
    return asset


def asset_definitions(caps: Capabilities, variable_sets: dict[str, list[str]]) -> dict[str, Any]:
    """`item_assets` for what decoration adds (subset assets appear only in searches)."""
    out: dict[str, Any] = {}
    for fmt in caps.formats:
        s = slug(fmt)
        out[f"data:{s}"] = {
            "type": ZIP,
            "title": f"Whole granule as {fmt} (EGI order)",
            "roles": ["data", "order"],
        }
        out[f"subset:{s}"] = {
            "type": ZIP,
            "title": f"Granule clipped to the search's bbox/datetime, as {fmt} (EGI)",
            "roles": ["data"],
        }
    for name in variable_sets:
        out[f"variables:{name}"] = {
            "type": ZIP,
            "title": f"Variables {name} only (EGI Coverage subset)",
            "roles": ["data"],
        }
    return out
