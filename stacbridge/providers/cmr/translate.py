"""NASA CMR UMM JSON → STAC 1.0.0 dicts.  Pure functions, no I/O.

`granule_to_item` turns one element of a `granules.umm_json` `items` array into a STAC Item,
`collection_to_stac` one element of a `collections.umm_json` `items` array into a Collection.
Both return plain dicts with *upstream* asset hrefs and `links: []` (collections may carry
license / DOI / documentation links): the gateway adds self/parent/collection/root links and
rewrites asset hrefs through the signing proxy.  CMR concept ids are not copied into the STAC
objects; `granule_concept_id`, `granule_collection_concept_id` and `collection_concept_id`
read them from the same record.

What CMR does not state is left out rather than guessed: no footprint for orbit-only
granules, no `proj:*` unless the granule's own attributes give the grid, no `file:size` for an
archive entry that cannot be tied to one file.

Titles: an Item is titled with the granule's readable name (producer granule id, else the
GranuleUR's name part); an asset keeps a link description that says what it is, while the
"Download <file>" boilerplate most DAACs write is replaced by the band (HLS), the kind and format
("Data file (NetCDF)", "SHA-256 checksum of …", "ISO 19115 metadata (XML)") or "Browse image".

`granule_to_item` is on the hot path (design §9: ≥ 20,000 granules/s/core), so it reads the
record with plain dict lookups, keeps its tables at module level, and its geometry is plain
Python: `stacbridge.stac.geometry` only reaches for shapely/antimeridian for the rare footprints its
own antimeridian cut does not handle.
Output dicts may share small immutable-by-convention lists (e.g. `proj:transform` across the
assets of one Item): treat the result as read-only or copy it before mutating nested values.
"""

from __future__ import annotations

import re
from typing import Any

from stacbridge.stac import geometry as geo
from stacbridge.stac import values
from stacbridge.stac.extensions import collection_extensions
from stacbridge.stac.items import STAC_VERSION, item_dict
from stacbridge.stac.media import BY_EXTENSION, COG, GEOTIFF, HTML, LABELS, PDF, media_type
from stacbridge.stac.values import as_float, as_int, multihash, rfc3339, unique_key

JSON = dict[str, Any]


# Collections whose GeoTIFFs are known to be COGs (their UMM-C says "Cloud Optimized GeoTIFF";
# `collection_is_cog` reads that from a UMM-C record for anything not listed here).
KNOWN_COG_COLLECTIONS = frozenset(
    {
        "HLSL30.v2.0",
        "HLSS30.v2.0",
        "C2021957657-LPCLOUD",  # HLSL30 v2.0
        "C2021957295-LPCLOUD",  # HLSS30 v2.0
    }
)

# Extensions stripped from file names when deriving asset keys (`B03.tif` → `B03`).
_STRIP_EXTS = frozenset(BY_EXTENSION) | {"gz", "bz2", "tar", "tgz", "grb", "grb2", "grib", "bin"}

# Checksum sidecar files (`x.nc.sha256`).
_CHECKSUM_EXTS = frozenset({"md5", "sha1", "sha256", "sha512"})


# Size units: decimal and binary multipliers.  `Size`+`SizeUnit` is turned into bytes only
# when exactly one reading gives a whole number of bytes (providers differ: ORNL writes
# 2.015649 MB for 2,015,649 bytes, PO.DAAC 0.98805... MB for 1,036,053 bytes).
_UNITS = {
    "KB": (1e3, 1024.0),
    "MB": (1e6, 1024.0**2),
    "GB": (1e9, 1024.0**3),
    "TB": (1e12, 1024.0**4),
    "PB": (1e15, 1024.0**5),
}

# RelatedUrl Type → asset category.  Keyed by what a record may hold (`Type` can be missing):
# a lookup with None finds nothing.
_DATA, _DIRECT, _BROWSE, _META, _INFO, _SERVICE = range(6)
_URL_TYPES: dict[str | None, int] = {
    "GET DATA": _DATA,
    "GET DATA VIA DIRECT ACCESS": _DIRECT,
    "GET RELATED VISUALIZATION": _BROWSE,
    "EXTENDED METADATA": _META,
    "VIEW RELATED INFORMATION": _INFO,
    "USE SERVICE API": _SERVICE,
    "GET SERVICE": _SERVICE,
}
# Visualisation links that are tools, not pictures of the granule.
_TOOL_SUBTYPES = frozenset({"GIOVANNI", "WORLDVIEW", "SOTO"})
# Placeholder values CMR metadata uses for "nothing here".
_PLACEHOLDERS = frozenset({"NONE", "NOT PROVIDED", "NOT APPLICABLE", "N/A", "NA", "UNKNOWN"})
_SERVICE_KEYS: dict[str | None, str] = {"OPENDAP DATA": "opendap", "THREDDS DATA": "thredds"}
_KEY_SEPS = "._-"
_S3_TITLE = "Direct S3 access"

# Asset titles.  Most DAACs describe every link as "Download <file name>" (LAADS: "This file may
# be downloaded directly from this link"), which says how to get the file but not what it is:
# such descriptions, and missing ones, are replaced by what the translator knows the file to
# be; any other description is kept.
_BOILERPLATE = "Download "
_BOILERPLATE_END = " this link"
_BROWSE_TITLE = "Browse image"
_DATA_TITLES: dict[str | None, str] = {mt: f"Data file ({label})" for mt, label in LABELS.items()}
_CHECKSUM_NAMES = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256", "sha512": "SHA-512"}
_METADATA_NAMES = {"iso": "ISO 19115 metadata", "cmr": "CMR metadata", "stac": "STAC metadata"}
# HLS v2.0 band files by asset key (LP DAAC's HLS User Guide, band designations per sensor)
_HLS_COMMON = {
    "B01": "Coastal aerosol (B01)",
    "B02": "Blue (B02)",
    "B03": "Green (B03)",
    "B04": "Red (B04)",
    "Fmask": "Quality assessment bits (Fmask)",
    "SAA": "Sun azimuth angle (SAA)",
    "SZA": "Sun zenith angle (SZA)",
    "VAA": "View azimuth angle (VAA)",
    "VZA": "View zenith angle (VZA)",
}
_HLS_L30 = {
    **_HLS_COMMON,
    "B05": "NIR narrow (B05)",
    "B06": "SWIR 1 (B06)",
    "B07": "SWIR 2 (B07)",
    "B09": "Cirrus (B09)",
    "B10": "Thermal infrared 1 (B10)",
    "B11": "Thermal infrared 2 (B11)",
}
_HLS_S30 = {
    **_HLS_COMMON,
    "B05": "Red edge 1 (B05)",
    "B06": "Red edge 2 (B06)",
    "B07": "Red edge 3 (B07)",
    "B08": "NIR broad (B08)",
    "B8A": "NIR narrow (B8A)",
    "B09": "Water vapor (B09)",
    "B10": "Cirrus (B10)",
    "B11": "SWIR 1 (B11)",
    "B12": "SWIR 2 (B12)",
}
_BAND_TITLES: dict[str | None, dict[str, str]] = {
    "HLSL30.v2.0": _HLS_L30,
    "C2021957657-LPCLOUD": _HLS_L30,
    "HLSS30.v2.0": _HLS_S30,
    "C2021957295-LPCLOUD": _HLS_S30,
}

_MGRS = re.compile(r"^(\d{1,2})([C-HJ-NP-X])([A-HJ-NP-Z]{2})$")
_EPSG = re.compile(r"(?:EPSG:)?(\d{4,5})$")
_SENTINEL = re.compile(r"^sentinel-(\d)[a-d]$")
_SLUG = re.compile(r"[^a-z0-9]+")

_EMPTY: JSON = {}


# -- identifiers --------------------------------------------------------------------------------
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_ID_ESCAPE = re.compile(r"~([0-9A-F]{2})")


def _escape_id_part(text: str) -> str:
    # ids travel in URL paths: `/` (ASCAT's "Operational/Near-Real-Time"), spaces and the like
    # become `~XX` (UTF-8 bytes, upper-case hex), which is reversible and path-safe.
    return _ID_UNSAFE.sub(lambda m: "".join(f"~{b:02X}" for b in m.group().encode("utf-8")), text)


def _unescape_id_part(text: str) -> str:
    if "~" not in text:
        return text
    raw = _ID_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return raw.encode("latin-1").decode("utf-8")


def collection_id(short_name: str, version: str) -> str:
    """The STAC collection id of a CMR collection: `ShortName.vVersion` (`HLSL30.v2.0`).

    Characters that are not URL-path-safe are escaped as `~XX`, so the id stays derivable from
    CMR's ShortName and Version and `parse_collection_id` inverts it exactly.
    """
    return f"{_escape_id_part(short_name)}.v{_escape_id_part(version)}"


def parse_collection_id(cid: str) -> tuple[str, str] | None:
    """`(short_name, version)` from a collection id, split on the last `.v`; None if not one."""
    i = cid.rfind(".v")
    if i <= 0 or i + 2 >= len(cid) or _ID_UNSAFE.search(cid.replace("~", "")):
        return None
    try:
        return _unescape_id_part(cid[:i]), _unescape_id_part(cid[i + 2 :])
    except (UnicodeError, ValueError):
        return None


def collection_concept_id(record: JSON) -> str | None:
    """The CMR concept id (`C…-PROVIDER`) of a collection record."""
    return (record.get("meta") or _EMPTY).get("concept-id")


def granule_concept_id(record: JSON) -> str | None:
    """The CMR concept id (`G…-PROVIDER`) of a granule record."""
    return (record.get("meta") or _EMPTY).get("concept-id")


def granule_collection_concept_id(record: JSON) -> str | None:
    """The concept id of the collection a granule record belongs to, when CMR gives it."""
    return (record.get("meta") or _EMPTY).get("collection-concept-id")


def collection_is_cog(record: JSON) -> bool:
    """Whether a UMM-C record says its files are Cloud Optimized GeoTIFFs."""
    umm = record.get("umm") or _EMPTY
    adi = umm.get("ArchiveAndDistributionInformation") or _EMPTY
    for key in ("FileDistributionInformation", "FileArchiveInformation"):
        for info in adi.get(key) or ():
            fmt = str(info.get("Format", "")).upper()
            if "COG" in fmt or "CLOUD OPTIMIZED GEOTIFF" in fmt:
                return True
    return False


# -- small conversions --------------------------------------------------------------------------
def _first(values: Any) -> Any:
    if isinstance(values, list):
        return values[0] if values else None
    return values


def _lower_unique(names: list[Any]) -> list[str]:
    out: list[str] = []
    for n in names:
        if n:
            n = str(n).strip().lower()
            if n and n not in out and n.upper() not in _PLACEHOLDERS:
                out.append(n)
    return out


def _constellation(platforms: list[str]) -> str | None:
    """`sentinel-2` for Sentinel-2A/B/C…: only where the platform name itself says so."""
    found = set()
    for p in platforms:
        m = _SENTINEL.match(p)
        if not m:
            return None
        found.add(f"sentinel-{m.group(1)}")
    return found.pop() if len(found) == 1 else None


# -- geometry -----------------------------------------------------------------------------------
def _positions(points: Any) -> list[list[float]]:
    return [[float(p["Longitude"]), float(p["Latitude"])] for p in points]


def umm_geometry(geometry: JSON | None) -> geo.Shape | None:
    """The GeoJSON shape of a UMM `HorizontalSpatialDomain.Geometry` (None if it has none)."""
    if not geometry:
        return None
    shapes: list[geo.Shape | None] = []
    for br in geometry.get("BoundingRectangles") or ():
        w = as_float(br.get("WestBoundingCoordinate"))
        s = as_float(br.get("SouthBoundingCoordinate"))
        e = as_float(br.get("EastBoundingCoordinate"))
        n = as_float(br.get("NorthBoundingCoordinate"))
        if w is None or s is None or e is None or n is None:
            continue
        shapes.append(geo.box(w, s, e, n))
    for gp in geometry.get("GPolygons") or ():
        boundary = (gp.get("Boundary") or _EMPTY).get("Points")
        if not boundary:
            continue
        holes = [
            _positions(b.get("Points") or ())
            for b in (gp.get("ExclusiveZone") or _EMPTY).get("Boundaries") or ()
        ]
        shapes.append(geo.polygon(_positions(boundary), holes))
    points = geometry.get("Points")
    if points:
        for lon, lat in _positions(points):
            shapes.append(geo.point(lon, lat))
    for ln in geometry.get("Lines") or ():
        shapes.append(geo.line(_positions(ln.get("Points") or ())))
    return geo.combine([s for s in shapes if s is not None])


# -- granules ----------------------------------------------------------------------------------
def _split_name(fname: str) -> tuple[str, str]:
    """`(base, ext)`: the file name without a known extension, and that extension (lower)."""
    base, dot, ext = fname.rpartition(".")
    if dot and base:
        ext = ext.lower()
        if ext in _STRIP_EXTS:
            return base, ext
        return fname, ext
    return fname, ""


def _stems(umm: JSON, ur: str) -> list[str]:
    """Granule name stems that file names start with (longest first)."""
    stems = []
    if ur:
        stems.append(_split_name(ur)[0])
        if ":" in ur:
            stems.append(_split_name(ur.rpartition(":")[2])[0])
    for ident in (umm.get("DataGranule") or _EMPTY).get("Identifiers") or ():
        if ident.get("IdentifierType") == "ProducerGranuleId" and ident.get("Identifier"):
            stems.append(_split_name(str(ident["Identifier"]))[0])
    if len(stems) > 1:
        stems = sorted(dict.fromkeys(stems), key=len, reverse=True)  # stable: deterministic
    return stems


def _suffix(base: str, stems: list[str]) -> str | None:
    """What a file name adds to the granule's name: `B03` for `<granule>.B03.tif`, `""` for the
    granule's own file, None when the name is unrelated."""
    for stem in stems:
        if base.startswith(stem):
            n = len(stem)
            if len(base) == n:
                return ""
            if base[n] in _KEY_SEPS and len(base) > n + 1:
                return base[n + 1 :]
        elif stem.endswith(base):
            n = len(stem) - len(base)
            if n and stem[n - 1] in _KEY_SEPS:
                return ""
    return None


def _size_bytes(entry: JSON) -> int | None:
    n = entry.get("SizeInBytes")
    if n is not None:
        n = as_int(n)
        if n is not None and n >= 0:
            return n
    size = as_float(entry.get("Size"))
    unit = _UNITS.get(str(entry.get("SizeUnit", "")).upper())
    if size is None or unit is None or size < 0:
        return None
    whole = []
    for mult in unit:
        b = size * mult
        r = round(b)
        if abs(b - r) <= 1e-6 * max(1.0, b) and abs(b - r) < 0.01:
            whole.append(r)
    return int(whole[0]) if len(whole) == 1 else None


def _checksum(entry: JSON) -> str | None:
    ck = entry.get("Checksum")
    if not ck:
        return None
    return multihash(ck.get("Algorithm"), ck.get("Value"))


def _file_fields(entry: JSON) -> JSON:
    out: JSON = {}
    size = _size_bytes(entry)
    if size is not None:
        out["file:size"] = size
    ck = _checksum(entry)
    if ck is not None:
        out["file:checksum"] = ck
    return out


def _archive_entries(dg: JSON) -> tuple[dict[str, JSON], list[JSON]]:
    """ArchiveAndDistributionInformation by file name, and the entries without a usable name."""
    named: dict[str, JSON] = {}
    unnamed: list[JSON] = []
    for entry in dg.get("ArchiveAndDistributionInformation") or ():
        files = entry.get("Files")
        name = entry.get("Name")
        if name and name != "Not provided":
            named.setdefault(name, entry)
        elif not files:
            unnamed.append(entry)
        for f in files or ():  # the files inside a package (a tar, a zip…)
            name = f.get("Name")
            if name and name != "Not provided":
                named.setdefault(name, f)
    return named, unnamed


def _anum(aa: JSON, name: str) -> float | None:
    """The first value of an AdditionalAttribute as a finite float."""
    v = aa.get(name)
    if not v or type(v) is not list:
        return None
    try:
        f = float(v[0])
    except (TypeError, ValueError):
        return None
    return f if f - f == 0.0 else None  # NaN and ±inf give NaN


def _proj_fields(aa: JSON, mgrs: tuple[str, str] | None) -> JSON | None:
    """`proj:*` from HLS-style attributes (HORIZONTAL_CS_*, ULX/ULY, NROWS/NCOLS, resolution)."""
    epsg = None
    code = _first(aa.get("HORIZONTAL_CS_CODE"))
    if code:
        m = _EPSG.search(str(code).strip())
        if m:
            epsg = int(m.group(1))
    if epsg is None and mgrs is not None:
        zone, band = mgrs
        cs_name = _first(aa.get("HORIZONTAL_CS_NAME"))
        if cs_name:
            named_zone = str(cs_name).upper().rpartition("ZONE")[2].strip()
            if not named_zone.isdigit() or int(named_zone) != int(zone):
                return None  # the grid says something else than the tile: don't guess
        epsg = (32600 if band >= "N" else 32700) + int(zone)
    if epsg is None:
        return None
    out: JSON = {"proj:epsg": epsg}
    ulx = _anum(aa, "ULX")
    uly = _anum(aa, "ULY")
    ncols = _anum(aa, "NCOLS")
    nrows = _anum(aa, "NROWS")
    res = _anum(aa, "SPATIAL_RESOLUTION")
    if (
        ulx is not None
        and uly is not None
        and ncols is not None
        and nrows is not None
        and res is not None
        and res > 0
        and ncols > 0
        and nrows > 0
        and ncols == int(ncols)
        and nrows == int(nrows)
    ):
        rows, cols = int(nrows), int(ncols)
        out["proj:shape"] = [rows, cols]
        out["proj:transform"] = [res, 0.0, ulx, 0.0, -res, uly]
        out["proj:bbox"] = [ulx, uly - rows * res, ulx + cols * res, uly]
    return out


def _tile_code(umm: JSON) -> str | None:
    """`grid:code` from a UMM-G TilingIdentificationSystem naming exactly one tile."""
    tis = umm.get("TilingIdentificationSystem")
    if not tis:
        return None
    name = str(tis.get("TilingIdentificationSystemName", "")).upper()
    c1 = tis.get("Coordinate1") or _EMPTY
    c2 = tis.get("Coordinate2") or _EMPTY
    a, a2 = as_int(c1.get("MinimumValue")), as_int(c1.get("MaximumValue"))
    b, b2 = as_int(c2.get("MinimumValue")), as_int(c2.get("MaximumValue"))
    if a is None or b is None or (a2 is not None and a2 != a) or (b2 is not None and b2 != b):
        return None
    if a < 0 or b < 0:
        return None
    if name == "MODIS TILE SIN":
        return f"MSIN-{a:02d}{b:02d}"
    if name in ("WRS-2", "WRS-1"):
        return f"WRS{name[-1]}-{a:03d}{b:03d}"
    return None


def _granule_title(dg: JSON, ur: str) -> str | None:
    """The granule's readable name: its producer's id, else the GranuleUR's name part.

    A GranuleUR is often `<provider>:<serial number>` (`LAADS:2715071895`), which says nothing
    to a reader, while the producer granule id is the product's file name
    (`MOD02QKM.A2000055.0005.061.2017171194850.hdf`): its format extension is dropped, since a
    granule is not one file.
    """
    for ident in dg.get("Identifiers") or ():
        if ident.get("IdentifierType") == "ProducerGranuleId" and ident.get("Identifier"):
            return _split_name(str(ident["Identifier"]).strip())[0]
    name = ur.rpartition(":")[2]
    return _split_name(name)[0] if name and not name.isdigit() else None


def granule_to_item(
    record: JSON, collection_id: str | None = None, *, cog: bool | None = None
) -> JSON:
    """A STAC Item from one `granules.umm_json` record.

    `collection_id` is the STAC collection id; without it the item's collection comes from
    `CollectionReference` ShortName/Version, else the CMR collection concept id.  `cog` says
    whether the collection's GeoTIFFs are Cloud Optimized; None looks the collection up in
    `KNOWN_COG_COLLECTIONS`.
    """
    meta = record.get("meta") or _EMPTY
    umm = record.get("umm") or _EMPTY
    ur = umm.get("GranuleUR") or meta.get("native-id") or meta.get("concept-id")
    ur = str(ur) if ur is not None else ""

    if collection_id is None:
        cref = umm.get("CollectionReference") or _EMPTY
        sn, ver = cref.get("ShortName"), cref.get("Version")
        if sn and ver is not None:
            collection_id = f"{sn}.v{ver}"
        else:
            collection_id = meta.get("collection-concept-id")
    if cog is None:
        cog = (
            collection_id in KNOWN_COG_COLLECTIONS
            or meta.get("collection-concept-id") in KNOWN_COG_COLLECTIONS
        )

    props: JSON = {}

    # time
    te = umm.get("TemporalExtent") or _EMPTY
    rng = te.get("RangeDateTime")
    if rng:
        start = rfc3339(rng.get("BeginningDateTime"))
        end = rfc3339(rng.get("EndingDateTime"))
        props["datetime"] = start or end  # the start, so that sorting on datetime works
        if start is not None and end is not None:
            props["start_datetime"] = start
            props["end_datetime"] = end
    else:
        props["datetime"] = rfc3339(te.get("SingleDateTime"))
    for pd in umm.get("ProviderDates") or ():
        t = pd.get("Type")
        if t == "Insert" or (t == "Create" and "created" not in props):
            v = rfc3339(pd.get("Date"))
            if v:
                props["created"] = v
        elif t == "Update":
            v = rfc3339(pd.get("Date"))
            if v:
                props["updated"] = v

    # platforms / instruments
    platforms = umm.get("Platforms")
    if platforms:
        names = _lower_unique([p.get("ShortName") for p in platforms])
        if len(names) == 1:
            props["platform"] = names[0]
        constellation = _constellation(names)
        if constellation:
            props["constellation"] = constellation
        instruments = _lower_unique(
            [i.get("ShortName") for p in platforms for i in p.get("Instruments") or ()]
        )
        if instruments:
            props["instruments"] = instruments

    # additional attributes (HLS and friends)
    attrs = umm.get("AdditionalAttributes")
    aa: JSON = _EMPTY
    if attrs:
        try:  # well-formed attributes: subscripts, not two .get calls per attribute
            aa = {a["Name"]: a["Values"] for a in attrs}
        except (KeyError, TypeError):  # one without a Name or Values: the tolerant reading
            aa = {a.get("Name"): a.get("Values") for a in attrs}

    cloud = umm.get("CloudCover")
    cloud = as_float(cloud) if cloud is not None else None
    if cloud is None and aa:
        cloud = _anum(aa, "CLOUD_COVERAGE")
    if cloud is not None and 0.0 <= cloud <= 100.0:
        props["eo:cloud_cover"] = cloud

    proj = None
    if aa:
        mgrs = None
        tile = _first(aa.get("MGRS_TILE_ID"))
        if tile:
            tile = str(tile).strip().upper()
            if tile.startswith("T") and len(tile) == 6:
                tile = tile[1:]
            m = _MGRS.match(tile)
            if m:
                props["grid:code"] = f"MGRS-{tile}"
                mgrs = (m.group(1), m.group(2))
        proj = _proj_fields(aa, mgrs)
        if proj is not None:
            res = proj.get("proj:transform")
            if res is not None:
                props["gsd"] = res[0]
        angle = _anum(aa, "MEAN_SUN_AZIMUTH_ANGLE")
        if angle is not None and 0.0 <= angle <= 360.0:
            props["view:sun_azimuth"] = angle
        angle = _anum(aa, "MEAN_SUN_ZENITH_ANGLE")
        if angle is not None and 0.0 <= angle <= 180.0:
            props["view:sun_elevation"] = round(90.0 - angle, 10)
        angle = _anum(aa, "MEAN_VIEW_ZENITH_ANGLE")
        if angle is not None and 0.0 <= angle <= 90.0:
            # the view zenith angle seen from the ground is the incidence angle by definition
            props["view:incidence_angle"] = angle
        doi = aa.get("IDENTIFIER_PRODUCT_DOI")
        doi = values.doi(_first(doi)) if doi else None
        if doi:
            props["sci:doi"] = doi
    if "grid:code" not in props:
        code = _tile_code(umm)
        if code:
            props["grid:code"] = code

    # orbit
    ocsd = umm.get("OrbitCalculatedSpatialDomains")
    if ocsd:
        orbits = {as_int(o.get("OrbitNumber")) for o in ocsd}
        if len(orbits) == 1:
            n = orbits.pop()
            if n is not None and n >= 1:
                props["sat:absolute_orbit"] = n

    # geometry
    shape = None
    hsd = (umm.get("SpatialExtent") or _EMPTY).get("HorizontalSpatialDomain")
    if hsd:
        orbit = hsd.get("Orbit")
        if orbit:
            d1, d2 = orbit.get("StartDirection"), orbit.get("EndDirection")
            if d1 == d2 and d1 in ("A", "D"):
                props["sat:orbit_state"] = "ascending" if d1 == "A" else "descending"
        g = hsd.get("Geometry")
        if g:
            try:
                shape = umm_geometry(g)
            except (KeyError, TypeError, ValueError, AttributeError):
                shape = None

    # processing
    dg = umm.get("DataGranule") or _EMPTY
    pdt = rfc3339(dg.get("ProductionDateTime"))
    if pdt:
        props["processing:datetime"] = pdt
    pge = umm.get("PGEVersionClass")
    if pge and pge.get("PGEName") and pge.get("PGEVersion"):
        props["processing:software"] = {str(pge["PGEName"]): str(pge["PGEVersion"])}

    title = _granule_title(dg, ur)
    if title:
        props["title"] = title

    # assets
    assets: JSON = {}
    related = umm.get("RelatedUrls")
    if related:
        bands = _BAND_TITLES.get(collection_id) or _BAND_TITLES.get(
            meta.get("collection-concept-id")
        )
        _assets(related, umm, ur, dg, cog, proj, bands, assets)

    # the Item declares the extensions of the fields it ended up with
    return item_dict(ur, collection_id, shape, props, assets)


def _assets(
    related: list[JSON],
    umm: JSON,
    ur: str,
    dg: JSON,
    cog: bool,
    proj: JSON | None,
    bands: dict[str, str] | None,
    assets: JSON,
) -> None:
    """Fill `assets` from RelatedUrls.

    `bands` titles the collection's band files by asset key (`B04` → `Red (B04)`).

    One pass over the links builds the assets and attaches each `s3://` link to the asset of
    the same file name as its `s3` alternate.  s3 links listed before their https twin,
    checksum sidecars (keyed after the file they check) and data files whose name says
    nothing about the granule are settled afterwards.
    """
    stems = _stems(umm, ur)
    # fast path of `_suffix` for the longest stem: `<stem>.B03` → `B03`
    pfx0 = tuple(stems[0] + c for c in _KEY_SEPS) if stems else ()
    cut0 = len(stems[0]) + 1 if stems else 0
    proj_full = False
    if proj is not None and len(proj) == 4:
        proj_full = True
        p_epsg, p_shape = proj["proj:epsg"], proj["proj:shape"]
        p_transform, p_bbox = proj["proj:transform"], proj["proj:bbox"]
    by_name: dict[str, JSON] = {}
    data_assets: list[JSON] = []
    late_s3 = []
    sidecars = []
    unnamed_data = []
    # module constants as locals: this loop runs ~40 times per HLS granule
    url_types, strip_exts, checksum_exts = _URL_TYPES, _STRIP_EXTS, _CHECKSUM_EXTS
    media_types, geotiff, s3_title = BY_EXTENSION, GEOTIFF, _S3_TITLE
    tif_type = COG if cog else GEOTIFF
    last_data, service = _DIRECT, _SERVICE
    boilerplate, boilerplate_end, data_titles = _BOILERPLATE, _BOILERPLATE_END, _DATA_TITLES
    for ru in related:
        url = ru.get("URL")
        if not url:
            continue
        if url.startswith("s3://"):
            fname = url.rpartition("/")[2]
            target = by_name.get(fname)
            if target is None:
                late_s3.append(ru)
            elif "alternate" not in target:
                target["alternate"] = {"s3": {"href": url, "title": s3_title}}
            continue
        cat = url_types.get(ru.get("Type"))
        if cat is None:
            continue
        stripped = url.strip()  # `url` itself when there is nothing to strip
        if stripped is not url:  # only then can it have turned into an s3:// link
            url = stripped
            if url.startswith("s3://"):
                late_s3.append(ru)
                continue
        fname = url.rpartition("/")[2]
        if "?" in fname:
            fname = fname.partition("?")[0]
        base, dot, ext = fname.rpartition(".")
        if dot and base:
            ext = ext.lower()
            if ext not in strip_exts:
                base = fname
        else:
            base, ext = fname, ""
        if ext in checksum_exts and cat != service:
            sidecars.append((url, fname, ext, ru))
            continue
        title = ru.get("Description")

        if cat <= last_data and ru.get("Subtype") != "OPENDAP DATA":  # _DATA, _DIRECT
            if len(base) > cut0 and base.startswith(pfx0):
                key = base[cut0:]
            else:
                key = _suffix(base, stems)
                if key == "":
                    key = "data"
            mt = media_types.get(ext) or ru.get("MimeType")
            if mt is geotiff:
                mt = tif_type
            # a band file is titled by its band, whatever the link says
            band = bands.get(key) if bands is not None else None
            if band is not None:
                title = band
            elif not title or title.startswith(boilerplate) or title.endswith(boilerplate_end):
                title = data_titles.get(mt, "Data file") if key is None or key == "data" else key
            if title and mt:
                asset = {"href": url, "title": title, "type": mt, "roles": ["data"]}
            else:
                asset = {"href": url}
                if title:
                    asset["title"] = title
                if mt:
                    asset["type"] = mt
                asset["roles"] = ["data"]
            data_assets.append(asset)
            if proj is not None and mt is tif_type:
                if proj_full:
                    asset["proj:epsg"] = p_epsg
                    asset["proj:shape"] = p_shape
                    asset["proj:transform"] = p_transform
                    asset["proj:bbox"] = p_bbox
                else:
                    asset.update(proj)
            if key is None:
                unnamed_data.append((fname, asset))
                by_name.setdefault(fname, asset)
                continue
        elif cat == service or cat <= last_data:
            sub = ru.get("Subtype")
            key = _SERVICE_KEYS.get(sub) or (_SLUG.sub("_", sub.lower()).strip("_") if sub else "")
            asset = {"href": url}
            if title:
                asset["title"] = title
            mt = ru.get("MimeType")
            if mt:
                asset["type"] = mt
            asset["roles"] = ["service"]
            key = key or "service"
            if key in assets:
                key = unique_key(key, assets)
            assets[key] = asset
            continue
        elif cat == _BROWSE:
            if ru.get("Subtype") in _TOOL_SUBTYPES:
                continue
            # the first picture is the thumbnail, the others are named after their file
            key = (_suffix(base, stems) or "thumbnail") if "thumbnail" in assets else "thumbnail"
            if not title or title.startswith(boilerplate) or title.endswith(boilerplate_end):
                title = _BROWSE_TITLE if key == "thumbnail" else f"{_BROWSE_TITLE}: {key}"
            mt = media_types.get(ext) or ru.get("MimeType")
            # (one literal: this branch runs ~35 times for an ICESat-2 granule)
            if mt:
                asset = {"href": url, "title": title, "type": mt, "roles": ["thumbnail"]}
            else:
                asset = {"href": url, "title": title, "roles": ["thumbnail"]}
        else:  # _META, _INFO
            if cat == _INFO and ext != "xml" and ext != "json":
                # documentation pages, DOI landing pages and the s3credentials endpoint
                # describe the collection; only the granule's own metadata files are assets
                continue
            sfx = _suffix(base, stems)
            if sfx:
                key = "metadata_" + sfx
            elif ext and ext != "xml" and ext != "json":
                key = "metadata_" + ext
            else:
                key = "metadata"
            mt = media_types.get(ext) or ru.get("MimeType")
            if not title or title.startswith(boilerplate) or title.endswith(boilerplate_end):
                title = _metadata_title(sfx, mt)
            if mt:
                asset = {"href": url, "title": title, "type": mt, "roles": ["metadata"]}
            else:
                asset = {"href": url, "title": title, "roles": ["metadata"]}
        if key in assets:
            key = unique_key(key, assets)
        assets[key] = asset
        if fname not in by_name:
            by_name[fname] = asset

    # data files named unlike the granule: "data" when it is the only one, else the file name
    for fname, asset in unnamed_data:
        key = "data" if len(data_assets) == 1 else fname
        if key in assets:
            key = unique_key(key, assets)
        assets[key] = asset

    for url, fname, algo, ru in sidecars:
        target = by_name.get(fname[: -len(algo) - 1])
        key = "checksum"
        if target is not None:
            key = next((k for k, a in assets.items() if a is target), key)
        key = f"{key}_{algo}"
        if key in assets:
            key = unique_key(key, assets)
        asset = {"href": url}
        title = ru.get("Description")
        if not title or title.startswith(_BOILERPLATE) or title.endswith(_BOILERPLATE_END):
            title = f"{_CHECKSUM_NAMES[algo]} checksum of {fname[: -len(algo) - 1]}"
        asset["title"] = title
        asset["type"] = "text/plain"
        asset["roles"] = ["metadata"]
        assets[key] = asset
        by_name.setdefault(fname, asset)

    for ru in late_s3:
        cat = url_types.get(ru.get("Type"))
        url = ru["URL"].strip()
        fname = url.rpartition("/")[2]
        target = by_name.get(fname)
        if target is not None:
            if "alternate" not in target:
                target["alternate"] = {"s3": {"href": url, "title": _S3_TITLE}}
            continue  # else: a second s3 copy of one file
        if cat in (None, _INFO, _SERVICE):
            continue  # an s3 "information" link without an https twin
        base, ext = _split_name(fname)
        sfx = _suffix(base, stems)
        if cat <= _DIRECT:
            key, roles = sfx or ("data" if sfx == "" else fname), ["data"]
        elif cat == _BROWSE:
            key, roles = sfx or "thumbnail", ["thumbnail"]
        else:
            key, roles = ("metadata_" + sfx if sfx else "metadata"), ["metadata"]
        key = "s3_" + key
        if key in assets:
            key = unique_key(key, assets)
        mt = BY_EXTENSION.get(ext) or ru.get("MimeType")
        if mt is GEOTIFF and cog:
            mt = COG
        asset = {"href": url, "title": _S3_TITLE}
        if mt:
            asset["type"] = mt
        asset["roles"] = roles
        if cat <= _DIRECT:
            data_assets.append(asset)
        assets[key] = asset
        by_name[fname] = asset

    # file:size / file:checksum
    if dg.get("ArchiveAndDistributionInformation"):
        named, unnamed = _archive_entries(dg)
        for name, entry in named.items():
            target = by_name.get(name)
            if target is not None:
                fields = _file_fields(entry)
                if fields:
                    target.update(fields)
        # An entry without a file name can only be tied to a file when it is the granule's
        # sole entry and the granule has a single data file (Daymet, MODIS, GPM…).
        if not named and len(unnamed) == 1 and len(data_assets) == 1:
            fields = _file_fields(unnamed[0])
            if fields:
                data_assets[0].update(fields)


def _metadata_title(sfx: str | None, mt: str | None) -> str:
    """`ISO 19115 metadata (XML)` for `<granule>.iso.xml`, `rc metadata (XML)` for an unknown
    `<granule>.rc.xml`: the name part the file adds to the granule's, and its format."""
    name = "Metadata"
    if sfx:
        name = _METADATA_NAMES.get(sfx.rpartition(".")[2].lower()) or f"{sfx} metadata"
    label = LABELS.get(mt) if mt else None
    return f"{name} ({label})" if label else name


# -- collections ------------------------------------------------------------------------------
_PROVIDER_ROLES = {
    "ARCHIVER": "host",
    "DISTRIBUTOR": "host",
    "ORIGINATOR": "producer",
    "PROCESSOR": "processor",
}
_ROLE_ORDER = ("licensor", "producer", "processor", "host")

_SPDX_PATTERNS = [
    (re.compile(r"creativecommons\.org/publicdomain/zero/1\.0|\bCC0\b", re.I), "CC0-1.0"),
    (
        re.compile(r"creativecommons\.org/licenses/by-sa/4\.0|\bCC[- ]BY[- ]SA[- ]4\.0\b", re.I),
        "CC-BY-SA-4.0",
    ),
    (re.compile(r"creativecommons\.org/licenses/by/4\.0|\bCC[- ]BY[- ]4\.0\b", re.I), "CC-BY-4.0"),
    (re.compile(r"creativecommons\.org/licenses/by/3\.0|\bCC[- ]BY[- ]3\.0\b", re.I), "CC-BY-3.0"),
    (re.compile(r"opendatacommons\.org/licenses/odbl|\bODbL\b", re.I), "ODbL-1.0"),
]


def _license(use: Any) -> tuple[str, JSON | None]:
    """(license, license link or None) from UMM-C UseConstraints."""
    texts: list[str] = []
    link: JSON | None = None
    if isinstance(use, str):
        texts.append(use)
    elif isinstance(use, dict):
        for k in ("Description", "LicenseText"):
            if isinstance(use.get(k), str):
                texts.append(use[k])
        lu = use.get("LicenseURL")
        if isinstance(lu, dict) and lu.get("Linkage"):
            href = str(lu["Linkage"]).strip()
            texts.append(href)
            if isinstance(lu.get("Name"), str):
                texts.append(lu["Name"])
            link = {"rel": "license", "href": href}
            if lu.get("MimeType"):
                link["type"] = lu["MimeType"]
            if lu.get("Name") or lu.get("Description"):
                link["title"] = lu.get("Name") or lu.get("Description")
    blob = "\n".join(texts)
    for pattern, spdx in _SPDX_PATTERNS:
        if pattern.search(blob):
            return spdx, link
    return "proprietary", link


def _providers(data_centers: Any) -> list[JSON]:
    by_name: dict[str, JSON] = {}
    for dc in data_centers or ():
        name = dc.get("ShortName")
        if not name:
            continue
        roles = {_PROVIDER_ROLES[r] for r in dc.get("Roles") or () if r in _PROVIDER_ROLES}
        p = by_name.get(name)
        if p is None:
            p = {"name": name}
            if dc.get("LongName"):
                p["description"] = dc["LongName"]
            p["roles"] = set()
            for ru in (dc.get("ContactInformation") or _EMPTY).get("RelatedUrls") or ():
                if ru.get("Type") == "HOME PAGE" and ru.get("URL"):
                    p["url"] = str(ru["URL"]).strip()
                    break
            by_name[name] = p
        p["roles"] |= roles
    out = []
    for p in by_name.values():
        p["roles"] = [r for r in _ROLE_ORDER if r in p["roles"]]
        if not p["roles"]:
            del p["roles"]
        out.append(p)
    return out


def _temporal(extents: Any) -> list[list[str | None]]:
    intervals: list[list[str | None]] = []
    for te in extents or ():
        ranges = []
        for r in te.get("RangeDateTimes") or ():
            ranges.append([rfc3339(r.get("BeginningDateTime")), rfc3339(r.get("EndingDateTime"))])
        for s in te.get("SingleDateTimes") or ():
            t = rfc3339(s)
            if t:
                ranges.append([t, t])
        if ranges and te.get("EndsAtPresentFlag") is True:
            last = max(range(len(ranges)), key=lambda i: ranges[i][0] or "")
            ranges[last][1] = None
        intervals.extend(r for r in ranges if r[0] or r[1])
    if not intervals:
        return [[None, None]]
    starts = [i[0] for i in intervals]
    ends = [i[1] for i in intervals]
    overall = [
        None if None in starts else min(starts),  # type: ignore[type-var]
        None if None in ends else max(ends),  # type: ignore[type-var]
    ]
    if len(intervals) == 1:
        return [overall]
    return [overall, *intervals]


def _spatial(umm: JSON) -> list[list[float]]:
    hsd = (umm.get("SpatialExtent") or _EMPTY).get("HorizontalSpatialDomain") or _EMPTY
    g = hsd.get("Geometry") or _EMPTY
    bboxes: list[list[float]] = []
    for br in g.get("BoundingRectangles") or ():
        b = [
            as_float(br.get(k))
            for k in (
                "WestBoundingCoordinate",
                "SouthBoundingCoordinate",
                "EastBoundingCoordinate",
                "NorthBoundingCoordinate",
            )
        ]
        if None not in b:
            bboxes.append(b)  # type: ignore[arg-type]
    for kind in ("GPolygons", "Points", "Lines"):
        if g.get(kind):
            try:
                shape = umm_geometry({kind: g[kind]})
            except (KeyError, TypeError, ValueError, AttributeError):
                shape = None
            if shape is not None:
                bboxes.append(shape.bbox)
    if not bboxes:
        # STAC requires a spatial extent; a collection that states none is not restricted.
        return [list(geo.GLOBAL_BBOX)]
    if len(bboxes) == 1:
        return bboxes
    return [geo.bbox_union(bboxes), *bboxes]


def _keywords(umm: JSON) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for sk in umm.get("ScienceKeywords") or ():
        for level in (
            "Topic",
            "Term",
            "VariableLevel1",
            "VariableLevel2",
            "VariableLevel3",
            "DetailedVariable",
        ):
            v = sk.get(level)
            if not isinstance(v, str):
                continue
            v = v.strip()
            if v and v.upper() not in seen and v.upper() not in _PLACEHOLDERS:
                seen.add(v.upper())
                out.append(v)
    sn = umm.get("ShortName")
    if sn and str(sn).upper() not in seen:
        out.append(str(sn))
    return out


def _citation(umm: JSON, doi: str | None) -> str | None:
    """A citation assembled from the first CollectionCitations entry's own fields."""
    for cc in umm.get("CollectionCitations") or ():
        creator, title = cc.get("Creator"), cc.get("Title")
        if not (isinstance(creator, str) and creator.strip() and isinstance(title, str)):
            continue
        parts = [creator.strip().rstrip(".")]
        year = str(cc.get("ReleaseDate") or "")[:4]
        if year.isdigit():
            parts.append(year)
        parts.append(title.strip().rstrip("."))
        version = str(cc.get("Version") or "").strip()
        if version and version.upper() not in _PLACEHOLDERS and version not in title:
            parts.append(f"Version {version}")
        if isinstance(cc.get("Publisher"), str) and cc["Publisher"].strip():
            parts.append(cc["Publisher"].strip().rstrip("."))
        if doi:
            parts.append(f"https://doi.org/{doi}")
        return ". ".join(parts) + "."
    return None


def _link_type(href: str) -> str | None:
    # only document types: a collection's links are pages to read, not files to parse
    mt = media_type(href)
    return mt if mt is HTML or mt is PDF else None


def collection_to_stac(record: JSON) -> JSON:
    """A STAC Collection from one `collections.umm_json` record (`{"meta": …, "umm": …}`)."""
    umm = record.get("umm") or _EMPTY
    short_name = str(umm.get("ShortName") or "")
    version = str(umm.get("Version") or "")

    links: list[JSON] = []
    license_id, license_link = _license(umm.get("UseConstraints"))
    if license_link is not None:
        links.append(license_link)

    doi = values.doi((umm.get("DOI") or _EMPTY).get("DOI"))
    if doi:
        links.append({"rel": "cite-as", "href": f"https://doi.org/{doi}"})
    hrefs = {link["href"] for link in links}
    thumbnail = None
    for ru in umm.get("RelatedUrls") or ():
        href = str(ru.get("URL") or "").strip()
        t = ru.get("Type")
        if not href or href in hrefs:
            continue
        if t == "DATA SET LANDING PAGE":
            rel = "about"
        elif t == "VIEW RELATED INFORMATION":
            rel = "describedby"
        elif t == "GET RELATED VISUALIZATION":
            if thumbnail is None and ru.get("Subtype") not in _TOOL_SUBTYPES:
                ext = href.rpartition("/")[2].rpartition(".")[2].lower()
                if ext in ("jpg", "jpeg", "png", "gif") or "browse" in href.lower():
                    thumbnail = {"href": href, "roles": ["thumbnail"]}
                    if ru.get("Description"):
                        thumbnail["title"] = ru["Description"]
                    if BY_EXTENSION.get(ext, "").startswith("image/"):
                        thumbnail["type"] = BY_EXTENSION[ext]
            continue
        else:
            continue
        link: JSON = {"rel": rel, "href": href}
        lt = _link_type(href)
        if lt:
            link["type"] = lt
        title = ru.get("Description") or ru.get("Subtype")
        if title:
            link["title"] = str(title).strip()
        links.append(link)
        hrefs.add(href)

    platforms = umm.get("Platforms") or ()
    platform_names = _lower_unique([p.get("ShortName") for p in platforms])
    summaries: JSON = {}
    if platform_names:
        summaries["platform"] = platform_names
        constellation = _constellation(platform_names)
        if constellation:
            summaries["constellation"] = [constellation]
    instruments = _lower_unique(
        [i.get("ShortName") for p in platforms for i in p.get("Instruments") or ()]
    )
    if instruments:
        summaries["instruments"] = instruments
    level = str((umm.get("ProcessingLevel") or _EMPTY).get("Id") or "").strip()
    if level and level.upper() not in ("NA", "NOT PROVIDED", "NOT APPLICABLE"):
        summaries["processing:level"] = [level if level.upper().startswith("L") else f"L{level}"]

    coll: JSON = {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],  # set below, from the fields the Collection ends up with
        "id": collection_id(short_name, version),
        "title": umm.get("EntryTitle") or short_name,
        "description": umm.get("Abstract") or umm.get("EntryTitle") or short_name,
        "keywords": _keywords(umm),
        "license": license_id,
        "providers": _providers(umm.get("DataCenters")),
        "extent": {
            "spatial": {"bbox": _spatial(umm)},
            "temporal": {"interval": _temporal(umm.get("TemporalExtents"))},
        },
        "summaries": summaries,
        "links": links,
    }
    if thumbnail is not None:
        coll["assets"] = {"thumbnail": thumbnail}
    if doi:
        coll["sci:doi"] = doi
    citation = _citation(umm, doi)
    if citation:
        coll["sci:citation"] = citation
    coll["stac_extensions"] = collection_extensions(coll)
    return coll
