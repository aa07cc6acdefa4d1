"""Deterministic HLSL30 v2.0 granules for the CMR emulator: a million of them, none stored.

Granule ``i`` (``0 <= i < n``) of collection ``C2021957657-LPCLOUD`` is a pure function of ``i``
and the seed, rendered from a real recorded HLSL30 UMM-G record
(``granules_umm_json__HLSL30_LPCLOUD__2hits.json``, item 0, tile 15UXP) by rewriting every
field that identifies or locates it:

* time: ``BeginningDateTime == EndingDateTime == T0 + i * STEP`` (2015-01-01T00:00:00Z plus
  ``i`` × 317.123 s, so a million granules span ~10 years, in time order);
* tile: ``tiles[i % K]`` — K real MGRS/Sentinel-2 grid tiles (zone, latitude band and 100 km
  square letters computed from UTM, 109.8 km extent from the square's north-west corner, as HLS
  does) laid out on coarse grids over land on every continent, one of them straddling the
  antimeridian. The footprint GPolygon is the full tile, counter-clockwise, inverse-projected
  from UTM with the Krüger series; ``MGRS_TILE_ID``, ``ULX``, ``ULY``, ``HORIZONTAL_CS_NAME``
  follow;
* ``GranuleUR``/``native-id``/producer id/every URL: ``HLS.L30.T{tile}.{YYYYDDD}T{HHMMSS}.v2.0``
  (unique per ``i``: the same tile recurs every K × STEP = hours later);
* ``concept-id``: ``G{CONCEPT_BASE + i}-LPCLOUD`` — numerically above every real concept id
  recorded, increasing with ``i`` like the start date, so CMR's default granule order
  (provider, start_date, concept sequence id) is simply ``i`` order;
* ``CLOUD_COVERAGE``: ``table[(i // K + offset[i % K]) % P]`` with ``P = 101`` and a seeded table
  skewed towards clear and overcast scenes. Cloud cover is periodic in ``i`` with period
  ``K × P``, which is what makes cloud-cover counts exact arithmetic;
* platform LANDSAT-8 before 2021-11-01, then alternating LANDSAT-8/LANDSAT-9 (the
  ``LANDSAT_PRODUCT_ID`` prefix, WRS path/row and dates follow), processing/provider/revision
  dates ~3.3 days after sensing, ``SizeInBytes`` pseudo-random from ``i``.

Everything else (band list, angle attributes, MetadataSpecification …) is the recorded record.
Search filters never iterate over the population: a temporal range is an index interval, a
spatial condition is the set ``S`` of intersecting tiles (so matching indices are ``i % K in S``),
a cloud-cover range is the set of offsets of ``i mod (K × P)`` whose cloud cover is in range;
counting and selecting the k-th match are then O(log) arithmetic (:class:`Selection`).
The tile set deliberately avoids the area of the recorded HLSL30 granules so that the recorded
query replays exactly.
"""

from __future__ import annotations

import bisect
import copy
import datetime as dt
import functools
import math
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

HLSL30_CONCEPT_ID = "C2021957657-LPCLOUD"
HLSS30_CONCEPT_ID = "C2021957295-LPCLOUD"
PROVIDER_ID = "LPCLOUD"
T0_MS = 1_420_070_400_000  # 2015-01-01T00:00:00Z
STEP_MS = 317_123
CONCEPT_BASE = 4_000_000_000
CLOUD_PERIOD = 101
TILE_EXTENT_M = 109_800.0
LANDSAT9_FROM_MS = 1_635_724_800_000  # 2021-11-01T00:00:00Z

# Coarse grids of tile centres over land: (west, east, south, north, columns, rows).
_LAND_GRIDS: tuple[tuple[float, float, float, float, int, int], ...] = (
    (-104.0, -96.0, 34.0, 42.0, 4, 3),  # US Great Plains
    (-121.0, -117.0, 36.0, 40.0, 3, 2),  # California / Nevada
    (-60.0, -48.0, -14.0, -6.0, 4, 3),  # Amazon / Cerrado
    (-64.0, -60.0, -36.0, -32.0, 2, 2),  # Pampas
    (0.0, 12.0, 44.0, 52.0, 4, 3),  # Western Europe
    (-6.0, 6.0, 10.0, 16.0, 4, 2),  # Sahel
    (30.0, 36.0, -4.0, 2.0, 3, 2),  # East Africa
    (74.0, 82.0, 18.0, 26.0, 3, 3),  # India
    (108.0, 116.0, 30.0, 36.0, 3, 3),  # China
    (140.0, 148.0, -34.0, -26.0, 3, 3),  # South-east Australia
    (60.0, 72.0, 48.0, 54.0, 4, 2),  # Kazakhstan
)
# Single tiles as (lon, lat, UTM zone): the first is a zone-1 tile whose western edge lies
# west of 180° (Fiji), so its footprint straddles the antimeridian; the second is in Chukotka.
_EXTRA_CENTRES: tuple[tuple[float, float, int], ...] = ((179.75, -16.6, 1), (-179.7, 65.5, 1))


# --------------------------------------------------------------------------- UTM / MGRS


_WGS84_A = 6_378_137.0
_WGS84_F = 1 / 298.257223563
_K0 = 0.9996
_N = _WGS84_F / (2 - _WGS84_F)
_AA = _WGS84_A / (1 + _N) * (1 + _N**2 / 4 + _N**4 / 64)
_ALPHA = (
    _N / 2 - 2 * _N**2 / 3 + 5 * _N**3 / 16,
    13 * _N**2 / 48 - 3 * _N**3 / 5,
    61 * _N**3 / 240,
)
_BETA = (
    _N / 2 - 2 * _N**2 / 3 + 37 * _N**3 / 96,
    _N**2 / 48 + _N**3 / 15,
    17 * _N**3 / 480,
)
_DELTA = (
    2 * _N - 2 * _N**2 / 3 - 2 * _N**3,
    7 * _N**2 / 3 - 8 * _N**3 / 5,
    56 * _N**3 / 15,
)
_C2N = 2 * math.sqrt(_N) / (1 + _N)


def utm_zone(lon: float) -> int:
    return min(60, int((lon + 180.0) // 6.0) + 1)


def utm_forward(lon: float, lat: float, zone: int) -> tuple[float, float]:
    """(easting, northing) of a WGS84 point in a UTM zone (false northing in the south)."""
    lon0 = (zone - 1) * 6 - 180 + 3
    dlon = (lon - lon0 + 180.0) % 360.0 - 180.0
    phi, lam = math.radians(lat), math.radians(dlon)
    sin_phi = math.sin(phi)
    t = math.sinh(math.atanh(sin_phi) - _C2N * math.atanh(_C2N * sin_phi))
    xi = math.atan2(t, math.cos(lam))
    eta = math.atanh(math.sin(lam) / math.sqrt(1 + t * t))
    e = eta + sum(
        a * math.cos(2 * j * xi) * math.sinh(2 * j * eta) for j, a in enumerate(_ALPHA, 1)
    )
    n = xi + sum(a * math.sin(2 * j * xi) * math.cosh(2 * j * eta) for j, a in enumerate(_ALPHA, 1))
    northing = _K0 * _AA * n + (10_000_000.0 if lat < 0 else 0.0)
    return 500_000.0 + _K0 * _AA * e, northing


def utm_inverse(easting: float, northing: float, zone: int, south: bool) -> tuple[float, float]:
    """(lon, lat) of a UTM coordinate; lon normalised to [-180, 180)."""
    lon0 = (zone - 1) * 6 - 180 + 3
    xi = (northing - (10_000_000.0 if south else 0.0)) / (_K0 * _AA)
    eta = (easting - 500_000.0) / (_K0 * _AA)
    xi_p = xi - sum(
        b * math.sin(2 * j * xi) * math.cosh(2 * j * eta) for j, b in enumerate(_BETA, 1)
    )
    eta_p = eta - sum(
        b * math.cos(2 * j * xi) * math.sinh(2 * j * eta) for j, b in enumerate(_BETA, 1)
    )
    chi = math.asin(math.sin(xi_p) / math.cosh(eta_p))
    phi = chi + sum(d * math.sin(2 * j * chi) for j, d in enumerate(_DELTA, 1))
    lam = math.atan2(math.sinh(eta_p), math.cos(xi_p))
    lon = (lon0 + math.degrees(lam) + 180.0) % 360.0 - 180.0
    return lon, math.degrees(phi)


_BANDS = "CDEFGHJKLMNPQRSTUVWX"
_COLUMN_SETS = ("STUVWXYZ", "ABCDEFGH", "JKLMNPQR")  # by zone % 3
_ROW_LETTERS = "ABCDEFGHJKLMNPQRSTUV"


@dataclass(frozen=True)
class Tile:
    """One MGRS (Sentinel-2/HLS) tile: its id, UTM frame and lon/lat footprint."""

    tile_id: str
    zone: int
    south: bool
    ulx: float
    uly: float
    ring: tuple[tuple[float, float], ...]  # closed, counter-clockwise (lon, lat)
    geometry: BaseGeometry  # shapely, split at the antimeridian when it crosses it
    wrs_path: int
    wrs_row: int


def mgrs_tile(lon: float, lat: float, zone: int | None = None) -> Tile:
    """The Sentinel-2/HLS tile whose 100 km MGRS square contains (lon, lat) in `zone`
    (default: the point's own UTM zone)."""
    zone = zone or utm_zone(lon)
    south = lat < 0
    easting, northing = utm_forward(lon, lat, zone)
    ulx = math.floor(easting / 100_000.0) * 100_000.0
    square_south = math.floor(northing / 100_000.0) * 100_000.0
    uly = square_south + 100_000.0
    column = _COLUMN_SETS[zone % 3][int(ulx // 100_000) - 1]
    row_index = int(square_south // 100_000) % 20
    if zone % 2 == 0:
        row_index = (row_index + 5) % 20
    row = _ROW_LETTERS[row_index]
    _, centre_lat = utm_inverse(ulx + 50_000.0, uly - 50_000.0, zone, south)
    band = _BANDS[max(0, min(19, int((centre_lat + 80.0) // 8.0)))]
    corners = (
        (ulx, uly - TILE_EXTENT_M),  # SW
        (ulx + TILE_EXTENT_M, uly - TILE_EXTENT_M),  # SE
        (ulx + TILE_EXTENT_M, uly),  # NE
        (ulx, uly),  # NW
    )
    ring = [utm_inverse(x, y, zone, south) for x, y in corners]
    ring = [(round(x, 8), round(y, 8)) for x, y in ring]
    ring.append(ring[0])
    return Tile(
        tile_id=f"{zone:02d}{band}{column}{row}",
        zone=zone,
        south=south,
        ulx=ulx,
        uly=uly,
        ring=tuple(ring),
        geometry=ring_geometry(ring),
        wrs_path=int((180.0 - lon) / 360.0 * 233) % 233 + 1,
        wrs_row=max(1, min(248, int((90.0 - lat) / 180.0 * 248))),
    )


def ring_geometry(ring: Sequence[tuple[float, float]]) -> BaseGeometry:
    """A shapely geometry for a lon/lat ring, split into two parts if it crosses ±180°."""
    lons = [p[0] for p in ring]
    if max(lons) - min(lons) <= 180.0:
        return Polygon(ring)
    unwrapped = [(lon + 360.0 if lon < 0 else lon, lat) for lon, lat in ring]
    east = Polygon(unwrapped)
    west = Polygon([(lon - 360.0, lat) for lon, lat in unwrapped])
    return east.union(west)


def default_tiles(avoid: BaseGeometry | None = None) -> list[Tile]:
    """The generator's tile set: grids over land, de-duplicated, none intersecting `avoid`."""
    centres: list[tuple[float, float, int | None]] = []
    for west, east, south, north, nx, ny in _LAND_GRIDS:
        for row in range(ny):
            for col in range(nx):
                lon = west + (east - west) * (col + 0.5) / nx
                lat = south + (north - south) * (row + 0.5) / ny
                centres.append((lon, lat, None))
    centres.extend(_EXTRA_CENTRES)
    tiles: list[Tile] = []
    seen: set[str] = set()
    for lon, lat, zone in centres:
        tile = mgrs_tile(lon, lat, zone)
        if tile.tile_id in seen:
            continue
        if avoid is not None and tile.geometry.intersects(avoid):
            continue
        seen.add(tile.tile_id)
        tiles.append(tile)
    return tiles


# --------------------------------------------------------------------------- time formatting


_EPOCH = dt.date(1970, 1, 1)


@functools.lru_cache(maxsize=8192)
def _day_strings(day: int) -> tuple[str, str, str]:
    """('YYYY-MM-DD', 'YYYYDDD', 'YYYYMMDD') for a day number since the epoch."""
    d = _EPOCH + dt.timedelta(days=day)
    return d.isoformat(), f"{d.year:04d}{d.timetuple().tm_yday:03d}", d.strftime("%Y%m%d")


def _split_ms(ms: int) -> tuple[int, int, int, int, int]:
    day, rem = divmod(ms, 86_400_000)
    sec, milli = divmod(rem, 1000)
    hour, sec = divmod(sec, 3600)
    minute, sec = divmod(sec, 60)
    return day, hour, minute, sec, milli


def iso_ms(ms: int) -> str:
    """'YYYY-MM-DDTHH:MM:SS.sssZ' for epoch milliseconds (CMR's rendering)."""
    day, h, m, s, milli = _split_ms(ms)
    return f"{_day_strings(day)[0]}T{h:02d}:{m:02d}:{s:02d}.{milli:03d}Z"


# --------------------------------------------------------------------------- selections


class Selection:
    """The generated indices matching a query: ``i`` in the union of ``intervals`` with
    ``i mod period`` in ``offsets``. Counting and selecting by rank are arithmetic."""

    def __init__(
        self, intervals: Iterable[tuple[int, int]], period: int, offsets: Sequence[int]
    ) -> None:
        self.period = period
        self.offsets = list(offsets)
        self._c = len(self.offsets)
        merged: list[tuple[int, int]] = []
        for lo, hi in sorted(iv for iv in intervals if iv[1] > iv[0]):
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        self.intervals = merged
        self._starts: list[int] = []  # cumulative count before each interval
        total = 0
        for lo, hi in merged:
            self._starts.append(total)
            total += self._cnt(hi) - self._cnt(lo)
        self.count = total

    def __len__(self) -> int:
        return self.count

    def _cnt(self, x: int) -> int:
        """Matching offsets in [0, x), ignoring intervals."""
        if self._c == 0:
            return 0
        q, r = divmod(x, self.period)
        return q * self._c + bisect.bisect_left(self.offsets, r)

    def select(self, k: int) -> int:
        """The k-th (0-based) matching index in ascending order."""
        if not 0 <= k < self.count:
            raise IndexError(k)
        j = bisect.bisect_right(self._starts, k) - 1
        lo, _ = self.intervals[j]
        t = self._cnt(lo) + (k - self._starts[j])
        q, r = divmod(t, self._c)
        return q * self.period + self.offsets[r]

    def count_below(self, x: int) -> int:
        """How many matching indices are < x."""
        total = 0
        for (lo, hi), start in zip(self.intervals, self._starts, strict=True):
            if x <= lo:
                break
            total = start + self._cnt(min(hi, x)) - self._cnt(lo)
        return total

    def __contains__(self, i: int) -> bool:
        if not any(lo <= i < hi for lo, hi in self.intervals):
            return False
        r = i % self.period
        j = bisect.bisect_left(self.offsets, r)
        return j < self._c and self.offsets[j] == r

    def __iter__(self):
        for k in range(self.count):
            yield self.select(k)


# --------------------------------------------------------------------------- the generator


@dataclass(frozen=True)
class HLSProduct:
    """What differs between the HLS populations: ids, sensors, start, extra tiles."""

    code: str  # "L30" | "S30", as in the GranuleUR
    collection_id: str
    concept_base: int
    t0_ms: int
    first_platform: str  # before `switch_ms`
    alternate_platforms: tuple[str, str]  # from `switch_ms`: by (i // K) % 2
    switch_ms: int
    extra_centres: tuple[tuple[float, float], ...] = ()


HLS_L30 = HLSProduct(
    "L30", HLSL30_CONCEPT_ID, CONCEPT_BASE, T0_MS, "LANDSAT-8", ("LANDSAT-8", "LANDSAT-9"),
    LANDSAT9_FROM_MS,
)  # fmt: skip
#: HLSS30: Sentinel-2A from 2015-12-01, Sentinel-2A/2B alternating from 2017-07-01; its tiles
#: add T15UXP (the recorded HLSL30 tile in the README's Minnesota example) — HLSS30 has no
#: recorded granule whose replay the generated ones could disturb.
HLS_S30 = HLSProduct(
    "S30", HLSS30_CONCEPT_ID, 5_000_000_000, 1_448_928_000_000, "Sentinel-2A",
    ("Sentinel-2A", "Sentinel-2B"), 1_498_867_200_000, ((-91.3, 47.9),),
)  # fmt: skip


_UR_RE = re.compile(
    r"^HLS\.([LS]30)\.T(\d\d[A-Z]{3})\.(\d{4})(\d{3})T(\d\d)(\d\d)(\d\d)(\.v2\.0)?$",
    re.IGNORECASE,
)
_CONCEPT_RE = re.compile(r"^G(\d+)-LPCLOUD$")


class HLSGenerator:
    """``n`` deterministic HLSL30 granules rendered from a recorded template item."""

    def __init__(
        self,
        template: dict,
        n: int = 1_000_000,
        seed: int = 0,
        host_map: dict[str, str] | None = None,
        avoid: BaseGeometry | None = None,
        product: HLSProduct = HLS_L30,
    ) -> None:
        self.n = max(0, int(n))
        self.seed = seed
        self.product = product
        self.collection_id = product.collection_id
        self.tiles = default_tiles(avoid)
        for lon, lat in product.extra_centres:
            tile = mgrs_tile(lon, lat)
            if all(t.tile_id != tile.tile_id for t in self.tiles):
                self.tiles.append(tile)
        self.k = len(self.tiles)
        salt = "" if product.code == "L30" else f"-{product.code}"
        rng = random.Random(f"stacbridge-hls-{seed}{salt}")
        # Skewed towards clear and overcast scenes, like real Landsat cloud cover.
        self.cloud_table = [min(100, int(rng.betavariate(0.55, 0.8) * 101)) for _ in range(101)]
        self.cloud_offsets = [(s * 37) % CLOUD_PERIOD for s in range(self.k)]
        self._size_salt = rng.randrange(1 << 30)
        self._tile_points = [
            orjson.dumps([{"Longitude": x, "Latitude": y} for x, y in t.ring]).decode()
            for t in self.tiles
        ]
        self._fmt = _compile_template(template, host_map or {})

    # -- per-index properties -------------------------------------------------------------
    def time_ms(self, i: int) -> int:
        return self.product.t0_ms + i * STEP_MS

    def concept_number(self, i: int) -> int:
        return self.product.concept_base + i

    def concept_id(self, i: int) -> str:
        return f"G{self.product.concept_base + i}-{PROVIDER_ID}"

    def platform(self, i: int) -> str:
        p = self.product
        if self.time_ms(i) < p.switch_ms:
            return p.first_platform
        return p.alternate_platforms[(i // self.k) % 2]

    @property
    def switch_index(self) -> int:
        """The first index whose platform alternates."""
        return self.index_interval(self.product.switch_ms, None)[0]

    def tile_index(self, i: int) -> int:
        return i % self.k

    def tile(self, i: int) -> Tile:
        return self.tiles[i % self.k]

    def cloud_cover(self, i: int) -> int:
        q, s = divmod(i, self.k)
        return self.cloud_table[(q + self.cloud_offsets[s]) % CLOUD_PERIOD]

    def granule_ur(self, i: int) -> str:
        day, h, m, s, _ = _split_ms(self.time_ms(i))
        tile_id, doy = self.tile(i).tile_id, _day_strings(day)[1]
        return f"HLS.{self.product.code}.T{tile_id}.{doy}T{h:02d}{m:02d}{s:02d}.v2.0"

    # -- inversions -------------------------------------------------------------------------
    def index_for_concept_id(self, concept_id: str) -> int | None:
        m = _CONCEPT_RE.match(concept_id)
        if not m:
            return None
        i = int(m.group(1)) - self.product.concept_base
        return i if 0 <= i < self.n else None

    def index_for_granule_ur(self, value: str) -> int | None:
        """The index whose GranuleUR (or producer id: the UR without ``.v2.0``) is `value`."""
        m = _UR_RE.match(value)
        if not m:
            return None
        code, tile_id, year, doy, hh, mm, ss, _ = m.groups()
        tile_id = tile_id.upper()
        if code.upper() != self.product.code:
            return None
        try:
            day = dt.date(int(year), 1, 1) + dt.timedelta(days=int(doy) - 1)
        except ValueError:
            return None
        sec_ms = ((day - _EPOCH).days * 86_400 + int(hh) * 3600 + int(mm) * 60 + int(ss)) * 1000
        # the first index at or after the second starts
        i = -(-(sec_ms - self.product.t0_ms) // STEP_MS)
        if 0 <= i < self.n and self.time_ms(i) < sec_ms + 1000 and self.tile(i).tile_id == tile_id:
            return i
        return None

    # -- query building blocks ---------------------------------------------------------------
    def index_interval(self, start_ms: int | None, end_ms: int | None) -> tuple[int, int]:
        """Indices whose (instantaneous) time lies in [start_ms, end_ms], as [lo, hi)."""
        t0 = self.product.t0_ms
        lo = 0 if start_ms is None else max(0, -(-(start_ms - t0) // STEP_MS))
        hi = self.n if end_ms is None else min(self.n, (end_ms - t0) // STEP_MS + 1)
        return lo, max(lo, hi)

    def tiles_intersecting(self, geometry: BaseGeometry) -> set[int]:
        return {s for s, t in enumerate(self.tiles) if t.geometry.intersects(geometry)}

    def selection(
        self,
        intervals: Iterable[tuple[int, int]] | None = None,
        tiles: set[int] | None = None,
        cloud_range: tuple[float | None, float | None] | None = None,
    ) -> Selection:
        """Indices in `intervals` (default: all), on `tiles` (default: all), with cloud cover in
        the closed `cloud_range` (either bound may be None)."""
        if intervals is None:
            intervals = [(0, self.n)]
        tile_set = sorted(range(self.k) if tiles is None else tiles)
        if cloud_range is None:
            return Selection(intervals, self.k, tile_set)
        lo, hi = cloud_range
        ok = [(lo is None or v >= lo) and (hi is None or v <= hi) for v in self.cloud_table]
        offsets = [
            q * self.k + s
            for q in range(CLOUD_PERIOD)
            for s in tile_set
            if ok[(q + self.cloud_offsets[s]) % CLOUD_PERIOD]
        ]
        offsets.sort()
        return Selection(intervals, self.k * CLOUD_PERIOD, offsets)

    # -- rendering -----------------------------------------------------------------------------
    def render(self, i: int) -> str:
        """The UMM-JSON search-result item (``{"meta":…,"umm":…}``) for index `i`, as JSON."""
        ms = self.time_ms(i)
        q, s = divmod(i, self.k)
        tile = self.tiles[s]
        day, h, m, sec, milli = _split_ms(ms)
        date, yyyyddd, yyyymmdd = _day_strings(day)
        hhmmss = f"{h:02d}{m:02d}{sec:02d}"
        clock = f"{h:02d}:{m:02d}:{sec:02d}"
        proc_ms = ms + 280_000_000 + (i * 7_777_777) % 60_000_000
        proc_day, ph, pm, ps, _ = _split_ms(proc_ms)
        proc = f"{_day_strings(proc_day)[0]}T{ph:02d}:{pm:02d}:{ps:02d}"
        platform = self.platform(i)
        if self.product.code == "L30":
            landsat9 = platform == "LANDSAT-9"
            source_id = (
                f"{'LC09' if landsat9 else 'LC08'}_L1TP_{tile.wrs_path:03d}{tile.wrs_row:03d}"
                f"_{yyyymmdd}_{_day_strings(day + (i % 13))[2]}_02_T1"
            )
        else:
            source_id = (
                f"S2{platform[-1]}_MSIL1C_{yyyymmdd}T{hhmmss}_N0510_R{1 + i % 143:03d}"
                f"_T{tile.tile_id}_{yyyymmdd}T{hhmmss}.SAFE"
            )
        return self._fmt.format(
            cid=self.product.concept_base + i,
            ur=f"HLS.{self.product.code}.T{tile.tile_id}.{yyyyddd}T{hhmmss}",
            revdate=iso_ms(proc_ms + 109_376 + (i % 997)),
            begin=f"{date}T{clock}.{milli:03d}Z",
            sensing=f"{date}T{clock}.{milli:03d}{(i * 7919) % 10000:04d}Z",
            lpid=source_id,
            cc=self.cloud_table[(q + self.cloud_offsets[s]) % CLOUD_PERIOD],
            tile=tile.tile_id,
            zone=tile.zone,
            ulx=f"{tile.ulx:.1f}",
            uly=f"{tile.uly:.1f}",
            proct=f"{proc}Z",
            proddt=f"{proc}.000Z",
            pdate=iso_ms(proc_ms + 31_710),
            points=self._tile_points[s],
            size=20_000_000 + (i * 2_654_435_761 + self._size_salt) % 60_000_000,
            platform=platform,
        )

    def item(self, i: int) -> dict:
        return orjson.loads(self.render(i))


def _compile_template(item: dict, host_map: dict[str, str]) -> str:
    """A str.format template of the recorded item with placeholders for every varying field."""
    it = copy.deepcopy(item)
    meta, umm = it["meta"], it["umm"]
    ur_prefix = umm["GranuleUR"].removesuffix(".v2.0")
    meta["concept-id"] = "G@@cid@@-LPCLOUD"
    meta["revision-date"] = "@@revdate@@"
    umm["TemporalExtent"]["RangeDateTime"] = {
        "BeginningDateTime": "@@begin@@",
        "EndingDateTime": "@@begin@@",
    }
    attr_sentinels = {
        "LANDSAT_PRODUCT_ID": "@@lpid@@",
        "PRODUCT_URI": "@@lpid@@",
        "CLOUD_COVERAGE": "@@cc@@",
        "MGRS_TILE_ID": "@@tile@@",
        "SPATIAL_COVERAGE": "100",
        "HLS_PROCESSING_TIME": "@@proct@@",
        "SENSING_TIME": "@@sensing@@",
        "HORIZONTAL_CS_NAME": "UTM, WGS84, UTM ZONE @@zone@@",
        "ULX": "@@ulx@@",
        "ULY": "@@uly@@",
    }
    for attr in umm["AdditionalAttributes"]:
        if attr["Name"] in attr_sentinels:
            attr["Values"] = [attr_sentinels[attr["Name"]]]
    umm["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]["GPolygons"][0]["Boundary"][
        "Points"
    ] = "@@points@@"
    for pd in umm["ProviderDates"]:
        pd["Date"] = "@@pdate@@"
    umm["DataGranule"]["ProductionDateTime"] = "@@proddt@@"
    for ad in umm["DataGranule"]["ArchiveAndDistributionInformation"]:
        ad["SizeInBytes"] = "@@size@@"
    umm["Platforms"][0]["ShortName"] = "@@platform@@"
    for ru in umm.get("RelatedUrls", []):
        for prefix, repl in host_map.items():
            if ru["URL"].startswith(prefix):
                ru["URL"] = repl + ru["URL"][len(prefix) :]
                break
    text = orjson.dumps(it).decode()
    if "{" in ur_prefix or "@@" in ur_prefix:  # pragma: no cover - defensive
        raise ValueError("unexpected template GranuleUR")
    text = text.replace("{", "{{").replace("}", "}}")
    text = text.replace(ur_prefix, "{ur}")
    for name in ("points", "size"):  # JSON values, not strings: drop the quotes
        text = text.replace(f'"@@{name}@@"', "{" + name + "}")
    text = re.sub(r"@@(\w+)@@", r"{\1}", text)
    return text


#: HLSS30 bands: the Sentinel-2 MSI set; HLSL30 has B01-B07, B09-B11 (no B08, B8A, B12).
_S30_EXTRA_BANDS = ("B08", "B8A", "B12")
_LANDSAT_ONLY_ATTRIBUTES = {"TIRS_SSM_MODEL", "TIRS_SSM_POSITION_STATUS", "USGS_SOFTWARE"}


def s30_template(l30_item: dict, hlss30_collection: dict) -> dict:
    """An HLSS30 UMM-G search item derived from the recorded HLSL30 one (no HLSS30 granule was
    recorded): ``HLS.S30`` names and ``HLSS30.020`` paths, the HLSS30 UMM-C's EntryTitle and
    DOI, Sentinel-2 MSI as the platform, ``PRODUCT_URI`` (the Sentinel-2 L1C name) instead of
    ``LANDSAT_PRODUCT_ID``, the Landsat-only attributes dropped and B08/B8A/B12 added to the
    band links (cloned from B07's). Everything else is the recorded HLSL30 record."""
    text = orjson.dumps(l30_item).decode()
    text = text.replace("HLS.L30.", "HLS.S30.").replace("HLSL30", "HLSS30")
    item = orjson.loads(text)
    meta, umm = item["meta"], item["umm"]
    meta["collection-concept-id"] = HLSS30_CONCEPT_ID
    umm["CollectionReference"] = {"EntryTitle": hlss30_collection["EntryTitle"]}
    umm["Platforms"] = [{"ShortName": "Sentinel-2A", "Instruments": [{"ShortName": "MSI"}]}]
    attributes = []
    for attr in umm["AdditionalAttributes"]:
        if attr["Name"] in _LANDSAT_ONLY_ATTRIBUTES:
            continue
        if attr["Name"] == "LANDSAT_PRODUCT_ID":
            attr = {**attr, "Name": "PRODUCT_URI"}
        attributes.append(attr)
    umm["AdditionalAttributes"] = attributes
    related = []
    for ru in umm["RelatedUrls"]:
        related.append(ru)
        if ru["URL"].endswith(".B07.tif"):
            for band in _S30_EXTRA_BANDS:
                clone = {k: v.replace(".B07.tif", f".{band}.tif") for k, v in ru.items()}
                related.append(clone)
    umm["RelatedUrls"] = related
    return item
