"""The offline STAC schema mirror (tests/stac_offline/) validates, and never passes silently."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import urllib.request

import pystac
import pystac.validation
import pytest
import requests

from tests import stac_offline
from tests.conftest import STAC_API_VALIDATOR, validate_stac

PROJ = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
EO = "https://stac-extensions.github.io/eo/v2.0.0/schema.json"
UNMIRRORED = "https://stac-extensions.github.io/no-such-extension/v9.9.9/schema.json"

# The published STAC 1.1.0 common.json really says ".../commonjson" (pystac ships it so too).
ID_TYPOS = {"schemas.stacspec.org/v1.1.0/item-spec/json-schema/common.json"}


def item(stac_version: str = "1.1.0", **properties) -> dict:
    return {
        "type": "Feature",
        "stac_version": stac_version,
        "stac_extensions": [PROJ, EO],
        "id": "HLS.L30.T15UXP.2024042T165831.v2.0",
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[-91.6, 47.8], [-91.0, 47.8], [-91.0, 48.1], [-91.6, 47.8]]],
        },
        "bbox": [-91.6, 47.8, -91.0, 48.1],
        "properties": {
            "datetime": "2024-02-11T16:58:31Z",
            "proj:code": "EPSG:32615",
            "eo:cloud_cover": 12.5,
            **properties,
        },
        "links": [],
        "assets": {"B04": {"href": "https://example.test/B04.tif", "type": "image/tiff"}},
    }


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0"])
def test_a_valid_item_validates_against_core_and_extensions(version):
    validate_stac(item(version))


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0"])
def test_an_item_without_a_datetime_fails_core_validation(version):
    bad = item(version)
    del bad["properties"]["datetime"]
    with pytest.raises(pystac.STACValidationError):
        validate_stac(bad)


@pytest.mark.parametrize("field, value", [("eo:cloud_cover", "cloudy"), ("proj:code", 32615)])
def test_an_item_breaking_an_extension_schema_fails(field, value):
    with pytest.raises(pystac.STACValidationError) as raised:
        validate_stac(item(**{field: value}))
    assert "stac-extensions.github.io" in str(raised.value)


def test_a_broken_geometry_fails():
    bad = item()
    bad["geometry"] = {"type": "Polygon", "coordinates": "nowhere"}
    with pytest.raises(pystac.STACValidationError):
        validate_stac(bad)


def test_an_unmirrored_schema_raises_naming_its_url():
    unknown = copy.deepcopy(item())
    unknown["stac_extensions"].append(UNMIRRORED)
    with pytest.raises(pystac.validation.GetSchemaError) as raised:
        validate_stac(unknown)
    assert isinstance(raised.value.__cause__, stac_offline.MissingSchema)
    assert UNMIRRORED in str(raised.value)


def test_missing_schemas_raise_through_every_fetch_path():
    with pytest.raises(stac_offline.MissingSchema, match="no-such-extension"):
        stac_offline.local_path(UNMIRRORED)
    with pytest.raises(stac_offline.MissingSchema):
        requests.get(UNMIRRORED, timeout=1)
    with pytest.raises(stac_offline.MissingSchema):
        urllib.request.urlopen(UNMIRRORED, timeout=1)
    with pytest.raises(stac_offline.MissingSchema):  # no way out of the mirror
        stac_offline.local_path("https://geojson.org/../../../etc/passwd")
    assert stac_offline.local_path("https://example.test/schema.json") is None


def test_mirrored_schemas_are_served_through_every_fetch_path():
    assert requests.get(PROJ, timeout=1).json()["$id"].startswith(PROJ)
    with urllib.request.urlopen(EO, timeout=1) as response:
        assert json.load(response)["$id"].startswith(EO)
    text = pystac.StacIO.default().read_text("http://json-schema.org/draft-07/schema")
    assert json.loads(text)["$id"] == "http://json-schema.org/draft-07/schema#"


def test_every_mirrored_file_is_json_at_the_path_of_its_id():
    files = [p for p in stac_offline.SCHEMAS.rglob("*") if p.is_file()]
    assert len(files) >= 70
    for path in files:
        relative = path.relative_to(stac_offline.SCHEMAS).as_posix()
        schema = json.loads(path.read_text())
        if relative in ID_TYPOS:
            continue
        published = schema.get("$id", schema.get("id", "")).rstrip("#").split("://", 1)[-1]
        assert published == relative, path


def test_the_validator_wrapper_fails_when_the_run_crashes():
    # nothing listens on port 9: upstream prints "Failed." and would exit 0 — the wrapper exits 1
    done = subprocess.run(
        [
            sys.executable,
            str(STAC_API_VALIDATOR),
            "--root-url",
            "http://127.0.0.1:9/",
            "--conformance",
            "core",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Failed" in done.stdout + done.stderr
