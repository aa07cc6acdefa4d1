"""Collection records CMR would have but no recording holds, derived deterministically.

Every derivation is listed in the package docstring; the records are marked
``user-id: stacbridge-sandbox-derived`` so nobody mistakes them for recordings.
"""

from __future__ import annotations

import json
import re
from typing import Any

from shapely.ops import unary_union

from stacbridge.sandbox.cmr.generator import HLSL30_CONCEPT_ID, iso_ms
from stacbridge.sandbox.cmr.records import _umm_geometries, _umm_range

HLSS30_CONCEPT_ID = "C2021957295-LPCLOUD"
SWOT_REACH_CONCEPT_ID = "C2799438303-POCLOUD"
HLSL30_ENTRY_TITLE_FALLBACK = (
    "HLS Landsat Operational Land Imager Surface Reflectance and TOA Brightness Daily Global "
    "30m v2.0"
)


def _meta(
    concept_id: str,
    provider: str,
    native_id: str,
    revision_date: str,
    *,
    revision: int = 1,
    s3_links: list[str] | None = None,
    user_id: str = "stacbridge-sandbox-derived",
) -> dict:
    meta: dict[str, Any] = {
        "revision-id": revision,
        "deleted": False,
        "format": "application/vnd.nasa.cmr.umm+json",
        "provider-id": provider,
        "has-combine": False,
        "user-id": user_id,
        "has-formats": False,
    }
    if s3_links:
        meta["s3-links"] = s3_links
    meta.update(
        {
            "has-spatial-subsetting": False,
            "native-id": native_id,
            "has-transforms": False,
            "has-variables": False,
            "concept-id": concept_id,
            "revision-date": revision_date,
            "has-temporal-subsetting": False,
            "concept-type": "collection",
        }
    )
    return meta


_UMM_C_SPEC = {
    "URL": "https://cdn.earthdata.nasa.gov/umm/collection/v1.18.4",
    "Name": "UMM-C",
    "Version": "1.18.4",
}


def _s3_links(items: list[dict]) -> list[str]:
    links: list[str] = []
    for item in items:
        for ru in item["umm"].get("RelatedUrls") or []:
            m = re.match(r"^s3://([^/]+)/([^/]+)/", ru.get("URL", ""))
            if m:
                link = f"{m.group(1)}/{m.group(2)}/"
                if link not in links:
                    links.append(link)
    return links


def _hlss30_item(hlss30: dict) -> dict:
    """The bare HLSS30 UMM-C wrapped in a synthesised meta (the UMM-C itself is verbatim)."""
    updated = next(
        (d["Date"] for d in hlss30.get("MetadataDates", []) if d.get("Type") == "UPDATE"),
        "2022-09-08T13:54:00.000Z",
    )
    meta = _meta(
        HLSS30_CONCEPT_ID,
        "LPCLOUD",
        f"{hlss30['ShortName']}.v{hlss30['Version']}",
        updated,
        s3_links=["lp-prod-protected/HLSS30.020/", "lp-prod-public/HLSS30.020/"],
        user_id="stacbridge-sandbox",
    )
    return {"meta": meta, "umm": hlss30}


def _hlsl30_item(hlss30: dict, granule_items: list[dict]) -> dict:
    """DERIVED: HLSL30 v2.0 from the HLSS30 v2.0 UMM-C (the two records are siblings)."""
    entry_title = HLSL30_ENTRY_TITLE_FALLBACK
    for item in granule_items:
        title = (item["umm"].get("CollectionReference") or {}).get("EntryTitle")
        if title:
            entry_title = title
            break
    text = json.dumps(hlss30, ensure_ascii=False)
    text = text.replace(json.dumps(hlss30["EntryTitle"])[1:-1], entry_title)
    text = text.replace("HLSS30 and HLSL30", "@@PAIR@@")  # a sentence naming both products
    text = text.replace("HLSS30", "HLSL30").replace("HLS_S30", "HLS_L30")
    text = text.replace("@@PAIR@@", "HLSS30 and HLSL30")
    text = text.replace(HLSS30_CONCEPT_ID, HLSL30_CONCEPT_ID)
    umm = json.loads(text)
    umm["Abstract"] = (
        umm["Abstract"]
        .replace(
            "is derived from Sentinel-2A and Sentinel-2B MSI data products",
            "is derived from Landsat 8 and Landsat 9 Operational Land Imager (OLI) data products",
        )
        .replace("There are 13 bands included", "There are 11 bands included")
    )
    umm["Platforms"] = [
        {
            "Type": "Earth Observation Satellites",
            "ShortName": name,
            "LongName": long_name,
            "Instruments": [
                {"ShortName": "OLI", "LongName": "Operational Land Imager"},
                {"ShortName": "TIRS", "LongName": "Thermal Infrared Sensor"},
            ],
        }
        for name, long_name in (("LANDSAT-8", "Landsat 8"), ("LANDSAT-9", "Landsat 9"))
    ]
    umm["TemporalExtents"] = [
        {
            "EndsAtPresentFlag": True,
            "RangeDateTimes": [{"BeginningDateTime": "2013-04-11T00:00:00.000Z"}],
        }
    ]
    umm["AdditionalAttributes"] = [
        a
        for a in umm.get("AdditionalAttributes", [])
        if not a["Name"].startswith("MSI_") and a["Name"] != "PROCESSING_BASELINE"
    ]
    updated = next(
        (d["Date"] for d in umm.get("MetadataDates", []) if d.get("Type") == "UPDATE"),
        "2022-09-08T13:54:00.000Z",
    )
    meta = _meta(
        HLSL30_CONCEPT_ID,
        "LPCLOUD",
        "HLSL30.v2.0",
        updated,
        s3_links=_s3_links(granule_items)
        or ["lp-prod-protected/HLSL30.020/", "lp-prod-public/HLSL30.020/"],
    )
    return {"meta": meta, "umm": umm}


def _swot_item(entry: dict, granule_items: list[dict]) -> dict:
    """DERIVED: UMM-C from the recorded legacy ATOM-JSON collection entry."""
    boxes = []
    for b in entry.get("boxes") or []:
        s, w, n, e = (float(x) for x in b.split())
        boxes.append(
            {
                "WestBoundingCoordinate": w,
                "NorthBoundingCoordinate": n,
                "EastBoundingCoordinate": e,
                "SouthBoundingCoordinate": s,
            }
        )
    cs = entry.get("coordinate_system", "CARTESIAN")
    umm: dict[str, Any] = {
        "ShortName": entry["short_name"],
        "Version": entry["version_id"],
        "EntryTitle": entry["dataset_id"],
        "Abstract": entry.get("summary", entry["dataset_id"]),
        "DOI": {"MissingReason": "Unknown", "Explanation": "Not in the recorded legacy entry."},
        "ProcessingLevel": {"Id": entry.get("processing_level_id", "Not provided")},
        "Platforms": [{"ShortName": p} for p in entry.get("platforms") or []],
        "TemporalExtents": [
            {
                "EndsAtPresentFlag": True,
                "RangeDateTimes": [{"BeginningDateTime": entry["time_start"]}],
            }
        ],
        "SpatialExtent": {
            "HorizontalSpatialDomain": {
                "Geometry": {"CoordinateSystem": cs, "BoundingRectangles": boxes}
            },
            "GranuleSpatialRepresentation": cs,
        },
        "DataCenters": [{"Roles": ["ARCHIVER"], "ShortName": entry.get("archive_center", "")}],
        "MetadataSpecification": _UMM_C_SPEC,
    }
    meta = _meta(
        entry["id"],
        entry["data_center"],
        entry["short_name"],
        entry.get("updated", "2022-07-20T18:09:34.000Z"),
        revision=17,
        s3_links=_s3_links(granule_items),
    )
    return {"meta": meta, "umm": umm}


def _derived_item(coll_id: str, items: list[dict], legacy: dict[str, dict]) -> dict:
    """DERIVED: a minimal UMM-C from a collection's recorded granules (see module docstring)."""
    umm0 = items[0]["umm"]
    ref = umm0.get("CollectionReference") or {}
    leg = legacy.get(items[0]["meta"]["concept-id"], {})
    short_name, version = ref.get("ShortName"), ref.get("Version")
    if not short_name:
        m = re.match(r"^SC:([^.]+)\.(\w+):", umm0.get("GranuleUR", ""))
        short_name, version = (m.group(1), m.group(2)) if m else (coll_id, "Not provided")
    entry_title = ref.get("EntryTitle") or leg.get("dataset_id") or f"{short_name} v{version}"
    starts, ends, geoms, platforms, revdates = [], [], [], [], []
    for item in items:
        start, end = _umm_range(item["umm"])
        if start is not None:
            starts.append(start)
        ends.append(end if end is not None else start)
        geoms += _umm_geometries(item["umm"], legacy.get(item["meta"]["concept-id"]))
        revdates.append(item["meta"].get("revision-date", ""))
        for p in item["umm"].get("Platforms") or []:
            plat = {"ShortName": p["ShortName"]}
            if p.get("Instruments"):
                plat["Instruments"] = [{"ShortName": i["ShortName"]} for i in p["Instruments"]]
            if plat not in platforms:
                platforms.append(plat)
    cs = (leg.get("coordinate_system") or "").upper()
    if not cs:
        has_poly = any(
            ((it["umm"].get("SpatialExtent") or {}).get("HorizontalSpatialDomain") or {})
            .get("Geometry", {})
            .get("GPolygons")
            for it in items
        )
        cs = "GEODETIC" if has_poly else "CARTESIAN"
    rects = []
    if geoms:
        w, s, e, n = unary_union(geoms).bounds
        rects.append(
            {
                "WestBoundingCoordinate": max(-180.0, w),
                "NorthBoundingCoordinate": min(90.0, n),
                "EastBoundingCoordinate": min(180.0, e),
                "SouthBoundingCoordinate": max(-90.0, s),
            }
        )
    valid_ends = [e for e in ends if e is not None]
    umm: dict[str, Any] = {
        "ShortName": short_name,
        "Version": version,
        "EntryTitle": entry_title,
        "Abstract": (
            f"{entry_title}. Collection record derived by the stacbridge CMR sandbox from "
            "recorded granule metadata; the real UMM-C was not recorded."
        ),
        "DOI": {"MissingReason": "Unknown", "Explanation": "Derived record; DOI not recorded."},
        "TemporalExtents": [
            {
                "EndsAtPresentFlag": False,
                "RangeDateTimes": [
                    {
                        "BeginningDateTime": iso_ms(min(starts)) if starts else None,
                        "EndingDateTime": iso_ms(max(valid_ends)) if valid_ends else None,
                    }
                ],
            }
        ],
        "SpatialExtent": {
            "HorizontalSpatialDomain": {
                "Geometry": {
                    "CoordinateSystem": "GEODETIC" if cs == "GEODETIC" else "CARTESIAN",
                    "BoundingRectangles": rects,
                }
            },
            "GranuleSpatialRepresentation": cs,
        },
        "MetadataSpecification": _UMM_C_SPEC,
    }
    if platforms:
        umm["Platforms"] = platforms
    meta = _meta(
        coll_id,
        items[0]["meta"]["provider-id"],
        f"{short_name}_{version}",
        max(revdates),
        s3_links=_s3_links(items),
    )
    return {"meta": meta, "umm": umm}
