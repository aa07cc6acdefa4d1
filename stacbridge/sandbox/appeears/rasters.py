"""The files a finished area task yields: small real GeoTIFFs clipped to the task's area.

Each is the product's native grid (or geographic, as the task asks) over the envelope of the
requested polygons, pixels outside them set to the layer's fill value, as AppEEARS clips.  Pixel
values are a deterministic function of product, layer and date, so a test can tell files apart.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from stacbridge.sandbox.appeears.catalogue import GEOGRAPHIC_PIXEL, GRIDS, LAYERS

#: largest side of a produced raster (coarser pixels beyond it: files stay small)
MAX_SIDE = 128


def _crs_and_pixel(product: str, projection: str) -> tuple[str, float]:
    grid = GRIDS[product]
    if projection == "geographic":
        return "EPSG:4326", GEOGRAPHIC_PIXEL.get(product, grid.pixel)
    return grid.crs, grid.pixel


def clipped_geotiff(
    product: str, layer: str, date: str, geo: dict[str, Any], projection: str
) -> bytes:
    """A GeoTIFF of `layer` on `date` (YYYYDDD) over the polygons of the FeatureCollection `geo`."""
    from rasterio.crs import CRS
    from rasterio.features import geometry_mask
    from rasterio.io import MemoryFile
    from rasterio.transform import from_origin
    from rasterio.warp import transform_bounds, transform_geom

    crs_text, pixel = _crs_and_pixel(product, projection)
    crs = CRS.from_string(crs_text)
    geoms = [f["geometry"] for f in geo["features"]]
    native = [transform_geom("EPSG:4326", crs, g) for g in geoms]
    bounds = [transform_bounds("EPSG:4326", crs, *_bounds(g), densify_pts=21) for g in geoms]
    west = min(b[0] for b in bounds)
    south = min(b[1] for b in bounds)
    east = max(b[2] for b in bounds)
    north = max(b[3] for b in bounds)
    width = max(1, round((east - west) / pixel))
    height = max(1, round((north - south) / pixel))
    scale = max(1.0, max(width, height) / MAX_SIDE)
    width, height = max(1, int(width / scale)), max(1, int(height / scale))
    # the envelope exactly: AppEEARS's clip never reaches outside the requested area
    transform = from_origin(west, north, (east - west) / width, (north - south) / height)
    info = LAYERS[product][layer]
    dtype = str(info["OrigDataType"])
    fill = info.get("FillValue")
    seed = int.from_bytes(hashlib.sha256(f"{product}/{layer}/{date}".encode()).digest()[:4], "big")
    rng = np.random.default_rng(seed)
    low, high = int(info.get("OrigValidMin") or 0), int(info.get("OrigValidMax") or 255)
    values = rng.integers(low, min(high, low + 2000) + 1, (height, width)).astype(dtype)
    outside = geometry_mask(native, (height, width), transform)
    if fill is not None:
        values[outside] = fill
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": dtype,
        "crs": crs,
        "transform": transform,
        "compress": "deflate",
    }
    if fill is not None:
        profile["nodata"] = fill
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(values, 1)
            dst.update_tags(1, layer=layer, product=product, date=date)
        return bytes(mem.read())


def _bounds(geometry: dict[str, Any]) -> tuple[float, float, float, float]:
    coords = geometry["coordinates"]
    rings = coords if geometry["type"] == "Polygon" else [r for p in coords for r in p]
    xs = [p[0] for r in rings for p in r]
    ys = [p[1] for r in rings for p in r]
    return min(xs), min(ys), max(xs), max(ys)
