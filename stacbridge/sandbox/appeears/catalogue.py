"""The emulator's products and layers: the recordings first, labelled guesses to complete them.

Recorded (served verbatim): the `/product` entry of MCD15A3H.061, the `LST_Day_1km` layer of
MOD11A2.061, `/spatial/proj`, the quality answers.  Everything else here is a **guess**, shaped
like those recordings and named from what the recorded bundles list (MOD11A2.061 has files for
`LST_Day_1km`, `LST_Night_1km`, `QC_Day`, `QC_Night`; MCD15A3H.061 for `Lai_500m`,
`FparLai_QC`, `FparExtra_QC`; the quality recording names `Fpar_500m`, `FparStdDev_500m`,
`LaiStdDev_500m`).  The real catalogue has ~157 products and MOD11A2 more layers
(`Day_view_time`, `Emis_31`…): a translator must not assume these are all there is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURE_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "appeears"

JSON = dict[str, Any]


def load(name: str) -> Any:
    return json.loads((FIXTURE_DIR / name).read_text())


def _guessed_product(**fields: Any) -> JSON:
    """A `/product` entry in the recorded entry's key order (a guess: values by analogy)."""
    template = load("nasa-2025_product-list-entry_MCD15A3H.061.json")
    out = {key: fields.get(key, template[key]) for key in template}
    out["ProductAndVersion"] = f"{out['Product']}.{out['Version']}"
    return out


def _layer(base: JSON, **fields: Any) -> JSON:
    """A layer in the recorded layer's key order, `fields` replacing its values (a guess)."""
    return {key: fields.get(key, value) for key, value in base.items()}


_LST_DAY = load("nasa-2025_product_MOD11A2.061_layer-LST_Day_1km.json")
_QC = {
    "AddOffset": "",
    "DataType": "uint8",
    "FillValue": 0,
    "FillValueAll": [0],
    "IsQA": True,
    "OrigDataType": "uint8",
    "OrigValidMax": 255,
    "OrigValidMin": 0,
    "QualityLayers": "",
    "QualityProductAndVersion": "",
    "ScaleFactor": "",
    "Units": "bit field",
    "ValidMax": 255,
    "ValidMin": 0,
}


def _modis_500m(name: str, description: str, **fields: Any) -> JSON:
    values = {
        "Layer": name,
        "Description": description,
        "XSize": 2400,
        "YSize": 2400,
        "QualityLayers": "['FparLai_QC', 'FparExtra_QC']",
        "QualityProductAndVersion": "MCD15A3H.061",
        **fields,
    }
    return _layer(_LST_DAY, **values)


PRODUCTS: list[JSON] = [
    load("nasa-2025_product-list-entry_MCD15A3H.061.json"),  # recorded verbatim
    _guessed_product(
        Product="MOD11A2",
        Platform="Terra MODIS",
        Version="061",
        Resolution="1000m",
        TemporalGranularity="8 day",
        RasterType="Tile",
        Description="Land Surface Temperature & Emissivity (LST&E)",
        DocLink="https://doi.org/10.5067/MODIS/MOD11A2.061",
        TemporalExtentStart="2000-02-18",
        TemporalExtentEnd="Present",
        DOI="10.5067/MODIS/MOD11A2.061",
    ),
    _guessed_product(
        Product="SRTMGL1_NC",
        Platform="SRTM",
        Version="003",
        Resolution="30m",
        TemporalGranularity="Static",
        RasterType="Tile",
        Description="Elevation (DEM)",
        DocLink="https://doi.org/10.5067/MEaSUREs/SRTM/SRTMGL1.003",
        TemporalExtentStart="2000-02-11",
        TemporalExtentEnd="2000-02-21",
        DOI="10.5067/MEaSUREs/SRTM/SRTMGL1.003",
    ),
]

LAYERS: dict[str, dict[str, JSON]] = {
    "MOD11A2.061": {
        "LST_Day_1km": _LST_DAY,  # recorded verbatim
        "LST_Night_1km": _layer(
            _LST_DAY,
            Layer="LST_Night_1km",
            Description="Night Land Surface Temperature",
            QualityLayers="['QC_Night']",
        ),
        "QC_Day": _layer(
            _LST_DAY, Layer="QC_Day", Description="Daytime LST Quality Indicators", **_QC
        ),
        "QC_Night": _layer(
            _LST_DAY, Layer="QC_Night", Description="Nighttime LST Quality indicators", **_QC
        ),
    },
    "MCD15A3H.061": {
        "Fpar_500m": _modis_500m(
            "Fpar_500m",
            "Fraction of Photosynthetically Active Radiation",
            DataType="float32",
            OrigDataType="uint8",
            FillValue=255,
            FillValueAll=[249, 250, 251, 252, 253, 254, 255],
            ScaleFactor=0.01,
            Units="Percent",
            OrigValidMax=100,
            OrigValidMin=0,
            ValidMax=1.0,
            ValidMin=0.0,
        ),
        "Lai_500m": _modis_500m(
            "Lai_500m",
            "Leaf Area Index",
            DataType="float32",
            OrigDataType="uint8",
            FillValue=255,
            FillValueAll=[249, 250, 251, 252, 253, 254, 255],
            ScaleFactor=0.1,
            Units="m^2/m^2",
            OrigValidMax=100,
            OrigValidMin=0,
            ValidMax=10.0,
            ValidMin=0.0,
        ),
        "FparLai_QC": _layer(
            _LST_DAY,
            Layer="FparLai_QC",
            Description="Quality for FPAR and LAI",
            XSize=2400,
            YSize=2400,
            **_QC,
        ),
        "FparExtra_QC": _layer(
            _LST_DAY,
            Layer="FparExtra_QC",
            Description="Extra detail Quality for FPAR and LAI",
            XSize=2400,
            YSize=2400,
            **_QC,
        ),
    },
    "SRTMGL1_NC.003": {
        "SRTMGL1_DEM": _layer(
            _LST_DAY,
            Layer="SRTMGL1_DEM",
            Description="Elevation",
            DataType="int16",
            OrigDataType="int16",
            FillValue=-32768,
            FillValueAll=[-32768],
            ScaleFactor=1.0,
            Units="Meters",
            OrigValidMax=32767,
            OrigValidMin=-32767,
            ValidMax=32767,
            ValidMin=-32767,
            QualityLayers="",
            QualityProductAndVersion="",
            XSize=3601,
            YSize=3601,
            Dimensions=["time", "lat", "lon"],
        ),
    },
}


@dataclass(frozen=True)
class Grid:
    """A product's native grid: its CRS (PROJ string or EPSG code) and pixel size."""

    crs: str
    pixel: float


#: MODIS sinusoidal as `/spatial/proj` (recorded) states it; pixel sizes of the MODIS grid.
_SINUSOIDAL = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs=True"
GRIDS = {
    "MOD11A2.061": Grid(_SINUSOIDAL, 926.625433055833),
    "MCD15A3H.061": Grid(_SINUSOIDAL, 463.312716527917),
    "SRTMGL1_NC.003": Grid("EPSG:4326", 1 / 3600),
}
GEOGRAPHIC_PIXEL = {"MOD11A2.061": 0.0083333333, "MCD15A3H.061": 0.0041666667}


def product(pid: str) -> JSON | None:
    return next((p for p in PRODUCTS if p["ProductAndVersion"] == pid), None)


def projections() -> list[JSON]:
    return load("nasa-2025_spatial-proj.json")
