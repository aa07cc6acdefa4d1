"""Third-party judges: stac-api-validator and the STAC JSON schemas (offline mirror)."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from tests.conftest import STAC_API_VALIDATOR, validate_stac

HLS = "HLSL30.v2.0"
# around the recorded HLS tile 15UXP in Minnesota
GEOMETRY = {
    "type": "Polygon",
    "coordinates": [[[-91.6, 47.8], [-91.0, 47.8], [-91.0, 48.1], [-91.6, 48.1], [-91.6, 47.8]]],
}


#: every conformance class the gateway advertises that stac-api-validator can check
#: (`browseable` and `children` are not advertised; `features#*` it reports as unsupported)
EVERY_CLASS = (
    "core",
    "collections",
    "features",
    "item-search",
    "filter",
    "item-search#fields",
    "item-search#sort",
    "item-search#query",
    "features#fields",
    "features#sort",
    "features#query",
)


def extension_options(eq_value: str) -> list[str]:
    """The fields and query checks' settings: `eq_value` must be some item's cloud cover."""
    return [
        "--fields-nested-property",
        "properties.eo:cloud_cover",
        "--query-comparison-field",
        "eo:cloud_cover",
        "--query-eq-value",
        eq_value,
        "--query-neq-value",
        eq_value,
        *("--query-lt-value", "50", "--query-lte-value", "50"),
        *("--query-gt-value", "50", "--query-gte-value", "50"),
        *("--query-substring-field", "platform", "--query-starts-with-value", "landsat"),
        *("--query-ends-with-value", "8", "--query-contains-value", "sat"),
        *("--query-in-field", "instruments", "--query-in-values", "oli,tirs"),
    ]


def run_validator(
    root: str,
    collection: str,
    *conformance: str,
    geometry: dict = GEOMETRY,
    options: list[str] | None = None,
) -> str:
    args = [
        sys.executable,
        str(STAC_API_VALIDATOR),
        "--root-url",
        root,
        "--collection",
        collection,
        "--geometry",
        json.dumps(geometry),
        *(options or []),
    ]
    for name in conformance:
        args += ["--conformance", name]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def test_stac_api_validator_every_advertised_class_on_cmr(gateway):
    first = httpx.get(f"{gateway}/collections/{HLS}/items", params={"limit": 1}, timeout=60)
    cloud = first.json()["features"][0]["properties"]["eo:cloud_cover"]
    output = run_validator(gateway, HLS, *EVERY_CLASS, options=extension_options(str(cloud)))
    assert "Errors: none" in output, output


def test_every_collection_and_recorded_item_validates(gateway):
    with httpx.Client(base_url=gateway, timeout=60) as http:
        collections = http.get("/collections", params={"limit": 1000}).json()["collections"]
        assert len(collections) >= 20
        checked_items = 0
        for collection in collections:
            validate_stac(collection)
            page = http.get(f"/collections/{collection['id']}/items", params={"limit": 20})
            assert page.status_code == 200, (collection["id"], page.text)
            for item in page.json()["features"]:
                validate_stac(item)
                checked_items += 1
        assert checked_items >= 30


@pytest.mark.parametrize(
    "granule_ur",
    [
        "HLS.L30.T15UXP.2024042T165831.v2.0",
    ],
)
def test_recorded_hls_item_validates_with_its_extensions(gateway, granule_ur):
    with httpx.Client(base_url=gateway, timeout=60) as http:
        item = http.get(f"/collections/{HLS}/items/{granule_ur}").json()
    validate_stac(item)
    assert any("projection" in e for e in item["stac_extensions"])
    assert any("eo" in e for e in item["stac_extensions"])
    cog = "image/tiff; application=geotiff; profile=cloud-optimized"
    assert any(a.get("type") == cog for a in item["assets"].values())
