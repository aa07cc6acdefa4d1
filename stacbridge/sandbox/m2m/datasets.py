"""The searchable datasets: the recorded ``landsat_8_c1`` scenes, the generated Collection 2
population, and the recorded datasets that search empty.

All three answer the same ``find``/``search``/``render`` calls for the catalogue.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
from collections.abc import Callable, Iterator
from typing import Any

from shapely.geometry import Polygon

from stacbridge.sandbox.cmr.generator import Selection
from stacbridge.sandbox.m2m.errors import _dumps
from stacbridge.sandbox.m2m.filters import _Column, _column
from stacbridge.sandbox.m2m.fixtures import _Dataset, _load, _verbatim
from stacbridge.sandbox.m2m.generator import EPOCH, LandsatC2Scenes, SceneRenderer, hex_id
from stacbridge.sandbox.m2m.products import _C2Products
from stacbridge.sandbox.m2m.queries import _parse_day, _Query, _wrapped

L8C1 = "landsat_8_c1"
C2_LEVELS = {"landsat_ot_c2_l1": "L1", "landsat_ot_c2_l2": "L2"}


class _RecordedC1:
    """``landsat_8_c1``: the two recorded scenes."""

    def __init__(self) -> None:
        search, search_raw = _load("kapadia-usgs_scene-search_LANDSAT_8_C1_summary_1hit.json")
        meta, meta_raw = _load("kapadia-usgs_scene-metadata_LANDSAT_8_C1_full.json")
        options, options_raw = _load("kapadia-usgs_download-options_LANDSAT_8_C1.json")
        filters, filters_raw = _load("kapadia-usgs_dataset-filters_LANDSAT_8_C1.json")
        ddo, ddo_raw = _load("kapadia-usgs_dataset-download-options_LANDSAT_8_C1.json")
        self.filters = filters["data"]
        self.filters_raw = _verbatim(filters["data"], filters_raw)
        self.dataset_download_options_raw = _verbatim(ddo["data"], ddo_raw)
        self.columns = {f["id"]: _column(f["searchSql"]) for f in self.filters}
        a = search["data"]["results"][0]  # LC82330832016255LGN01
        b = meta["data"]  # LC82260782020217LGN00
        a_raw = _verbatim(a, search_raw)
        b_raw = _verbatim(b, meta_raw)
        # b in the scene-search shape: the recorded search result's conventions
        b_search = copy.deepcopy(b)
        for entry in b_search["browse"]:
            entry["browseRotationEnabled"] = None
        b_search.update(
            orderingId=None, metadata=[], hasCustomizedMetadata=None,
            selected={"bulk": False, "compare": False, "order": False},
            publishDate=b["publishDate"].replace("T", " "),
        )  # fmt: skip
        b_search_full = dict(b_search, metadata=b["metadata"])
        # a in the scene-metadata shape: the recorded metadata body's conventions
        a_meta = copy.deepcopy(a)
        for entry in a_meta["browse"]:
            entry["browseRotationEnabled"] = False
        a_meta.update(
            orderingId=a["entityId"], hasCustomizedMetadata=False, selected=None,
            publishDate=a["publishDate"].replace(" ", "T"),
        )  # fmt: skip
        self.scenes = {
            a["entityId"]: {
                "index": 1,
                "item": a,
                ("search", False): a_raw,
                ("search", True): a_raw,  # its full metadata was not recorded
                ("metadata", False): _dumps(a_meta),
                ("metadata", True): _dumps(a_meta),
            },
            b["entityId"]: {
                "index": 0,
                "item": b,
                ("search", False): _dumps(b_search),
                ("search", True): _dumps(b_search_full),
                ("metadata", False): _dumps(dict(b, metadata=[])),
                ("metadata", True): b_raw,
            },
        }
        for scene in self.scenes.values():
            item = scene["item"]
            ring = item["spatialCoverage"]["coordinates"][0]
            scene["geometry"] = Polygon(ring)
            scene["day"] = _parse_day(item["temporalCoverage"]["startDate"])
            scene["cloud"] = float(item["cloudCover"])
            scene["columns"] = self._column_values(item)
        self.order = sorted(self.scenes, key=lambda e: self.scenes[e]["day"])
        # download-options: recorded for b, derived for a by swapping its identifiers
        self.options_raw = {b["entityId"]: [_verbatim(o, options_raw) for o in options["data"]]}
        self.options = {b["entityId"]: options["data"]}
        swapped = [
            json.loads(
                json.dumps(o)
                .replace(b["displayId"], a["displayId"])
                .replace(b["entityId"], a["entityId"])
            )
            for o in options["data"]
        ]
        self.options[a["entityId"]] = swapped
        self.options_raw[a["entityId"]] = [json.dumps(o).encode() for o in swapped]

    @staticmethod
    def _column_values(item: dict) -> dict[str, Any]:
        meta = {m["fieldName"]: m["value"] for m in item.get("metadata") or []}
        display = item["displayId"]
        parts = display.split("_")  # LC08_L1TP_233083_20160911_20170321_01_T1

        def number(name: str, fallback: Any = None) -> float | None:
            value = meta.get(name, fallback)
            try:
                return float(value)
            except (TypeError, ValueError):
                return None

        generated = meta.get("Date L-1 Generated") or (
            f"{parts[4][:4]}/{parts[4][4:6]}/{parts[4][6:]}"
        )
        return {
            "EE_DISPLAY_ID": display,
            "ENTITY_ID": item["entityId"],
            "WRS_PATH": float(parts[2][:3]),
            "WRS_ROW": float(parts[2][3:]),
            "CLOUD_COVER_LAND": number("Land Cloud Cover"),
            "CLOUD_COVER": number("Scene Cloud Cover", item["cloudCover"]),
            "COLLECTION_CATEGORY": parts[6],
            "RIGHT(DATA_TYPE_L1, 4)": parts[1],
            "SENSOR_ID": meta.get("Sensor Identifier", "OLI_TIRS"),
            "DAY_NIGHT": meta.get("Day/Night Indicator", "DAY"),
            "SUN_ELEVATION_L1": number("Sun Elevation L1"),
            "to_char(DATE_L1_GENERATED,'YYYY/MM/DD')": generated,
            "GEOMETRIC_RMSE_MODEL": number("Geometric RMSE Model (meters)"),
            "NADIR_OFFNADIR": meta.get("Nadir/Off Nadir", "NADIR"),
        }

    def find(self, value: str, id_type: str) -> str | None:
        value = value.strip().upper()
        for eid, scene in self.scenes.items():
            if value == (scene["item"]["displayId"] if id_type == "displayid" else eid):
                return eid
        return None

    def search(self, q: _Query) -> tuple[int, Callable[[int], str]]:
        hits = []
        geom = _wrapped(q.geometry) if q.geometry is not None else None
        for eid in self.order:
            s = self.scenes[eid]
            if geom is not None and not s["geometry"].intersects(geom):
                continue
            if q.days is not None and not any(
                (a is None or s["day"] >= a) and (b is None or s["day"] <= b) for a, b in q.days
            ):
                continue
            if q.cloud is not None and not (
                (q.cloud[0] is None or s["cloud"] >= q.cloud[0])
                and (q.cloud[1] is None or s["cloud"] <= q.cloud[1])
            ):
                continue
            if q.meta is not None and not q.meta.test(s["columns"].get):
                continue
            hits.append(eid)
        if q.descending:
            hits.reverse()
        return len(hits), hits.__getitem__

    def render(self, key: str, variant: str, full: bool) -> bytes:
        return self.scenes[key][(variant, full)]


class _GeneratedC2:
    """``landsat_ot_c2_l1`` / ``_l2``: the generated population."""

    def __init__(
        self, scenes: LandsatC2Scenes, level: str, dataset: _Dataset, c1: _RecordedC1
    ) -> None:
        self.scenes = scenes
        self.level = level
        self.dataset = dataset
        c1_search = c1.scenes["LC82330832016255LGN01"]["item"]
        c1_meta = c1.scenes["LC82260782020217LGN00"]["item"]
        self.renderer = SceneRenderer(scenes, level, dataset.dataset_id, c1_search, c1_meta)
        self.products = _C2Products(level, dataset)
        self.filters = self._filters(c1.filters)
        self.filters_raw = _dumps(self.filters)
        self.columns = {f["id"]: _column(f["searchSql"]) for f in self.filters}
        g = scenes
        self._getters: dict[str, Callable[[int], Any]] = {
            "EE_DISPLAY_ID": lambda i: g.display_id(i, level),
            "ENTITY_ID": g.entity_id,
            "WRS_PATH": lambda i: float(g.cell(i).path),
            "WRS_ROW": lambda i: float(g.cell(i).row),
            "CLOUD_COVER_LAND": lambda i: g.land_cloud(i) / 100,
            "CLOUD_COVER": lambda i: g.cloud(i) / 100,
            "COLLECTION_CATEGORY": g.category,
            "RIGHT(DATA_TYPE_L1, 4)": g.l1_type,
            "DATA_TYPE_L2": lambda i: g.product_type(i, "L2"),
            "SENSOR_ID": lambda i: "OLI_TIRS",
            "DAY_NIGHT": lambda i: "DAY",
            "NADIR_OFFNADIR": lambda i: "NADIR",
            "GEOMETRIC_RMSE_MODEL": g.rmse,
            "SUN_ELEVATION_L0RA": lambda i: g.sun_angles(i)[0],
            "to_char(DATE_PRODUCT_GENERATED,'YYYY/MM/DD')": lambda i: (
                EPOCH + dt.timedelta(days=g.processing_day(i))
            ).strftime("%Y/%m/%d"),
        }
        # columns that depend on i mod P only: filters on them are index arithmetic
        self._periodic = {
            "WRS_PATH", "WRS_ROW", "CLOUD_COVER_LAND", "CLOUD_COVER", "COLLECTION_CATEGORY",
            "RIGHT(DATA_TYPE_L1, 4)", "DATA_TYPE_L2", "SENSOR_ID", "DAY_NIGHT",
            "NADIR_OFFNADIR", "GEOMETRIC_RMSE_MODEL",
        }  # fmt: skip

    def _filters(self, recorded: list[dict]) -> list[dict]:
        n = self.level[1]
        dictionary = (
            "https://www.usgs.gov/centers/eros/science/landsat-collection-2-data-dictionary#"
        )
        renames = {
            "Landsat Product Identifier": (f"Landsat Product Identifier L{n}", None,
                                           "landsat_product_id"),
            "Scene Cloud Cover": ("Scene Cloud Cover L1", None, "cloud_cover"),
            "Data Type Level-1": (
                f"Data Type L{n}",
                "RIGHT(DATA_TYPE_L1, 4) = ?" if n == "1" else "DATA_TYPE_L2 = ?",
                "data_type",
            ),
            "Sun Elevation": ("Sun Elevation L0RA", "SUN_ELEVATION_L0RA between ?",
                              "sun_elevation"),
            "Date L-1 Generated (Ex. YYYY/MM/DD)": (
                f"Date Product Generated L{n} (Ex. YYYY/MM/DD)",
                "to_char(DATE_PRODUCT_GENERATED,'YYYY/MM/DD') between ?",
                "date_product_generated",
            ),
            "Geometric RMSE Model (meters)": ("Geometric RMSE Model", None,
                                              "geometric_rmse_model"),
            "Landsat Scene Identifier (Legacy)": ("Landsat Scene Identifier", None,
                                                  "landsat_scene_id"),
        }  # fmt: skip
        out = []
        for f in recorded:
            g = copy.deepcopy(f)
            label, sql, anchor = renames.get(f["fieldLabel"], (f["fieldLabel"], None, None))
            anchor = anchor or f["dictionaryLink"].rsplit("#", 1)[-1]
            g["id"] = hex_id("m2m-filter", self.dataset.dataset_id, label,
                             prefix=self.dataset.dataset_id[:6])  # fmt: skip
            g["legacyFieldId"] = None
            g["dictionaryLink"] = dictionary + anchor
            g["fieldLabel"] = label
            g["searchSql"] = sql or f["searchSql"]
            if label == "Data Type L2":
                g["valueList"] = {"": "All", "L2SP": "Level 2SP", "L2SR": "Level 2SR"}
            out.append(g)
        return out

    def find(self, value: str, id_type: str) -> int | None:
        if id_type == "displayid":
            return self.scenes.index_for_display_id(value, self.level)
        return self.scenes.index_for_entity_id(value)

    def _cell(self, index: int, missing: Callable[[int], Any], column: str) -> Any:
        """The value of `column` for scene `index` (None for a column scenes do not have)."""
        return self._getters.get(column, missing)(index)

    def search(self, q: _Query) -> tuple[int, Callable[[int], int]]:
        g = self.scenes
        intervals = None
        pick: Callable[[int], int]
        if q.days is not None:
            intervals = [g.day_interval(a, b) for a, b in q.days]
        cells = None if q.geometry is None else g.cells_intersecting(_wrapped(q.geometry))
        offset_filter = scan = None
        if q.meta is not None:
            if q.meta.columns() <= self._periodic:
                cond = q.meta

                def offset_filter(o: int) -> bool:
                    return cond.test(lambda col: self._getters[col](o))
            else:
                scan = q.meta
        sel = g.selection(intervals, cells, q.cloud, offset_filter)
        if scan is None:
            count, pick = len(sel), sel.select
        else:
            cond = scan
            missing: Callable[[int], Any] = lambda _: None  # noqa: E731
            matches = [
                i
                for i in _iter_selection(sel)
                if cond.test(functools.partial(self._cell, i, missing))
            ]
            count, pick = len(matches), lambda k: matches[k]
        if q.descending:
            return count, lambda k: pick(count - 1 - k)
        return count, pick

    def render(self, key: int, variant: str, full: bool) -> str:
        return self.renderer.render(key, full=full, variant=variant)


def _iter_selection(sel: Selection) -> Iterator[int]:
    """Every index of `sel` in ascending order, without a bisect per element."""
    for lo, hi in sel.intervals:
        base = lo - lo % sel.period
        while base < hi:
            for off in sel.offsets:
                i = base + off
                if i >= hi:
                    break
                if i >= lo:
                    yield i
            base += sel.period


class _EmptyScenes:
    columns: dict[str, _Column] = {}
    filters_raw = b"[]"

    def find(self, value: str, id_type: str) -> None:
        return None

    def search(self, q: _Query) -> tuple[int, Callable[[int], Any]]:
        return 0, lambda k: None
