"""CMR's legacy ATOM-JSON result format (``granules.json``, ``collections.json``).

It is python-cmr's default format, and the one that carries CMR's computed orbit footprints
(``polygons`` of an Orbit-only granule). A record with a recorded ATOM entry
(``fixtures/cmr/granules_json__*``, ``collections_json__*``) is served that entry verbatim (its
data-host URLs mapped like the UMM-JSON ones); any other record, recorded or generated, gets an
entry derived from the same UMM record the ``umm_json`` format serves, with the field names and
value formats of the recorded entries (see `granule_entry` and `collection_entry`).
"""

from __future__ import annotations

from typing import Any

from stacbridge.sandbox.cmr.generator import iso_ms
from stacbridge.sandbox.cmr.temporal import parse_datetime_ms

CONTENT_TYPE = "application/json;charset=utf-8"  # as recorded (no space before charset)
GRANULE_FEED_TITLE = "ECHO granule metadata"
COLLECTION_FEED_TITLE = "ECHO dataset metadata"

_NS = "http://esipfed.org/ns/fedsearch/1.1/"
#: UMM RelatedUrl Type → ATOM link rel, as the recorded entries pair them
_RELS = {
    "GET DATA": "data#",
    "GET DATA VIA DIRECT ACCESS": "s3#",
    "GET RELATED VISUALIZATION": "browse#",
    "USE SERVICE API": "service#",
    "VIEW RELATED INFORMATION": "metadata#",
    "PROJECT HOME PAGE": "metadata#",
    "DATA SET LANDING PAGE": "metadata#",
}
_PLAIN_TITLE_RELS = {"data#", "s3#", "browse#"}
_FORMATS = {
    "application/echo10+xml": "ECHO10",
    "application/iso19115+xml": "ISO19115",
    "application/iso:smap+xml": "ISO_SMAP",
    "application/dif10+xml": "DIF10",
    "application/dif+xml": "DIF",
}


def _n(value: float) -> str:
    """A coordinate as CMR writes it: integers bare (``-90``), others in full (``62.328467``)."""
    v = float(value)
    return str(int(v)) if v.is_integer() else repr(v)


def _time(value: str | None) -> str | None:
    return iso_ms(parse_datetime_ms(value)) if value else None


def _original_format(meta: dict) -> str:
    fmt = str(meta.get("format") or "")
    return _FORMATS.get(fmt, "UMM_JSON" if "umm+json" in fmt else fmt.upper() or "UMM_JSON")


def _links(related: list[dict], *, granule: bool) -> list[dict]:
    out = []
    for ru in related or []:
        url = ru.get("URL")
        if not url:
            continue
        kind = ru.get("Type") or ""
        sub = ru.get("Subtype")
        rel = _RELS.get(kind, "metadata#" if granule else "documentation#")
        if sub and "OPENDAP" in sub:
            rel = "service#"
        link: dict[str, Any] = {"rel": _NS + rel}
        if ru.get("MimeType"):
            link["type"] = ru["MimeType"]
        description = ru.get("Description")
        if description:
            if rel in _PLAIN_TITLE_RELS:
                link["title"] = description
            else:
                link["title"] = f"{description} ({kind}{' : ' + sub if sub else ''})"
        link["hreflang"] = "en-US"
        link["href"] = url
        out.append(link)
    return out


def _shapes(geometry: dict) -> dict[str, list]:
    """``boxes`` ("S W N E"), ``polygons`` ([["lat lon …", holes…]]), ``points``, ``lines``."""
    out: dict[str, list] = {}

    def latlon(points: list[dict]) -> str:
        return " ".join(f"{_n(p['Latitude'])} {_n(p['Longitude'])}" for p in points)

    boxes = [
        f"{_n(b['SouthBoundingCoordinate'])} {_n(b['WestBoundingCoordinate'])} "
        f"{_n(b['NorthBoundingCoordinate'])} {_n(b['EastBoundingCoordinate'])}"
        for b in geometry.get("BoundingRectangles") or []
    ]
    if boxes:
        out["boxes"] = boxes
    polygons = [
        [
            latlon(gp["Boundary"]["Points"]),
            *(latlon(h["Points"]) for h in (gp.get("ExclusiveZone") or {}).get("Boundaries") or []),
        ]
        for gp in geometry.get("GPolygons") or []
    ]
    if polygons:
        out["polygons"] = polygons
    points = [f"{_n(p['Latitude'])} {_n(p['Longitude'])}" for p in geometry.get("Points") or []]
    if points:
        out["points"] = points
    lines = [latlon(line["Points"]) for line in geometry.get("Lines") or []]
    if lines:
        out["lines"] = lines
    return out


def _size_mb(archive: list[dict]) -> str | None:
    """``granule_size``: the sum of the files' ``Size`` in MB (as recorded: Daymet's 2.015649 is
    its ``Size``, not ``SizeInBytes`` / 2**20), else of ``SizeInBytes`` / 2**20."""
    total = 0.0
    seen = False
    for a in archive or []:
        if isinstance(a.get("Size"), (int, float)):
            unit = str(a.get("SizeUnit") or "MB").upper()
            factor = {"KB": 1 / 1024, "MB": 1.0, "GB": 1024.0, "TB": 1024.0**2}.get(unit, 1.0)
            total += a["Size"] * factor
            seen = True
        elif isinstance(a.get("SizeInBytes"), (int, float)):
            total += a["SizeInBytes"] / 1_048_576
            seen = True
    return repr(total) if seen else None


def granule_entry(item: dict, collection: dict | None) -> dict:
    """The ATOM-JSON entry CMR renders for a UMM-G search item (``{"meta", "umm"}``).

    `collection` is the granule's UMM-C (its EntryTitle and GranuleSpatialRepresentation).
    Derived, not recorded: the rendering of CMR's echo10-based titles of non-data links, the
    collection's inherited links (left out) and ``cloud_cover`` as a string.
    """
    meta, umm = item["meta"], item["umm"]
    coll = collection or {}
    dg = umm.get("DataGranule") or {}
    rdt = (umm.get("TemporalExtent") or {}).get("RangeDateTime") or {}
    single = (umm.get("TemporalExtent") or {}).get("SingleDateTime")
    updated = next(
        (d["Date"] for d in umm.get("ProviderDates") or [] if d.get("Type") == "Update"),
        meta.get("revision-date"),
    )
    types = {ru.get("Type") for ru in umm.get("RelatedUrls") or []}
    entry: dict[str, Any] = {}
    producer = next(
        (
            i.get("Identifier")
            for i in dg.get("Identifiers") or []
            if i.get("IdentifierType") == "ProducerGranuleId"
        ),
        None,
    )
    if producer:
        entry["producer_granule_id"] = producer
    entry["time_start"] = _time(rdt.get("BeginningDateTime") or single)
    entry["updated"] = _time(updated)
    entry["dataset_id"] = coll.get("EntryTitle") or (umm.get("CollectionReference") or {}).get(
        "EntryTitle"
    )
    entry["data_center"] = meta.get("provider-id")
    entry["title"] = umm.get("GranuleUR")
    entry["coordinate_system"] = (coll.get("SpatialExtent") or {}).get(
        "GranuleSpatialRepresentation"
    ) or "CARTESIAN"
    if dg.get("DayNightFlag"):
        entry["day_night_flag"] = str(dg["DayNightFlag"]).upper()
    if rdt.get("EndingDateTime") or single:
        entry["time_end"] = _time(rdt.get("EndingDateTime") or single)
    entry["id"] = meta.get("concept-id")
    entry["original_format"] = _original_format(meta)
    size = _size_mb(dg.get("ArchiveAndDistributionInformation") or [])
    if size is not None:
        entry["granule_size"] = size
    entry["browse_flag"] = "GET RELATED VISUALIZATION" in types
    if isinstance(umm.get("CloudCover"), (int, float)):
        entry["cloud_cover"] = str(umm["CloudCover"])
    geometry = ((umm.get("SpatialExtent") or {}).get("HorizontalSpatialDomain") or {}).get(
        "Geometry"
    ) or {}
    entry.update(_shapes(geometry))
    entry["collection_concept_id"] = meta.get("collection-concept-id") or coll.get("_concept_id")
    entry["online_access_flag"] = "GET DATA" in types or "GET DATA VIA DIRECT ACCESS" in types
    entry["links"] = _links(umm.get("RelatedUrls") or [], granule=True)
    return {k: v for k, v in entry.items() if v is not None}


def collection_entry(item: dict, cloud_hosted: bool) -> dict:
    """The ATOM-JSON entry CMR renders for a UMM-C search item, with the recorded SWOT entry's
    field names. Derived, not recorded: ``organizations`` (data-centre short names, archive
    first), no ``associations``/``service_features``/``orbit_parameters``/``consortiums``."""
    meta, umm = item["meta"], item["umm"]
    centres = umm.get("DataCenters") or []
    archive = next(
        (dc.get("ShortName") for dc in centres if "ARCHIVER" in (dc.get("Roles") or [])), None
    )
    ranges = [r for te in umm.get("TemporalExtents") or [] for r in te.get("RangeDateTimes") or []]
    updated = next(
        (d["Date"] for d in umm.get("MetadataDates") or [] if d.get("Type") == "UPDATE"),
        meta.get("revision-date"),
    )
    spatial = umm.get("SpatialExtent") or {}
    geometry = (spatial.get("HorizontalSpatialDomain") or {}).get("Geometry") or {}
    types = {ru.get("Type") for ru in umm.get("RelatedUrls") or []}
    entry: dict[str, Any] = {}
    level = (umm.get("ProcessingLevel") or {}).get("Id")
    if level:
        entry["processing_level_id"] = str(level)
    entry["cloud_hosted"] = cloud_hosted
    entry.update({k: v for k, v in _shapes(geometry).items() if k == "boxes"})
    starts = [r.get("BeginningDateTime") for r in ranges if r.get("BeginningDateTime")]
    if starts:
        entry["time_start"] = _time(min(starts, key=parse_datetime_ms))
    ends = [r.get("EndingDateTime") for r in ranges]
    if ends and all(ends):
        entry["time_end"] = _time(max(ends, key=parse_datetime_ms))
    entry["version_id"] = str(umm.get("Version", ""))
    entry["updated"] = _time(updated)
    entry["dataset_id"] = umm.get("EntryTitle")
    entry["data_center"] = meta.get("provider-id")
    entry["short_name"] = umm.get("ShortName")
    names = [dc.get("ShortName") for dc in centres if dc.get("ShortName")]
    if archive in names:
        names.remove(archive)
        names.insert(0, archive)
    entry["organizations"] = names
    entry["title"] = umm.get("EntryTitle")
    entry["coordinate_system"] = spatial.get("GranuleSpatialRepresentation") or "CARTESIAN"
    entry["summary"] = umm.get("Abstract")
    entry.update({k: v for k, v in _shapes(geometry).items() if k != "boxes"})
    entry["id"] = meta.get("concept-id")
    entry["original_format"] = _original_format(meta)
    if archive:
        entry["archive_center"] = archive
    entry["browse_flag"] = "GET RELATED VISUALIZATION" in types
    entry["platforms"] = [p.get("ShortName") for p in umm.get("Platforms") or []]
    entry["online_access_flag"] = "GET DATA" in types or cloud_hosted
    entry["links"] = _links(umm.get("RelatedUrls") or [], granule=False)
    return {k: v for k, v in entry.items() if v is not None}
