"""The in-memory records the catalogue searches, read out of UMM-G / UMM-C JSON.

Each record keeps the served bytes next to the few fields the filters need, so a
search never re-parses JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from stacbridge.sandbox.cmr.generator import ring_geometry
from stacbridge.sandbox.cmr.spatial import bbox_geometry
from stacbridge.sandbox.cmr.temporal import _TimeRange, parse_datetime_ms


@dataclass
class _Granule:
    concept_id: str
    seq: int
    provider: str
    collection_id: str
    granule_ur: str
    producer_id: str | None
    start_ms: int | None
    end_ms: int | None
    geoms: list[BaseGeometry]
    cloud: float | None
    revision_date: str
    body: bytes
    facts: _GranuleFacts | None = None

    @property
    def provider_lower(self) -> str:
        return self.provider.lower()


@dataclass
class _GranuleFacts:
    """What the non-identity granule parameters are evaluated against (UMM-G and its meta)."""

    native_id: str
    platforms: list[str]
    instruments: list[str]
    day_night: str | None
    revision_ms: int | None
    production_ms: int | None
    downloadable: bool  # a RelatedUrl of type GET DATA (CMR's OnlineAccessURL)
    browsable: bool  # a RelatedUrl of type GET RELATED VISUALIZATION (a browse image)
    attributes: dict[str, list[str]]


def _granule_facts(meta: dict, umm: dict) -> _GranuleFacts:
    platforms = [p.get("ShortName", "") for p in umm.get("Platforms") or []]
    instruments = [
        i.get("ShortName", "")
        for p in umm.get("Platforms") or []
        for i in p.get("Instruments") or []
    ]
    types = {ru.get("Type") for ru in umm.get("RelatedUrls") or []}
    dg = umm.get("DataGranule") or {}
    production = dg.get("ProductionDateTime")
    revision = meta.get("revision-date")
    return _GranuleFacts(
        native_id=meta.get("native-id", ""),
        platforms=platforms,
        instruments=instruments,
        day_night=dg.get("DayNightFlag"),
        revision_ms=parse_datetime_ms(revision) if revision else None,
        production_ms=parse_datetime_ms(production) if production else None,
        downloadable="GET DATA" in types,
        browsable="GET RELATED VISUALIZATION" in types,
        attributes={
            a["Name"]: [str(v) for v in a.get("Values") or []]
            for a in umm.get("AdditionalAttributes") or []
            if a.get("Name")
        },
    )


@dataclass
class _Collection:
    concept_id: str
    seq: int
    revision: int
    provider: str
    short_name: str
    version: str
    entry_title: str
    text: str  # lower-cased keyword haystack
    cloud_hosted: bool
    ranges: list[_TimeRange]
    geoms: list[BaseGeometry]
    platforms: list[str]
    instruments: list[str]
    body: bytes
    derived: bool
    start_ms: int | None = None
    end_ms: int | None = None
    facts: _CollectionFacts | None = None

    @property
    def parsed_version(self) -> str:
        try:
            return str(int(self.version))
        except ValueError:
            return self.version


@dataclass
class _CollectionFacts:
    """What the non-identity collection parameters are evaluated against (UMM-C and meta)."""

    native_id: str
    doi: str | None
    processing_level: str | None
    data_centers: list[tuple[str, list[str]]]  # (ShortName, Roles)
    projects: list[str]
    science_keywords: list[dict[str, str]]
    location_keywords: list[str]
    formats: list[str]
    revision_ms: int | None


_SK_FIELDS = {
    "Category": "category", "Topic": "topic", "Term": "term",
    "VariableLevel1": "variable_level_1", "VariableLevel2": "variable_level_2",
    "VariableLevel3": "variable_level_3", "DetailedVariable": "detailed_variable",
}  # fmt: skip


def _collection_facts(meta: dict, umm: dict) -> _CollectionFacts:
    archive = umm.get("ArchiveAndDistributionInformation") or {}
    formats = [
        str(f["Format"])
        for key in ("FileDistributionInformation", "FileArchiveInformation")
        for f in archive.get(key) or []
        if f.get("Format")
    ]
    revision = meta.get("revision-date")
    return _CollectionFacts(
        native_id=meta.get("native-id", ""),
        doi=(umm.get("DOI") or {}).get("DOI"),
        processing_level=(umm.get("ProcessingLevel") or {}).get("Id"),
        data_centers=[
            (dc.get("ShortName", ""), list(dc.get("Roles") or []))
            for dc in umm.get("DataCenters") or []
        ],
        projects=[p.get("ShortName", "") for p in umm.get("Projects") or []],
        science_keywords=[
            {_SK_FIELDS[k]: str(v) for k, v in kw.items() if k in _SK_FIELDS}
            for kw in umm.get("ScienceKeywords") or []
        ],
        location_keywords=[
            str(v) for kw in umm.get("LocationKeywords") or [] for v in kw.values() if v
        ],
        formats=formats,
        revision_ms=parse_datetime_ms(revision) if revision else None,
    )


def _seq(concept_id: str) -> int:
    m = re.match(r"^[A-Z]+(\d+)-", concept_id)
    return int(m.group(1)) if m else 0


def _umm_range(umm: dict) -> tuple[int | None, int | None]:
    te = umm.get("TemporalExtent") or {}
    rdt = te.get("RangeDateTime")
    if rdt:
        start = rdt.get("BeginningDateTime")
        end = rdt.get("EndingDateTime")
        return (
            parse_datetime_ms(start) if start else None,
            parse_datetime_ms(end) if end else None,
        )
    single = te.get("SingleDateTime")
    if single:
        ms = parse_datetime_ms(single)
        return ms, ms
    return None, None


def _umm_geometries(umm: dict, legacy: dict | None = None) -> list[BaseGeometry]:
    hsd = (umm.get("SpatialExtent") or {}).get("HorizontalSpatialDomain") or {}
    geom = hsd.get("Geometry") or {}
    out: list[BaseGeometry] = []
    for br in geom.get("BoundingRectangles") or []:
        out.append(
            bbox_geometry(
                br["WestBoundingCoordinate"],
                br["SouthBoundingCoordinate"],
                br["EastBoundingCoordinate"],
                br["NorthBoundingCoordinate"],
            )
        )
    for gp in geom.get("GPolygons") or []:
        pts = [(p["Longitude"], p["Latitude"]) for p in gp["Boundary"]["Points"]]
        out.append(ring_geometry(pts))
    for p in geom.get("Points") or []:
        out.append(Point(p["Longitude"], p["Latitude"]))
    for line in geom.get("Lines") or []:
        out.append(LineString([(p["Longitude"], p["Latitude"]) for p in line["Points"]]))
    if not out and legacy:
        # Orbit-only UMM-G: use the footprint CMR computed (recorded in the legacy JSON twin).
        for poly in legacy.get("polygons") or []:
            nums = [float(x) for x in poly[0].split()]
            out.append(ring_geometry(list(zip(nums[1::2], nums[0::2], strict=True))))
    return out


def _umm_cloud(umm: dict) -> float | None:
    if isinstance(umm.get("CloudCover"), (int, float)):
        return float(umm["CloudCover"])
    for attr in umm.get("AdditionalAttributes") or []:
        if attr.get("Name") == "CLOUD_COVERAGE" and attr.get("Values"):
            try:
                return float(attr["Values"][0])
            except ValueError:
                return None
    return None


def _producer_id(umm: dict) -> str | None:
    for ident in (umm.get("DataGranule") or {}).get("Identifiers") or []:
        if ident.get("IdentifierType") == "ProducerGranuleId":
            return ident.get("Identifier")
    return None


def _collection_ranges(umm: dict) -> list[_TimeRange]:
    ranges = []
    for te in umm.get("TemporalExtents") or []:
        for r in te.get("RangeDateTimes") or []:
            begin, end = r.get("BeginningDateTime"), r.get("EndingDateTime")
            ranges.append(
                _TimeRange(
                    parse_datetime_ms(begin) if begin else None,
                    parse_datetime_ms(end) if end else None,
                )
            )
        for single in te.get("SingleDateTimes") or []:
            ms = parse_datetime_ms(single)
            ranges.append(_TimeRange(ms, ms))
    return ranges


def _keyword_text(umm: dict, meta: dict) -> str:
    parts: list[str] = [meta.get("concept-id", "")]
    for key in ("ShortName", "EntryTitle", "Abstract", "Version", "Purpose"):
        if isinstance(umm.get(key), str):
            parts.append(umm[key])
    doi = umm.get("DOI") or {}
    if doi.get("DOI"):
        parts.append(doi["DOI"])
    for kw in umm.get("ScienceKeywords") or []:
        parts.extend(str(v) for v in kw.values())
    for kw in umm.get("LocationKeywords") or []:
        parts.extend(str(v) for v in kw.values())
    parts.extend(umm.get("AncillaryKeywords") or [])
    for plat in umm.get("Platforms") or []:
        parts.extend([plat.get("ShortName", ""), plat.get("LongName", "")])
        for inst in plat.get("Instruments") or []:
            parts.extend([inst.get("ShortName", ""), inst.get("LongName", "")])
    for proj in umm.get("Projects") or []:
        parts.extend([proj.get("ShortName", ""), proj.get("LongName", "")])
    for dc in umm.get("DataCenters") or []:
        parts.extend([dc.get("ShortName", ""), dc.get("LongName", "") or ""])
    pl = umm.get("ProcessingLevel") or {}
    if pl.get("Id"):
        parts.append(str(pl["Id"]))
    return "\n".join(p for p in parts if p).lower()


def _collection_entry(item: dict, body: bytes, derived: bool) -> _Collection:
    meta, umm = item["meta"], item["umm"]
    ranges = _collection_ranges(umm)
    starts = [r.start for r in ranges if r.start is not None]
    ends = [r.end for r in ranges]
    platforms = [p.get("ShortName", "") for p in umm.get("Platforms") or []]
    instruments = [
        i.get("ShortName", "")
        for p in umm.get("Platforms") or []
        for i in p.get("Instruments") or []
    ]
    cloud = bool(
        umm.get("DirectDistributionInformation")
        or meta.get("s3-links")
        or meta["provider-id"].upper().endswith("CLOUD")
    )
    return _Collection(
        concept_id=meta["concept-id"],
        seq=_seq(meta["concept-id"]),
        revision=int(meta.get("revision-id", 1)),
        provider=meta["provider-id"],
        short_name=umm.get("ShortName", ""),
        version=str(umm.get("Version", "")),
        entry_title=umm.get("EntryTitle", ""),
        text=_keyword_text(umm, meta),
        cloud_hosted=cloud,
        ranges=ranges,
        geoms=_umm_collection_geoms(umm),
        platforms=platforms,
        instruments=instruments,
        body=body,
        derived=derived,
        start_ms=min(starts) if starts else None,
        end_ms=None if (not ends or None in ends) else max(e for e in ends if e is not None),
        facts=_collection_facts(meta, umm),
    )


def _umm_collection_geoms(umm: dict) -> list[BaseGeometry]:
    return _umm_geometries(umm)
