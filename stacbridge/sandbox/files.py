"""Deterministic files for the sandbox data hosts: nothing stored, everything derived from the path.

A data host asks a `FileSource` two things: `stat(path)` (size, ETag, Last-Modified, media type, or
None when the file does not exist) and `read(path, start, end)`, an async iterator over
`bytes[start:end]` in chunks, so a host serves any size in constant memory.

- `CogFiles`: `*.tif` is a real Cloud-Optimized GeoTIFF (uint16, 256-pixel tiles, overviews,
  DEFLATE) whose pixels `expected_pixels(path)` returns; its CRS is the UTM zone of an MGRS tile
  named in the file name (`...T15UXP...` → EPSG:32615), else EPSG:4326. An HLS granule file
  (`HLS.L30.T15UXP....tif`) is a full 3660 x 3660 tile of 30 m pixels from the tile's ULX/ULY,
  as the granule's metadata says (`cog_grid`); any other file is 512 x 512. `*.jpg` and
  `*.png` are small valid images, `*.json` valid JSON, `*.xml` valid XML, anything else
  deterministic bytes (HDF5 / netCDF magic numbers for `.h5` / `.nc`) of a size taken from the path.
  A path with a segment starting with `missing` does not exist.
- `SyntheticFiles`: `.../large/<n><unit>.bin` (`2GB`, `1GiB`, `500MB`, `123456789` bytes…) of any
  size, a pseudo-random block of 1 MiB + 7 bytes repeated, served as memoryview slices of that
  block, so producing a chunk costs nothing. `synthetic_bytes(path, start, end)` is the truth.
- `MemoryFiles`: explicit `{path: bytes}`, for exact-content tests.
- `CompositeFiles([...])`: the first source that has the path.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

CHUNK_SIZE = 1024 * 1024
COG_MEDIA_TYPE = "image/tiff"  # what S3 and the DAAC hosts answer for HLS/Sentinel COGs


@dataclass(frozen=True)
class FileInfo:
    size: int
    etag: str  # quoted, as sent in the ETag header
    last_modified: datetime  # UTC, whole seconds
    content_type: str


@runtime_checkable
class FileSource(Protocol):
    def stat(self, path: str) -> FileInfo | None:
        """Size, ETag, Last-Modified and media type of `path`, or None when it does not exist."""

    def read(self, path: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """`content[start:end]` (end exclusive, None: to the end) as bytes-like chunks."""


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("\x00".join(str(p) for p in parts).encode()).digest()


def path_seed(path: str) -> int:
    """The 64-bit seed every generated file derives from (stable across processes and runs)."""
    return int.from_bytes(_digest("stacbridge-sandbox", path)[:8], "big")


def _last_modified(path: str) -> datetime:
    base = datetime(2024, 2, 12, tzinfo=UTC)
    return base + timedelta(seconds=path_seed(path) % (180 * 86400))


def _etag(path: str, size: int) -> str:
    return '"' + hashlib.md5(f"{path}:{size}".encode()).hexdigest() + '"'


async def _iter_buffer(data: bytes, start: int, end: int, chunk_size: int) -> AsyncIterator[bytes]:
    view = memoryview(data)
    for pos in range(start, end, chunk_size):
        yield view[pos : min(pos + chunk_size, end)]  # type: ignore[misc]  # zero-copy


def _clamp(size: int, start: int, end: int | None) -> tuple[int, int]:
    end = size if end is None else min(end, size)
    return max(0, start), end


class _LRU:
    """A small thread-safe LRU: the hosts may run in several server threads sharing one source."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[object, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: object, make: Callable[[], object]) -> object:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()  # outside the lock: a COG takes tens of milliseconds to build
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
        return value


# --- Cloud-Optimized GeoTIFFs -------------------------------------------------------------------

COG_SIZE = 512
COG_BLOCK = 256
#: HLS v2.0 granules are 3660 x 3660 pixels of 30 m (their NROWS/NCOLS/SPATIAL_RESOLUTION), and
#: the gateway puts that in `proj:shape`/`proj:transform`: a reader that trusts it (GDAL's STACIT)
#: reads the whole grid, so an HLS file must really be that size, or it reads zeros.
HLS_SIZE = 3660
HLS_RESOLUTION = 30.0
_MGRS = re.compile(r"(?:^|[._/-])T(\d{2})([C-HJ-NP-X])([A-HJ-NP-Z][A-HJ-NP-V])(?=[._/-]|$)")
_HLS_NAME = re.compile(r"^HLS\.[LS]30\.T\d{2}[C-HJ-NP-X][A-HJ-NP-Z][A-HJ-NP-V]\.")
_COLUMN_SETS = ("STUVWXYZ", "ABCDEFGH", "JKLMNPQR")  # 100 km column letters by zone % 3
_ROW_LETTERS = "ABCDEFGHJKLMNPQRSTUV"
_BANDS = "CDEFGHJKLMNPQRSTUVWX"
_CMR_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "cmr"


def mgrs_tile(path: str) -> str | None:
    """The MGRS tile (`15UXP`) named in the file name, as HLS and Sentinel-2 names carry it."""
    match = _MGRS.search(path.rsplit("/", 1)[-1])
    return "".join(match.groups()) if match else None


def _mgrs_origin(zone: int, band: str, square: str) -> tuple[int, float, float]:
    """EPSG code and the lower-left corner (easting, northing) of an MGRS 100 km square."""
    from rasterio.warp import transform

    epsg = (32700 if band < "N" else 32600) + zone
    easting = (_COLUMN_SETS[zone % 3].index(square[0]) + 1) * 100_000
    northing = ((_ROW_LETTERS.index(square[1]) - (5 if zone % 2 == 0 else 0)) % 20) * 100_000
    band_min_lat = -80 + 8 * _BANDS.index(band)
    _, (band_min_northing,) = transform(
        "EPSG:4326", f"EPSG:{epsg}", [zone * 6 - 183], [band_min_lat]
    )
    while northing + 100_000 <= band_min_northing:
        northing += 2_000_000
    return epsg, float(easting), float(northing)


@functools.lru_cache(maxsize=1)
def recorded_hls_origins() -> dict[str, tuple[float, float]]:
    """ULX/ULY of the HLS tiles the recorded CMR granules describe, by MGRS tile id.

    The Sentinel-2 tiling grid does not start every tile on its 100 km square's corner (the
    recorded T15UWP starts at 499980, not 500000), so the files of a recorded granule take the
    recorded origin; every other tile starts on the square's corner, as the CMR generator
    writes it in ULX/ULY.
    """
    out: dict[str, tuple[float, float]] = {}
    for fixture in sorted(_CMR_FIXTURES.glob("granules_umm_json__HLS*.json")):
        for item in json.loads(fixture.read_text("utf-8")).get("items", []):
            attrs = {
                a.get("Name"): (a.get("Values") or [None])[0]
                for a in item["umm"].get("AdditionalAttributes") or []
            }
            if attrs.get("MGRS_TILE_ID") and attrs.get("ULX") and attrs.get("ULY"):
                out[attrs["MGRS_TILE_ID"]] = (float(attrs["ULX"]), float(attrs["ULY"]))
    return out


def cog_grid(path: str) -> tuple[int, tuple[float, float, float, float, float, float], int]:
    """EPSG code, GDAL geotransform and size (square, pixels) of the COG generated for `path`.

    An HLS granule file (`HLS.L30.T15UXP....tif`) is a full HLS tile: 3660 x 3660 pixels of 30 m
    from the tile's ULX/ULY, exactly what the granule's metadata (and so `proj:shape` and
    `proj:transform`) says. Other files named after an MGRS tile are 512 x 512 pixels of 30 m
    from the square's corner; the rest are small EPSG:4326 rasters somewhere on Earth.
    """
    name = path.rsplit("/", 1)[-1]
    tile = mgrs_tile(path)
    if tile:
        epsg, easting, northing = _mgrs_origin(int(tile[:2]), tile[2], tile[3:])
        ulx, uly = easting, northing + 100_000
        size = COG_SIZE
        if _HLS_NAME.match(name):
            ulx, uly = recorded_hls_origins().get(tile, (ulx, uly))
            size = HLS_SIZE
        return epsg, (ulx, HLS_RESOLUTION, 0.0, uly, 0.0, -HLS_RESOLUTION), size
    seed = path_seed(path)
    west = -180 + (seed % 3500) / 10
    north = -60 + ((seed >> 16) % 1400) / 10
    return 4326, (west, 0.0003, 0.0, north, 0.0, -0.0003), COG_SIZE


def cog_georeference(path: str) -> tuple[int, tuple[float, float, float, float, float, float]]:
    """EPSG code and GDAL geotransform of the COG generated for `path`."""
    epsg, gt, _ = cog_grid(path)
    return epsg, gt


def expected_pixels(path: str) -> np.ndarray:
    """The uint16 band of the COG served for `path` (`cog_grid` gives its size): a gradient plus
    seeded noise that is constant over 32 x 32 blocks, so a full-size HLS tile compresses to a few
    hundred kB and builds in a fraction of a second."""
    seed = path_seed(path)
    size = cog_grid(path)[2]
    blocks = -(-size // 32)
    noise = np.random.default_rng(seed).integers(0, 64, (blocks, blocks), dtype=np.uint16)
    noise = np.repeat(np.repeat(noise, 32, axis=0), 32, axis=1)[:size, :size]
    line = np.arange(size, dtype=np.uint16)
    base = np.uint16(1000 + seed % 2000)
    return (base + line[:, None] * np.uint16(7) + line[None, :] * np.uint16(3) + noise).astype(
        np.uint16
    )


def build_cog(path: str) -> bytes:
    """The COG for `path`, written by GDAL's COG driver into memory."""
    from rasterio.io import MemoryFile
    from rasterio.transform import Affine

    epsg, gt, size = cog_grid(path)
    profile = {
        "driver": "COG",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "uint16",
        "crs": f"EPSG:{epsg}",
        "transform": Affine.from_gdal(*gt),
        "blocksize": COG_BLOCK,
        "compress": "deflate",
        "predictor": 2,
        "overview_resampling": "average",
    }
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(expected_pixels(path), 1)
        return mem.read()


def _build_image(path: str, driver: str) -> bytes:
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.io import MemoryFile

    rng = np.random.default_rng(path_seed(path))
    pixels = rng.integers(0, 256, (3, 64, 64), dtype=np.uint8)
    with warnings.catch_warnings(), MemoryFile() as mem:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with mem.open(driver=driver, width=64, height=64, count=3, dtype="uint8") as dst:
            dst.write(pixels)
        return mem.read()


def _build_other(path: str, suffix: str) -> bytes:
    seed = path_seed(path)
    size = 1024 + seed % (63 * 1024)
    filler = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    if suffix == "json":
        doc = {"path": path, "seed": seed, "padding": filler.hex()[: size - 100]}
        return json.dumps(doc).encode()
    if suffix == "xml":
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<Granule path="{path}" seed="{seed}">'
            f"<Padding>{filler.hex()[:size]}</Padding></Granule>\n"
        ).encode()
    magic = {"h5": b"\x89HDF\r\n\x1a\n", "he5": b"\x89HDF\r\n\x1a\n", "nc": b"CDF\x01"}
    return magic.get(suffix, b"") + filler


_MEDIA_TYPES = {
    "tif": COG_MEDIA_TYPE,
    "tiff": COG_MEDIA_TYPE,
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "json": "application/json",
    "xml": "application/xml",
    "h5": "application/x-hdf5",
    "he5": "application/x-hdf5",
    "nc": "application/x-netcdf",
    "txt": "text/plain",
}


def _exists(path: str) -> bool:
    parts = path.strip("/").split("/")
    return bool(path) and not path.endswith("/") and not any(p.startswith("missing") for p in parts)


class CogFiles:
    """Every path exists (except `missing*` segments): COGs, images or bytes derived from it."""

    def __init__(self, *, chunk_size: int = CHUNK_SIZE, cache_size: int = 64) -> None:
        self.chunk_size = chunk_size
        self._cache = _LRU(cache_size)

    def _entry(self, path: str) -> tuple[bytes, FileInfo] | None:
        path = path.lstrip("/")
        if not _exists(path):
            return None
        return self._cache.get(path, lambda: self._build(path))  # type: ignore[return-value]

    def content(self, path: str) -> bytes | None:
        """The whole file (it is small), or None when it does not exist."""
        entry = self._entry(path)
        return entry[0] if entry else None

    def stat(self, path: str) -> FileInfo | None:
        entry = self._entry(path)
        return entry[1] if entry else None

    @staticmethod
    def _build(path: str) -> tuple[bytes, FileInfo]:
        name = path.rsplit("/", 1)[-1]
        suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if suffix in ("tif", "tiff"):
            data = build_cog(path)
        elif suffix in ("jpg", "jpeg"):
            data = _build_image(path, "JPEG")
        elif suffix == "png":
            data = _build_image(path, "PNG")
        else:
            data = _build_other(path, suffix)
        info = FileInfo(
            size=len(data),
            etag='"' + hashlib.md5(data).hexdigest() + '"',
            last_modified=_last_modified(path),
            content_type=_MEDIA_TYPES.get(suffix, "application/octet-stream"),
        )
        return data, info

    async def read(self, path: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        data = self.content(path)
        if data is None:
            raise FileNotFoundError(path)
        start, end = _clamp(len(data), start, end)
        async for chunk in _iter_buffer(data, start, end, self.chunk_size):
            yield chunk


# --- synthetic large files ----------------------------------------------------------------------

_LARGE = re.compile(r"(?:^|/)large/(\d+)([KMGT]i?B|B)?\.bin$")
_UNITS = {
    None: 1, "B": 1,
    "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
}  # fmt: skip
PERIOD = CHUNK_SIZE + 7  # not a power of two: an offset error of a whole MiB shows in the bytes


def synthetic_size(path: str) -> int | None:
    match = _LARGE.search(path.lstrip("/"))
    return int(match.group(1)) * _UNITS[match.group(2)] if match else None


def _block(path: str) -> bytes:
    return np.random.default_rng(path_seed(path)).integers(0, 256, PERIOD, dtype=np.uint8).tobytes()


def synthetic_bytes(path: str, start: int, end: int) -> bytes:
    """`content[start:end]` of a synthetic file (for assertions; builds the block each call)."""
    path = path.lstrip("/")
    size = synthetic_size(path)
    if size is None:
        raise FileNotFoundError(path)
    start, end = _clamp(size, start, end)
    if end <= start:
        return b""
    block = _block(path)
    first, reps = start % PERIOD, (end - start) // PERIOD + 2
    return (block * reps)[first : first + end - start]


class SyntheticFiles:
    """`large/<n><unit>.bin` of any size; chunks are slices of one repeated precomputed block."""

    def __init__(self, *, chunk_size: int = CHUNK_SIZE, cache_size: int = 8) -> None:
        self.chunk_size = chunk_size
        self._cache = _LRU(cache_size)

    def _pattern(self, path: str) -> memoryview:
        # The block repeated enough that any chunk, whatever its phase, is one contiguous slice.
        def make() -> memoryview:
            return memoryview(_block(path) * (self.chunk_size // PERIOD + 2))

        return self._cache.get(path, make)  # type: ignore[return-value]

    def stat(self, path: str) -> FileInfo | None:
        path = path.lstrip("/")
        size = synthetic_size(path)
        if size is None:
            return None
        parts = max(1, -(-size // (8 * 2**20)))  # S3 multipart ETag: md5-of-md5s "-<parts>"
        etag = _etag(path, size)
        return FileInfo(
            size=size,
            etag=etag[:-1] + (f'-{parts}"' if parts > 1 else '"'),
            last_modified=_last_modified(path),
            content_type="application/octet-stream",
        )

    async def read(self, path: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        path = path.lstrip("/")
        size = synthetic_size(path)
        if size is None:
            raise FileNotFoundError(path)
        start, end = _clamp(size, start, end)
        pattern, chunk = self._pattern(path), self.chunk_size
        pos = start
        while pos < end:
            phase, n = pos % PERIOD, min(chunk, end - pos)
            yield pattern[phase : phase + n]  # type: ignore[misc]  # zero-copy view
            pos += n


# --- explicit and composite sources -------------------------------------------------------------


class MemoryFiles:
    """Exactly the files given: `{path: bytes}` (optionally `{path: (bytes, content_type)}`)."""

    def __init__(
        self, files: Mapping[str, bytes | tuple[bytes, str]], *, chunk_size: int = CHUNK_SIZE
    ) -> None:
        self.chunk_size = chunk_size
        self._files: dict[str, tuple[bytes, str]] = {}
        for path, value in files.items():
            data, ctype = value if isinstance(value, tuple) else (value, "application/octet-stream")
            self._files[path.lstrip("/")] = (data, ctype)

    def stat(self, path: str) -> FileInfo | None:
        path = path.lstrip("/")
        if path not in self._files:
            return None
        data, ctype = self._files[path]
        etag = '"' + hashlib.md5(data).hexdigest() + '"'
        return FileInfo(len(data), etag, _last_modified(path), ctype)

    async def read(self, path: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        path = path.lstrip("/")
        if path not in self._files:
            raise FileNotFoundError(path)
        data = self._files[path][0]
        start, end = _clamp(len(data), start, end)
        async for chunk in _iter_buffer(data, start, end, self.chunk_size):
            yield chunk


class CompositeFiles:
    """The first source that has the path answers for it."""

    def __init__(self, sources: Iterable[FileSource]) -> None:
        self.sources = list(sources)

    def _source(self, path: str) -> tuple[FileSource, FileInfo] | None:
        for source in self.sources:
            info = source.stat(path)
            if info is not None:
                return source, info
        return None

    def stat(self, path: str) -> FileInfo | None:
        found = self._source(path)
        return found[1] if found else None

    async def read(self, path: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        found = self._source(path)
        if found is None:
            raise FileNotFoundError(path)
        async for chunk in found[0].read(path, start, end):
            yield chunk


def default_files() -> CompositeFiles:
    """What the sandbox hosts serve: synthetic `large/` files, then generated COGs and the rest."""
    return CompositeFiles([SyntheticFiles(), CogFiles()])
