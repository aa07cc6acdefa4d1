"""USGS M2M JSON → STAC 1.0.0 dicts.  Pure functions, no I/O.

- `dataset_to_collection`: one entry of `dataset-search`'s `data` → a Collection.
- `filters_to_queryables` / `queryable_to_filter`: `dataset-filters` `data` → the queryables'
  JSON-schema `properties`, and back from a queryable name to the M2M filter to build a
  `metadataFilter` from.
- `scene_to_item`: one `scene-search` result (summary, `metadata: []`, or `metadataType: full`)
  or a `scene-metadata` `data` record → an Item; with the scene's `download-options` it also
  carries the downloadable files as assets.
- `download_options_to_assets`: one scene's `download-options` → assets.

Objects come back with `links: []` (a Collection may carry license / cite-as links) and
*upstream* hrefs: browse images keep their public `https://ims.cr.usgs.gov/…` URLs, and files
that only get a URL once a `download-request` is made carry an `m2m://` reference
(`download_ref` / `parse_download_ref`) that the signing proxy resolves.  The gateway adds
self/parent/collection/root links and rewrites every href through the proxy.

What M2M does not state is left out rather than guessed:
- A scene-search *summary* has no land cloud cover, which the landsat extension v2.0.0 requires,
  so summary Items carry the WRS tile as `grid:code` (and platform, cloud cover…) but no
  `landsat:*` fields; a `metadataType: full` record gives the complete set.
- `proj:epsg` only for Landsat scenes whose metadata says UTM on WGS84: USGS grids every Landsat
  UTM product on the *northern* zone (negative northings in the south), so it is 326zz.  Polar
  stereographic (Antarctic) scenes get none.  With it, `proj:shape` from the grid sizes full
  metadata states (C1's `Reflective`/`Panchromatic`/`Thermal Lines`/`Samples`): the reflective
  grid on the Item, each band file its own grid (the 15 m pan band also its own `gsd`).  Never
  `proj:transform`/`proj:bbox`: M2M's corners are the footprint's, in degrees, not the grid's
  origin, so GDAL's STACIT (which needs two of shape/transform/bbox) still skips these assets.
- `title`: the product id and the acquisition day (UTC), what a catalogue browser lists.
- Time: the acquisition `Start Time`/`Stop Time` of full metadata when present.  A summary only
  has `temporalCoverage`, which for Landsat is the acquisition *date* (`… 00:00:00` twice): the
  Item's `datetime` is that date's midnight UTC, with `start_datetime`/`end_datetime` spanning
  the day so that time-range searches stay correct.
- `publishDate` (→ `created`) is EROS's local wall-clock time, America/Chicago: the dataset
  records carry their dates with `-05`/`-06` offsets, and read as UTC the recorded scenes would
  be published minutes *before* they were acquired (2020-08-04 13:39:39 vs 13:48:06 UTC).

`scene_to_item` is on the hot path (design §9), so it reads the record with plain dict lookups,
keeps its tables at module level and uses precompiled regexes.  Output dicts may share small
immutable-by-convention lists (roles, instruments): copy before mutating nested values.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stacbridge.stac import geometry as geo
from stacbridge.stac import values
from stacbridge.stac.extensions import collection_extensions
from stacbridge.stac.items import STAC_VERSION, item_dict
from stacbridge.stac.media import BY_EXTENSION, COG, GEOTIFF, GZIP, JPEG, TAR, media_type
from stacbridge.stac.values import as_float, as_int, format_rfc3339, multihash, unique_key

JSON = dict[str, Any]
#: a full-metadata field list as `{fieldName: value}`; names are whatever the record holds
#: (a malformed record may name a field None or 3), so the keys are not typed as `str`.
Fields = dict[Any, Any]


#: `order:status` of an Item whose files need a `download-request` first (order ext. v1.1.0).
ORDERABLE = "orderable"

#: Scheme of the asset hrefs the signing proxy turns into a `download-request`.
DOWNLOAD_SCHEME = "m2m://"

#: USGS's statement that USGS-produced data are in the U.S. public domain.
USGS_PUBLIC_DOMAIN = (
    "https://www.usgs.gov/information-policies-and-instructions/copyrights-and-credits"
)
USGS_EROS = {
    "name": "USGS EROS",
    "description": "U.S. Geological Survey (USGS) Earth Resources Observation and Science "
    "(EROS) Center",
    "url": "https://www.usgs.gov/centers/eros",
}

_EMPTY: JSON = {}
_UTC = dt.UTC
try:
    _CHICAGO: dt.tzinfo | None = ZoneInfo("America/Chicago")
except ZoneInfoNotFoundError:  # no tz database (slim images without tzdata): US rules below
    _CHICAGO = None

# -- Landsat identifiers -------------------------------------------------------------------------
# Collection product id: LXSS_LLLL_PPPRRR_YYYYMMDD_yyyymmdd_CC_TX
_PRODUCT_ID = re.compile(
    r"L([COTEM])(\d\d)_([A-Z0-9]{4})_(\d{3})(\d{3})_(\d{8})_(\d{8})_(\d\d)_([A-Z0-9]{2})"
)
# Pre-collection scene id: LXSPPPRRRYYYYDDDGSIVV (the M2M entityId of Landsat scenes)
_SCENE_ID = re.compile(r"L([COTEM])([1-9])(\d{3})(\d{3})(\d{4})(\d{3})([A-Z]{3})(\d\d)")
_SCENE_ID_EXT = re.compile(r"^L[CEMOT][1-9][0-9]{3}[0-9]{3}[0-9]{7}[A-Z]{3}[0-9]{2}$")

_INSTRUMENTS = {  # (sensor letter, satellite) → instruments; unlisted pairs are not guessed
    ("C", 8): ["oli", "tirs"],
    ("C", 9): ["oli", "tirs"],
    ("O", 8): ["oli"],
    ("O", 9): ["oli"],
    ("T", 8): ["tirs"],
    ("T", 9): ["tirs"],
    ("T", 4): ["tm"],
    ("T", 5): ["tm"],
    ("E", 7): ["etm+"],
    **{("M", n): ["mss"] for n in range(1, 6)},
}
_PLATFORMS = {n: f"landsat-{n}" for n in range(1, 10)}
# landsat extension v2.0.0 enums
_CATEGORIES = frozenset({"A1", "A2", "T1", "T2", "RT"})
_CORRECTIONS = frozenset({"L1TP", "L1GT", "L1GS", "L2SR", "L2SP"})
_COLLECTION_NUMBERS = frozenset({"01", "02"})

# Dataset aliases: landsat_<sensor>_c<collection>[_l<level>]
_LANDSAT_ALIAS = re.compile(r"landsat_(ot|8|9|etm|tm|mss)_c([12])(?:_l([12]))?")
_ALIAS_SUMMARIES: dict[str, JSON] = {
    "ot": {"platform": ["landsat-8", "landsat-9"], "instruments": ["oli", "tirs"]},
    "8": {"platform": ["landsat-8"], "instruments": ["oli", "tirs"]},
    "9": {"platform": ["landsat-9"], "instruments": ["oli", "tirs"]},
    "etm": {"platform": ["landsat-7"], "instruments": ["etm+"]},
    "tm": {"platform": ["landsat-4", "landsat-5"], "instruments": ["tm"]},
    "mss": {"platform": [f"landsat-{n}" for n in range(1, 6)], "instruments": ["mss"]},
}

# -- band files ------------------------------------------------------------------------------
# band id → (eo common_name, title) per sensor family (USGS band designations)
_OT_BANDS = {
    "B1": ("coastal", "Coastal/Aerosol Band"),
    "B2": ("blue", "Blue Band"),
    "B3": ("green", "Green Band"),
    "B4": ("red", "Red Band"),
    "B5": ("nir08", "Near Infrared Band 0.8"),
    "B6": ("swir16", "Short-wave Infrared Band 1.6"),
    "B7": ("swir22", "Short-wave Infrared Band 2.2"),
    "B8": ("pan", "Panchromatic Band"),
    "B9": ("cirrus", "Cirrus Band"),
    "B10": ("lwir11", "Thermal Infrared Band 10.9"),
    "B11": ("lwir12", "Thermal Infrared Band 12.0"),
}
_TM_ETM_BANDS = {
    "B1": ("blue", "Blue Band"),
    "B2": ("green", "Green Band"),
    "B3": ("red", "Red Band"),
    "B4": ("nir08", "Near Infrared Band 0.8"),
    "B5": ("swir16", "Short-wave Infrared Band 1.6"),
    "B6": ("lwir", "Thermal Infrared Band"),
    "B6_VCID_1": ("lwir", "Thermal Infrared Band (low gain)"),
    "B6_VCID_2": ("lwir", "Thermal Infrared Band (high gain)"),
    "B7": ("swir22", "Short-wave Infrared Band 2.2"),
    "B8": ("pan", "Panchromatic Band"),
}
_BANDS_BY_FAMILY = {
    "ot": _OT_BANDS,
    "8": _OT_BANDS,
    "9": _OT_BANDS,
    "tm": _TM_ETM_BANDS,
    "etm": _TM_ETM_BANDS,
}
_AUX_TITLES = {
    "QA_PIXEL": "Pixel Quality Assessment Band",
    "QA_RADSAT": "Radiometric Saturation Quality Assessment Band",
    "SR_QA_AEROSOL": "Aerosol Quality Assessment Band",
    "SR_ATMOS_OPACITY": "Atmospheric Opacity Band",
    "SR_CLOUD_QA": "Cloud Quality Assessment Band",
    "ST_QA": "Surface Temperature Quality Assessment Band",
    "ST_ATRAN": "Atmospheric Transmittance Band",
    "ST_CDIST": "Cloud Distance Band",
    "ST_DRAD": "Downwelled Radiance Band",
    "ST_URAD": "Upwelled Radiance Band",
    "ST_TRAD": "Thermal Radiance Band",
    "ST_EMIS": "Emissivity Band",
    "ST_EMSD": "Emissivity Standard Deviation Band",
    "SAA": "Solar Azimuth Angle Band",
    "SZA": "Solar Zenith Angle Band",
    "VAA": "View Azimuth Angle Band",
    "VZA": "View Zenith Angle Band",
    "MTL_txt": "Product Metadata File (txt)",
    "MTL_xml": "Product Metadata File (xml)",
    "MTL_json": "Product Metadata File (json)",
    "ANG_txt": "Angle Coefficients File",
}
_ROLES_DATA = ["data"]
_ROLES_METADATA = ["metadata"]
_ROLES_REFLECTANCE = ["data", "reflectance"]
_ROLES_TEMPERATURE = ["data", "temperature"]
_ROLES_BUNDLE = ["data", "archive"]
_SPECIAL_ROLES = {
    "QA_PIXEL": ["cloud", "cloud-shadow", "snow-ice", "water-mask"],
    "QA_RADSAT": ["saturation"],
}
# Landsat C2 product contents, in USGS's file naming (`<product id>_<key>.TIF` / `_<NAME>.<ext>`
# → key `NAME_ext`): the keys `download_options_to_assets` gives the band files.
_C2_META = ("ANG_txt", "MTL_txt", "MTL_xml", "MTL_json")
_C2_FILES: dict[tuple[str, str], tuple[str, ...]] = {
    ("ot", "1"): (
        *(f"B{n}" for n in range(1, 12)),
        "QA_PIXEL",
        "QA_RADSAT",
        "SAA",
        "SZA",
        "VAA",
        "VZA",
        *_C2_META,
    ),
    ("ot", "2"): (
        *(f"SR_B{n}" for n in range(1, 8)),
        "SR_QA_AEROSOL",
        "ST_B10",
        "ST_ATRAN",
        "ST_CDIST",
        "ST_DRAD",
        "ST_EMIS",
        "ST_EMSD",
        "ST_QA",
        "ST_TRAD",
        "ST_URAD",
        "QA_PIXEL",
        "QA_RADSAT",
        *_C2_META,
    ),
}
_TM_ETM_L2 = (
    *(f"SR_B{n}" for n in (1, 2, 3, 4, 5, 7)),
    "SR_ATMOS_OPACITY",
    "SR_CLOUD_QA",
    "ST_B6",
    "ST_ATRAN",
    "ST_CDIST",
    "ST_DRAD",
    "ST_EMIS",
    "ST_EMSD",
    "ST_QA",
    "ST_TRAD",
    "ST_URAD",
    "QA_PIXEL",
    "QA_RADSAT",
    *_C2_META,
)
_C2_FILES[("tm", "2")] = _TM_ETM_L2
_C2_FILES[("etm", "2")] = _TM_ETM_L2

# download-options systems that are not a file to fetch: LandsatLook WMS renderings (the
# scene's own browse images already cover them) and "folder" parents of secondary downloads.
_NOT_DOWNLOADS = frozenset({"wms", "folder"})
_SLUG = re.compile(r"[^a-z0-9]+")
_REF_SAFE = re.compile(r"[A-Za-z0-9._~-]+")
#: `entity/product#name` with each part URL-safe (the common case: no part needs quoting)
_REF_TAIL_SAFE = re.compile(r"[A-Za-z0-9._~-]+/[A-Za-z0-9._~-]+#[A-Za-z0-9._~-]+")
_BROWSE_NOISE = re.compile(r"\b(?:landsatlook|preview|image|browse)\b")

# -- dates -----------------------------------------------------------------------------------
_DATE = re.compile(r"(\d{4})-(\d\d)-(\d\d)")
_DATE_TEXT = re.compile(r"\d{4}-\d\d-\d\d")
_DATETIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d+))?")
_DOY_TIME = re.compile(r"(\d{4}):(\d{3}):(\d\d):(\d\d):(\d\d)(?:\.(\d+))?")
_SLASH_DATE = re.compile(r"(\d{4})/(\d\d)/(\d\d)")
_MIN_YEAR = 1800  # `acquisitionStart: "0021-09-16"` is recorded: years before this are junk

# full-metadata field names (C1 and C2 spellings)
_F_START = ("Start Time",)
_F_STOP = ("Stop Time",)
_F_ACQ_DATE = ("Acquisition Date", "Date Acquired")
_F_SCENE_CLOUD = ("Scene Cloud Cover", "Scene Cloud Cover L1")
_F_LAND_CLOUD = ("Land Cloud Cover",)
_F_SUN_EL = ("Sun Elevation L1", "Sun Elevation L0RA", "Sun Elevation")
_F_SUN_AZ = ("Sun Azimuth L1", "Sun Azimuth L0RA", "Sun Azimuth")
_F_ROLL = ("Roll Angle",)
_F_PROJECTION = ("Map Projection Level-1", "Product Map Projection L1", "Map Projection L1")
_F_GSD = ("Grid Cell Size Reflective",)
# The product grids full metadata describes (C1 writes them; the C2 field list has none):
# grid → (lines field, samples field, cell size field).  `proj:shape` is [lines, samples].
_F_GRIDS = {
    "reflective": ("Reflective Lines", "Reflective Samples", "Grid Cell Size Reflective"),
    "panchromatic": ("Panchromatic Lines", "Panchromatic Samples", "Grid Cell Size Panchromatic"),
    "thermal": ("Thermal Lines", "Thermal Samples", "Grid Cell Size Thermal"),
}


# -- small conversions ---------------------------------------------------------------------------
def _field(md: Fields, names: tuple[str, ...]) -> Any:
    for name in names:
        v = md.get(name)
        if v is not None and v != "":
            return v
    return None


def _micro(frac: str | None) -> int:
    return int((frac + "00000")[:6]) if frac else 0


def _utc_text(value: Any) -> tuple[str, bool] | None:
    """`("YYYY-MM-DDTHH:MM:SS[.f]Z", midnight?)` from an M2M time without a zone (UTC)."""
    if not isinstance(value, str):
        return None
    m = _DATETIME.match(value)
    if m is None:
        m = _DATE.match(value)
        if m is None:
            return None
        y, mo, d = m.groups()
        return f"{y}-{mo}-{d}T00:00:00Z", True
    y, mo, d, hh, mm, ss, frac = m.groups()
    frac = ("." + frac[:6]).rstrip("0") if frac and frac.strip("0") else ""
    return (
        f"{y}-{mo}-{d}T{hh}:{mm}:{ss}{frac}Z",
        hh == "00" and mm == "00" and ss == "00" and not frac,
    )


def _acq_time(value: Any) -> str | None:
    """An acquisition Start/Stop Time (UTC) → RFC 3339.

    C1 full metadata writes year:day-of-year:time (`2020:217:13:48:06.7714180`); a calendar
    `YYYY-MM-DD HH:MM:SS[.f]` is read too.  A bare date is not a time: None.
    """
    if not isinstance(value, str):
        return None
    m = _DOY_TIME.match(value.strip())
    if m is None:
        text = _utc_text(value.strip()) if _DATETIME.match(value.strip()) else None
        return text[0] if text is not None else None
    y, doy, hh, mm, ss, frac = m.groups()
    try:
        t = dt.datetime(int(y), 1, 1, int(hh), int(mm), int(ss), _micro(frac), tzinfo=_UTC)
        t += dt.timedelta(days=int(doy) - 1)
    except ValueError:
        return None
    if t.year != int(y):
        return None
    return format_rfc3339(t)


def _chicago_to_utc(value: Any) -> str | None:
    """An EROS wall-clock time (`2016-09-11 14:20:23` / `2020-08-04T13:39:39`) in UTC."""
    if not isinstance(value, str):
        return None
    m = _DATETIME.match(value)
    if m is None:
        return None
    y, mo, d, hh, mm, ss, frac = m.groups()
    try:
        t = dt.datetime(int(y), int(mo), int(d), int(hh), int(mm), int(ss), _micro(frac))
    except ValueError:
        return None
    if _CHICAGO is not None:
        return format_rfc3339(t.replace(tzinfo=_CHICAGO).astimezone(_UTC))
    return format_rfc3339((t + dt.timedelta(hours=_central_offset_hours(t))).replace(tzinfo=_UTC))


def _nth_sunday(year: int, month: int, n: int) -> int:
    """Day of the month of the n-th Sunday (n = -1: the last one)."""
    if n > 0:
        first = dt.date(year, month, 1).weekday()  # Monday = 0
        return 1 + (6 - first) % 7 + 7 * (n - 1)
    last = dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
    return last.day - (last.weekday() + 1) % 7


def _central_offset_hours(local: dt.datetime) -> int:
    """Hours from US Central wall-clock time to UTC (6 standard, 5 daylight; 1967 on)."""
    y = local.year
    if y >= 2007:
        start = dt.datetime(y, 3, _nth_sunday(y, 3, 2), 2)
        end = dt.datetime(y, 11, _nth_sunday(y, 11, 1), 2)
    elif y >= 1987:
        start = dt.datetime(y, 4, _nth_sunday(y, 4, 1), 2)
        end = dt.datetime(y, 10, _nth_sunday(y, 10, -1), 2)
    elif y >= 1967:
        start = dt.datetime(y, 4, _nth_sunday(y, 4, -1), 2)
        end = dt.datetime(y, 10, _nth_sunday(y, 10, -1), 2)
    else:
        return 6
    return 5 if start <= local < end - dt.timedelta(hours=1) else 6


def _day(value: Any) -> dt.date | None:
    """A plausible calendar date from `YYYY-MM-DD…` (years before 1800 are junk)."""
    if not isinstance(value, str):
        return None
    m = _DATE.match(value.strip())
    if m is None:
        return None
    try:
        d = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None
    return d if d.year >= _MIN_YEAR else None


def _slug(text: str) -> str:
    return _SLUG.sub("_", text.lower()).strip("_")


# -- identifiers ------------------------------------------------------------------------------
def scene_entity_id(scene: JSON) -> str | None:
    """The M2M `entityId` of a scene record (what download-options / download-request take)."""
    v = scene.get("entityId")
    return str(v) if v not in (None, "") else None


def parse_display_id(display_id: str) -> JSON | None:
    """The parts of a Landsat Collection product id, or None if `display_id` is not one.

    `LC08_L1TP_233083_20160911_20170321_01_T1` → `{"sensor": "C", "satellite": 8,
    "platform": "landsat-8", "instruments": ["oli", "tirs"] | None, "correction": "L1TP",
    "wrs_path": "233", "wrs_row": "083", "wrs_type": "2", "acquired": "2016-09-11",
    "processed": "2017-03-21", "collection_number": "01", "collection_category": "T1"}`.
    """
    if not isinstance(display_id, str):
        return None
    m = _PRODUCT_ID.fullmatch(display_id)
    if m is None:
        return None
    sensor, sat, corr, path, row, acq, proc, num, cat = m.groups()
    n = int(sat)
    return {
        "sensor": sensor,
        "satellite": n,
        "platform": _PLATFORMS.get(n),
        "instruments": _INSTRUMENTS.get((sensor, n)),
        "correction": corr,
        "wrs_path": path,
        "wrs_row": row,
        "wrs_type": "1" if sensor == "M" and n <= 3 else "2",
        "acquired": f"{acq[:4]}-{acq[4:6]}-{acq[6:]}",
        "processed": f"{proc[:4]}-{proc[4:6]}-{proc[6:]}",
        "collection_number": num,
        "collection_category": cat,
    }


def platform_for(display_id: str) -> str | None:
    """`landsat-8` for `LC08_…` product ids and `LC8…` scene ids; None for anything else."""
    if not isinstance(display_id, str) or len(display_id) < 4 or display_id[0] != "L":
        return None
    if display_id[1] not in "COTEM":
        return None
    if display_id[2] == "0" and display_id[3].isdigit():  # LC08_…
        n = int(display_id[3])
    elif display_id[2].isdigit() and _SCENE_ID.fullmatch(display_id):  # LC8…
        n = int(display_id[2])
    else:
        return None
    return _PLATFORMS.get(n)


def _safe_tail(entity_id: Any, product_id: Any, file_name: Any) -> str | None:
    """`entity/product#name` when no part needs quoting (the common case), else None.

    One match for the three parts (none can hold "/" or "#"): 20,000 refs a page.
    """
    if type(entity_id) is str and type(product_id) is str and type(file_name) is str:
        tail = f"{entity_id}/{product_id}#{file_name}"
        if _REF_TAIL_SAFE.fullmatch(tail):
            return tail
    return None


def download_ref(
    dataset_alias: str, entity_id: str, product_id: str, file_name: str | None = None
) -> str:
    """`m2m://{dataset_alias}/{entityId}/{productId}#{file name}`: a file that needs a
    download-request.

    `download-request` takes `{entityId, productId}`; the dataset alias says which collection
    the file belongs to (routing, authorisation).  For a band file (a secondary download) the
    entity id is the file's own (`L1_LC09_…_ANG_TXT`), not the scene's.  Parts that are not
    URL-safe are percent-encoded, so `parse_download_ref` inverts this exactly.  The fragment
    is the name the file downloads as; the proxy's href ends in it and answers no other name.
    """
    tail = _safe_tail(entity_id, product_id, file_name) if file_name else None
    if tail is not None:
        return f"{DOWNLOAD_SCHEME}{_ref_part(dataset_alias)}/{tail}"
    alias, entity, product = _ref_part(dataset_alias), _ref_part(entity_id), _ref_part(product_id)
    ref = f"{DOWNLOAD_SCHEME}{alias}/{entity}/{product}"
    return f"{ref}#{_ref_part(file_name)}" if file_name else ref


def _ref_part(value: Any) -> str:
    """`value` as text, percent-encoded unless it is URL-safe already (ids are, in practice)."""
    text = value if type(value) is str else str(value)
    return text if _REF_SAFE.fullmatch(text) else quote(text, safe="")


def bundle_file_name(display_id: Any, c2: bool) -> str | None:
    """The name a Landsat product bundle downloads as: `<displayId>.tar` (C2), `.tar.gz`."""
    return f"{display_id}{'.tar' if c2 else '.tar.gz'}" if display_id else None


def parse_download_ref(href: str) -> tuple[str, str, str] | None:
    """`(dataset_alias, entity_id, product_id)` from a `download_ref` href, else None."""
    if not isinstance(href, str) or not href.startswith(DOWNLOAD_SCHEME):
        return None
    parts = href[len(DOWNLOAD_SCHEME) :].partition("#")[0].split("/")
    if len(parts) != 3:
        return None
    alias, entity, product = parts
    if "%" in alias or "%" in entity or "%" in product:  # rare: ids are URL-safe
        alias, entity, product = unquote(alias), unquote(entity), unquote(product)
    if not (alias and entity and product):
        return None
    return alias, entity, product


def _landsat_alias(dataset_alias: str) -> tuple[str, str, str | None] | None:
    """`(sensor family, collection number, level)` of a Landsat collection dataset alias."""
    m = _LANDSAT_ALIAS.fullmatch(dataset_alias.lower()) if dataset_alias else None
    return m.groups() if m else None  # type: ignore[return-value]


# -- geometry ------------------------------------------------------------------------------------
def _ring(coords: Any) -> list[list[float]]:
    """A copy of a GeoJSON ring (the input is not mutated) with longitudes in [-180, 180]."""
    out = [[float(p[0]), float(p[1])] for p in coords]
    for p in out:
        x = p[0]
        if x > 180.0 or x < -180.0:  # unwrapped footprints (dataset bounds reach 197.6°)
            p[0] = (x + 180.0) % 360.0 - 180.0
    return out


def _shape(g: Any) -> geo.Shape | None:
    if not isinstance(g, dict):
        return None
    kind = g.get("type")
    c = g.get("coordinates")
    if not c:
        return None
    try:
        if kind == "Polygon":
            return geo.polygon(_ring(c[0]), [_ring(h) for h in c[1:]])
        if kind == "MultiPolygon":
            return geo.combine(
                [geo.polygon(_ring(p[0]), [_ring(h) for h in p[1:]]) for p in c if p]
            )
        if kind == "Point":
            x, y = _ring([c])[0]
            return geo.point(x, y)
        if kind == "MultiPoint":
            return geo.combine([geo.point(x, y) for x, y in _ring(c)])
        if kind == "LineString":
            return geo.line(_ring(c))
        if kind == "MultiLineString":
            return geo.combine([geo.line(_ring(part)) for part in c])
    except (TypeError, ValueError, IndexError, KeyError, AttributeError):
        return None
    return None


def _valid_bbox(b: list[float]) -> bool:
    return -90.0 <= b[1] <= b[3] <= 90.0 and -180.0 <= b[0] <= 180.0 and -180.0 <= b[2] <= 180.0


# -- scenes --------------------------------------------------------------------------------------
def _browse_assets(browse: list[JSON], assets: JSON) -> None:
    first = True
    for b in browse:
        if not isinstance(b, dict):
            continue
        name = b.get("browseName")
        path = b.get("browsePath")
        if first:
            thumb = b.get("thumbnailPath")
            if thumb:
                a = {"href": thumb}
                if name:
                    a["title"] = name
                mt = _browse_type(thumb)
                if mt:
                    a["type"] = mt
                a["roles"] = ["thumbnail"]
                assets["thumbnail"] = a
            if path:
                a = {"href": path}
                if name:
                    a["title"] = name
                mt = _browse_type(path)
                if mt:
                    a["type"] = mt
                a["roles"] = ["overview"]
                assets["browse"] = a
            first = False
            continue
        if not path:
            continue
        # the other renderings (thermal, quality…): full-size browse only, keyed by their name
        sfx = _slug(_BROWSE_NOISE.sub(" ", str(name or "").lower())) if name else ""
        key = f"browse_{sfx}" if sfx else "browse"
        if key in assets:
            key = unique_key(key, assets)
        a = {"href": path}
        if name:
            a["title"] = name
        mt = _browse_type(path)
        if mt:
            a["type"] = mt
        a["roles"] = ["overview"]
        assets[key] = a
        # overlayPath (a WMS endpoint needing GetMap parameters) is not a file: skipped


def _image_type(href: str) -> str | None:
    mt = media_type(href)
    return mt if mt is not None and mt.startswith("image/") else None


def _browse_type(href: str) -> str | None:
    """A browse image's media type: by extension, else LandsatLook's `gen-browse` (JPEG)."""
    mt = _image_type(href)
    if mt is None and "/gen-browse?" in href:
        return JPEG
    return mt


def _wrs(value: Any) -> str | None:
    """` 226` / 226 / `26` → `226` / `026` (zero-padded to 3 as landsat v2.0.0 wants)."""
    if value is None:
        return None
    text = str(value).strip()
    if not text.isdigit():
        return None
    n = int(text)
    return f"{n:03d}" if 1 <= n <= 999 else None


def scene_to_item(
    scene: JSON, dataset_alias: str, *, download_options: list[JSON] | None = None
) -> JSON:
    """A STAC Item from one scene-search result or scene-metadata record.

    `dataset_alias` is the dataset (`landsat_ot_c2_l2`), which is the Item's collection.
    `download_options` is the `download-options` data for this scene (entries of other scenes
    are ignored); its files become `m2m://` assets and the Item `order:status: orderable`.
    """
    return finish_scene(scene_draft(scene, dataset_alias), download_options)


@dataclass(slots=True)
class SceneDraft:
    """A scene translated as far as it goes without its download options (`scene_draft`).

    The provider drafts a page's scenes while its `download-options` call is in flight, then
    `finish_scene` adds the files; `scene_to_item` does both at once.
    """

    display_id: str
    entity_id: Any
    dataset_alias: str
    shape: Any
    props: JSON
    assets: JSON
    grids: dict[str, Grid] | None


def scene_draft(scene: JSON, dataset_alias: str) -> SceneDraft:
    """Everything of `scene_to_item` that the scene record alone decides."""
    entity_id = scene.get("entityId")
    display_id = scene.get("displayId") or entity_id
    display_id = str(display_id) if display_id is not None else ""

    md_list = scene.get("metadata")
    md: Fields = _EMPTY
    if md_list:
        try:  # well-formed fields (all of them, in practice): subscripts, not ~130 .get calls
            md = {f["fieldName"]: f["value"] for f in md_list}
        except (KeyError, TypeError):
            try:
                md = {f.get("fieldName"): f.get("value") for f in md_list if type(f) is dict}
            except TypeError:  # an unhashable fieldName: malformed, read nothing from it
                md = _EMPTY

    props: JSON = {}

    # time: acquisition start/stop when the metadata has it, else temporalCoverage
    start = _acq_time(_field(md, _F_START)) if md else None
    if start is not None:
        props["datetime"] = start
        stop = _acq_time(_field(md, _F_STOP))
        if stop is not None and stop >= start:
            props["start_datetime"] = start
            props["end_datetime"] = stop
    else:
        tc = scene.get("temporalCoverage")
        if type(tc) is not dict:
            tc = _EMPTY
        s = _utc_text(tc.get("startDate"))
        e = _utc_text(tc.get("endDate"))
        if s is None and md:
            acq = _field(md, _F_ACQ_DATE)
            m = (_SLASH_DATE.match(acq) or _DATE.match(acq)) if isinstance(acq, str) else None
            if m is not None:
                s = e = (f"{m.group(1)}-{m.group(2)}-{m.group(3)}T00:00:00Z", True)
        if s is None:
            # nothing says when: left null (the Item then needs fixing upstream, not guessing)
            props["datetime"] = None
        else:
            props["datetime"] = s[0]
            if e is None or e[0] == s[0]:
                if s[1]:  # a date: acquired some time that day (UTC)
                    props["start_datetime"] = s[0]
                    props["end_datetime"] = s[0][:11] + "23:59:59Z"
            elif e[0] > s[0]:
                props["start_datetime"] = s[0]
                props["end_datetime"] = e[0][:11] + "23:59:59Z" if e[1] else e[0]
    created = _chicago_to_utc(scene.get("publishDate"))
    if created is not None:
        props["created"] = created

    # Landsat identity from the product id
    parsed = parse_display_id(display_id)
    if parsed is not None:
        platform = parsed["platform"]
        if platform:
            props["platform"] = platform
            instruments = parsed["instruments"]
            if instruments:
                props["instruments"] = instruments
            props["constellation"] = "landsat"
        props["grid:code"] = f"WRS{parsed['wrs_type']}-{parsed['wrs_path']}{parsed['wrs_row']}"
    else:
        platform = platform_for(display_id) or platform_for(str(entity_id or ""))
        if platform:
            props["platform"] = platform
            props["constellation"] = "landsat"

    # cloud cover: a string in summaries, a string or number elsewhere; Landsat -1 = unknown
    cloud = as_float(_field(md, _F_SCENE_CLOUD)) if md else None
    if cloud is None:
        cloud = as_float(scene.get("cloudCover"))
    if cloud is not None and 0.0 <= cloud <= 100.0:
        props["eo:cloud_cover"] = cloud

    grids = _full_metadata(md, parsed, entity_id, props) if md else None

    # geometry: the footprint, else the bounding box
    shape = _shape(scene.get("spatialCoverage"))
    if shape is None or not _valid_bbox(shape.bbox):
        shape = _shape(scene.get("spatialBounds"))
        if shape is not None and not _valid_bbox(shape.bbox):
            shape = None

    assets: JSON = {}
    browse = scene.get("browse")
    if browse:
        _browse_assets(browse, assets)
    return SceneDraft(display_id, entity_id, dataset_alias, shape, props, assets, grids)


def finish_scene(draft: SceneDraft, download_options: list[JSON] | None) -> JSON:
    """The Item of a `scene_draft` with its scene's download options (see `scene_to_item`).

    A draft is finished once: its properties and assets become the Item's.
    """
    display_id, entity_id, dataset_alias = draft.display_id, draft.entity_id, draft.dataset_alias
    props, assets, grids = draft.props, draft.assets, draft.grids
    if download_options:
        eid = str(entity_id) if entity_id is not None else None
        mine = [o for o in download_options if type(o) is dict and o.get("entityId") in (None, eid)]
        files = download_options_to_assets(mine, dataset_alias)
        if files:
            for k, a in files.items():
                if k in assets:
                    k = unique_key(k, assets)
                assets[k] = a
            status = order_status(files)
            if status is not None:
                props["order:status"] = status

    if grids and assets:
        _band_grids(assets, grids, props.get("gsd"))

    # what STAC Browser / QGIS list the Item as: the product id and the day it was acquired
    if display_id:
        when = props["datetime"]
        props["title"] = f"{display_id} ({when[:10]})" if when else display_id

    # the Item declares the extensions of the fields it ended up with
    return item_dict(display_id, dataset_alias, draft.shape, props, assets)


#: a product grid of full metadata: (`proj:shape` [lines, samples], cell size in metres or None)
Grid = tuple[list[int], float | None]

_NO_GRIDS: dict[str, Grid] = {}
# eo common name of a band → the product grid its file is on (every other band: reflective)
_BAND_GRIDS = {"pan": "panchromatic", "lwir": "thermal", "lwir11": "thermal", "lwir12": "thermal"}


def _grids(md: Fields) -> dict[str, Grid]:
    """The product grids whose size the metadata states (`Reflective Lines`/`Samples`…).

    Only the size: M2M gives the corners in degrees, of the scene footprint rather than of the
    grid (the recorded scene's product is 580 m wider than its corners' UTM extent), so the
    grid origin, hence `proj:transform` / `proj:bbox`, does not follow and is not emitted.
    """
    out: dict[str, Grid] = {}
    for grid, (lines_f, samples_f, size_f) in _F_GRIDS.items():
        lines = md.get(lines_f)
        if lines is None:
            continue
        lines, samples = as_int(lines), as_int(md.get(samples_f))
        if lines is None or samples is None or lines <= 0 or samples <= 0:
            continue
        size = as_float(md.get(size_f))
        out[grid] = ([lines, samples], size if size is not None and size > 0 else None)
    return out


def _band_grids(assets: JSON, grids: dict[str, Grid], gsd: float | None) -> None:
    """`proj:shape` on each band file from its band's grid, and `gsd` where that differs from
    the Item's (the 15 m panchromatic band of a 30 m product): what odc-stac and GDAL size a
    band by, since a pan band has four times the pixels of the Item-level shape."""
    for a in assets.values():
        bands = a.get("eo:bands")
        if not bands:
            continue
        grid = grids.get(_BAND_GRIDS.get(bands[0].get("common_name"), "reflective"))
        if grid is None:
            continue
        a["proj:shape"] = grid[0]
        if grid[1] is not None and grid[1] != gsd:
            a["gsd"] = grid[1]


def _full_metadata(md: Fields, parsed: JSON | None, entity_id: Any, props: JSON) -> dict[str, Grid]:
    """Properties from a `metadataType: full` field list (`{fieldName: value}`); returns the
    product grids it sizes, for the band files."""
    v = as_float(_field(md, _F_SUN_AZ))
    if v is not None and 0.0 <= v <= 360.0:
        props["view:sun_azimuth"] = v
    v = as_float(_field(md, _F_SUN_EL))
    if v is not None and -90.0 <= v <= 90.0:
        props["view:sun_elevation"] = v
    v = as_float(_field(md, _F_ROLL))
    if v is not None and abs(v) <= 90.0:
        # Landsat points off nadir by rolling only: the off-nadir angle is |roll|
        props["view:off_nadir"] = abs(v)
    gsd = as_float(_field(md, _F_GSD))
    if gsd is not None and gsd > 0:
        props["gsd"] = gsd

    if parsed is None:
        return _NO_GRIDS  # the rest is about Landsat products

    # proj:epsg — Landsat UTM products are gridded on the northern zone (326zz) everywhere
    zone = md.get("UTM Zone")
    proj = _field(md, _F_PROJECTION)
    datum = md.get("Datum")
    if (
        zone is not None
        and (proj is None or str(proj).strip().upper() == "UTM")
        and (datum is None or str(datum).strip().upper() == "WGS84")
    ):
        z = as_float(zone)
        if z is not None and z == int(z) and 1 <= z <= 60:
            props["proj:epsg"] = 32600 + int(z)
    # grid sizes only with the CRS they are in (the projection extension requires proj:epsg)
    grids = _grids(md) if "proj:epsg" in props else _NO_GRIDS
    reflective = grids.get("reflective")
    if reflective is not None:
        # the Item's shape is that of the grid `gsd` describes: most bands, QA and angle files
        props["proj:shape"] = reflective[0]

    # landsat extension v2.0.0: every required field or none of them
    scene_id = md.get("Landsat Scene Identifier") or entity_id
    scene_id = str(scene_id).strip() if scene_id else ""
    category = parsed["collection_category"]
    number = parsed["collection_number"]
    correction = parsed["correction"]
    path = _wrs(md.get("WRS Path")) or parsed["wrs_path"]
    row = _wrs(md.get("WRS Row")) or parsed["wrs_row"]
    land = as_float(_field(md, _F_LAND_CLOUD))
    if (
        _SCENE_ID_EXT.match(scene_id)
        and category in _CATEGORIES
        and number in _COLLECTION_NUMBERS
        and correction in _CORRECTIONS
        and land is not None
        and -1.0 <= land <= 100.0
        and path is not None
        and row is not None
        and 1 <= int(path) <= 233
        and 1 <= int(row) <= 248
    ):
        props["landsat:scene_id"] = scene_id
        props["landsat:collection_category"] = category
        props["landsat:collection_number"] = number
        props["landsat:correction"] = correction
        props["landsat:wrs_type"] = parsed["wrs_type"]
        props["landsat:wrs_path"] = path
        props["landsat:wrs_row"] = row
        props["landsat:cloud_cover_land"] = land
    return grids


# -- download options ------------------------------------------------------------------------
def order_status(assets: JSON) -> str | None:
    """`orderable` when some asset is an `m2m://` reference (needs a download-request)."""
    for a in assets.values():
        if a.get("href", "").startswith(DOWNLOAD_SCHEME):
            return ORDERABLE
    return None


def group_download_options(options: list[JSON]) -> dict[str, list[JSON]]:
    """`download-options` data for many scenes, grouped by the scene's entityId."""
    out: dict[str, list[JSON]] = {}
    for o in options or ():
        eid = o.get("entityId") if isinstance(o, dict) else None
        if eid is not None:
            out.setdefault(str(eid), []).append(o)
    return out


def _checksum(entry: JSON) -> str | None:
    for ck in entry.get("checksum") or entry.get("checksum_values") or ():
        if not isinstance(ck, dict):
            continue
        mh = multihash(ck.get("id"), ck.get("value"))
        if mh is not None:
            return mh
    return None


def _file_key(name: str, parent: str) -> tuple[str, str]:
    """`(asset key, lower-case extension)` for a band file name.

    `LC08_L2SP_…_02_T1_SR_B4.TIF` → `SR_B4`; `…_MTL.txt` → `MTL_txt`.
    """
    if parent and name.startswith(parent) and len(name) > len(parent) + 1:
        rest = name[len(parent) + 1 :]
    else:
        m = _PRODUCT_ID.match(name)
        rest = name[m.end() + 1 :] if m and len(name) > m.end() + 1 else name
    base, dot, ext = rest.rpartition(".")
    if not dot or not base:
        return rest, ""
    low = ext.lower()
    if low in ("tif", "tiff"):
        return base, low
    return f"{base}_{ext}", low


def _band_fields(key: str, ext: str, family: str | None, cog: bool) -> JSON:
    """title / type / roles (/ eo:bands) of a Landsat band file by its key."""
    out: JSON = {}
    mt = BY_EXTENSION.get(ext)
    if mt is GEOTIFF and cog:
        mt = COG
    bands = _BANDS_BY_FAMILY.get(family) if family else None
    band = None
    if bands is not None:
        band_id = key[3:] if key.startswith(("SR_", "ST_")) else key
        band = bands.get(band_id)
    if band is not None:
        common, name = band
        band_id = key[3:] if key.startswith(("SR_", "ST_")) else key
        if key.startswith("SR_"):
            out["title"] = f"{name} ({band_id}) - Surface Reflectance"
            roles = _ROLES_REFLECTANCE
        elif key.startswith("ST_"):
            out["title"] = f"Surface Temperature Band ({band_id})"
            roles = _ROLES_TEMPERATURE
        else:
            out["title"] = f"{name} ({band_id})"
            roles = _ROLES_DATA
        if mt:
            out["type"] = mt
        out["roles"] = roles
        out["eo:bands"] = [{"name": band_id, "common_name": common}]
        return out
    title = _AUX_TITLES.get(key) if family else None
    if title:
        out["title"] = title
    if mt:
        out["type"] = mt
    if ext and not (mt or "").startswith("image/"):
        out["roles"] = _ROLES_METADATA
    else:
        out["roles"] = _SPECIAL_ROLES.get(key, _ROLES_DATA) if family else _ROLES_DATA
    return out


#: `_band_fields` by its arguments: a page repeats the same ~20 band files scene after scene
_BAND_FIELDS: dict[tuple[str, str, str | None, bool], JSON] = {}


def _band_fields_of(key: str, ext: str, family: str | None, cog: bool) -> JSON:
    """A fresh copy of `_band_fields(...)` (nothing is shared between Items), memoised."""
    args = (key, ext, family, cog)
    fields = _BAND_FIELDS.get(args)
    if fields is None:
        fields = _band_fields(key, ext, family, cog)
        if len(_BAND_FIELDS) < 4096:
            _BAND_FIELDS[args] = fields
    out = dict(fields)
    bands = out.get("eo:bands")
    if bands is not None:
        out["eo:bands"] = [dict(b) for b in bands]
    return out


#: (family, COG?) → file name after the product id → (asset key, `_band_fields`): the same
#: ~20 kinds of band file scene after scene, so each is read once a process
_FILE_FIELDS: dict[tuple[str | None, bool], dict[str, tuple[str, JSON]]] = {}
_FILE_FIELDS_MAX = 4096


def _file_fields(
    name: str, parent: str, family: str | None, c2: bool, kinds: dict[str, tuple[str, JSON]]
) -> tuple[str, JSON]:
    """`(asset key, title/type/roles/eo:bands)` of a band file; the fields are shared (copy
    them, and their `eo:bands`, before handing them out).  `kinds` is
    `_FILE_FIELDS[(family, c2)]`."""
    n = len(parent)
    if not (n and len(name) > n + 1 and name.startswith(parent)):
        key, ext = _file_key(name, parent)
        return key, _band_fields_of(key, ext, family, c2)
    rest = name[n + 1 :]
    hit = kinds.get(rest)
    if hit is None:
        key, ext = _file_key(name, parent)  # a function of the name after the parent alone
        hit = (key, _band_fields(key, ext, family, c2))
        if len(kinds) < _FILE_FIELDS_MAX:
            kinds[rest] = hit
    return hit


def _is_bundle_name(name: str) -> bool:
    low = name.lower()
    return "bundle" in low or "data product" in low


def download_options_to_assets(options: list[JSON], dataset_alias: str) -> dict[str, JSON]:
    """Assets from the `download-options` data of ONE scene.

    - a top-level file product (the Landsat product bundle: C1 `.tar.gz`, C2 `.tar`) → key
      `bundle` (further top-level products: their product name as a slug), roles
      `["data", "archive"]`, `title` = productName;
    - each `secondaryDownloads` file (the band files under a `folder` product) → its own asset,
      keyed by the file name after the product id (`SR_B4`, `QA_PIXEL`, `MTL_txt`); Landsat
      Collection 2 `.TIF` bands are COGs;
    - `file:size` from `filesize` (> 0), `file:checksum` from `checksum` (sha256/md5…).

    Every href is a `download_ref`.  Skipped: `available: false` products (M2M: "an order must
    be placed to generate that product" — a TRAM order, not a download-request, so a ref
    would not resolve), `wms` products (LandsatLook renderings: the scene's browse images
    already are the overview assets, reachable over https), and `folder` parents themselves.
    """
    landsat = _landsat_alias(dataset_alias)
    family = landsat[0] if landsat else None
    c2 = landsat is not None and landsat[1] == "2"
    assets: JSON = {}
    tops = [
        o
        for o in options or ()
        if isinstance(o, dict)
        and o.get("available") is not False
        and o.get("downloadSystem") not in _NOT_DOWNLOADS
        and o.get("id")
        and o.get("entityId")
    ]
    top_ids = {id(o) for o in tops}
    bundle = None
    if tops:
        named = [o for o in tops if _is_bundle_name(str(o.get("productName") or ""))]
        bundle = named[0] if named else tops[0] if len(tops) == 1 else None
    head = f"{DOWNLOAD_SCHEME}{_ref_part(dataset_alias)}/"
    kinds = _FILE_FIELDS.get((family, c2))
    if kinds is None:
        kinds = _FILE_FIELDS.setdefault((family, c2), {})
    for o in options or ():
        if not isinstance(o, dict):
            continue
        if id(o) in top_ids:
            name = str(o.get("productName") or "")
            key = "bundle" if o is bundle else (_slug(name) or f"product_{_slug(str(o['id']))}")
            bundle_name = bundle_file_name(o.get("displayId"), c2) if landsat else None
            a: JSON = {
                "href": download_ref(
                    dataset_alias, o["entityId"], o["id"], bundle_name if o is bundle else None
                )
            }
            if name:
                a["title"] = name
            if o is bundle and landsat is not None:
                a["type"] = TAR if c2 else GZIP
            a["roles"] = _ROLES_BUNDLE
            _file_info(o, a)
            if key in assets:
                key = unique_key(key, assets)
            assets[key] = a
        if o.get("available") is False or o.get("downloadSystem") == "wms":
            continue
        for sub in o.get("secondaryDownloads") or ():
            _secondary(
                sub, str(o.get("displayId") or ""), dataset_alias, family, c2, assets, head, kinds
            )
    return assets


def _secondary(
    sub: Any,
    parent: str,
    alias: str,
    family: str | None,
    c2: bool,
    assets: JSON,
    head: str,
    kinds: dict[str, tuple[str, JSON]],
) -> None:
    """One `secondaryDownloads` entry (and those nested in it) as band-file assets.

    `head` is `download_ref`'s `m2m://{alias}/`, `kinds` `_FILE_FIELDS[(family, c2)]`.  ~20
    band files a scene, 20,000 a page: each field is read once, and `download_ref` /
    `_file_info` are inlined for the common case.
    """
    if not isinstance(sub, dict):
        return
    get = sub.get
    system = get("downloadSystem")
    if get("available") is False or system == "wms":
        return
    product, entity = get("id"), get("entityId")
    if not product or not entity:
        return
    if system != "folder":
        name = get("displayId") or get("downloadName") or ""
        if type(name) is not str:
            name = str(name)
        if name:
            key, fields = _file_fields(name, parent, family, c2, kinds)
            tail = _safe_tail(entity, product, name)
            href = head + tail if tail is not None else download_ref(alias, entity, product, name)
            a: JSON = {"href": href, **fields}
            bands = fields.get("eo:bands")
            if bands is not None:  # nothing nested is shared between Items
                a["eo:bands"] = [dict(b) for b in bands]
            if "title" not in a:
                a["title"] = name
            size = get("filesize")
            if type(size) is int and size > 0:
                a["file:size"] = size
            if get("checksum") or get("checksum_values"):
                ck = _checksum(sub)
                if ck is not None:
                    a["file:checksum"] = ck
            if key in assets:
                key = unique_key(key, assets)
            assets[key] = a
    nested = get("secondaryDownloads")
    if nested:
        for child in nested:
            _secondary(child, parent, alias, family, c2, assets, head, kinds)


def _file_info(entry: JSON, asset: JSON) -> None:
    size = entry.get("filesize")
    if type(size) is int and size > 0:
        asset["file:size"] = size
    ck = _checksum(entry)
    if ck is not None:
        asset["file:checksum"] = ck


# -- collections -----------------------------------------------------------------------------
def _dataset_bbox(sb: Any) -> list[float]:
    if not isinstance(sb, dict):
        return list(geo.GLOBAL_BBOX)  # STAC needs an extent; none stated = not restricted
    w, s, e, n = (as_float(sb.get(k)) for k in ("west", "south", "east", "north"))
    if w is None or s is None or e is None or n is None:
        return list(geo.GLOBAL_BBOX)
    s, n = max(-90.0, min(s, 90.0)), max(-90.0, min(n, 90.0))  # recorded: south -97.68
    if s > n:
        s, n = n, s
    if e - w >= 360.0:  # recorded: -180.01..180.01 and -180.01..197.58
        return [-180.0, s, 180.0, n]
    if w < -180.0 or w > 180.0:
        w = (w + 180.0) % 360.0 - 180.0
    if e < -180.0 or e > 180.0:
        e = (e + 180.0) % 360.0 - 180.0
    return [w, s, e, n]


def _temporal(dataset: JSON) -> list[str | None]:
    starts: list[dt.date] = []
    ends: list[dt.date] = []
    a = _day(dataset.get("acquisitionStart"))
    if a is not None:
        starts.append(a)
    acq_end = dataset.get("acquisitionEnd")
    b = _day(acq_end)
    if b is not None:
        ends.append(b)
    tc = dataset.get("temporalCoverage")
    if isinstance(tc, str):
        # a PostgreSQL range of dates at local midnight: '["1972-07-25 00:00:00-05","…"]'
        found = [d for d in map(_day, _DATE_TEXT.findall(tc)) if d is not None]
        if found:
            starts.append(found[0])
            if len(found) > 1:
                ends.append(found[-1])
    start = f"{min(starts).isoformat()}T00:00:00Z" if starts else None
    # no acquisitionEnd: the dataset is still being acquired (open end)
    end = f"{max(ends).isoformat()}T23:59:59Z" if acq_end is not None and ends else None
    if start is not None and end is not None and end < start:
        end = None
    return [start, end]


def _keywords(text: Any) -> list[str]:
    if not isinstance(text, str):
        return []
    out: list[str] = []
    seen: set[str] = set()
    for k in text.split(","):
        k = k.strip()
        u = k.upper()
        if k and u != "NONE" and u not in seen:
            seen.add(u)
            out.append(k)
    return out


def _usgs_public_domain(alias: str) -> bool:
    """Datasets that are USGS products (Landsat, GLS, eMODIS): U.S. public domain."""
    return alias.startswith(("landsat_", "gls_", "emodis"))


def item_assets_for(dataset_alias: str) -> JSON | None:
    """`item_assets` of the Landsat Collection 2 datasets whose file set USGS documents."""
    landsat = _landsat_alias(dataset_alias)
    if landsat is None or landsat[1] != "2":
        return None
    family, _, level = landsat
    keys = _C2_FILES.get(("ot" if family in ("8", "9") else family, level or ""))
    if keys is None:
        return None
    out: JSON = {"bundle": {"title": "Product Bundle", "type": TAR, "roles": _ROLES_BUNDLE}}
    for key in keys:
        ext = key.rpartition("_")[2] if key in _C2_META else "tif"
        out[key] = _band_fields(key, ext, family, True)
    return out


def dataset_to_collection(dataset: JSON) -> JSON:
    """A STAC Collection from one `dataset-search` (or `dataset`) record."""
    alias = str(dataset.get("datasetAlias") or dataset.get("datasetName") or "")
    name = dataset.get("collectionName") or alias
    title = str(dataset.get("collectionLongName") or name)
    links: list[JSON] = []

    public_domain = _usgs_public_domain(alias)
    if public_domain:
        # U.S. public domain is not a license on the SPDX list: STAC 1.0.0 says `proprietary`
        # plus a license link (its `other` is 1.1 only; PDDL-1.0 is a different document)
        links.append(
            {
                "rel": "license",
                "href": USGS_PUBLIC_DOMAIN,
                "type": "text/html",
                "title": "USGS Copyrights and Credits (U.S. public domain)",
            }
        )
        providers = [{**USGS_EROS, "roles": ["licensor", "producer", "processor", "host"]}]
    else:
        providers = [{**USGS_EROS, "roles": ["host"]}]

    doi = values.doi(dataset.get("doiNumber"))
    if doi:
        links.append({"rel": "cite-as", "href": f"https://doi.org/{doi}"})

    summaries: JSON = {}
    landsat = _landsat_alias(alias)
    if landsat is not None:
        summaries.update(_ALIAS_SUMMARIES[landsat[0]])
        summaries["constellation"] = ["landsat"]

    description = dataset.get("abstractText")
    if not isinstance(description, str) or not description.strip():
        description = title
    coll: JSON = {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],  # set below, from the fields the Collection ends up with
        "id": alias,
        "title": title,
        "description": description,
        "keywords": _keywords(dataset.get("keywords")),
        "license": "proprietary",
        "providers": providers,
        "extent": {
            "spatial": {"bbox": [_dataset_bbox(dataset.get("spatialBounds"))]},
            "temporal": {"interval": [_temporal(dataset)]},
        },
        "summaries": summaries,
        "links": links,
    }
    item_assets = item_assets_for(alias)
    if item_assets:
        coll["item_assets"] = item_assets
    if doi:
        coll["sci:doi"] = doi
    coll["stac_extensions"] = collection_extensions(coll)
    return coll


# -- queryables ---------------------------------------------------------------------------------
_SQL_COLUMN = re.compile(r"\b([A-Z][A-Z0-9_]*)\b(?!\s*\()")
_PARENTHESES = re.compile(r"\([^)]*\)")  # "Date L-1 Generated (Ex. YYYY/MM/DD)"
_SQL_KEYWORDS = frozenset({"LIKE", "BETWEEN", "AND", "OR", "NOT", "IN", "IS", "NULL"})
_NUMBER_SCHEMA = {"type": "number"}
# searchSql column → (STAC name, schema); landsat:* only for Landsat datasets
_STAC_COLUMNS: dict[str, tuple[str, JSON]] = {
    "CLOUD_COVER": ("eo:cloud_cover", {"type": "number", "minimum": 0, "maximum": 100}),
    "SUN_ELEVATION_L1": ("view:sun_elevation", {"type": "number", "minimum": -90, "maximum": 90}),
    "SUN_ELEVATION": ("view:sun_elevation", {"type": "number", "minimum": -90, "maximum": 90}),
    "SUN_AZIMUTH_L1": ("view:sun_azimuth", {"type": "number", "minimum": 0, "maximum": 360}),
    "SUN_AZIMUTH": ("view:sun_azimuth", {"type": "number", "minimum": 0, "maximum": 360}),
}
_WRS_SCHEMA = {"type": "string", "pattern": "^[0-9]{3}$"}
_LANDSAT_COLUMNS: dict[str, tuple[str, JSON]] = {
    "EE_DISPLAY_ID": ("id", {"type": "string"}),
    "LANDSAT_PRODUCT_ID": ("id", {"type": "string"}),
    "ENTITY_ID": ("landsat:scene_id", {"type": "string"}),
    "WRS_PATH": ("landsat:wrs_path", _WRS_SCHEMA),
    "WRS_ROW": ("landsat:wrs_row", _WRS_SCHEMA),
    "CLOUD_COVER_LAND": (
        "landsat:cloud_cover_land",
        {"type": "number", "minimum": -1, "maximum": 100},
    ),
    "COLLECTION_CATEGORY": ("landsat:collection_category", {"type": "string"}),
    "DATA_TYPE_L1": ("landsat:correction", {"type": "string"}),
}


def _sql_column(sql: Any) -> str | None:
    """The column a `searchSql` tests: `RIGHT(DATA_TYPE_L1, 4) = ?` → `DATA_TYPE_L1`."""
    if not isinstance(sql, str):
        return None
    for m in _SQL_COLUMN.finditer(sql):
        word = m.group(1)
        if word not in _SQL_KEYWORDS and not word.startswith("YYYY"):
            return word
    return None


def _is_landsat_filters(filters: list[JSON], dataset_alias: str | None) -> bool:
    if dataset_alias:
        return dataset_alias.lower().startswith("landsat_")
    return any("landsat" in str(f.get("dictionaryLink") or "") for f in filters)


def _named_filters(filters: list[JSON], dataset_alias: str | None) -> dict[str, tuple[JSON, JSON]]:
    """queryable name → (M2M filter, JSON schema)."""
    filters = [f for f in filters or () if isinstance(f, dict) and f.get("id")]
    landsat = _is_landsat_filters(filters, dataset_alias)
    out: dict[str, tuple[JSON, JSON]] = {}
    generic: list[JSON] = []
    for f in filters:
        column = _sql_column(f.get("searchSql"))
        mapped = _STAC_COLUMNS.get(column or "")
        if mapped is None and landsat:
            mapped = _LANDSAT_COLUMNS.get(column or "")
        if mapped is None or mapped[0] in out:
            generic.append(f)
            continue
        name, base = mapped
        schema = dict(base)
        enum = _enum(f) if "=" in str(f.get("searchSql")) else None
        if enum and schema.get("type") == "string":
            schema["enum"] = enum
        out[name] = (f, schema)
    for f in generic:
        label = _PARENTHESES.sub(" ", str(f.get("fieldLabel") or ""))
        slug = _slug(label)
        name = f"m2m:{slug}" if slug else f"m2m:{f['id']}"
        if name in out:
            name = f"m2m:{f['id']}"
        out[name] = (f, _generic_schema(f))
    return out


def _enum(f: JSON) -> list[str] | None:
    vl = f.get("valueList")
    if not isinstance(vl, dict):
        return None
    values = [str(k) for k in vl if str(k) != ""]  # "" is "All"
    return values or None


def _generic_schema(f: JSON) -> JSON:
    config = f.get("fieldConfig")
    kind = str(config.get("type") or "") if isinstance(config, dict) else ""
    sql = str(f.get("searchSql") or "")
    label = str(f.get("fieldLabel") or "")
    if kind == "Select":
        enum = _enum(f)
        if "<" in sql or ">" in sql:  # a threshold list ("Less than 10%"): the field is a number
            return dict(_NUMBER_SCHEMA)
        if enum:
            return {"type": "string", "enum": enum}
        return {"type": "string"}
    if kind in ("Range", "Date", "DateRange"):
        if "date" in label.lower() or "date" in sql.lower():
            return {"type": "string", "format": "date"}
        return dict(_NUMBER_SCHEMA)
    return {"type": "string"}


def filters_to_queryables(filters: list[JSON], dataset_alias: str | None = None) -> JSON:
    """`dataset-filters` data → queryables JSON-schema `properties` (name → schema).

    A filter is exposed under its STAC name where one exists (`eo:cloud_cover`,
    `landsat:wrs_path`, `landsat:collection_category`, `id` for the Landsat product id…) and as
    `m2m:<label slug>` otherwise.  Each schema has the filter's label as `title`; `Select`
    filters testing equality get their `valueList` keys as `enum`.
    """
    out: JSON = {}
    for name, (f, schema) in _named_filters(filters, dataset_alias).items():
        label = f.get("fieldLabel")
        out[name] = {"title": str(label), **schema} if label else schema
    return out


def queryable_to_filter(
    name: str, filters: list[JSON], dataset_alias: str | None = None
) -> JSON | None:
    """The `dataset-filters` entry behind a queryable name (see `filters_to_queryables`)."""
    hit = _named_filters(filters, dataset_alias).get(name)
    return hit[0] if hit else None
