"""The M2M catalogue: datasets, scene search, metadata and download options, without HTTP.

Everything here is a pure function of the request body and the fixtures; sessions,
downloads and time belong to the app's state.
"""

from __future__ import annotations

import re
from typing import Any

from stacbridge.sandbox.files import FileSource, _last_modified, default_files
from stacbridge.sandbox.m2m.datasets import C2_LEVELS, L8C1, _EmptyScenes, _GeneratedC2, _RecordedC1
from stacbridge.sandbox.m2m.downloads import TarMember, tar_size
from stacbridge.sandbox.m2m.errors import M2MError, _dumps, _invalid
from stacbridge.sandbox.m2m.fixtures import _Dataset, _load, _verbatim
from stacbridge.sandbox.m2m.generator import D0, LandsatC2Scenes
from stacbridge.sandbox.m2m.products import _entity_prefix, _Product
from stacbridge.sandbox.m2m.queries import _has_scene_filter, parse_scene_filter

MAX_RESULTS = 50_000
DEFAULT_MAX_RESULTS = 100


class M2MEmulator:
    """The emulator's data and rules; `create_m2m_app` puts HTTP, auth and orders in front."""

    def __init__(self, *, generated_scenes: int = 200_000, files: FileSource | None = None):
        data, raw = _load("kapadia-usgs_dataset-search_SUBSET-9-of-1163.json")
        self.datasets = {
            e["datasetAlias"].lower(): _Dataset(e["datasetAlias"], e, _verbatim(e, raw))
            for e in data["data"]
        }
        self.files = files if files is not None else default_files()
        self.c1 = _RecordedC1()
        self.c2 = LandsatC2Scenes(generated_scenes)
        self.sources: dict[str, Any] = {alias: _EmptyScenes() for alias in self.datasets}
        self.sources[L8C1] = self.c1
        for alias, level in C2_LEVELS.items():
            self.sources[alias] = _GeneratedC2(self.c2, level, self.datasets[alias], self.c1)
        self._products: dict[str, _Product] = {}  # recorded products by (entity, id) key
        self._size_cache: dict[str, int] = {}

    # -- datasets ----------------------------------------------------------------------------------
    def dataset(self, name: Any) -> _Dataset:
        if not name:
            raise _invalid("datasetName is required")
        found = self.datasets.get(str(name).lower())
        if found is None:
            for d in self.datasets.values():
                if d.dataset_id == name:
                    return d
            raise M2MError("DATASET_INVALID", f"Invalid dataset name: {name}")
        return found

    def dataset_search(self, body: dict) -> bytes:
        name = body.get("datasetName")
        catalog = body.get("catalog")
        picked = [
            d.raw
            for d in self.datasets.values()
            if (not name or d.matches(str(name)))
            and (not catalog or catalog in (d.entry.get("catalogs") or []))
        ]
        return b"[" + b", ".join(picked) + b"]"

    def dataset_filters(self, body: dict) -> bytes:
        return self.sources[self.dataset(body.get("datasetName")).alias.lower()].filters_raw

    def dataset_download_options(self, body: dict) -> bytes:
        alias = self.dataset(body.get("datasetName")).alias.lower()
        if alias == L8C1:
            return self.c1.dataset_download_options_raw
        if alias in C2_LEVELS:
            return _dumps(self.sources[alias].products.dataset_download_options())
        return b"[]"

    # -- scenes ------------------------------------------------------------------------------------
    def scene_search(self, body: dict) -> bytes:
        ds = self.dataset(body.get("datasetName"))
        source = self.sources[ds.alias.lower()]
        try:
            max_results = int(body.get("maxResults") or DEFAULT_MAX_RESULTS)
            starting = int(body.get("startingNumber") or 1)
        except (TypeError, ValueError):
            raise _invalid("maxResults and startingNumber must be integers") from None
        if not 1 <= max_results <= MAX_RESULTS:
            raise _invalid(f"maxResults must be between 1 and {MAX_RESULTS}")
        starting = max(1, starting)
        full = str(body.get("metadataType") or "summary").lower() == "full"
        span = (D0, self.c2.last_day)
        query = parse_scene_filter(body, source.columns, span)
        total, pick = source.search(query)
        first = starting - 1
        last = min(total, first + max_results)
        parts = [source.render(pick(k), "search", full) for k in range(first, last)]
        joined = (
            ",".join(parts).encode()
            if parts and isinstance(parts[0], str)
            else b", ".join(parts)  # recorded bytes keep their separators
        )
        returned = max(0, last - first)
        accuracy = "exact" if _has_scene_filter(body) else "approximate"
        return b"".join(
            (
                b'{"results":[',
                joined,
                b'],"recordsReturned":%d,"totalHits":%d,"totalHitsAccuracy":"%s",'
                b'"isCustomized":false,"numExcluded":0,"startingNumber":%d,"nextRecord":%d}'
                % (returned, total, accuracy.encode(), starting, min(starting + returned, total)),
            )
        )

    def scene_key(self, body: dict, field_name: str = "entityId") -> tuple[str, Any]:
        ds = self.dataset(body.get("datasetName"))
        alias = ds.alias.lower()
        value = body.get(field_name)
        if not value:
            raise _invalid(f"{field_name} is required")
        id_type = str(body.get("idType") or "entityId").lower()
        key = self.sources[alias].find(str(value), id_type)
        if key is None:
            raise M2MError("NOT_FOUND", f"Scene not found: {value}")
        return alias, key

    def scene_metadata(self, body: dict) -> bytes:
        alias, key = self.scene_key(body)
        full = str(body.get("metadataType") or "full").lower() != "summary"
        rendered = self.sources[alias].render(key, "metadata", full)
        return rendered.encode() if isinstance(rendered, str) else rendered

    # -- products ----------------------------------------------------------------------------------
    def _small_size(self, path: str, fallback: int) -> int:
        size = self._size_cache.get(path)
        if size is None:
            info = self.files.stat(path)
            size = info.size if info is not None else fallback
            if len(self._size_cache) > 100_000:
                self._size_cache.clear()
            self._size_cache[path] = size
        return size

    def _c2_file(self, alias: str, i: int, kind: str) -> tuple[str, int, str]:
        """(FileSource path, filesize, file displayId) of one Collection 2 band file."""
        source: _GeneratedC2 = self.sources[alias]
        display = self.c2.display_id(i, source.level)
        name = f"{display}_{kind}"
        base = f"m2m/{alias}/{display}"
        nominal = dict(source.products.files)[kind]
        if nominal is None:
            path = f"{base}/{name}"
            return path, self._small_size(path, 12_000), name
        stem = name.rsplit(".", 1)[0]
        size = nominal + (i * 7919 + len(kind) * 104_729) % (nominal // 8)
        mgrs = self.c2.cell(i).mgrs
        return f"pad/{size}/{base}/{stem}.T{mgrs}.TIF", size, name

    def _c2_products(self, alias: str, i: int) -> list[_Product]:
        source: _GeneratedC2 = self.sources[alias]
        p = source.products
        ds = source.dataset
        display = self.c2.display_id(i, source.level)
        entity = self.c2.entity_id(i)
        size = tar_size([m.size for m in self._bundle_members(alias, i)])
        out = [
            _Product(
                alias, i, entity, display, p.bundle_id, p.bundle_code, p.bundle_name,
                ds.dataset_id, ds.collection_name, size,
                f"tar/{alias}/{i}/{display}.tar", f"{display}.tar", i % 3 == 0,
            )
        ]  # fmt: skip
        for kind, _ in p.files:
            path, fsize, name = self._c2_file(alias, i, kind)
            file_entity = _entity_prefix(source.level, kind) + name.replace(".", "_").upper()
            out.append(
                _Product(
                    alias, i, file_entity, name, p.file_ids[kind], p.band_code, p.band_name,
                    p.files_dataset_id, ds.collection_name, fsize, path, name, False,
                )
            )  # fmt: skip
        return out

    def _bundle_members(self, alias: str, i: int) -> list[TarMember]:
        """The files of scene `i`'s product bundle: every band file the folder product lists,
        under the names a real bundle gives them (``<displayId>_SR_B4.TIF``)."""
        source: _GeneratedC2 = self.sources[alias]
        members = []
        for kind, _ in source.products.files:
            path, size, name = self._c2_file(alias, i, kind)
            mtime = int(_last_modified(path).timestamp())
            members.append(TarMember(name, path, size, mtime))
        return members

    def bundle_members(self, path: str) -> list[TarMember] | None:
        """The members of the bundle at FileSource path ``tar/<alias>/<index>/<displayId>.tar``."""
        parts = path.split("/")
        if len(parts) != 4 or parts[0] != "tar" or parts[1] not in C2_LEVELS:
            return None
        try:
            i = int(parts[2])
        except ValueError:
            return None
        source: _GeneratedC2 = self.sources[parts[1]]
        if not 0 <= i < self.c2.n or parts[3] != f"{self.c2.display_id(i, source.level)}.tar":
            return None
        return self._bundle_members(parts[1], i)

    def _c1_products(self, entity: str) -> list[_Product]:
        scene = self.c1.scenes[entity]
        ds = self.datasets[L8C1]
        out = []
        suffixes = {"D220": ".jpg", "D219": "_TIR.jpg", "D222": "_QB.jpg", "D221": ".zip"}
        for o in self.c1.options[entity]:
            display = o["displayId"]
            if o["downloadSystem"] == "dds":
                path = f"m2m/{L8C1}/{display}/large/{o['filesize']}.bin"
                name, prepares = f"{display}.tar.gz", scene["index"] % 3 == 0
            else:
                name = display + suffixes.get(o["productCode"], ".jpg")
                path, prepares = f"pad/{o['filesize']}/m2m/{L8C1}/{display}/{name}", False
            out.append(
                _Product(
                    L8C1, entity, entity, display, o["id"], o["productCode"], o["productName"],
                    ds.dataset_id, ds.collection_name, o["filesize"], path, name, prepares,
                )
            )  # fmt: skip
        return out

    def download_options(self, body: dict) -> bytes:
        ds = self.dataset(body.get("datasetName"))
        alias = ds.alias.lower()
        ids = body.get("entityIds") or []
        if isinstance(ids, str):
            ids = [x for x in ids.split(",") if x]
        with_groups = bool(body.get("includeSecondaryFileGroups"))
        parts: list[bytes] = []
        for value in ids:
            if alias == L8C1:
                eid = self.c1.find(str(value), "entityid")
                if eid is not None:
                    parts.extend(self.c1.options_raw[eid])
            elif alias in C2_LEVELS:
                i = self.c2.index_for_entity_id(str(value))
                if i is not None:
                    parts.extend(_dumps(o) for o in self._c2_options(alias, i, with_groups))
        return b"[" + b", ".join(parts) + b"]"

    def _c2_options(self, alias: str, i: int, with_groups: bool) -> list[dict]:
        source: _GeneratedC2 = self.sources[alias]
        p = source.products
        products = self._c2_products(alias, i)
        bundle, files = products[0], products[1:]
        secondaries = []
        for order, f in enumerate(files, 1):
            kind = p.kind_for_id[f.product_id]
            entry = {
                "id": f.product_id,
                "downloadName": kind,
                "displayId": f.display_id,
                "entityId": f.entity_id,
                "datasetId": f.dataset_id,
                "available": True,
                "filesize": f.filesize,
                "productName": f.product_name,
                "productCode": f.product_code,
                "bulkAvailable": True,
                "downloadSystem": "dds",
                "secondaryDownloads": [],
            }
            if with_groups:
                band = kind.endswith(".TIF") and not kind.startswith(("ST_", "SA", "SZ", "VA"))
                entry["fileGroups"] = [p.groups[0], *([p.groups[1]] if band else [])]
            entry["displayOrder"] = order
            secondaries.append(entry)
        common = {
            "displayId": bundle.display_id,
            "entityId": bundle.entity_id,
            "datasetId": bundle.dataset_id,
            "available": True,
        }
        return [
            {"id": p.bundle_id, "downloadName": None, **common, "filesize": bundle.filesize,
             "productName": p.bundle_name, "productCode": p.bundle_code, "bulkAvailable": True,
             "downloadSystem": "dds", "secondaryDownloads": []},
            {"id": p.folder_id, "downloadName": p.download_name, **common, "filesize": 0,
             "productName": p.band_name, "productCode": p.band_code, "bulkAvailable": True,
             "downloadSystem": "folder", "secondaryDownloads": secondaries},
        ]  # fmt: skip

    def resolve(self, entity_id: Any, product_id: Any) -> _Product | None:
        """The product a download-request entry names, or None."""
        entity, pid = str(entity_id or ""), str(product_id or "")
        if not entity or not pid:
            return None
        eid = self.c1.find(entity, "entityid")
        if eid is not None:
            return next((p for p in self._c1_products(eid) if p.product_id == pid), None)
        for alias in C2_LEVELS:
            products = self.sources[alias].products
            if pid not in products.kind_for_id and pid != products.bundle_id:
                continue
            i = self.c2.index_for_entity_id(entity)
            if i is None:  # a band file's own entity id: L2SR_<displayId>_SR_B4_TIF
                m = re.match(r"^L[12][A-Z]*_(LC0[89]_\w{4}_\d{6}_\d{8}_\d{8}_02_T[12])_", entity)
                if m:
                    i = self.c2.index_for_display_id(m[1], products.level)
            if i is None:
                return None
            return next((p for p in self._c2_products(alias, i) if p.product_id == pid), None)
        return None
