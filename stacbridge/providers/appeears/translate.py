"""AppEEARS JSON → STAC dicts, and the extraction references the proxy resolves.  Pure.

Three shapes come out of here:

* a **product collection** per `/product` record (`ProductAndVersion` is its id), its layers
  (`/product/{id}`) as `item_assets` with `raster:bands` read from the layer metadata;
* an **extraction Item** per time step of a product within a search's area and window: one
  asset per layer, whose href is an `appeears:extract:` reference naming the whole AppEEARS area
  task of the search plus the layer and date it wants from the task's bundle;
* a **task Item** per task of the account (the tasks collection): the request's area and dates,
  its state under the `order` extension, and — once done — its bundle files as assets with
  `file:size` and a sha256 `file:checksum`.

Time steps come from the product's `TemporalGranularity` alone (`8 day` composites start on day
1, 9, 17… of each year, as MODIS and AppEEARS name them, `doy2024153`); CMR's granule list is not
consulted, so a step AppEEARS has no file for is found out only when the task is done.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import orjson

from stacbridge.stac import media
from stacbridge.stac.extensions import collection_extensions
from stacbridge.stac.geometry import Shape, box, combine, point, polygon
from stacbridge.stac.items import STAC_VERSION, item_dict
from stacbridge.stac.values import as_float, doi, format_rfc3339, multihash, rfc3339, unique_key

JSON = dict[str, Any]

RASTER = "https://stac-extensions.github.io/raster/v1.1.0/schema.json"
EXTRACT_SCHEME = "appeears:extract:"
GLOBAL = [-180.0, -90.0, 180.0, 90.0]

#: AppEEARS task states → the `order` extension's `order:status`.
ORDER_STATUS = {
    "pending": "ordered",
    "queued": "ordered",
    "processing": "pending",
    "done": "succeeded",
    "error": "failed",
    "expired": "canceled",
    "deleted": "canceled",
}

#: AppEEARS layer data types that are `raster:bands` data types as they are.
_DATA_TYPES = frozenset(
    {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64"}
)
#: bundle file types that hold the extracted values (the rest describe the request).
_DATA_FILES = frozenset({"tif", "nc", "nc4", "csv"})

_FILE_NAME = re.compile(r"^(?P<product>.+?)_(?P<layer>.+)_doy(?P<date>\d{7})_aid\d+\.\w+$")
_GRANULARITY_DAYS = re.compile(r"^\s*(\d+)\s*-?\s*days?\s*$", re.IGNORECASE)
#: granularities with a name instead of a day count
_NAMED_STEPS: dict[str, int | str] = {
    "daily": 1,
    "monthly": "month",
    "yearly": "year",
    "annual": "year",
    "static": "static",
}
_RESOLUTION = re.compile(r"^\s*([\d.]+)\s*(m|km)\s*$", re.IGNORECASE)


# -- product collections ------------------------------------------------------------------------
def _date(text: Any) -> dt.date | None:
    if not isinstance(text, str):
        return None
    try:
        return dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None


def product_extent(product: JSON) -> tuple[dt.date | None, dt.date | None]:
    """The product's first and last day (`TemporalExtentEnd: Present` is open: None)."""
    return _date(product.get("TemporalExtentStart")), _date(product.get("TemporalExtentEnd"))


def gsd(resolution: Any) -> float | None:
    """`500m` → 500.0, `1km` → 1000.0; anything else None."""
    m = _RESOLUTION.match(resolution) if isinstance(resolution, str) else None
    if m is None:
        return None
    value = float(m.group(1))
    return value * 1000.0 if m.group(2).lower() == "km" else value


def layer_band(layer: JSON) -> JSON:
    """`raster:bands[0]` of one layer: what a GeoTIFF of it holds (AppEEARS keeps the stored
    data type and says how to scale it)."""
    band: JSON = {}
    data_type = str(layer.get("OrigDataType") or layer.get("DataType") or "").lower()
    if data_type in _DATA_TYPES:
        band["data_type"] = data_type
    fill = as_float(layer.get("FillValue"))
    if fill is not None:
        band["nodata"] = int(fill) if fill.is_integer() else fill
    scale, offset = as_float(layer.get("ScaleFactor")), as_float(layer.get("AddOffset"))
    if scale is not None:
        band["scale"] = scale
    if offset is not None:
        band["offset"] = offset
    if isinstance(layer.get("Units"), str) and layer["Units"] not in ("", "none", "None"):
        band["unit"] = layer["Units"]
    low, high = as_float(layer.get("OrigValidMin")), as_float(layer.get("OrigValidMax"))
    if low is not None and high is not None:
        # raster v1.1 has no valid-range field: a provider field, in stored (unscaled) units
        band["appeears:valid_range"] = [low, high]
    return band


def layer_asset(name: str, layer: JSON) -> JSON:
    """The `item_assets` entry of one layer."""
    asset: JSON = {"title": name, "type": media.GEOTIFF}
    if isinstance(layer.get("Description"), str) and layer["Description"]:
        asset["description"] = layer["Description"]
    asset["roles"] = ["data", "quality"] if layer.get("IsQA") else ["data"]
    band = layer_band(layer)
    if band:
        asset["raster:bands"] = [band]
    return asset


def available_layers(layers: Any) -> dict[str, JSON]:
    """The layers of a `/product/{id}` answer that can be extracted, by name."""
    if not isinstance(layers, dict):
        return {}
    return {
        str(name): layer
        for name, layer in layers.items()
        if isinstance(layer, dict) and layer.get("Available", True) is not False
    }


def product_collection(product: JSON, layers: dict[str, JSON]) -> JSON:
    """One product as a STAC Collection; ValueError when the record has no id."""
    pid = product.get("ProductAndVersion")
    if not isinstance(pid, str) or not pid:
        raise ValueError("product without ProductAndVersion")
    description = str(product.get("Description") or pid)
    start, end = product_extent(product)
    summaries: JSON = {}
    if isinstance(product.get("Platform"), str):
        summaries["platform"] = [product["Platform"]]
    resolution = gsd(product.get("Resolution"))
    if resolution is not None:
        summaries["gsd"] = [resolution]
    collection: JSON = {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": pid,
        "title": f"{description} ({pid})",
        "description": (
            f"{description}. {product.get('Platform', '')} {product.get('Product', '')} "
            f"version {product.get('Version', '')}, extracted, clipped and reprojected on "
            "demand by NASA AppEEARS: search with bbox or intersects and datetime, then "
            "download a layer to submit the extraction."
        ).replace("  ", " "),
        "keywords": [
            k
            for k in (product.get("Product"), product.get("Platform"), "AppEEARS")
            if isinstance(k, str) and k
        ],
        "license": "proprietary",
        "providers": [
            {"name": str(product.get("Source") or "LP DAAC"), "roles": ["producer", "licensor"]},
            {
                "name": "NASA AppEEARS",
                "roles": ["processor", "host"],
                "url": "https://appeears.earthdatacloud.nasa.gov/",
            },
        ],
        "extent": {
            "spatial": {"bbox": [GLOBAL]},
            "temporal": {"interval": [[_day_start(start), _day_end(end)]]},
        },
        "summaries": summaries,
        "links": [],
    }
    found = doi(product.get("DOI")) or doi(product.get("DocLink"))
    if found:
        collection["sci:doi"] = found
        collection["links"].append({"rel": "cite-as", "href": f"https://doi.org/{found}"})
    if isinstance(product.get("TemporalGranularity"), str):
        collection["appeears:temporal_granularity"] = product["TemporalGranularity"]
    if not summaries:
        del collection["summaries"]
    if layers:
        collection["item_assets"] = {name: layer_asset(name, la) for name, la in layers.items()}
    collection["stac_extensions"] = extensions_with_raster(collection, collection_extensions)
    return collection


def extensions_with_raster(obj: JSON, derive: Any) -> list[str]:
    """The kit's derived `stac_extensions` plus raster, which the kit does not know yet."""
    uris = derive(obj)
    text = orjson.dumps(obj.get("item_assets") or obj.get("assets") or {})
    if b'"raster:bands"' in text and RASTER not in uris:
        uris.append(RASTER)
    return uris


def _day_start(day: dt.date | None) -> str | None:
    return f"{day.isoformat()}T00:00:00Z" if day else None


def _day_end(day: dt.date | None) -> str | None:
    return f"{day.isoformat()}T23:59:59Z" if day else None


def tasks_collection(collection_id: str) -> JSON:
    """The collection of the account's own AppEEARS tasks."""
    collection: JSON = {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": collection_id,
        "title": "AppEEARS tasks of this account",
        "description": (
            "Every AppEEARS task of the gateway's Earthdata Login account, the extractions the "
            "gateway submitted included: each task an Item with its area, dates and state "
            "(order:status); a finished task's bundle files are its assets."
        ),
        "keywords": ["AppEEARS", "tasks", "orders"],
        "license": "proprietary",
        "providers": [
            {
                "name": "NASA AppEEARS",
                "roles": ["processor", "host"],
                "url": "https://appeears.earthdatacloud.nasa.gov/",
            }
        ],
        "extent": {"spatial": {"bbox": [GLOBAL]}, "temporal": {"interval": [[None, None]]}},
        "summaries": {"order:status": sorted(set(ORDER_STATUS.values()))},
        "links": [],
    }
    collection["stac_extensions"] = collection_extensions(collection)
    return collection


# -- time steps ---------------------------------------------------------------------------------
def step_days(granularity: Any) -> int | str | None:
    """Days per step (`8 day` → 8, `Daily` → 1), `"month"`, `"year"`, `"static"`, or None."""
    if not isinstance(granularity, str):
        return None
    m = _GRANULARITY_DAYS.match(granularity)
    if m:
        return int(m.group(1)) or None
    return _NAMED_STEPS.get(granularity.strip().lower())


def time_steps(
    granularity: Any, start: dt.date, end: dt.date, first: dt.date | None, last: dt.date | None
) -> list[tuple[dt.date, dt.date]] | None:
    """The product's time steps `(first day, last day)` that overlap `[start, end]`.

    N-day composites restart on 1 January (the last one of a year is shorter), as MODIS
    composites do.  None when the granularity gives no steps (unknown, or static products).
    Steps are clipped to the product's own extent (`first`, `last`).
    """
    days = step_days(granularity)
    if days is None or days == "static":
        return None
    lo = max(start, first) if first else start
    hi = min(end, last) if last else end
    steps: list[tuple[dt.date, dt.date]] = []
    if lo > hi:
        return steps
    for year in range(lo.year, hi.year + 1):
        year_end = dt.date(year, 12, 31)
        if days == "year":
            periods = [(dt.date(year, 1, 1), year_end)]
        elif days == "month":
            periods = []
            for month in range(1, 13):
                nxt = dt.date(year + month // 12, month % 12 + 1, 1)
                periods.append((dt.date(year, month, 1), nxt - dt.timedelta(days=1)))
        else:
            assert isinstance(days, int)
            periods = []
            day = dt.date(year, 1, 1)
            while day <= year_end:
                periods.append((day, min(year_end, day + dt.timedelta(days=days - 1))))
                day += dt.timedelta(days=days)
        steps += [(a, b) for a, b in periods if b >= lo and a <= hi and (not first or a >= first)]
    return steps


def doy(day: dt.date) -> str:
    """`YYYYDDD`, the date as AppEEARS names its files."""
    return f"{day.year}{day.timetuple().tm_yday:03d}"


def appeears_date(day: dt.date) -> str:
    return day.strftime("%m-%d-%Y")


# -- extraction references ----------------------------------------------------------------------
def task_spec(
    product: str, layers: list[str], area: JSON, start: dt.date, end: dt.date, fmt: str, proj: str
) -> JSON:
    """What identifies one extraction task (the order's key): everything but layer and date."""
    return {
        "p": product,
        "l": sorted(layers),
        "g": area,
        "s": start.isoformat(),
        "e": end.isoformat(),
        "f": fmt,
        "j": proj,
    }


def task_key(spec: JSON) -> str:
    return orjson.dumps(spec, option=orjson.OPT_SORT_KEYS).decode()


def extract_ref(spec: JSON, layer: str, date: str) -> str:
    """The asset reference of one layer and date of the task `spec` (signed by the proxy)."""
    body = {**spec, "layer": layer, "date": date}
    return EXTRACT_SCHEME + orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()


def parse_extract_ref(ref: str) -> tuple[JSON, str, str] | None:
    """`(task spec, layer, date)` of an extraction reference, or None if it is not one."""
    if not ref.startswith(EXTRACT_SCHEME):
        return None
    try:
        body = orjson.loads(ref[len(EXTRACT_SCHEME) :])
        layer, date = body.pop("layer"), body.pop("date")
    except (orjson.JSONDecodeError, KeyError, AttributeError, TypeError):
        return None
    if not isinstance(layer, str) or not isinstance(date, str):
        return None
    return body, layer, date


def result_file(layer: str, date: str) -> str:
    """The order's name for a task's result file: `<layer>/<YYYYDDD>`."""
    return f"{layer}/{date}"


def parse_file_name(name: str) -> tuple[str, str, str] | None:
    """`(product, layer, YYYYDDD)` of a bundle file `<dir>/<product>_<layer>_doy<date>_aid0001.tif`
    (None for the request's other files: CSVs, XML metadata, README)."""
    m = _FILE_NAME.match(name.rsplit("/", 1)[-1])
    return (m.group("product"), m.group("layer"), m.group("date")) if m else None


def task_request(spec: JSON, name: str) -> JSON:
    """The `POST /task` body of an area extraction."""
    return {
        "task_type": "area",
        "task_name": name,
        "params": {
            "dates": [
                {
                    "startDate": appeears_date(dt.date.fromisoformat(spec["s"])),
                    "endDate": appeears_date(dt.date.fromisoformat(spec["e"])),
                }
            ],
            "layers": [{"product": spec["p"], "layer": layer} for layer in spec["l"]],
            "geo": {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "properties": {}, "geometry": spec["g"]}],
            },
            "output": {"format": {"type": spec["f"]}, "projection": spec["j"]},
        },
    }


def extraction_item(
    collection: JSON,
    step: tuple[dt.date, dt.date],
    shape: Shape,
    spec: JSON,
    order_status: str,
) -> JSON:
    """One time step of a product over the search area: an asset per layer, not yet extracted."""
    date = doy(step[0])
    properties: JSON = {
        "datetime": f"{step[0].isoformat()}T00:00:00Z",
        "start_datetime": f"{step[0].isoformat()}T00:00:00Z",
        "end_datetime": f"{step[1].isoformat()}T23:59:59Z",
        "order:status": order_status,
    }
    platforms = (collection.get("summaries") or {}).get("platform")
    if platforms:
        properties["platform"] = platforms[0]
    assets = {}
    for name, template in (collection.get("item_assets") or {}).items():
        assets[name] = {**template, "href": extract_ref(spec, name, date)}
    item = item_dict(f"{collection['id']}.A{date}", collection["id"], shape, properties, assets)
    if RASTER not in item["stac_extensions"] and any("raster:bands" in a for a in assets.values()):
        item["stac_extensions"].append(RASTER)
    return item


# -- tasks --------------------------------------------------------------------------------------
def _task_date(text: Any) -> dt.date | None:
    """AppEEARS request dates are `MM-DD-YYYY` (recurring ones `MM-DD`: no year, None)."""
    if not isinstance(text, str):
        return None
    try:
        return dt.datetime.strptime(text.strip(), "%m-%d-%Y").date()
    except ValueError:
        return None


def task_shape(params: JSON) -> Shape | None:
    """The area of an area task (`geo` FeatureCollection) or the points of a point task."""
    shapes: list[Shape | None] = []
    geo = params.get("geo")
    if isinstance(geo, dict):
        features = geo.get("features") if geo.get("type") == "FeatureCollection" else [geo]
        for feature in features or []:
            geom = feature.get("geometry") if isinstance(feature, dict) else None
            if not isinstance(geom, dict):
                continue
            if geom.get("type") == "Polygon":
                rings = [[list(p[:2]) for p in r] for r in geom["coordinates"]]
                shapes.append(polygon(rings[0], rings[1:]))
            elif geom.get("type") == "MultiPolygon":
                for poly in geom["coordinates"]:
                    rings = [[list(p[:2]) for p in r] for r in poly]
                    shapes.append(polygon(rings[0], rings[1:]))
    for coordinate in params.get("coordinates") or []:
        if isinstance(coordinate, dict):
            lon, lat = as_float(coordinate.get("longitude")), as_float(coordinate.get("latitude"))
            if lon is not None and lat is not None:
                shapes.append(point(lon, lat))
    return combine(shapes)


def bundle_assets(bundle: JSON, file_href: Any) -> JSON:
    """A done task's bundle files as assets, keyed by file name; `file_href(file_id)` → href."""
    assets: JSON = {}
    for f in bundle.get("files") or []:
        if not isinstance(f, dict) or not f.get("file_id") or not f.get("file_name"):
            continue
        name = str(f["file_name"])
        kind = str(f.get("file_type") or media.extension(name)).lower()
        asset: JSON = {"href": file_href(str(f["file_id"])), "title": name}
        media_type = media.BY_EXTENSION.get(kind) or media.media_type(name)
        if media_type:
            asset["type"] = media_type
        asset["roles"] = (
            ["data"] if kind in _DATA_FILES and "lookup" not in name.lower() else ["metadata"]
        )
        size = f.get("file_size")
        if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
            asset["file:size"] = size
        checksum = multihash("sha256", f.get("sha256"))
        if checksum:
            asset["file:checksum"] = checksum
        assets[unique_key(name.rsplit("/", 1)[-1], assets)] = asset
    return assets


def task_item(task: JSON, collection_id: str, bundle: JSON | None, file_href: Any) -> JSON:
    """One AppEEARS task as an Item; ValueError when the record has no task id."""
    task_id = task.get("task_id")
    if not isinstance(task_id, str) or not task_id:
        raise ValueError("task without task_id")
    params: JSON = task["params"] if isinstance(task.get("params"), dict) else {}
    status = str(task.get("status") or "pending")
    properties: JSON = {}
    starts, ends = [], []
    for span in params.get("dates") or []:
        if isinstance(span, dict):
            a, b = _task_date(span.get("startDate")), _task_date(span.get("endDate"))
            if a and b:
                starts.append(a)
                ends.append(b)
    created = rfc3339(task.get("created"))
    if starts:
        properties["datetime"] = None
        properties["start_datetime"] = f"{min(starts).isoformat()}T00:00:00Z"
        properties["end_datetime"] = f"{max(ends).isoformat()}T23:59:59Z"
    else:
        properties["datetime"] = created or format_rfc3339(dt.datetime(1970, 1, 1))
    if isinstance(task.get("task_name"), str):
        properties["title"] = task["task_name"]
    if created:
        properties["created"] = created
        properties["order:date"] = created
    updated = rfc3339(task.get("updated"))
    if updated:
        properties["updated"] = updated
    properties["order:status"] = ORDER_STATUS.get(status, "pending")
    properties["order:id"] = task_id
    expires = rfc3339(task.get("expires_on"))
    if expires:
        properties["order:expiration_date"] = expires
    properties["appeears:status"] = status
    if isinstance(task.get("task_type"), str):
        properties["appeears:task_type"] = task["task_type"]
    layers = [
        f"{la.get('product')}/{la.get('layer')}"
        for la in params.get("layers") or []
        if isinstance(la, dict)
    ]
    if layers:
        properties["appeears:layers"] = layers
    if isinstance(task.get("error"), str) and task["error"]:
        properties["appeears:error"] = task["error"]
    assets = bundle_assets(bundle, file_href) if bundle and status == "done" else {}
    return item_dict(task_id, collection_id, task_shape(params), properties, assets)


def bbox_shape(bbox: tuple[float, ...]) -> Shape:
    west, south, east, north = (bbox[0], bbox[1], bbox[3], bbox[4]) if len(bbox) == 6 else bbox
    return box(west, south, east, north)
