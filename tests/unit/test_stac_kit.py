"""The translation kit (`stacbridge.stac`): one behaviour for what every translator shares."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from stacbridge.stac import cql2, media, values
from stacbridge.stac import extensions as ext
from stacbridge.stac.items import item_dict

# -- extensions ---------------------------------------------------------------------------------


def test_item_extensions_follow_the_fields_in_canonical_order() -> None:
    props = {"datetime": None, "view:sun_azimuth": 1.0, "eo:cloud_cover": 2.0, "grid:code": "x"}
    assets = {
        "a": {"href": "h", "proj:epsg": 32615, "alternate": {"s3": {"href": "s3://b/k"}}},
        "b": {"href": "h", "file:size": 1, "eo:bands": []},
    }
    assert ext.item_extensions(props, assets) == [
        ext.EO,
        ext.PROJECTION,
        ext.FILE,
        ext.GRID,
        ext.VIEW,
        ext.ALTERNATE,
    ]


def test_item_extensions_none_unknown_prefixes_and_fresh_lists() -> None:
    assert ext.item_extensions({"datetime": None, "m2m:x": 1, ":odd": 2}, {}) == []
    first = ext.item_extensions({"eo:cloud_cover": 1}, {})
    first.append("mutated")
    assert ext.item_extensions({"eo:cloud_cover": 1}, {}) == [ext.EO]  # the cache is not shared


def test_collection_extensions_read_summaries_item_assets_and_own_fields() -> None:
    coll = {
        "type": "Collection",
        "sci:doi": "10.5066/P9OGBGM6",
        "summaries": {"platform": ["landsat-8"], "processing:level": ["L2"]},
        "item_assets": {"B1": {"roles": ["data"], "eo:bands": [{"name": "B1"}]}},
        "assets": {"thumbnail": {"href": "h"}},
    }
    assert ext.stac_extensions(coll) == [
        ext.EO,
        ext.SCIENTIFIC,
        ext.PROCESSING,
        ext.ITEM_ASSETS,
    ]


def test_stac_extensions_of_an_item_dict() -> None:
    item = item_dict("i", "c", None, {"sat:absolute_orbit": 3, "order:status": "orderable"}, {})
    assert item["stac_extensions"] == [ext.SAT, ext.ORDER]
    assert ext.stac_extensions(item) == item["stac_extensions"]
    landsat = item_dict("i", None, None, {"landsat:wrs_path": "001"}, {"x": {"href": "h"}})
    assert landsat["stac_extensions"] == [ext.LANDSAT]


def test_every_known_field_maps_to_an_ordered_uri() -> None:
    assert set(ext.BY_FIELD.values()) == set(ext.CANONICAL_ORDER)
    assert ext.extension_for("proj:epsg") == ext.PROJECTION
    assert ext.extension_for("alternate") == ext.ALTERNATE
    assert ext.extension_for("projection") is None


# -- media ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("https://h/x/HLS.L30.T15UXP.v2.0.B03.TIF", media.GEOTIFF),
        ("file.nc4", media.NETCDF),
        ("a.he5", media.HDF5),
        ("MOD02QKM.A2020.hdf", media.HDF),
        ("bundle.tar", media.TAR),
        ("L1.tar.gz", media.GZIP),
        ("x.zip", media.ZIP),
        ("x.csv", media.CSV),
        ("https://ims/browse/x.jpg?size=large", media.JPEG),
        ("x.PNG#frag", media.PNG),
        ("x.json", media.JSON),
        ("x.xml", media.XML),
        ("README", None),
        (".hidden", None),
        ("https://h/dir.d/file", None),
        ("x.unknown", None),
    ],
)
def test_media_type_by_extension(name: str, expected: str | None) -> None:
    assert media.media_type(name) == expected


def test_media_constants_are_shared_by_the_table() -> None:
    # translators compare with `is`: the table must hold the constants themselves
    assert media.BY_EXTENSION["tif"] is media.GEOTIFF
    assert media.COG.startswith(media.GEOTIFF)


# -- numbers ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1.0),
        (" 12.5 ", 12.5),
        ("1e3", 1000.0),
        ("Not provided", None),
        ("", None),
        (None, None),
        (True, None),
        (float("nan"), None),
        ("inf", None),
        ([1], None),
    ],
)
def test_as_float(value: object, expected: float | None) -> None:
    assert values.as_float(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (7, 7),
        (7.0, 7),
        ("7", 7),
        (" -7 ", -7),
        ("1e3", 1000),
        (7.5, None),
        ("7.5", None),
        ("Not provided", None),
        (None, None),
        (False, None),
        ("²", None),
        (2**60 + 1, 2**60 + 1),
        (str(2**60 + 1), 2**60 + 1),  # exact, not through a float
    ],
)
def test_as_int(value: object, expected: int | None) -> None:
    assert values.as_int(value) == expected


# -- time ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-02-11T16:58:31.150Z", "2024-02-11T16:58:31.150Z"),  # as written
        ("2024-02-11T16:58:31Z", "2024-02-11T16:58:31Z"),
        ("2024-02-11T16:58:31", "2024-02-11T16:58:31Z"),
        ("2024-02-11T11:58:31.500000-05:00", "2024-02-11T16:58:31.5Z"),
        ("2024-02-11", "2024-02-11T00:00:00Z"),
        ("Not provided", None),
        ("", None),
        (None, None),
        (20240211, None),
    ],
)
def test_rfc3339(value: object, expected: str | None) -> None:
    assert values.rfc3339(value) == expected


def test_format_rfc3339_naive_is_utc_and_years_have_four_digits() -> None:
    assert values.format_rfc3339(dt.datetime(21, 9, 16, 1, 2, 3)) == "0021-09-16T01:02:03Z"
    chicago = dt.timezone(dt.timedelta(hours=-5))
    aware = dt.datetime(2020, 8, 4, 8, 39, 39, 120000, tzinfo=chicago)
    assert values.format_rfc3339(aware) == "2020-08-04T13:39:39.12Z"


# -- multihash ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("algorithm", "function", "prefix"),
    [
        ("MD5", hashlib.md5, "d50110"),
        ("md5sum", hashlib.md5, "d50110"),
        ("SHA-1", hashlib.sha1, "1114"),
        ("sha1sum", hashlib.sha1, "1114"),
        ("SHA-256", hashlib.sha256, "1220"),
        ("sha256sum", hashlib.sha256, "1220"),
        ("SHA2-256", hashlib.sha256, "1220"),
        ("sha_256", hashlib.sha256, "1220"),
        ("SHA-384", hashlib.sha384, "2030"),
        ("SHA-512", hashlib.sha512, "1340"),
        ("sha512", hashlib.sha512, "1340"),
    ],
)
def test_multihash(algorithm: str, function: object, prefix: str) -> None:
    digest = function(b"stacbridge").hexdigest()  # type: ignore[operator]
    assert values.multihash(algorithm, digest.upper() + " ") == prefix + digest


@pytest.mark.parametrize(
    ("algorithm", "digest"),
    [
        ("Adler-32", "0a1b2c3d"),
        ("SHA-2", hashlib.sha256(b"").hexdigest()),  # which SHA-2? not guessed
        ("MD5", hashlib.md5(b"").hexdigest()[:-1]),  # truncated
        ("MD5", "z" * 32),
        ("MD5", None),
        (None, hashlib.md5(b"").hexdigest()),
    ],
)
def test_multihash_rejects(algorithm: object, digest: object) -> None:
    assert values.multihash(algorithm, digest) is None


# -- DOIs ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.5067/HLS/HLSL30.002", "10.5067/HLS/HLSL30.002"),
        ("https://doi.org/10.5066/P9OGBGM6 ", "10.5066/P9OGBGM6"),
        ("http://dx.doi.org/10.1016/j.rse.2017.07.029\r\n", "10.1016/j.rse.2017.07.029"),
        ("doi:10.1175/BAMS-D-18-0337.1", "10.1175/BAMS-D-18-0337.1"),
        ("DOI: 10.3390/rs13214313", "10.3390/rs13214313"),
        ("10.abcd/x", None),  # registrant codes are numeric
        ("10.1000.10/x", None),  # subdivisions: the scientific extension's pattern rejects them
        ("10.123/x", None),
        ("10.5067/", None),
        ("10.5067/a b", None),
        ("Not provided", None),
        (None, None),
    ],
)
def test_doi(value: object, expected: str | None) -> None:
    assert values.doi(value) == expected


# -- keys ---------------------------------------------------------------------------------------
def test_unique_key_numbers_from_two() -> None:
    assert values.unique_key("browse", {}) == "browse"
    assert values.unique_key("browse", {"browse": 1}) == "browse_2"
    assert values.unique_key("browse", {"browse", "browse_2", "browse_3"}) == "browse_4"


# -- CQL2 push-down ---------------------------------------------------------------------------
CLOUD = {"property": "eo:cloud_cover"}


def _cmp(op: str, *args: object) -> dict:
    return {"op": op, "args": list(args)}


@pytest.mark.parametrize("literal", [True, False, None, "junk", 3, [], {}])
def test_conjuncts_of_non_expressions_are_empty(literal: object) -> None:
    # `filter=true` used to crash a provider on `.get` of a bool
    assert cql2.conjuncts(literal) == ([] if literal != {} else [{}])
    assert cql2.numeric_bounds(literal, "eo:cloud_cover") == (None, None)


def test_conjuncts_flatten_nested_and_and_drop_literals() -> None:
    a, b, c = _cmp("<", CLOUD, 10), _cmp("=", {"property": "platform"}, "x"), _cmp("like", 1, 2)
    expr = {"op": "and", "args": [a, True, {"op": "and", "args": [b, {"op": "and", "args": [c]}]}]}
    assert cql2.conjuncts(expr) == [a, b, c]
    assert cql2.conjuncts(a) == [a]
    assert cql2.conjuncts({"op": "and", "args": "junk"}) == []
    either = {"op": "or", "args": [a, b]}
    assert cql2.conjuncts(either) == [either]


def test_is_false() -> None:
    assert cql2.is_false(False)
    assert cql2.is_false(
        {"op": "and", "args": [_cmp("<", CLOUD, 1), {"op": "and", "args": [False]}]}
    )
    assert not cql2.is_false(True)
    assert not cql2.is_false(None)
    assert not cql2.is_false({"op": "or", "args": [False, _cmp("<", CLOUD, 1)]})
    assert not cql2.is_false({"op": "not", "args": [False]})


def test_comparison_puts_the_property_first() -> None:
    assert cql2.comparison(_cmp("<", CLOUD, 5)) == ("eo:cloud_cover", "<", 5)
    assert cql2.comparison(_cmp("<", 5, CLOUD)) == ("eo:cloud_cover", ">", 5)
    assert cql2.comparison(_cmp(">=", 5, CLOUD)) == ("eo:cloud_cover", "<=", 5)
    assert cql2.comparison(_cmp("=", "a", {"property": "platform"})) == ("platform", "=", "a")
    assert cql2.comparison(_cmp("<>", CLOUD, 5)) is None
    assert cql2.comparison(_cmp("<", CLOUD, {"property": "x"})) is None
    assert cql2.comparison(_cmp("<", CLOUD, {"timestamp": "2020-01-01T00:00:00Z"})) is None
    assert cql2.comparison(_cmp("<", CLOUD)) is None
    assert cql2.comparison({"op": ["<"], "args": [CLOUD, 5]}) is None
    assert cql2.comparison(True) is None


@pytest.mark.parametrize(
    ("expr", "bounds"),
    [
        (_cmp("<", CLOUD, 10), (None, 10)),
        (_cmp("<=", CLOUD, 10.5), (None, 10.5)),
        (_cmp(">", CLOUD, 10), (10, None)),
        (_cmp(">=", CLOUD, 10), (10, None)),
        (_cmp("=", CLOUD, 7), (7, 7)),
        (_cmp(">", 20, CLOUD), (None, 20)),  # 20 > cloud: cloud < 20
        (_cmp("between", CLOUD, 5, 30), (5, 30)),
        (
            {"op": "and", "args": [_cmp(">=", CLOUD, 5), _cmp("<", CLOUD, 50)]},
            (5, 50),
        ),
        (  # nested and, intersected: the largest low, the smallest high
            {
                "op": "and",
                "args": [
                    _cmp("between", CLOUD, 0, 40),
                    {"op": "and", "args": [_cmp(">", CLOUD, 10), _cmp("<=", CLOUD, 60)]},
                ],
            },
            (10, 40),
        ),
        (  # contradictory: low > high, no value satisfies it
            {"op": "and", "args": [_cmp("<", CLOUD, 5), _cmp(">", CLOUD, 10)]},
            (10, 5),
        ),
        (_cmp("<", CLOUD, "10"), (None, None)),  # a string is not a number
        (_cmp("<", CLOUD, True), (None, None)),  # nor is a boolean
        (_cmp("between", CLOUD, 5, "x"), (None, None)),
        (_cmp("between", CLOUD, [5, 30]), (None, None)),  # not CQL2-JSON's between
        (_cmp("<", {"property": "view:sun_elevation"}, 10), (None, None)),
        ({"op": "not", "args": [_cmp("<", CLOUD, 10)]}, (None, None)),
        ({"op": "or", "args": [_cmp("<", CLOUD, 10), _cmp(">", CLOUD, 90)]}, (None, None)),
        ({"op": "and", "args": [True, _cmp("<", CLOUD, 10)]}, (None, 10)),
        ({"op": "and", "args": [{"op": "not", "args": [False]}, _cmp("=", CLOUD, 0)]}, (0, 0)),
    ],
)
def test_numeric_bounds(expr: object, bounds: tuple) -> None:
    assert cql2.numeric_bounds(expr, "eo:cloud_cover") == bounds


def test_numeric_bounds_keep_the_literal_types() -> None:
    low, high = cql2.numeric_bounds(_cmp("between", CLOUD, 5, 30.5), "eo:cloud_cover")
    assert type(low) is int and type(high) is float
