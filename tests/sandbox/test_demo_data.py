"""The sandbox's demo data agrees with its own metadata, through the gateway, for the README's
example query on every provider.

A reader that trusts the STAC metadata (GDAL's STACIT takes `proj:shape` and `proj:transform`
from the item) must find a file of exactly that grid behind the asset href.
"""

from __future__ import annotations

import httpx
import pytest

MINNESOTA = [-91.7, 47.7, -90.9, 48.3]
DATES = "2024-02-01T00:00:00Z/2024-03-01T00:00:00Z"


def _search(gateway: str, collection: str) -> list[dict]:
    body = {"collections": [collection], "bbox": MINNESOTA, "datetime": DATES, "limit": 100}
    r = httpx.post(f"{gateway}/search", json=body, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()["features"]


@pytest.mark.parametrize("collection", ["HLSL30.v2.0", "HLSS30.v2.0", "landsat_ot_c2_l2"])
def test_readme_example_finds_items_on_every_provider(gateway, collection) -> None:
    items = _search(gateway, collection)
    assert items, collection


def test_hlss30_is_listed_with_items(gateway) -> None:
    r = httpx.get(f"{gateway}/collections/HLSS30.v2.0/items", params={"limit": 2}, timeout=60)
    assert r.status_code == 200 and len(r.json()["features"]) == 2


@pytest.mark.parametrize("collection", ["HLSL30.v2.0", "HLSS30.v2.0"])
def test_cog_grid_matches_proj_metadata(gateway, collection) -> None:
    rasterio = pytest.importorskip("rasterio")
    from rasterio.windows import Window

    item = _search(gateway, collection)[0]
    asset = item["assets"]["B04"]
    shape, transform = asset["proj:shape"], asset["proj:transform"]
    env = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif"}
    with rasterio.Env(**env), rasterio.open(asset["href"]) as src:
        assert list(src.shape) == shape
        assert list(src.transform)[:6] == transform
        assert src.crs.to_epsg() == asset["proj:epsg"]
        rows, cols = shape
        corner = src.read(1, window=Window(cols - 16, rows - 16, 16, 16))
    assert corner.min() > 0  # real pixels where proj:shape says there are pixels
