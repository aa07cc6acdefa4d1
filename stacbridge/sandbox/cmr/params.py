"""CMR search-parameter names and their normalisation (``x[]``, ``-``, aliases, options).

Which names each concept type accepts, which are single-valued or boolean, and how
CMR renders numbers in its messages: the vocabulary every other check starts from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# Parameter names CMR's search-app accepts (param-mappings + query-level + standard params),
# after aliasing.
_STANDARD_PARAMS = {"offset", "options", "page_num", "page_size", "result_format", "scroll"}
_STANDARD_PARAMS |= {"sort_key", "token"}
_GRANULE_PARAMS = {
    "attribute", "bounding_box", "browsable", "cloud_cover", "collection_concept_id",
    "concept_id", "created_at", "day_night", "downloadable", "entry_id", "entry_title",
    "equator_crossing_date", "equator_crossing_longitude", "exclude", "granule_ur",
    "instrument", "line", "native_id", "orbit_number", "platform", "point", "polygon",
    "circle", "producer_granule_id", "production_date", "project", "feature_id", "crid_id",
    "provider", "readable_granule_name", "revision_date", "sensor", "short_name", "temporal",
    "temporal_facet", "two_d_coordinate_system", "updated_since", "version", "cycle",
    "passes", "shapefile", "simplify_shapefile", "force_cartesian", "echo_compatible",
    "include_facets", "spatial",
}  # fmt: skip
_COLLECTION_PARAMS = {
    "archive_center", "attribute", "author", "bounding_box", "browsable", "collection_data_type",
    "collection_progress", "concept_id", "created_at", "data_center", "data_center_h", "doi",
    "downloadable", "entry_id", "entry_title", "exclude", "granule_data_format",
    "granule_data_format_h", "horizontal_data_resolution_range", "has_granules",
    "has_granules_or_cwic", "has_granules_or_opensearch", "has_granules_created_at",
    "has_granules_revised_at", "has_opendap_url", "cloud_hosted", "standard_product",
    "include_non_operational", "instrument", "instrument_h", "keyword", "line", "native_id",
    "platform", "platform_h", "platforms", "platforms_h", "point", "polygon", "circle",
    "processing_level_id", "processing_level_id_h", "project", "project_h", "latency",
    "consortium", "provider", "revision_date", "science_keywords", "science_keywords_h",
    "sensor", "short_name", "spatial_keyword", "temporal", "two_d_coordinate_system",
    "two_d_coordinate_system_name", "updated_since", "version", "facets_size", "shapefile",
    "simplify_shapefile", "force_cartesian", "tag_data", "tag_key", "tag_originator_id",
    "measurement", "variable_name", "variable_concept_id", "variable_native_id", "variables_h",
    "service_name", "service_type", "service_concept_id", "tool_name", "tool_type",
    "tool_concept_id", "include_granule_counts", "include_has_granules", "include_facets",
    "hierarchical_facets", "include_highlights", "include_tags", "all_revisions",
    "echo_compatible", "boosts",
}  # fmt: skip
# What the emulator evaluates (after aliasing). Every other name CMR knows is refused with a
# "not emulated" 400, and a name CMR does not know with CMR's own message: an emulator that
# ignored a parameter would answer everything and make every test that sends it meaningless.
_EVALUATED_STANDARD = {"offset", "options", "page_num", "page_size", "sort_key"}
_GRANULE_EVALUATED = {
    "attribute", "bounding_box", "browsable", "cloud_cover", "collection_concept_id",
    "concept_id", "day_night", "downloadable", "entry_title", "granule_ur", "instrument",
    "line", "native_id", "platform", "point", "polygon", "producer_granule_id",
    "production_date", "provider", "readable_granule_name", "revision_date", "short_name",
    "temporal", "updated_since", "version", "circle", "shapefile",
}  # fmt: skip
_COLLECTION_EVALUATED = {
    "archive_center", "bounding_box", "cloud_hosted", "concept_id", "data_center", "doi",
    "entry_id", "entry_title", "granule_data_format", "has_granules", "instrument", "keyword",
    "line", "native_id", "platform", "point", "polygon", "processing_level_id", "project",
    "provider", "revision_date", "science_keywords", "short_name", "spatial_keyword",
    "temporal", "updated_since", "version", "circle", "shapefile",
}  # fmt: skip
_ALIASES = {
    "provider_id": "provider",
    "dataset_id": "entry_title",
    "echo_collection_id": "concept_id",
    "echo_granule_id": "concept_id",
    "campaign": "project",
    "online_only": "downloadable",
    "day_night_flag": "day_night",
    "browse_only": "browsable",
    "processing_level": "processing_level_id",
    "grid": "two_d_coordinate_system",
}
_SINGLE_VALUE = {"page_size", "page_num", "offset", "keyword", "cloud_hosted", "has_granules"}
_BOOLEAN = {"cloud_hosted", "has_granules", "downloadable", "browsable", "has_opendap_url"}
_BOOLEAN |= {"standard_product", "include_granule_counts", "include_has_granules"}
_COLLECTION_LIMITING = {
    "concept_id", "provider", "short_name", "entry_title", "version", "entry_id",
    "collection_concept_id",
}  # fmt: skip
_SPATIAL_PARAMS = ("bounding_box", "polygon", "point", "line")
_GRANULE_SORT_KEYS = {
    "granule_ur", "producer_granule_id", "readable_granule_name", "start_date", "end_date",
    "entry_title", "dataset_id", "short_name", "version", "provider", "data_size",
    "cloud_cover", "campaign", "platform", "instrument", "sensor", "project", "day_night",
    "downloadable", "browsable", "revision_date",
}  # fmt: skip
_COLLECTION_SORT_KEYS = {
    "short_name", "entry_title", "entry_id", "dataset_id", "start_date", "end_date",
    "provider", "platform", "instrument", "sensor", "revision_date", "score", "has_granules",
    "has_granules_or_cwic", "has_granules_or_opensearch", "usage_relevancy_score",
    "usage_score", "ongoing", "create_data_date",
}  # fmt: skip
_CONCEPT_ID_RE = re.compile(r"^[A-Z]+\d+-[A-Za-z0-9_]+$")


@dataclass
class _Params:
    values: dict[str, list[str]] = field(default_factory=dict)
    options: dict[str, dict[str, str]] = field(default_factory=dict)
    legacy_ranges: dict[str, dict[str, str]] = field(default_factory=dict)
    #: ``science_keywords[<n>][<field>]=value``: group n's field conditions
    nested: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)

    def get(self, name: str) -> list[str]:
        return self.values.get(name, [])

    def one(self, name: str) -> str | None:
        vals = self.values.get(name)
        return vals[0] if vals else None

    def opt(self, name: str, option: str) -> str | None:
        return self.options.get(name, {}).get(option)


_OPTION_KEY_RE = re.compile(r"^options\[([^\]]*)\](?:\[([^\]]*)\])?$")


def _norm_name(name: str) -> str:
    name = name.strip().replace("-", "_")
    return _ALIASES.get(name, name)


def parse_params(pairs: Iterable[tuple[str, str]]) -> _Params:
    """CMR's view of raw query/form pairs: ``x[]``→``x``, options, legacy ``x[min]`` ranges."""
    p = _Params()
    for raw_key, value in pairs:
        key = raw_key.strip()
        m = _OPTION_KEY_RE.match(key)
        if m:
            param, option = _norm_name(m.group(1)), (m.group(2) or "").replace("-", "_")
            p.options.setdefault(param, {})[option] = value.strip().lower()
            continue
        base, bracket, rest = key.partition("[")
        name = _norm_name(base)
        sub = rest.rstrip("]") if bracket else ""
        if sub in ("min", "max", "value") and name == "cloud_cover":
            p.legacy_ranges.setdefault(name, {})[sub] = value
            continue
        if sub and name == "science_keywords":
            group, _, sk_field = sub.partition("][")
            if value != "":
                p.nested.setdefault(name, {}).setdefault(group, {})[sk_field or group] = value
                p.values.setdefault(name, []).append(value)
            continue
        if value == "":
            continue
        p.values.setdefault(name, []).append(value)
    return p


def _clj_vector(values: Sequence[str]) -> str:
    return values[0] if len(values) == 1 else "[" + " ".join(f'"{v}"' for v in values) + "]"


def _java_double(value: float) -> str:
    """Clojure's str of a double (``200.0``)."""
    return repr(float(value)).replace("e", "E")


def _double_to_string(value: float) -> str:
    """cmr.common.util/double->string: no exponent, no trailing zeros."""
    text = f"{value:.21f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"
