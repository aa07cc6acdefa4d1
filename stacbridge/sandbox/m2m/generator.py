"""Deterministic Landsat Collection 2 scenes for the M2M emulator: 100,000s of them, none stored.

Scene ``i`` (``0 <= i < n``) of ``landsat_ot_c2_l1`` and ``landsat_ot_c2_l2`` is a pure function of
``i`` and the seed. Both datasets share one population (the same ``entityId`` is the same
acquisition in both, as on M2M); only the Level-1/Level-2 product identifiers and metadata differ.

* **Grid.** ``K = 50`` WRS-2 path/row cells over land (US Great Plains, California, Brazil, the
  Pampas, France, the Sahel, northern Minnesota — paths 26–27, rows 26–27, which hold the
  README's example bbox ``[-91.7, 47.7, -90.9, 48.3]``, and the recorded HLS granules' Landsat
  scene ``027027`` — the North China Plain, south-east Australia, Kenya, interior Alaska, and
  path 73 row 72 over Fiji, whose footprint crosses the antimeridian and is written with
  longitudes above 180 as M2M writes such footprints: the recorded ``landsat_ot_c2_*``
  dataset bounds reach ``east: 197.58``). Scene centres come from the WRS-2 orbit geometry
  (inclination 98.2°, 233 paths, 248 rows, row 60 on the equator, path 1 crossing the equator at
  64.57° W — that constant calibrated on the two recorded ``LANDSAT_8_C1`` scenes, whose centres
  it reproduces within 0.01°); the footprint is a 192 km × 195 km quadrilateral turned to the
  descending ground track, corners ordered LL, LR, UR, UL like the recorded ``spatialCoverage``.
* **Time.** Scene ``i`` is cell ``s = i % K`` acquired on day ``q = i // K`` after 2013-04-11 (the
  recorded ``acquisitionStart`` of both datasets): every cell once a day, so index order *is*
  acquisition-date order and a date range is an index interval by arithmetic (M2M searches
  dates only at day precision). 200,000 scenes span 2013-04-11 .. 2024-03-23. The time of day is
  10:00 local solar time at the cell (plus a few seconds' jitter), written in UTC.
* **Cloud cover** (hundredths of a percent): ``table[(q + offset[s]) % 101]`` with a seeded
  table skewed to clear and overcast scenes, so it is periodic in ``i`` with period
  ``P = K × 101``; so are land cloud cover, collection category (``T2`` when cloud cover ≥ 95 %),
  the Level-1 processing level (``L1GT`` for T2 scenes ≥ 98 % cloudy, else ``L1TP``) and the
  geometric RMSE. Any filter on those is a set of offsets of ``i mod P`` and counting or
  selecting the k-th match is O(log) arithmetic (``cmr.generator.Selection``).
* **Platform.** Landsat 8 (``LC8…``/``LC08_``) until 2021-11-01, then Landsat 9 on odd days.
* **Identifiers**, as M2M writes them: ``entityId`` ``LC80290332023001LGN00``; ``displayId``
  ``LC08_L2SP_029033_20230101_20230110_02_T1`` (``L1TP``/``L1GT`` on the Level-1 dataset);
  processing dates 6–19 days after acquisition, or 2020-08-20 .. 2021-03-07 for scenes acquired
  before August 2020 (the Collection 2 reprocessing). Both parse back to ``i``.

Rendering is a ``str.format`` template built from the *recorded* ``LANDSAT_8_C1`` scene-search
result and scene-metadata body (same keys, same order, same constant values), with the fields that
identify, locate or date a scene replaced; the cell-level parts (footprints, corner coordinates,
path/row) are substituted once per cell. What differs from the recording, and why:

* ``options.order`` is ``false`` (the current API reference's ``landsat_ot_c2_l2`` sample);
* ``browse``: three entries modelled on the recorded three (natural colour, thermal, quality)
  but pointing at LandsatLook as the reference's Collection 2 sample does
  (``gen-browse?size=rrb&type=refl&product_id=<Level-1 id>``, ``overlayType: ls_chs``, id
  ``5fb4ba12d7ec307f`` for the reflective one); the thermal/quality ``type`` values and ids are
  guesses;
* ``metadata`` (``metadataType: full``): the 56 Collection 2 Level-2 fields in the order M2M's
  ``scene-metadata`` returns them (field list taken from a client that stores that response,
  ``callusgs``), formatted like the recorded Collection 1 values (``" 029"`` path with its leading
  space, ``"2020/08/04"`` dates, ``"2020:217:13:48:06.7714180"`` times, DMS corners with
  ``&deg;``). Level-1 drops the two L2-only fields and says ``Data Type L1``. Field ids: the two
  the reference shows (``5e83d1507bc900d5`` Landsat Product Identifier L2, ``5e83d15012b8905f``
  Landsat Product Identifier L1), the rest derived from a hash. ``dictionaryLink`` is the
  Collection 2 data dictionary *with the literal newline before ``#``* that the reference
  sample shows;
* footprints are fixed per cell (real ones wander by a few km between passes).
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import hashlib
import math
import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import orjson
from shapely.affinity import translate
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from stacbridge.sandbox.cmr.generator import Selection, mgrs_tile, utm_zone

__all__ = [
    "CLOUD_PERIOD",
    "LEVELS",
    "LandsatC2Scenes",
    "WrsCell",
    "default_cells",
    "wrs2_center",
]

EPOCH = dt.date(1970, 1, 1)
FIRST_DAY = dt.date(2013, 4, 11)
D0 = (FIRST_DAY - EPOCH).days
CLOUD_PERIOD = 101
LANDSAT9_FROM = (dt.date(2021, 11, 1) - EPOCH).days
REPROCESSED_BEFORE = (dt.date(2020, 8, 1) - EPOCH).days
REPROCESSING_START = (dt.date(2020, 8, 20) - EPOCH).days
NEW_SOFTWARE_FROM = (dt.date(2022, 6, 1) - EPOCH).days
LEVELS = ("L1", "L2")

# --------------------------------------------------------------------------- WRS-2 geometry

_INCLINATION = math.radians(98.2)
_E2 = 0.00669438  # WGS84 first eccentricity squared
_NODE_LON_PATH1 = -64.57  # descending-node longitude of path 1, fitted to the recorded scenes
_EARTH_TURN = 98.88 / 1436.07  # orbit period / sidereal day
_HALF_ACROSS_KM = 96.0
_HALF_ALONG_KM = 97.5


def _track(path: int, u_deg: float) -> tuple[float, float]:
    """(lon unwrapped, geodetic lat) of argument of latitude `u_deg` (0 at the descending node,
    positive north of it) on WRS-2 `path`."""
    u = math.radians(u_deg)
    geocentric = math.asin(math.sin(u) * math.sin(_INCLINATION))
    lat = math.degrees(math.atan(math.tan(geocentric) / (1 - _E2)))
    dlon = math.degrees(math.atan2(-math.cos(_INCLINATION) * math.sin(u), math.cos(u)))
    lon = _NODE_LON_PATH1 - (path - 1) * 360.0 / 233.0 + dlon + u_deg * _EARTH_TURN
    return lon, lat


def _u(row: int) -> float:
    return (60 - row) * 360.0 / 248.0


def wrs2_center(path: int, row: int) -> tuple[float, float]:
    """(lon in [-180, 180), lat) of the WRS-2 scene centre."""
    lon, lat = _track(path, _u(row))
    return (lon + 180.0) % 360.0 - 180.0, lat


def _footprint(path: int, row: int) -> tuple[tuple[float, float], ...]:
    """LL, LR, UR, UL corners (lon, lat) of the scene; longitudes continuous across ±180 and
    shifted east (above 180) when the footprint crosses the antimeridian."""
    lon, lat = wrs2_center(path, row)
    u = _u(row)
    lon_a, lat_a = _track(path, u + 0.05)
    lon_b, lat_b = _track(path, u - 0.05)  # later: the satellite descends
    km_lon = 111.32 * math.cos(math.radians(lat))
    fe, fn = (lon_b - lon_a) * km_lon, (lat_b - lat_a) * 110.57
    norm = math.hypot(fe, fn)
    fe, fn = fe / norm, fn / norm
    re_, rn = fn, -fe  # right-hand side of the motion: westwards on a descending pass

    def corner(along: float, across: float) -> tuple[float, float]:
        de = fe * along + re_ * across
        dn = fn * along + rn * across
        return lon + de / km_lon, lat + dn / 110.57

    h, w = _HALF_ALONG_KM, _HALF_ACROSS_KM
    corners = [corner(h, w), corner(h, -w), corner(-h, -w), corner(-h, w)]  # LL LR UR UL
    if min(c[0] for c in corners) < -180.0:
        corners = [(x + 360.0, y) for x, y in corners]
    return tuple((round(x, 5), round(y, 5)) for x, y in corners)


def _dms(value: float, positive: str, negative: str) -> str:
    hemisphere = positive if value >= 0 else negative
    value = abs(value)
    degrees = int(value)
    minutes_f = (value - degrees) * 60
    minutes = int(minutes_f)
    seconds = (minutes_f - minutes) * 60
    if round(seconds, 2) >= 60:
        minutes, seconds = minutes + 1, 0.0
    return f"{degrees}&deg;{minutes:02d}'{seconds:05.2f}\"{hemisphere}"


@dataclass(frozen=True)
class WrsCell:
    """One WRS-2 path/row: footprint, bounds and the per-cell values every scene there shares."""

    path: int
    row: int
    lon: float  # centre, [-180, 180)
    lat: float
    corners: tuple[tuple[float, float], ...]  # LL, LR, UR, UL (M2M's order), 5 decimals
    geometry: BaseGeometry  # shapely, with a copy shifted by -360 when it crosses 180
    bounds: tuple[float, float, float, float]  # west, south, east, north (east may exceed 180)
    utm_zone: int
    mgrs: str  # the MGRS tile holding the centre (names the generated COGs)
    utc_seconds: int  # 10:00 local solar time, in UTC seconds of day

    @property
    def coverage(self) -> dict:
        ring = [list(c) for c in self.corners]
        return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}

    @property
    def bounds_polygon(self) -> dict:
        w, s, e, n = self.bounds
        return {"type": "Polygon", "coordinates": [[[w, s], [w, n], [e, n], [e, s], [w, s]]]}


def make_cell(path: int, row: int) -> WrsCell:
    lon, lat = wrs2_center(path, row)
    corners = _footprint(path, row)
    polygon = Polygon([*corners, corners[0]])
    geometry: BaseGeometry = polygon
    if polygon.bounds[2] > 180.0:
        geometry = polygon.union(translate(polygon, xoff=-360.0))
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    solar = (10.0 - lon / 15.0) % 24.0
    return WrsCell(
        path=path,
        row=row,
        lon=lon,
        lat=lat,
        corners=corners,
        geometry=geometry,
        bounds=(min(xs), min(ys), max(xs), max(ys)),
        utm_zone=utm_zone(lon),
        mgrs=mgrs_tile(lon, lat).tile_id,
        utc_seconds=int(solar * 3600),
    )


# (first path, last path, first row, last row): contiguous blocks, so a bbox can hit several.
_LAND_BLOCKS: tuple[tuple[int, int, int, int], ...] = (
    (28, 31, 32, 34),  # US Great Plains (Kansas, Nebraska)
    (42, 43, 33, 34),  # California, Central Valley
    (221, 223, 66, 67),  # Brazil, Tocantins
    (225, 226, 85, 86),  # Argentina, the Pampas
    (197, 198, 26, 27),  # France
    (193, 194, 50, 51),  # the Sahel (Niger, Burkina Faso)
    (26, 27, 26, 27),  # Minnesota, Lake Superior: the README's example bbox (-91.7, 47.7 ..)
    (122, 123, 35, 36),  # North China Plain
    (92, 93, 84, 85),  # south-east Australia
)
_SINGLE_CELLS: tuple[tuple[int, int], ...] = (
    (168, 60),  # Kenya, on the equator
    (169, 60),
    (75, 14),  # interior Alaska
    (73, 72),  # Fiji: the footprint crosses the antimeridian
)


@functools.lru_cache(maxsize=1)
def default_cells() -> tuple[WrsCell, ...]:
    cells = [
        make_cell(p, r)
        for p0, p1, r0, r1 in _LAND_BLOCKS
        for r in range(r0, r1 + 1)
        for p in range(p0, p1 + 1)
    ]
    cells += [make_cell(p, r) for p, r in _SINGLE_CELLS]
    if 86_400 % len(cells):  # pragma: no cover - the grid is fixed
        raise ValueError("the cell count must divide a day in whole seconds")
    return tuple(cells)


# --------------------------------------------------------------------------- dates


@functools.lru_cache(maxsize=16384)
def _day_strings(day: int) -> tuple[str, str, str, str, int, int]:
    """('YYYY-MM-DD', 'YYYY/MM/DD', 'YYYYMMDD', 'YYYY', day of year, month) for a day number."""
    d = EPOCH + dt.timedelta(days=day)
    return (
        d.isoformat(),
        d.strftime("%Y/%m/%d"),
        d.strftime("%Y%m%d"),
        f"{d.year:04d}",
        d.timetuple().tm_yday,
        d.month,
    )


def day_number(value: dt.date) -> int:
    return (value - EPOCH).days


def _clock(seconds: float) -> tuple[int, int, int, float]:
    seconds %= 86_400
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return int(h), int(m), int(s), s - int(s)


# --------------------------------------------------------------------------- metadata fields

_C2_DICTIONARY = "https://www.usgs.gov/centers/eros/science/landsat-collection-2-data-dictionary\n#"

# (fieldName, dictionary anchor, value key, JSON kind: "s" string / "n" number, levels)
_FIELDS: tuple[tuple[str, str, str, str, str], ...] = (
    ("Landsat Product Identifier L2", "landsat_product_id", "display_id", "s", "2"),
    ("Landsat Product Identifier L1", "landsat_product_id", "l1_display_id", "s", "12"),
    ("Landsat Scene Identifier", "landsat_scene_id", "entity_id", "s", "12"),
    ("Date Acquired", "date_acquired", "date_slash", "s", "12"),
    ("Collection Category", "collection_category", "category", "s", "12"),
    ("Collection Number", "collection_number", "collection_number", "n", "12"),
    ("WRS Path", "wrs_path", "wrs_path", "s", "12"),
    ("WRS Row", "wrs_row", "wrs_row", "s", "12"),
    ("Target WRS Path", "target_wrs_path", "wrs_path", "s", "12"),
    ("Target WRS Row", "target_wrs_row", "wrs_row", "s", "12"),
    ("Nadir/Off Nadir", "nadir_offnadir", "nadir", "s", "12"),
    ("Roll Angle", "roll_angle", "roll", "s", "12"),
    ("Date Product Generated L2", "date_product_generated", "generated", "s", "2"),
    ("Date Product Generated L1", "date_product_generated", "generated", "s", "12"),
    ("Start Time", "start_time", "start_time", "s", "12"),
    ("Stop Time", "stop_time", "stop_time", "s", "12"),
    ("Station Identifier", "station_id", "station", "s", "12"),
    ("Day/Night Indicator", "day_or_night", "day_night", "s", "12"),
    ("Land Cloud Cover", "cloud_cover_land", "land_cloud", "s", "12"),
    ("Scene Cloud Cover L1", "cloud_cover", "cloud", "s", "12"),
    ("Ground Control Points Model", "ground_control_points_model", "gcp_model", "n", "12"),
    ("Ground Control Points Version", "ground_control_points_version", "gcp_version", "n", "12"),
    ("Geometric RMSE Model", "geometric_rmse_model", "rmse", "s", "12"),
    ("Geometric RMSE Model X", "geometric_rmse_model_x", "rmse_x", "s", "12"),
    ("Geometric RMSE Model Y", "geometric_rmse_model_y", "rmse_y", "s", "12"),
    ("Processing Software Version", "processing_software_version", "software", "s", "12"),
    ("Sun Elevation L0RA", "sun_elevation", "sun_elevation", "s", "12"),
    ("Sun Azimuth L0RA", "sun_azimuth", "sun_azimuth", "s", "12"),
    ("TIRS SSM Model", "tirs_ssm_model", "tirs_ssm", "s", "12"),
    ("Data Type L@", "data_type", "data_type", "s", "12"),
    ("Sensor Identifier", "sensor_id", "sensor", "s", "12"),
    ("Satellite", "spacecraft_id", "satellite", "n", "12"),
    ("Product Map Projection L1", "map_projection", "projection", "s", "12"),
    ("UTM Zone", "utm_zone", "utm_zone", "n", "12"),
    ("Datum", "datum", "datum", "s", "12"),
    ("Ellipsoid", "ellipsoid", "ellipsoid", "s", "12"),
    ("Scene Center Lat DMS", "coordinates_degrees", "center_lat_dms", "s", "12"),
    ("Scene Center Long DMS", "coordinates_degrees", "center_lon_dms", "s", "12"),
    ("Corner Upper Left Lat DMS", "coordinates_degrees", "ul_lat_dms", "s", "12"),
    ("Corner Upper Left Long DMS", "coordinates_degrees", "ul_lon_dms", "s", "12"),
    ("Corner Upper Right Lat DMS", "coordinates_degrees", "ur_lat_dms", "s", "12"),
    ("Corner Upper Right Long DMS", "coordinates_degrees", "ur_lon_dms", "s", "12"),
    ("Corner Lower Left Lat DMS", "coordinates_degrees", "ll_lat_dms", "s", "12"),
    ("Corner Lower Left Long DMS", "coordinates_degrees", "ll_lon_dms", "s", "12"),
    ("Corner Lower Right Lat DMS", "coordinates_degrees", "lr_lat_dms", "s", "12"),
    ("Corner Lower Right Long DMS", "coordinates_degrees", "lr_lon_dms", "s", "12"),
    ("Scene Center Latitude", "coordinates_decimal", "center_lat", "s", "12"),
    ("Scene Center Longitude", "coordinates_decimal", "center_lon", "s", "12"),
    ("Corner Upper Left Latitude", "coordinates_decimal", "ul_lat", "s", "12"),
    ("Corner Upper Left Longitude", "coordinates_decimal", "ul_lon", "s", "12"),
    ("Corner Upper Right Latitude", "coordinates_decimal", "ur_lat", "s", "12"),
    ("Corner Upper Right Longitude", "coordinates_decimal", "ur_lon", "s", "12"),
    ("Corner Lower Left Latitude", "coordinates_decimal", "ll_lat", "s", "12"),
    ("Corner Lower Left Longitude", "coordinates_decimal", "ll_lon", "s", "12"),
    ("Corner Lower Right Latitude", "coordinates_decimal", "lr_lat", "s", "12"),
    ("Corner Lower Right Longitude", "coordinates_decimal", "lr_lon", "s", "12"),
)
# Documented in the current API reference's scene-metadata sample (landsat_ot_c2_l2).
_KNOWN_FIELD_IDS = {
    "Landsat Product Identifier L2": "5e83d1507bc900d5",
    "Landsat Product Identifier L1": "5e83d15012b8905f",
}


def hex_id(*parts: object, prefix: str = "") -> str:
    """A 16-hex-digit id like M2M's (`5e83d0b84df8d8c2`), stable for `parts`."""
    digest = hashlib.sha256("\x00".join(str(p) for p in parts).encode()).hexdigest()
    return (prefix + digest)[:16]


def alnum_id(*parts: object) -> str:
    """A 16-character lower-case alphanumeric id like M2M's secondary product ids."""
    n = int.from_bytes(hashlib.sha256("\x00".join(map(str, parts)).encode()).digest()[:16], "big")
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = []
    for _ in range(16):
        n, r = divmod(n, 36)
        out.append(alphabet[r])
    return "".join(out)


def metadata_fields(level: str, dataset_id: str) -> list[tuple[str, str, str, str, str]]:
    """(id, fieldName, dictionaryLink, value key, kind) of the full metadata of `level`."""
    digit = level[1]
    out = []
    for name, anchor, key, kind, levels in _FIELDS:
        if digit not in levels:
            continue
        name = name.replace("@", digit)
        field_id = _KNOWN_FIELD_IDS.get(name) or hex_id(
            "m2m-field", dataset_id, name, prefix=dataset_id[:6]
        )
        out.append((field_id, name, _C2_DICTIONARY + anchor, key, kind))
    return out


# --------------------------------------------------------------------------- the population

_ENTITY_RE = re.compile(r"^LC([89])(\d{3})(\d{3})(\d{4})(\d{3})LGN00$")
_DISPLAY_RE = re.compile(
    r"^LC0([89])_(L1TP|L1GT|L2SP|L2SR)_(\d{3})(\d{3})_(\d{8})_(\d{8})_02_(T1|T2)$"
)


class LandsatC2Scenes:
    """``n`` deterministic Landsat 8/9 Collection 2 scenes on the default WRS-2 cells."""

    def __init__(self, n: int = 200_000, seed: int = 0) -> None:
        self.n = max(0, int(n))
        self.seed = seed
        self.cells = default_cells()
        self.k = len(self.cells)
        self.period = self.k * CLOUD_PERIOD
        self._cell_index = {(c.path, c.row): s for s, c in enumerate(self.cells)}
        rng = random.Random(f"stacbridge-m2m-landsat-c2-{seed}")
        # hundredths of a percent, skewed towards clear and overcast scenes
        self.cloud_table = [
            min(10_000, int(rng.betavariate(0.55, 0.8) * 10_001)) for _ in range(CLOUD_PERIOD)
        ]
        self.land_delta = [rng.randint(-900, 300) for _ in range(CLOUD_PERIOD)]
        self.rmse_table = [rng.randint(3_200, 11_800) for _ in range(CLOUD_PERIOD)]
        self.cloud_offsets = [(s * 37) % CLOUD_PERIOD for s in range(self.k)]
        self._size_salt = rng.randrange(1 << 30)  # drawn so later draws stay as they were
        self.cloud_text = [f"{v / 100:.2f}" for v in range(10_001)]

    # -- per-index properties ----------------------------------------------------------------------
    @property
    def last_day(self) -> int:
        return D0 + max(0, self.n - 1) // self.k

    def cell(self, i: int) -> WrsCell:
        return self.cells[i % self.k]

    def day(self, i: int) -> int:
        return D0 + i // self.k

    def _phase(self, i: int) -> int:
        """Index into the period-101 tables: a function of ``i mod P`` only."""
        return (i // self.k + self.cloud_offsets[i % self.k]) % CLOUD_PERIOD

    def cloud(self, i: int) -> int:
        """Scene cloud cover in hundredths of a percent."""
        return self.cloud_table[self._phase(i)]

    def land_cloud(self, i: int) -> int:
        phase = self._phase(i)
        return max(0, min(10_000, self.cloud_table[phase] + self.land_delta[phase]))

    def category(self, i: int) -> str:
        return "T2" if self.cloud(i) >= 9_500 else "T1"

    def l1_type(self, i: int) -> str:
        return "L1GT" if self.cloud(i) >= 9_800 else "L1TP"

    def product_type(self, i: int, level: str) -> str:
        if level == "L1":
            return self.l1_type(i)
        return "L2SR" if self.l1_type(i) == "L1GT" else "L2SP"

    def rmse(self, i: int) -> float:
        return self.rmse_table[(i // self.k + 3 * (i % self.k)) % CLOUD_PERIOD] / 1000

    def satellite(self, i: int) -> int:
        q = i // self.k
        return 9 if D0 + q >= LANDSAT9_FROM and q % 2 == 1 else 8

    def processing_day(self, i: int) -> int:
        day = self.day(i)
        if day < REPROCESSED_BEFORE:
            return REPROCESSING_START + (i * 7919) % 200
        return day + 6 + (i * 31) % 14

    def start_seconds(self, i: int) -> float:
        """UTC seconds of day at which the scene's acquisition starts."""
        return self.cell(i).utc_seconds + (i * 7) % 23 + ((i * 7_777_777) % 10_000_000) / 1e7

    def entity_id(self, i: int) -> str:
        c = self.cell(i)
        _, _, _, year, doy, _ = _day_strings(self.day(i))
        return f"LC{self.satellite(i)}{c.path:03d}{c.row:03d}{year}{doy:03d}LGN00"

    def display_id(self, i: int, level: str) -> str:
        c = self.cell(i)
        return (
            f"LC0{self.satellite(i)}_{self.product_type(i, level)}_{c.path:03d}{c.row:03d}_"
            f"{_day_strings(self.day(i))[2]}_{_day_strings(self.processing_day(i))[2]}_02_"
            f"{self.category(i)}"
        )

    def sun_angles(self, i: int) -> tuple[float, float]:
        """(elevation, azimuth) in degrees at 10:00 local solar time."""
        c = self.cell(i)
        doy = _day_strings(self.day(i))[4]
        decl = math.radians(23.44 * math.sin(2 * math.pi * (284 + doy) / 365.0))
        phi = math.radians(c.lat)
        hour_angle = math.radians((10.0 + (i % 5) * 0.02 - 12.0) * 15.0)
        sin_el = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(
            hour_angle
        )
        elevation = math.degrees(math.asin(max(-1.0, min(1.0, sin_el))))
        azimuth = math.degrees(
            math.atan2(
                -math.sin(hour_angle),
                math.tan(decl) * math.cos(phi) - math.sin(phi) * math.cos(hour_angle),
            )
        )
        return elevation, azimuth % 360.0

    # -- inversions --------------------------------------------------------------------------------
    def _index(self, sat: str, path: int, row: int, day: int) -> int | None:
        s = self._cell_index.get((path, row))
        q = day - D0
        if s is None or q < 0:
            return None
        i = q * self.k + s
        if i >= self.n or str(self.satellite(i)) != sat:
            return None
        return i

    def index_for_entity_id(self, value: str) -> int | None:
        m = _ENTITY_RE.match(value.strip().upper())
        if not m:
            return None
        sat, path, row, year, doy = m.groups()
        try:
            day = day_number(dt.date(int(year), 1, 1) + dt.timedelta(days=int(doy) - 1))
        except (ValueError, OverflowError):
            return None
        return self._index(sat, int(path), int(row), day)

    def index_for_display_id(self, value: str, level: str) -> int | None:
        m = _DISPLAY_RE.match(value.strip().upper())
        if not m:
            return None
        sat, _, path, row, acquired, _, _ = m.groups()
        try:
            day = day_number(dt.datetime.strptime(acquired, "%Y%m%d").date())
        except ValueError:
            return None
        i = self._index(sat, int(path), int(row), day)
        return i if i is not None and self.display_id(i, level) == value.strip().upper() else None

    # -- query building blocks ---------------------------------------------------------------------
    def day_interval(self, first: int | None, last: int | None) -> tuple[int, int]:
        """Indices acquired on days [first, last] (day numbers, either open), as [lo, hi)."""
        lo = 0 if first is None else max(0, (first - D0) * self.k)
        hi = self.n if last is None else min(self.n, (last - D0 + 1) * self.k)
        return lo, max(lo, hi)

    def cells_intersecting(self, geometry: BaseGeometry) -> set[int]:
        return {s for s, c in enumerate(self.cells) if c.geometry.intersects(geometry)}

    def selection(
        self,
        intervals: Iterable[tuple[int, int]] | None = None,
        cells: set[int] | None = None,
        cloud_range: tuple[float | None, float | None] | None = None,
        offset_filter: Callable[[int], bool] | None = None,
    ) -> Selection:
        """Indices in `intervals` on `cells` with cloud cover (percent) in the closed
        `cloud_range`, passing `offset_filter` (a predicate that depends on ``i mod P`` only)."""
        if intervals is None:
            intervals = [(0, self.n)]
        cell_ok = [cells is None or s in cells for s in range(self.k)]
        if cloud_range is None and offset_filter is None:
            return Selection(intervals, self.k, [s for s in range(self.k) if cell_ok[s]])
        lo, hi = cloud_range or (None, None)
        lo_h = None if lo is None else math.ceil(lo * 100 - 1e-9)
        hi_h = None if hi is None else math.floor(hi * 100 + 1e-9)
        offsets = []
        for o in range(self.period):
            if not cell_ok[o % self.k]:
                continue
            c = self.cloud(o)
            if (lo_h is not None and c < lo_h) or (hi_h is not None and c > hi_h):
                continue
            if offset_filter is not None and not offset_filter(o):
                continue
            offsets.append(o)
        return Selection(intervals, self.period, offsets)


# --------------------------------------------------------------------------- rendering


class _Sentinels(dict):
    """Placeholders: a value key → its sentinel string in the JSON being templated."""

    def __missing__(self, key: str) -> str:
        value = f"@@{key}@@"
        self[key] = value
        return value


def _json_text(value: str) -> str:
    """`value` as it appears between the quotes of a JSON string."""
    return orjson.dumps(value).decode()[1:-1]


class SceneRenderer:
    """JSON text of generated scenes for one dataset level, from templates of the recordings.

    Four variants: ``search`` / ``metadata`` (the scene-search result vs the scene-metadata
    ``data`` shape, as recorded) × summary / full (``metadata: []`` vs the field list).
    """

    LANDSATLOOK = "https://landsatlook.usgs.gov"

    def __init__(
        self,
        scenes: LandsatC2Scenes,
        level: str,
        dataset_id: str,
        search_template: dict,
        metadata_template: dict,
    ) -> None:
        self.scenes = scenes
        self.level = level
        self.fields = metadata_fields(level, dataset_id)
        self._templates = {
            ("search", False): self._skeleton(search_template, full=False, search=True),
            ("search", True): self._skeleton(search_template, full=True, search=True),
            ("metadata", False): self._skeleton(metadata_template, full=False, search=False),
            ("metadata", True): self._skeleton(metadata_template, full=True, search=False),
        }
        self._cache: dict[tuple[str, bool, int], str] = {}

    # -- templates ---------------------------------------------------------------------------------
    def _browse(self, recorded: list[dict], rotation: object) -> list[dict]:
        l1 = "@@l1_display_id@@"
        kinds = (
            ("5fb4ba12d7ec307f", "Level-1 Reflective Browse", "refl", "natural_color"),
            (hex_id("browse-therm", self.level), "Level-1 Thermal Browse", "therm", "thermal"),
            (hex_id("browse-qb", self.level), "Level-1 Quality Browse", "qb", "quality"),
        )
        out = []
        for template, (bid, name, kind, layer) in zip(recorded, kinds, strict=False):
            entry = dict.fromkeys(template)
            entry.update(
                id=bid,
                browseRotationEnabled=rotation,
                browseName=name,
                browsePath=f"{self.LANDSATLOOK}/gen-browse?size=rrb&type={kind}&product_id={l1}",
                overlayPath=(
                    f"{self.LANDSATLOOK}/dynamic-tiler/scenes/{l1}/tiles/{{z}}/{{x}}/{{y}}.png"
                    f"?layer={layer}"
                ),
                overlayType="ls_chs",
                thumbnailPath=(
                    f"{self.LANDSATLOOK}/gen-browse?size=thumb&type={kind}&product_id={l1}"
                ),
            )
            out.append(entry)
        return out

    def _skeleton(self, recorded: dict, *, full: bool, search: bool) -> str:
        s = _Sentinels()
        it = copy.deepcopy(recorded)
        rotation = it["browse"][0].get("browseRotationEnabled") if it["browse"] else None
        it["browse"] = self._browse(it["browse"], rotation)
        it["cloudCover"] = s["cloud"]
        it["entityId"] = s["entity_id"]
        it["displayId"] = s["display_id"]
        if it.get("orderingId") is not None:
            it["orderingId"] = s["entity_id"]
        it["metadata"] = s["metadata"] if full else []
        it["options"] = {"bulk": True, "download": True, "order": False, "secondary": False}
        it["spatialBounds"] = s["bounds"]
        it["spatialCoverage"] = s["coverage"]
        it["temporalCoverage"] = {
            "endDate": f"{s['date']} 00:00:00",
            "startDate": f"{s['date']} 00:00:00",
        }
        it["publishDate"] = s["publish_search"] if search else s["publish_metadata"]
        text = orjson.dumps(it).decode()
        if full:
            entries = []
            for field_id, name, link, key, kind in self.fields:
                value = f'"@@{key}@@"' if kind == "s" else f"@@{key}@@"
                entries.append(
                    '{"id":'
                    + orjson.dumps(field_id).decode()
                    + ',"fieldName":'
                    + orjson.dumps(name).decode()
                    + ',"dictionaryLink":'
                    + orjson.dumps(link).decode()
                    + ',"value":'
                    + value
                    + "}"
                )
            text = text.replace('"@@metadata@@"', "[" + ",".join(entries) + "]")
        for raw in ("bounds", "coverage"):  # JSON values, not strings
            text = text.replace(f'"@@{raw}@@"', f"@@{raw}@@")
        return text

    def _cell_template(self, variant: str, full: bool, s: int) -> str:
        key = (variant, full, s)
        found = self._cache.get(key)
        if found is not None:
            return found
        c = self.scenes.cells[s]
        values = {**self.cell_values(c), **self.CONSTANTS}
        text = self._templates[(variant, full)]
        for name, value in values.items():
            text = text.replace(f"@@{name}@@", value)
        text = text.replace("{", "{{").replace("}", "}}")
        text = re.sub(r"@@(\w+)@@", r"{\1}", text)
        self._cache[key] = text
        return text

    # -- values ------------------------------------------------------------------------------------
    @staticmethod
    def cell_values(c: WrsCell) -> dict[str, str]:
        ll, lr, ur, ul = c.corners
        values = {
            "wrs_path": f" {c.path:03d}",
            "wrs_row": f" {c.row:03d}",
            "utm_zone": str(c.utm_zone),
            "center_lat": f"{c.lat:.5f}",
            "center_lon": f"{c.lon:.5f}",
            "center_lat_dms": _json_text(_dms(c.lat, "N", "S")),
            "center_lon_dms": _json_text(_dms(c.lon, "E", "W")),
            "coverage": orjson.dumps(c.coverage).decode(),
            "bounds": orjson.dumps(c.bounds_polygon).decode(),
        }
        for name, (lon, lat) in (("ul", ul), ("ur", ur), ("ll", ll), ("lr", lr)):
            wrapped = (lon + 180.0) % 360.0 - 180.0
            values[f"{name}_lat"] = f"{lat:.5f}"
            values[f"{name}_lon"] = f"{wrapped:.5f}"
            values[f"{name}_lat_dms"] = _json_text(_dms(lat, "N", "S"))
            values[f"{name}_lon_dms"] = _json_text(_dms(wrapped, "E", "W"))
        return values

    # constant in every generated scene: substituted with the cell values
    CONSTANTS: Mapping[str, str] = {
        "collection_number": "2",
        "nadir": "NADIR",
        "roll": "0.000",
        "station": "LGN",
        "day_night": "DAY",
        "gcp_version": "5",
        "tirs_ssm": "FINAL",
        "sensor": "OLI_TIRS",
        "projection": "UTM",
        "datum": "WGS84",
        "ellipsoid": "WGS84",
    }

    def values(self, i: int, full: bool = True) -> dict[str, object]:
        """The per-scene (not per-cell) values the templates need (`full`: for the metadata)."""
        g = self.scenes
        k = g.k
        q, s = divmod(i, k)
        day = D0 + q
        iso, slash, ymd, year, doy, _ = _day_strings(day)
        cell = g.cells[s]
        cloud = g.cloud_table[(q + g.cloud_offsets[s]) % CLOUD_PERIOD]
        category = "T2" if cloud >= 9_500 else "T1"
        l1_type = "L1GT" if cloud >= 9_800 else "L1TP"
        sat = 9 if day >= LANDSAT9_FROM and q % 2 == 1 else 8
        proc = g.processing_day(i)
        proc_iso, proc_slash, proc_ymd = _day_strings(proc)[:3]
        middle = f"{cell.path:03d}{cell.row:03d}_{ymd}_{proc_ymd}_02_{category}"
        l1_id = f"LC0{sat}_{l1_type}_{middle}"
        if self.level == "L1":
            product_type, display = l1_type, l1_id
        else:
            product_type = "L2SR" if l1_type == "L1GT" else "L2SP"
            display = f"LC0{sat}_{product_type}_{middle}"
        ps = 40_000 + (i * 104_729) % 40_000
        publish = f"{ps // 3600:02d}:{ps % 3600 // 60:02d}:{ps % 60:02d}"
        values: dict[str, object] = {
            "entity_id": f"LC{sat}{cell.path:03d}{cell.row:03d}{year}{doy:03d}LGN00",
            "display_id": display,
            "l1_display_id": l1_id,
            "cloud": g.cloud_text[cloud],
            "date": iso,
            "publish_search": f"{proc_iso} {publish}",
            "publish_metadata": f"{proc_iso}T{publish}",
        }
        if not full:
            return values
        start = g.start_seconds(i)
        h, m, sec, frac = _clock(start)
        h2, m2, sec2, frac2 = _clock(start + 31.77)
        elevation, azimuth = g.sun_angles(i)
        rmse = g.rmse(i)
        values.update(
            land_cloud=g.cloud_text[g.land_cloud(i)],
            category=category,
            date_slash=slash,
            generated=proc_slash,
            start_time=f"{year}:{doy:03d}:{h:02d}:{m:02d}:{sec:02d}.{int(frac * 1e7):07d}",
            stop_time=f"{year}:{doy:03d}:{h2:02d}:{m2:02d}:{sec2:02d}.{int(frac2 * 1e7):07d}",
            gcp_model=0 if l1_type == "L1GT" else 120 + (i * 53) % 420,
            rmse=f"{rmse:.3f}",
            rmse_x=f"{rmse * 0.69:.3f}",
            rmse_y=f"{rmse * 0.72:.3f}",
            software="LPGS_16.1.0" if proc >= NEW_SOFTWARE_FROM else "LPGS_15.3.1c",
            sun_elevation=f"{elevation:.8f}",
            sun_azimuth=f"{azimuth:.8f}",
            data_type=f"OLI_TIRS_{product_type}",
            satellite=sat,
        )
        return values

    def render(self, i: int, *, full: bool = False, variant: str = "search") -> str:
        """The JSON text of scene `i`: a scene-search result (``variant="search"``) or the
        scene-metadata ``data`` (``variant="metadata"``)."""
        template = self._cell_template(variant, full, i % self.scenes.k)
        return template.format_map(self.values(i, full))

    def item(self, i: int, *, full: bool = False, variant: str = "search") -> dict:
        return orjson.loads(self.render(i, full=full, variant=variant))

    def metadata_list(self, i: int) -> list[dict]:
        return self.item(i, full=True, variant="metadata")["metadata"]
