"""Property: the translators survive malformed upstream records, and what they emit is STAC.

Upstreams send garbage now and then (a key missing, a null, a string where a number belongs, a
number past any sane range).  Every translator is fed mutated copies of the real recordings
(`stacbridge/sandbox/fixtures/`) the way its provider calls it — translator, then the cheap
`stacbridge.checks` structure check (`granule_item`, `scene_item`...): it may refuse a record
only with the documented `UNTRANSLATABLE` family (the providers skip such a record with a logged
reason), and every object it does emit validates against the STAC schemas in full (no silent
wrong answers).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stacbridge.protocols import UNTRANSLATABLE
from stacbridge.providers.cmr.provider import collection_of, granule_item
from stacbridge.providers.m2m import translate as m2m
from stacbridge.providers.m2m.provider import dataset_collection, scene_item
from tests.conftest import FIXTURES, validate_stac
from tests.unit.test_m2m_translate import as_served

EXAMPLES = 60
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- the recordings ------------------------------------------------------------------------------


@cache
def _json(path: str) -> Any:
    return json.loads((FIXTURES / path).read_text())


@cache
def cmr_granules() -> tuple[Any, ...]:
    out: list[Any] = []
    for p in sorted((FIXTURES / "cmr").glob("granules_umm_json__*.json")):
        out += _json(f"cmr/{p.name}")["items"]
    return tuple(out)


@cache
def cmr_collections() -> tuple[Any, ...]:
    out: list[Any] = []
    for p in sorted((FIXTURES / "cmr").glob("collections_umm_json__*.json")):
        out += _json(f"cmr/{p.name}")["items"]
    return tuple(out)


M2M_SUMMARY = "m2m/kapadia-usgs_scene-search_LANDSAT_8_C1_summary_1hit.json"
M2M_FULL = "m2m/kapadia-usgs_scene-metadata_LANDSAT_8_C1_full.json"
M2M_OPTIONS = "m2m/kapadia-usgs_download-options_LANDSAT_8_C1.json"
M2M_DATASETS = "m2m/kapadia-usgs_dataset-search_SUBSET-9-of-1163.json"
M2M_FILTERS = "m2m/kapadia-usgs_dataset-filters_LANDSAT_8_C1.json"


@cache
def m2m_scenes() -> tuple[Any, ...]:
    """(scene, its download options) pairs: options are mutated together with the scene."""
    options = _json(M2M_OPTIONS)["data"]
    scenes = [*_json(M2M_SUMMARY)["data"]["results"], _json(M2M_FULL)["data"]]
    return tuple({"scene": s, "options": options} for s in scenes)


@cache
def m2m_datasets() -> tuple[Any, ...]:
    return tuple(_json(M2M_DATASETS)["data"])


# -- mutations -----------------------------------------------------------------------------------

#: values an upstream might put where anything else belongs
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, -1, 10**30, -(10**30), 1e308, -1e308, 2**63, 0.5]),
    st.sampled_from(
        [
            "",
            "x",
            "null",
            "NaN",
            "1e999",
            "9" * 400,
            "2024-13-45T99:99:99Z",
            "-",
            " ",
            "\u0000",
            "ü" * 50,
        ]
    ),
    st.sampled_from([[], {}, [None], [[]], {"": None}, ["x"], [1e308, -1e308]]),
)


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside `obj` (dict keys and list indices), in a stable order."""
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for key in obj:
            out += _paths(obj[key], (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            out += _paths(value, (*prefix, i))
    return out


def _mutate(obj: Any, pick: int, delete: bool, value: Any) -> Any:
    """Delete (or replace with `value`) the value at the `pick`-th path of `obj`, in place."""
    paths = _paths(obj)
    if not paths:
        return obj
    path = paths[pick % len(paths)]
    parent = obj
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = copy.deepcopy(value)
    return obj


MUTATIONS = st.lists(
    st.tuples(st.integers(min_value=0, max_value=10**6), st.booleans(), ODD_VALUES),
    min_size=1,
    max_size=4,
)


def mutated(records: Callable[[], tuple[Any, ...]]) -> st.SearchStrategy[Any]:
    """A deep copy of one recording with a few mutations applied."""

    def build(index: int, mutations: list[tuple[int, bool, Any]]) -> Any:
        pool = records()
        obj = copy.deepcopy(pool[index % len(pool)])
        for pick, delete, value in mutations:
            obj = _mutate(obj, pick, delete, value)
        return obj

    return st.builds(build, st.integers(min_value=0, max_value=10**6), MUTATIONS)


def translate_or_refuse(translate: Callable[[], Any]) -> Any | None:
    """The translator's output, or None when it refused the record the documented way."""
    try:
        return translate()
    except UNTRANSLATABLE:
        return None


# -- the properties ------------------------------------------------------------------------------


@PROPERTY
@given(record=mutated(cmr_granules), named=st.booleans())
def test_cmr_granule_to_item_refuses_or_emits_valid_stac(record, named):
    item = translate_or_refuse(lambda: granule_item(record, "HLSL30.v2.0" if named else None))
    if item is not None:
        validate_stac(as_served(item))


@PROPERTY
@given(record=mutated(cmr_collections))
def test_cmr_collection_to_stac_refuses_or_emits_valid_stac(record):
    collection = translate_or_refuse(lambda: collection_of(record))
    if collection is not None:
        validate_stac(as_served(collection))


@PROPERTY
@given(pair=mutated(m2m_scenes))
def test_m2m_scene_to_item_refuses_or_emits_valid_stac(pair):
    item = translate_or_refuse(
        lambda: scene_item(pair["scene"], "landsat_ot_c2_l2", pair["options"])
    )
    if item is not None:
        validate_stac(as_served(item))


@PROPERTY
@given(record=mutated(m2m_datasets))
def test_m2m_dataset_to_collection_refuses_or_emits_valid_stac(record):
    collection = translate_or_refuse(lambda: dataset_collection(record))
    if collection is not None:
        validate_stac(as_served(collection))


@PROPERTY
@given(filters=mutated(lambda: (_json(M2M_FILTERS)["data"],)))
def test_m2m_filters_to_queryables_refuses_or_answers_a_mapping(filters):
    queryables = translate_or_refuse(lambda: m2m.filters_to_queryables(filters))
    if queryables is not None:
        assert isinstance(queryables, dict)
        json.dumps(queryables)


def test_the_mutations_reach_deep_into_a_record():
    """A guard on the test itself: paths cover nested values, not only the top level."""
    paths = _paths(copy.deepcopy(cmr_granules()[0]))
    assert max(len(p) for p in paths) >= 4


def test_the_recordings_themselves_pass_unrefused():
    """The checks refuse malformed records only: every recording passes as it is."""
    for record in cmr_granules():
        granule_item(record, None)
    for record in cmr_collections():
        collection_of(record)
    for pair in m2m_scenes():
        scene_item(pair["scene"], "landsat_ot_c2_l2", pair["options"])
    for record in m2m_datasets():
        dataset_collection(record)
