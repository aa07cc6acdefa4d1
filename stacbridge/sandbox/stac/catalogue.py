"""The collections and items the STAC upstream emulator serves, generated deterministically.

SYNTHETIC: no complete real ESA MAAP or Planetary Computer response is recorded in
/work/shared/fixtures (see fixtures/maap/SOURCES.md).  Field names are the ones documented or
seen in the partial evidence listed there:

* **MAAP** (STAC 1.1.0, FedEO): collections with `license: "other"`, access keywords
  (`RESTRICTED`), an ISO 19139 metadata asset (`?httpAccept=application/vnd.iso.19139%2Bxml`);
  TropForest items named like `AL1_OTPF_AL1_AV2_2F_20090106T041747_..._E097_N025` with an
  `enclosure` ZIP asset (`auth:refs: ["oidc"]`, `file:size`) under `/data/TropForest/` and
  `properties.auth:schemes.oidc` (`type: openIdConnect`, `openIdConnectUrl`); an ATOM
  `alternate` link.  The second collection (`BiomassLevel1cIOC`) and every value (dates,
  footprints, sizes) are invented.
* **Planetary Computer** (STAC 1.0.0): `sentinel-2-l2a`-like items with COG band assets on an
  Azure blob host (`<container>/<path>.tif`), `eo:cloud_cover`, and a `preview` link to the
  API's own data endpoint.  Values invented.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from stacbridge.sandbox.files import CogFiles

AUTH_EXT = "https://stac-extensions.github.io/authentication/v1.1.0/schema.json"
FILE_EXT = "https://stac-extensions.github.io/file/v2.1.0/schema.json"
EO_EXT = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
ATOM = "application/atom%2Bxml"
COG = "image/tiff; application=geotiff; profile=cloud-optimized"

_files = CogFiles()


@dataclass(frozen=True)
class Flavour:
    """Which upstream the emulator imitates."""

    name: str  # "maap" | "pc"
    stac_version: str
    collections: tuple[tuple[str, str], ...]  # (id, title)
    items_per_collection: int
    #: conformance classes beyond core/collections/features/item-search
    extra_conformance: tuple[str, ...]
    #: POST next links: `merge: true` with only the token (MAAP) or the whole body (PC).
    merge_next: bool
    max_limit: int


MAAP = Flavour(
    "maap",
    "1.1.0",
    (("TropForest", "TropForest ALOS AVNIR-2 ortho"), ("BiomassLevel1cIOC", "Biomass L1c IOC")),
    37,
    (),
    True,
    50,
)
PC = Flavour(
    "pc",
    "1.0.0",
    (("sentinel-2-l2a", "Sentinel-2 Level-2A"), ("naip", "NAIP imagery")),
    23,
    (
        "https://api.stacspec.org/v1.0.0/item-search#filter",
        "https://api.stacspec.org/v1.0.0/item-search#sort",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    ),
    False,
    1000,
)

BASE_CONFORMANCE = (
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
)


def _when(index: int) -> dt.datetime:
    return dt.datetime(2009, 1, 6, 4, 17, 47, tzinfo=dt.UTC) + dt.timedelta(days=index, hours=index)


def _iso(when: dt.datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _footprint(index: int) -> tuple[list[float], dict[str, Any]]:
    west, north = 97.0 + (index % 10) * 0.5, 25.0 - (index // 10) * 0.5
    east, south = west + 0.4, north - 0.4
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return [west, south, east, north], {"type": "Polygon", "coordinates": [ring]}


def collection(flavour: Flavour, cid: str, title: str, base: str, oidc_url: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "Collection",
        "stac_version": flavour.stac_version,
        "id": cid,
        "title": title,
        "description": f"{title} (sandbox, synthetic).",
        "license": "other" if flavour.name == "maap" else "proprietary",
        "keywords": ["sandbox", "RESTRICTED"] if flavour.name == "maap" else ["sandbox"],
        "extent": {
            "spatial": {"bbox": [[97.0, 6.6, 102.4, 25.0]]},
            "temporal": {"interval": [["2009-01-06T04:17:47Z", None]]},
        },
        "links": [
            {"rel": "self", "href": f"{base}collections/{cid}", "type": "application/json"},
            {"rel": "root", "href": base, "type": "application/json"},
            {"rel": "parent", "href": base, "type": "application/json"},
            {
                "rel": "items",
                "href": f"{base}collections/{cid}/items",
                "type": "application/geo+json",
            },
            {
                "rel": "alternate",
                "href": f"{base}collections/{cid}?httpAccept=application/atom%2Bxml",
                "type": "application/atom+xml",
            },
            {
                "rel": "license",
                "href": "https://earth.esa.int/eogateway/terms",
                "type": "text/html",
            },
        ],
    }
    if flavour.name == "maap":
        out["stac_extensions"] = [AUTH_EXT]
        out["auth:schemes"] = _schemes(oidc_url)
        out["assets"] = {
            "metadata_iso_19139": {
                "href": f"{base}collections/{cid}?httpAccept=application/vnd.iso.19139%2Bxml",
                "type": "application/vnd.iso.19139+xml",
                "roles": ["metadata"],
                "title": "ISO 19139 metadata",
            }
        }
    return out


def _schemes(oidc_url: str) -> dict[str, Any]:
    return {
        "oidc": {
            "type": "openIdConnect",
            "openIdConnectUrl": f"{oidc_url}/.well-known/openid-configuration",
        }
    }


def maap_item(cid: str, index: int, base: str, oidc_url: str) -> dict[str, Any]:
    when = _when(index)
    stamp = when.strftime("%Y%m%dT%H%M%S")
    bbox, geometry = _footprint(index)
    item_id = (
        f"AL1_OTPF_AL1_AV2_2F_{stamp}_{stamp}_{index:06d}_E{int(bbox[0]):03d}_N{int(bbox[3]):03d}"
    )
    if cid != "TropForest":
        item_id = f"BIO_S1_SCS__1S_{stamp}_{index:06d}"
    path = f"data/{cid}/{item_id}.ZIP"
    info = _files.stat(path)
    size = info.size if info else 0
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": [AUTH_EXT, FILE_EXT],
        "id": item_id,
        "collection": cid,
        "geometry": geometry,
        "bbox": bbox,
        "properties": {
            "datetime": _iso(when),
            "start_datetime": _iso(when),
            "end_datetime": _iso(when + dt.timedelta(seconds=30)),
            "platform": "ALOS" if cid == "TropForest" else "BIOMASS",
            "instruments": ["AVNIR-2"] if cid == "TropForest" else ["P-SAR"],
            "auth:schemes": _schemes(oidc_url),
        },
        "assets": {
            "enclosure": {
                "href": f"{base}{path}",
                "type": "application/zip",
                "title": "Product",
                "roles": ["data"],
                "auth:refs": ["oidc"],
                "file:size": size,
            },
            "quicklook": {
                "href": f"{base}data/{cid}/{item_id}_QL.png",
                "type": "image/png",
                "roles": ["overview"],
                "auth:refs": ["oidc"],
            },
        },
        "links": [
            {"rel": "self", "href": f"{base}collections/{cid}/items/{item_id}"},
            {"rel": "collection", "href": f"{base}collections/{cid}"},
            {"rel": "parent", "href": f"{base}collections/{cid}"},
            {"rel": "root", "href": base},
            {
                "rel": "alternate",
                "href": f"{base}collections/{cid}/items/{item_id}"
                "?httpAccept=application/atom%2Bxml",
                "type": "application/atom+xml",
            },
        ],
    }


def pc_item(cid: str, index: int, base: str, blob: str) -> dict[str, Any]:
    when = _when(index)
    bbox, geometry = _footprint(index)
    item_id = (
        f"S2B_MSIL2A_{when.strftime('%Y%m%dT%H%M%S')}_R{index:03d}"
        if cid != "naip"
        else (f"naip_{index:04d}")
    )
    container = "sentinel2-l2" if cid != "naip" else "naip"
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [EO_EXT],
        "id": item_id,
        "collection": cid,
        "geometry": geometry,
        "bbox": bbox,
        "properties": {
            "datetime": _iso(when),
            "platform": "Sentinel-2B" if cid != "naip" else "NAIP",
            "eo:cloud_cover": float((index * 37) % 100),
        },
        "assets": {
            "B04": {
                "href": f"{blob}/{container}/{item_id}/B04.tif",
                "type": COG,
                "roles": ["data"],
                "title": "Band 4 - Red",
            },
        },
        "links": [
            {"rel": "self", "href": f"{base}collections/{cid}/items/{item_id}"},
            {"rel": "collection", "href": f"{base}collections/{cid}"},
            {"rel": "parent", "href": f"{base}collections/{cid}"},
            {"rel": "root", "href": base},
            {
                "rel": "license",
                "href": "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice",
            },
            {
                "rel": "preview",
                "href": f"{base}api/data/v1/item/map?collection={cid}&item={item_id}",
                "type": "text/html",
            },
        ],
    }


Built = dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]


class Catalogue:
    """Every collection and item of one flavour, built once per base URL (hrefs are absolute)."""

    def __init__(self, flavour: Flavour, *, oidc_url: str = "", blob_url: str = "") -> None:
        self.flavour = flavour
        self.oidc_url = oidc_url
        self.blob_url = blob_url
        self._built: dict[str, Built] = {}

    def build(self, base: str) -> Built:
        if base not in self._built:
            out: Built = {}
            for cid, title in self.flavour.collections:
                items = [
                    maap_item(cid, i, base, self.oidc_url)
                    if self.flavour.name == "maap"
                    else pc_item(cid, i, base, self.blob_url)
                    for i in range(self.flavour.items_per_collection)
                ]
                out[cid] = (collection(self.flavour, cid, title, base, self.oidc_url), items)
            self._built[base] = out
        return self._built[base]
