"""The CMR catalogue and its search logic, independent of HTTP.

``CmrEmulator.search`` validates parameters as CMR does, filters recorded and
generated granules (or collections) and cuts one page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from stacbridge.sandbox.cmr.atom import collection_entry, granule_entry
from stacbridge.sandbox.cmr.conditions import (
    GranuleConditions,
    collection_predicate,
    granule_conditions,
)
from stacbridge.sandbox.cmr.derived import (
    HLSS30_CONCEPT_ID,
    SWOT_REACH_CONCEPT_ID,
    _derived_item,
    _hlsl30_item,
    _hlss30_item,
    _swot_item,
)
from stacbridge.sandbox.cmr.errors import (
    MAX_PAGE_SIZE,
    MSG_ALL_GRANULES,
    MSG_ALL_GRANULES_SPATIAL,
    MSG_NOT_EMULATED,
    MSG_OFFSET,
    MSG_PAGE_NUM,
    MSG_PAGE_SIZE,
    MSG_SEARCH_AFTER_ARRAY,
    MSG_SEARCH_AFTER_STRING,
    PAGING_DEPTH_LIMIT,
    CmrError,
    _numeric_range_msg,
)
from stacbridge.sandbox.cmr.fixtures import _host_mapped, _load_fixtures
from stacbridge.sandbox.cmr.generator import (
    HLS_S30,
    HLSL30_CONCEPT_ID,
    HLSGenerator,
    s30_template,
)
from stacbridge.sandbox.cmr.matching import _string_matcher, keyword_matcher
from stacbridge.sandbox.cmr.pages import (
    _GeneratedStream,
    _ListSelection,
    _Page,
    _RecordStream,
    _UnionSelection,
    merged_page,
)
from stacbridge.sandbox.cmr.params import (
    _BOOLEAN,
    _COLLECTION_EVALUATED,
    _COLLECTION_LIMITING,
    _COLLECTION_PARAMS,
    _COLLECTION_SORT_KEYS,
    _CONCEPT_ID_RE,
    _EVALUATED_STANDARD,
    _GRANULE_EVALUATED,
    _GRANULE_PARAMS,
    _GRANULE_SORT_KEYS,
    _SINGLE_VALUE,
    _SPATIAL_PARAMS,
    _STANDARD_PARAMS,
    _clj_vector,
    _Params,
    parse_params,
)
from stacbridge.sandbox.cmr.population import (
    PER_GRANULE_ATTRIBUTES,
    GeneratedFacts,
    date_windows,
    intersect,
    normalise,
    pattern_indices,
    platform_split,
    scan,
    subtract,
)
from stacbridge.sandbox.cmr.records import (
    _Collection,
    _collection_entry,
    _Granule,
    _granule_facts,
    _producer_id,
    _seq,
    _umm_cloud,
    _umm_geometries,
    _umm_range,
)
from stacbridge.sandbox.cmr.sorting import _date_getter, _provider_lower, _seq_of, _Sort, _SortField
from stacbridge.sandbox.cmr.spatial import _Spatial, parse_spatial
from stacbridge.sandbox.cmr.temporal import _cmr_datetime_string, _TimeRange, parse_temporal

DEFAULT_PAGE_SIZE = 10


# Above this many candidates the emulator refuses to brute-force a pattern over generated URs.
PATTERN_SCAN_LIMIT = 200_000


class CmrEmulator:
    """The catalogue and the search logic, independent of HTTP."""

    def __init__(
        self,
        *,
        data_host_map: dict[str, str] | None = None,
        generated_granules: int = 1_000_000,
        seed: int = 0,
    ) -> None:
        fx = _load_fixtures()
        host_map = dict(data_host_map or {})
        self.host_map = host_map
        self.seed = seed
        # -- granules
        self.granules: list[_Granule] = []
        items_by_coll: dict[str, list[dict]] = {}
        for obj, raw in fx.granules:
            meta, umm = obj["meta"], obj["umm"]
            leg = fx.legacy_granules.get(meta["concept-id"])
            coll_id = meta.get("collection-concept-id") or (leg or {}).get(
                "collection_concept_id", ""
            )
            start, end = _umm_range(umm)
            self.granules.append(
                _Granule(
                    concept_id=meta["concept-id"],
                    seq=_seq(meta["concept-id"]),
                    provider=meta["provider-id"],
                    collection_id=coll_id,
                    granule_ur=umm.get("GranuleUR", ""),
                    producer_id=_producer_id(umm),
                    start_ms=start,
                    end_ms=end,
                    geoms=_umm_geometries(umm, leg),
                    cloud=_umm_cloud(umm),
                    revision_date=meta.get("revision-date", ""),
                    body=_host_mapped(raw.encode(), host_map),
                    facts=_granule_facts(meta, umm),
                )
            )
            items_by_coll.setdefault(coll_id, []).append(obj)
        # -- collections
        self.collections: list[_Collection] = []
        for obj, raw in fx.collections:
            self.collections.append(_collection_entry(obj, raw.encode(), derived=False))
        known = {c.concept_id for c in self.collections}
        derived_items: list[tuple[dict, bool]] = []
        if HLSS30_CONCEPT_ID not in known:
            derived_items.append((_hlss30_item(fx.hlss30), False))
        for coll_id, items in items_by_coll.items():
            if coll_id in known or coll_id in (HLSS30_CONCEPT_ID, ""):
                continue
            if coll_id == HLSL30_CONCEPT_ID:
                derived_items.append((_hlsl30_item(fx.hlss30, items), True))
            elif coll_id == SWOT_REACH_CONCEPT_ID and fx.swot_collection:
                derived_items.append((_swot_item(fx.swot_collection, items), True))
            else:
                derived_items.append((_derived_item(coll_id, items, fx.legacy_granules), True))
        if HLSL30_CONCEPT_ID not in items_by_coll and generated_granules > 0:
            derived_items.append((_hlsl30_item(fx.hlss30, []), True))
        for item, derived in derived_items:
            self.collections.append(_collection_entry(item, orjson.dumps(item), derived=derived))
        self.collections_by_id = {c.concept_id: c for c in self.collections}
        # -- generator (kept clear of the recorded HLSL30 granules' area)
        avoid = unary_union(
            [g for gr in self.granules if gr.collection_id == HLSL30_CONCEPT_ID for g in gr.geoms]
            or [Point(0, 0)]
        ).buffer(1.0)
        self.generator = HLSGenerator(
            fx.hlsl30_template, n=generated_granules, seed=seed, host_map=host_map, avoid=avoid
        )
        #: HLSS30 has no recorded granule: its population is generated like HLSL30's
        self.s30_generator = HLSGenerator(
            s30_template(fx.hlsl30_template, fx.hlss30),
            n=generated_granules,
            seed=seed,
            host_map=host_map,
            product=HLS_S30,
        )
        self.generators = [self.generator, self.s30_generator]
        self.generated_facts = {g.product.code: GeneratedFacts(g) for g in self.generators}
        self.collection_granule_counts: dict[str, int] = {}
        for g in self.granules:
            self.collection_granule_counts[g.collection_id] = (
                self.collection_granule_counts.get(g.collection_id, 0) + 1
            )
        for gen in self.generators:
            self.collection_granule_counts[gen.collection_id] = (
                self.collection_granule_counts.get(gen.collection_id, 0) + gen.n
            )

        self._legacy_granules = {
            cid: _host_mapped(orjson.dumps(entry), host_map, key=b'"href":"')
            for cid, entry in fx.legacy_granules.items()
        }
        self._legacy_collections: dict[str, bytes] = {}
        if fx.swot_collection:
            self._legacy_collections[fx.swot_collection["id"]] = orjson.dumps(fx.swot_collection)
        self._umm_c: dict[str, dict] = {}

    # ------------------------------------------------------------------ ATOM JSON
    def atom_entries(self, concept_type: str, bodies: Iterable[bytes]) -> list[bytes]:
        """The ATOM-JSON entries of a page of UMM-JSON items (`atom`): recorded ones verbatim."""
        out = []
        for body in bodies:
            item = orjson.loads(body)
            cid = item["meta"]["concept-id"]
            if concept_type == "granule":
                recorded = self._legacy_granules.get(cid)
                if recorded is not None:
                    out.append(recorded)
                    continue
                coll_id = item["meta"].get("collection-concept-id") or next(
                    (g.collection_id for g in self.granules if g.concept_id == cid), ""
                )
                out.append(orjson.dumps(granule_entry(item, self._collection_umm(coll_id))))
            else:
                recorded = self._legacy_collections.get(cid)
                if recorded is not None:
                    out.append(recorded)
                    continue
                c = self.collections_by_id[cid]
                out.append(orjson.dumps(collection_entry(item, c.cloud_hosted)))
        return out

    def _collection_umm(self, concept_id: str) -> dict | None:
        umm = self._umm_c.get(concept_id)
        if umm is None:
            c = self.collections_by_id.get(concept_id)
            if c is None:
                return None
            umm = self._umm_c[concept_id] = orjson.loads(c.body)["umm"]
        return umm

    # ------------------------------------------------------------------ validation helpers
    @staticmethod
    def _search_after_values(p: _Params, search_after: str | None) -> list | None:
        """CMR's checks of the ``CMR-Search-After`` header (done before anything else)."""
        if search_after is None:
            return None
        try:
            values = json.loads(search_after)
        except ValueError:
            raise CmrError([MSG_SEARCH_AFTER_ARRAY]) from None
        if isinstance(values, str):
            raise CmrError([MSG_SEARCH_AFTER_STRING])
        if not isinstance(values, list):
            raise CmrError([MSG_SEARCH_AFTER_ARRAY])
        for name in ("page_num", "offset", "scroll"):
            if p.get(name):
                raise CmrError([f"{name} is not allowed with search-after"])
        return values

    def _param_errors(self, concept_type: str, p: _Params) -> list[str]:
        known = _STANDARD_PARAMS | (
            _GRANULE_PARAMS if concept_type == "granule" else _COLLECTION_PARAMS
        )
        evaluated = _EVALUATED_STANDARD | (
            _GRANULE_EVALUATED if concept_type == "granule" else _COLLECTION_EVALUATED
        )
        names = sorted(set(p.values) | set(p.legacy_ranges))
        errors = [f"Parameter [{name}] was not recognized." for name in names if name not in known]
        errors += [
            MSG_NOT_EMULATED.format(what=f"the [{name}] parameter of {concept_type} searches")
            for name in names
            if name in known and name not in evaluated
        ]
        errors += [
            f"Parameter [{name}] must have a single value."
            for name in sorted(_SINGLE_VALUE)
            if len(p.get(name)) > 1
        ]
        page_size = page_num = offset = None
        if p.get("page_size"):
            try:
                page_size = int(p.get("page_size")[0])
                if not 0 <= page_size <= MAX_PAGE_SIZE:
                    errors.append(MSG_PAGE_SIZE)
            except ValueError:
                errors.append(MSG_PAGE_SIZE)
        if p.get("page_num"):
            try:
                page_num = int(p.get("page_num")[0])
                if page_num < 1:
                    errors.append(MSG_PAGE_NUM)
            except ValueError:
                errors.append(MSG_PAGE_NUM)
        if p.get("offset"):
            if p.get("page_num"):
                errors.append("Only one of offset or page-num may be specified")
            else:
                try:
                    offset = int(p.get("offset")[0])
                    if not 0 <= offset <= PAGING_DEPTH_LIMIT:
                        errors.append(MSG_OFFSET)
                except ValueError:
                    errors.append(MSG_OFFSET)
        if (
            page_size is not None
            and page_num is not None
            and page_size * page_num > (PAGING_DEPTH_LIMIT)
        ):
            errors.append(
                f"The paging depth (page_num * page_size) of [{page_size * page_num}] exceeds "
                f"the limit of {PAGING_DEPTH_LIMIT}."
            )
        if (
            page_size is not None
            and offset is not None
            and page_size + offset > (PAGING_DEPTH_LIMIT)
        ):
            errors.append(
                f"The paging depth (page_size + offset) of [{page_size + offset}] exceeds the "
                f"limit of {PAGING_DEPTH_LIMIT}."
            )
        valid_sorts = _GRANULE_SORT_KEYS if concept_type == "granule" else _COLLECTION_SORT_KEYS
        for sk in p.get("sort_key"):
            name = sk.lstrip("+-")
            if name not in valid_sorts:
                errors.append(
                    f"The sort key [{name}] is not a valid field for sorting {concept_type}s."
                )
        for name in ("concept_id", "collection_concept_id"):
            label = "Concept-id" if name == "concept_id" else "Collection-concept-id"
            for v in p.get(name):
                if not _CONCEPT_ID_RE.match(v):
                    errors.append(f"{label} [{v}] is not valid.")
        for name in sorted(_BOOLEAN):
            for v in p.get(name):
                if v.lower() not in ("true", "false") and not (
                    name == "has_granules" and v == "unset"
                ):
                    errors.append(
                        f"Parameter {name} must take value of true or false but was [{v}]"
                    )
        return errors

    def _parse_conditions(self, concept_type: str, p: _Params) -> dict[str, Any]:
        """Temporal/spatial/cloud-cover parsing; raises CmrError with all errors."""
        errors: list[str] = []
        ranges: list[_TimeRange] = []
        for value in p.get("temporal"):
            rng, errs = parse_temporal(value)
            errors += errs
            if rng is not None:
                ranges.append(rng)
        spatial_groups: list[tuple[bool, list[BaseGeometry]]] = []
        for kind in _SPATIAL_PARAMS:
            geoms = []
            for value in p.get(kind):
                geom, errs = parse_spatial(kind, value)
                errors += errs
                if geom is not None:
                    geoms.append(geom)
            if geoms:
                spatial_groups.append((p.opt(kind, "or") == "true", geoms))
        if p.get("circle") or p.get("shapefile"):
            errors.append(MSG_NOT_EMULATED.format(what="circle or shapefile spatial searches"))
        cloud = None
        if concept_type == "granule" and (p.get("cloud_cover") or "cloud_cover" in p.legacy_ranges):
            cloud, errs = self._parse_cloud(p)
            errors += errs
        for r in ranges:
            if r.start is not None and r.end is not None and r.start > r.end:
                errors.append(
                    f"start_date [{_cmr_datetime_string(r.start)}] must be before end_date "
                    f"[{_cmr_datetime_string(r.end)}]"
                )
        if errors:
            raise CmrError(errors)
        if p.opt("temporal", "exclude_boundary") == "true":
            ranges = [
                _TimeRange(
                    None if r.start is None else r.start + 1,
                    None if r.end is None else r.end - 1,
                )
                for r in ranges
            ]
        spatial = (
            _Spatial(spatial_groups, p.opt("spatial", "or") == "true") if spatial_groups else None
        )
        return {
            "ranges": ranges,
            "temporal_and": p.opt("temporal", "and") == "true",
            "spatial": spatial,
            "cloud": cloud,
            "granule": granule_conditions(p) if concept_type == "granule" else None,
            "collection": collection_predicate(p) if concept_type == "collection" else None,
        }

    @staticmethod
    def _parse_cloud(p: _Params) -> tuple[tuple[float | None, float | None] | None, list[str]]:
        if "cloud_cover" in p.legacy_ranges:
            legacy = p.legacy_ranges["cloud_cover"]
            try:
                if "value" in legacy:
                    v = float(legacy["value"])
                    return (v, v), []
                lo = float(legacy["min"]) if legacy.get("min") else None
                hi = float(legacy["max"]) if legacy.get("max") else None
                return (lo, hi), []
            except ValueError:
                return None, [_numeric_range_msg(json.dumps(legacy))]
        value = p.get("cloud_cover")[0]
        parts = value.split(",")
        try:
            if len(parts) == 1:
                v = float(parts[0])
                return (v, v), []
            if len(parts) != 2 or not (parts[0].strip() or parts[1].strip()):
                raise ValueError(value)
            lo = float(parts[0]) if parts[0].strip() else None
            hi = float(parts[1]) if parts[1].strip() else None
            return (lo, hi), []
        except ValueError:
            return None, [_numeric_range_msg(value)]

    # ------------------------------------------------------------------ sorting
    def _granule_sort(self, p: _Params) -> _Sort:
        keys = p.get("sort_key")
        if not keys:
            return _Sort(
                [
                    _SortField("provider-id-lowercase-doc-values", str, False, _provider_lower),
                    _SortField("start-date-doc-values", int, False, _date_getter("start_ms"), True),
                    _SortField("concept-seq-id-long", int, False, _seq_of),
                ]
            )
        if len(keys) > 1:
            raise CmrError([MSG_NOT_EMULATED.format(what="granule sorts on several keys")])
        desc = keys[0].startswith("-")
        name = keys[0].lstrip("+-")
        if name not in ("start_date", "end_date"):
            raise CmrError([MSG_NOT_EMULATED.format(what=f"sorting granules by [{name}]")])
        attr = "start_ms" if name == "start_date" else "end_ms"
        es_field = f"{name.replace('_', '-')}-doc-values"
        return _Sort(
            [
                _SortField(es_field, int, desc, _date_getter(attr, desc), is_date=True),
                _SortField("concept-seq-id-long", int, False, _seq_of),
            ]
        )

    def _collection_sort(self, p: _Params) -> _Sort:
        sub = [
            _SortField("short-name-lowercase", str, False, lambda c: c.short_name),
            _SortField("parsed-version-id-lowercase", str, True, lambda c: c.parsed_version),
            _SortField("concept-seq-id", int, False, _seq_of),
            _SortField("revision-id", int, True, lambda c: c.revision),
        ]
        keys = p.get("sort_key")
        if not keys:
            title = _SortField("entry-title-lowercase", str, False, lambda c: c.entry_title.lower())
            return _Sort([title, _SortField("provider-id", str, False, lambda c: c.provider), *sub])
        fields = []
        getters: dict[str, tuple[type, Callable]] = {
            "entry_title": (str, lambda c: c.entry_title.lower()),
            "dataset_id": (str, lambda c: c.entry_title.lower()),
            "short_name": (str, lambda c: c.short_name.lower()),
            "provider": (str, lambda c: c.provider.lower()),
        }
        for key in keys:
            desc = key.startswith("-")
            name = key.lstrip("+-")
            if name in ("start_date", "end_date"):
                attr = "start_ms" if name == "start_date" else "end_ms"
                fields.append(
                    _SortField(name.replace("_", "-"), int, desc, _date_getter(attr, desc))
                )
            elif name in getters:
                kind, get = getters[name]
                fields.append(_SortField(f"{name.replace('_', '-')}-lowercase", kind, desc, get))
            else:
                raise CmrError([MSG_NOT_EMULATED.format(what=f"sorting collections by [{name}]")])
        return _Sort([*fields, *sub])

    # ------------------------------------------------------------------ searches
    def search(
        self, concept_type: str, pairs: Iterable[tuple[str, str]], search_after: str | None = None
    ) -> _Page:
        p = parse_params(pairs)
        sa_values = self._search_after_values(p, search_after)
        if concept_type == "granule":
            self._granule_collection_guard(p)
        errors = self._param_errors(concept_type, p)
        if errors:
            raise CmrError(errors)
        cond = self._parse_conditions(concept_type, p)
        size = int(p.one("page_size") or DEFAULT_PAGE_SIZE)
        if p.one("offset") is not None:
            offset = int(p.one("offset") or 0)
        else:
            offset = (int(p.one("page_num") or 1) - 1) * size
        records: list[Any]
        streams: list[Any]
        if concept_type == "granule":
            sort = self._granule_sort(p)
            records, streams = self._granule_candidates(p, cond, sort)
        else:
            sort = self._collection_sort(p)
            records, streams = self._collection_candidates(p, cond), []
        sa_key = sort.parse_search_after(sa_values) if sa_values is not None else None
        hits, items, last = merged_page(
            [_RecordStream(records, sort), *streams], size, offset, sa_key
        )
        return _Page(hits, items, last)

    def _granule_collection_guard(self, p: _Params) -> None:
        for name in ("concept_id", "collection_concept_id"):
            vals = p.get(name)
            if vals:
                if any(not v.startswith(("G", "C")) for v in vals):
                    raise CmrError(
                        [
                            f"Invalid concept_id [{_clj_vector(vals)}]. For granule queries "
                            "concept_id must be either a granule or collection concept ID."
                        ]
                    )
                break
        if not any(p.get(name) for name in _COLLECTION_LIMITING):
            spatial = any(p.get(k) for k in (*_SPATIAL_PARAMS, "circle", "shapefile"))
            raise CmrError([MSG_ALL_GRANULES_SPATIAL if spatial else MSG_ALL_GRANULES])

    def _time_ok(self, start: int | None, end: int | None, cond: dict) -> bool:
        ranges: list[_TimeRange] = cond["ranges"]
        if not ranges:
            return True

        def overlaps(r: _TimeRange) -> bool:
            if r.end is not None and start is not None and start > r.end:
                return False
            return not (r.start is not None and end is not None and end < r.start)

        return (all if cond["temporal_and"] else any)(overlaps(r) for r in ranges)

    def _collection_filters(self, p: _Params) -> Callable[[_Collection], bool]:
        """Predicate over collections for the collection-identifying parameters."""
        provider = _string_matcher(p, "provider")
        short_name = _string_matcher(p, "short_name")
        version = _string_matcher(p, "version")
        entry_title = _string_matcher(p, "entry_title")
        entry_id = _string_matcher(p, "entry_id")
        coll_ids = set(p.get("collection_concept_id"))

        def ok(c: _Collection) -> bool:
            return (
                (provider is None or provider(c.provider))
                and (short_name is None or short_name(c.short_name))
                and (version is None or version(c.version))
                and (entry_title is None or entry_title(c.entry_title))
                and (entry_id is None or entry_id(f"{c.short_name}_{c.version}"))
                and (not coll_ids or c.concept_id in coll_ids)
            )

        return ok

    def _granule_candidates(
        self, p: _Params, cond: dict, sort: _Sort
    ) -> tuple[list[_Granule], list[_GeneratedStream]]:
        coll_ok = self._collection_filters(p)
        cids = p.get("concept_id")
        c_ids = {v for v in cids if v.startswith("C")}
        g_ids = {v for v in cids if v.startswith("G")}
        granule_ur = _string_matcher(p, "granule_ur")
        readable = _string_matcher(p, "readable_granule_name")
        producer = _string_matcher(p, "producer_granule_id")
        spatial: _Spatial | None = cond["spatial"]
        cloud = cond["cloud"]
        gc: GranuleConditions = cond["granule"]

        def coll_pass(coll_id: str) -> bool:
            c = self.collections_by_id.get(coll_id)
            if c is None:
                return False
            return coll_ok(c) and (not c_ids or coll_id in c_ids)

        records = []
        for g in self.granules:
            if not coll_pass(g.collection_id):
                continue
            if g_ids and g.concept_id not in g_ids:
                continue
            if granule_ur and not granule_ur(g.granule_ur):
                continue
            if producer and not producer(g.producer_id):
                continue
            if readable and not readable(g.granule_ur, g.producer_id):
                continue
            if not self._time_ok(g.start_ms, g.end_ms, cond):
                continue
            if spatial and not spatial.matches(g.geoms):
                continue
            if cloud is not None:
                lo, hi = cloud
                if g.cloud is None or (lo is not None and g.cloud < lo):
                    continue
                if hi is not None and g.cloud > hi:
                    continue
            if not gc.empty and (g.facts is None or not gc.matches(g.facts)):
                continue
            records.append(g)
        identity = (
            (granule_ur, "granule_ur"),
            (readable, "readable_granule_name"),
            (producer, "producer_granule_id"),
            (gc.native_id, "native_id"),
        )
        streams = []
        for gen in self.generators:
            if gen.n == 0 or not coll_pass(gen.collection_id):
                continue
            selection = self._generated_selection(gen, p, cond, g_ids, identity)
            if selection is None or len(selection) == 0:
                continue
            # Generated sort values grow with the index: the stream runs backwards for a
            # descending date sort (provider, the other leading field, is the same for all).
            desc = any(f.desc for f in sort.fields if f.is_date)
            streams.append(_GeneratedStream(gen, selection, sort, desc))
        return records, streams

    def _generated_selection(
        self,
        gen: HLSGenerator,
        p: _Params,
        cond: dict,
        g_ids: set[str],
        identity: tuple[tuple[Callable | None, str], ...],
    ) -> Any:
        """The indices of `gen`'s population that match the query (None: none)."""
        gc: GranuleConditions = cond["granule"]
        facts = self.generated_facts[gen.product.code]
        constant = facts.constant
        assert constant is not None
        # facts every generated granule shares: decided once
        if gc.instrument and not gc.instrument(*constant.instruments):
            return None
        if gc.day_night and not gc.day_night(constant.day_night):
            return None
        if gc.downloadable is not None and constant.downloadable != gc.downloadable:
            return None
        if gc.browsable is not None and constant.browsable != gc.browsable:
            return None
        # temporal → index intervals
        if cond["ranges"]:
            ivs = [gen.index_interval(r.start, r.end) for r in cond["ranges"]]
            if cond["temporal_and"]:
                lo = max(iv[0] for iv in ivs)
                hi = min(iv[1] for iv in ivs)
                ivs = [(lo, max(lo, hi))]
        else:
            ivs = [(0, gen.n)]
        spatial: _Spatial | None = cond["spatial"]
        tiles: set[int] | None = None
        if spatial is not None:
            tiles = {s for s, t in enumerate(gen.tiles) if spatial.matches([t.geometry])}
        cloud = cond["cloud"]
        # attribute[]: constant and per-tile ones become a tile set, a cloud-cover range folds
        # into the cloud selection, anything else is checked granule by granule
        per_granule = False
        if gc.attributes:
            tiles, cloud, per_granule = self._generated_attributes(gen, gc, tiles, cloud)
            if tiles is not None and not tiles:
                return None
        # dates: outside the candidate window nothing matches, inside the sure one everything
        candidate, sure = date_windows(gen, gc)
        ivs = intersect(normalise(ivs), candidate)

        def base(intervals: list[tuple[int, int]]) -> Any:
            sel = gen.selection(intervals, tiles, cloud)
            return platform_split(gen, sel, gc.platform) if gc.platform else sel

        dated = bool(gc.revision or gc.production or gc.since is not None)
        selection: Any = base(ivs)
        if dated:
            boundary = base(subtract(ivs, sure))
            checked = scan(boundary, lambda i: gc.matches(facts.of(i)), "date conditions")
            selection = _UnionSelection([base(intersect(ivs, sure)), _ListSelection(checked)])
        if per_granule:
            selection = _ListSelection(
                scan(selection, lambda i: gc.attributes_ok(facts.of(i).attributes), "attribute[]")
            )
        # explicit identities: invert to indices instead of scanning
        explicit: set[int] | None = None
        if g_ids:
            explicit = {i for v in g_ids if (i := gen.index_for_concept_id(v)) is not None}
        forms = {"granule_ur": "ur", "native_id": "ur", "producer_granule_id": "producer"}
        for matcher, name in identity:
            if matcher is None:
                continue
            if p.opt(name, "pattern") == "true":
                within = selection if explicit is None else _ListSelection(explicit)

                def exact(i: int, m: Callable = matcher, n: str = name) -> bool:
                    return bool(m(*self._generated_names(gen, i, n)))

                found = pattern_indices(gen, p.get(name), forms.get(name, "either"), within, exact)
                explicit = set(found)
            else:
                inverted = (gen.index_for_granule_ur(v) for v in p.get(name))
                hits = {
                    i
                    for i in inverted
                    if i is not None and matcher(*self._generated_names(gen, i, name))
                }
                explicit = hits if explicit is None else explicit & hits
        if explicit is not None:
            selection = _ListSelection(i for i in explicit if i in selection)
        return selection

    def _generated_attributes(
        self,
        gen: HLSGenerator,
        gc: GranuleConditions,
        tiles: set[int] | None,
        cloud: tuple[float | None, float | None] | None,
    ) -> tuple[set[int] | None, tuple[float | None, float | None] | None, bool]:
        """(tiles, cloud range, whether a granule-by-granule check is still needed)."""
        facts = self.generated_facts[gen.product.code]
        constant = facts.constant
        assert constant is not None
        names = {a.name for a in gc.attributes}
        per_granule = set(PER_GRANULE_ATTRIBUTES) - {"CLOUD_COVERAGE"}
        if gc.attributes_or or names & per_granule or gc.exclude_boundary:
            return tiles, cloud, True
        for a in gc.attributes:
            if a.name != "CLOUD_COVERAGE":
                continue
            if a.kind not in ("float", "int"):
                return tiles, cloud, True
            try:
                low = a.value if a.value is not None else a.low
                high = a.value if a.value is not None else a.high
                lo = float(low) if low else None
                hi = float(high) if high else None
            except ValueError:
                return tiles, cloud, True
            if cloud is not None:
                lo = cloud[0] if lo is None else lo if cloud[0] is None else max(lo, cloud[0])
                hi = cloud[1] if hi is None else hi if cloud[1] is None else min(hi, cloud[1])
            cloud = (lo, hi)
        rest = [a for a in gc.attributes if a.name != "CLOUD_COVERAGE"]
        if rest:
            keep = set()
            for s in range(gen.k) if tiles is None else sorted(tiles):
                attributes = {**constant.attributes, **facts.tile_attributes(s)}
                if all(a.matches(attributes) for a in rest):
                    keep.add(s)
            tiles = keep
        return tiles, cloud, False

    def _generated_names(self, gen: HLSGenerator, i: int, param: str) -> tuple[str, ...]:
        """The names of generated granule `i` that string parameter `param` is matched against."""
        ur = gen.granule_ur(i)
        producer_id = ur.removesuffix(".v2.0")  # as in the recorded DataGranule.Identifiers
        if param in ("granule_ur", "native_id"):
            return (ur,)
        if param == "producer_granule_id":
            return (producer_id,)
        return ur, producer_id  # readable_granule_name: either

    def _collection_candidates(self, p: _Params, cond: dict) -> list[_Collection]:
        coll_ok = self._collection_filters(p)
        ids = set(p.get("concept_id"))
        keyword = keyword_matcher(p.one("keyword") or "")
        cloud_hosted = p.one("cloud_hosted")
        has_granules = p.one("has_granules")
        platform = _string_matcher(p, "platform")
        instrument = _string_matcher(p, "instrument")
        spatial: _Spatial | None = cond["spatial"]
        described = cond["collection"]
        out = []
        for c in self.collections:
            if not coll_ok(c) or (ids and c.concept_id not in ids):
                continue
            if keyword is not None and not keyword(c.text):
                continue
            if cloud_hosted is not None and c.cloud_hosted != (cloud_hosted.lower() == "true"):
                continue
            if has_granules is not None and has_granules != "unset":
                has = self.collection_granule_counts.get(c.concept_id, 0) > 0
                if has != (has_granules.lower() == "true"):
                    continue
            if platform and not platform(*c.platforms):
                continue
            if instrument and not instrument(*c.instruments):
                continue
            if cond["ranges"] and not any(self._time_ok(r.start, r.end, cond) for r in c.ranges):
                continue
            if spatial and not spatial.matches(c.geoms):
                continue
            if not described(c):
                continue
            out.append(c)
        return out
