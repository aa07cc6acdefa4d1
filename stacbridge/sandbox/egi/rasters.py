"""What the EGI emulator's subsetter and reformatter produce: real rasters, really clipped.

A granule's content is modelled as a stack of float32 bands, one per variable of its
collection, on a regular EPSG:4326 grid covering the granule's footprint bounding box (as CMR
reports it), at most `MAX_SIDE` pixels a side.  Pixel values are a pure function of the
pixel's centre and the variable, so a test can check that a clipped file holds exactly the
right pixels.  This is a stand-in (synthetic): real ATL03 granules are HDF5 photon tables and
NSIDC's subsetter cuts those along the track; the emulator cuts a raster because a raster is
what the gateway's clients can open and check.

Formats the emulator truly writes (and so the only ones its capabilities offer): GeoTIFF
(GDAL's GTiff driver) and NetCDF4-CF (GDAL's netCDF driver, NC4 with CF georeferencing).
"""

from __future__ import annotations

import io
import math
import os
import tempfile
import zipfile
from collections.abc import Sequence

import numpy as np

#: the most pixels a granule's synthetic grid has along either side.
MAX_SIDE = 1000
#: format value (as EGI's `format` parameter spells it) → (GDAL driver, extension, options)
FORMATS: dict[str, tuple[str, str, dict[str, str]]] = {
    "GeoTIFF": ("GTiff", "tif", {"COMPRESS": "DEFLATE"}),
    "NetCDF4-CF": ("netCDF", "nc", {"FORMAT": "NC4"}),
}

Bounds = tuple[float, float, float, float]


def grid(footprint: Bounds) -> tuple[Bounds, float, int, int]:
    """The granule's grid: (bounds, pixel size in degrees, width, height)."""
    west, south, east, north = footprint
    span = max(east - west, north - south, 1e-6)
    step = span / MAX_SIDE
    # snap to a "nice" step so that clipped windows fall on whole pixels
    step = 10 ** math.floor(math.log10(step)) * math.ceil(step / 10 ** math.floor(math.log10(step)))
    width = max(1, math.ceil((east - west) / step))
    height = max(1, math.ceil((north - south) / step))
    return (west, north - height * step, west + width * step, north), step, width, height


def pixel_values(xs: np.ndarray, ys: np.ndarray, band: int) -> np.ndarray:
    """The value of variable number `band` at pixel centres (xs, ys): a smooth field."""
    return (np.round(xs * 100.0) + np.round(ys * 100.0) * 1000.0 + band * 1e7).astype("float32")


def clip_window(footprint: Bounds, bbox: Bounds | None) -> tuple[Bounds, np.ndarray] | None:
    """The pixels of the granule inside `bbox` (all when None): (bounds, xs/ys centres).

    None when `bbox` misses the granule (EGI's "no data matched the subset constraints").
    """
    (west, _, _, north), step, width, height = grid(footprint)
    col0, col1, row0, row1 = 0, width, 0, height
    if bbox is not None:
        bw, bs, be, bn = bbox
        col0 = max(0, math.ceil((bw - west) / step - 1e-9))
        col1 = min(width, math.floor((be - west) / step + 1e-9))
        row0 = max(0, math.ceil((north - bn) / step - 1e-9))
        row1 = min(height, math.floor((north - bs) / step + 1e-9))
        if col1 <= col0 or row1 <= row0:
            return None
    left, top = west + col0 * step, north - row0 * step
    xs = left + (np.arange(col1 - col0) + 0.5) * step
    ys = top - (np.arange(row1 - row0) + 0.5) * step
    bounds = (left, north - row1 * step, west + col1 * step, top)
    return bounds, np.stack(np.meshgrid(xs, ys))


def render(
    footprint: Bounds,
    bbox: Bounds | None,
    variables: Sequence[tuple[int, str]],
    fmt: str,
    tags: dict[str, str],
) -> bytes | None:
    """One customised file: `variables` ((index, name) pairs) clipped to `bbox`, in `fmt`."""
    import rasterio
    import rasterio.shutil
    from affine import Affine

    window = clip_window(footprint, bbox)
    if window is None:
        return None
    (left, bottom, right, top), centres = window
    height, width = centres.shape[1:]
    driver, ext, options = FORMATS[fmt]
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": len(variables),
        "dtype": "float32",
        "crs": "EPSG:4326",
        "transform": Affine((right - left) / width, 0.0, left, 0.0, -(top - bottom) / height, top),
    }
    with rasterio.MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.update_tags(**tags)
            for band, (index, name) in enumerate(variables, start=1):
                dst.write(pixel_values(centres[0], centres[1], index), band)
                dst.set_band_description(band, name)
        # the netCDF driver only copies (no Create) and only to real files: a temporary one
        fd, path = tempfile.mkstemp(suffix=f".{ext}")
        os.close(fd)
        try:
            with mem.open() as src:
                rasterio.shutil.copy(src, path, driver=driver, **options)
            with open(path, "rb") as fh:
                return fh.read()
        finally:
            os.unlink(path)


def zipped(files: dict[str, bytes]) -> bytes:
    """The zip EGI hands back: each customised file under its name."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()
