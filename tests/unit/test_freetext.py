"""Free-text `q`: one meaning for CMR (its `keyword`) and for what the gateway matches itself."""

from __future__ import annotations

import pytest

from stacbridge.errors import BadRequest
from stacbridge.providers.cmr.provider import keyword_params
from stacbridge.sandbox.cmr.errors import CmrError
from stacbridge.sandbox.cmr.matching import keyword_matcher
from stacbridge.stac import freetext


def test_terms_are_normalised_and_a_quoted_term_is_its_phrase() -> None:
    assert freetext.terms(["  Sea   surface ", '"sea surface"', "", "ocean"]) == [
        "Sea surface",
        "ocean",
    ]


@pytest.mark.parametrize("term", ["ocean*", "oce?n", 'a "b" c', "back\\slash", "()", "x" * 201])
def test_terms_cmr_would_read_otherwise_are_refused(term: str) -> None:
    with pytest.raises(BadRequest):
        freetext.terms([term])


def test_the_number_of_terms_is_bounded() -> None:
    freetext.terms([f"t{n}" for n in range(freetext.MAX_TERMS)])
    with pytest.raises(BadRequest, match="at most 10 terms"):
        freetext.terms([f"t{n}" for n in range(freetext.MAX_TERMS + 1)])


def test_matching_is_whole_words_contiguous_within_one_field() -> None:
    fields = ["Landsat 8-9 OLI/TIRS C2 L2", "Sea Surface Temperature analysis"]
    assert freetext.matches("landsat", fields)
    assert not freetext.matches("land", fields)
    assert freetext.matches("surface temperature", fields)
    assert not freetext.matches("temperature surface", fields)
    assert not freetext.matches("L2 sea", fields)  # across two fields is not a phrase


def test_each_term_is_one_cmr_keyword_a_phrase_when_it_has_several_words() -> None:
    assert keyword_params(()) == [[]]
    assert keyword_params(("ocean", "sea surface")) == [
        [("keyword", "ocean")],
        [("keyword", '"sea surface"')],
    ]


def _haystack(*fields: str) -> str:
    return "\n".join(fields).lower()


def test_emulated_cmr_keyword_words_are_whole_words_anywhere() -> None:
    match = keyword_matcher("harmonized landsat")
    assert match is not None
    assert match(_haystack("HLS", "Harmonized Landsat Sentinel-2"))
    assert match(_haystack("Landsat", "Harmonized"))  # words may be in different fields
    assert not match(_haystack("Harmonization of Landsats"))
    wildcard = keyword_matcher("harmoni*")
    assert wildcard is not None and wildcard(_haystack("Harmonized"))


def test_emulated_cmr_keyword_phrase_is_contiguous_within_one_field() -> None:
    match = keyword_matcher('"sea surface"')
    assert match is not None
    assert match(_haystack("Global Sea Surface Temperature"))
    assert not match(_haystack("Sea", "Surface"))
    assert not match(_haystack("Surface of the sea"))


@pytest.mark.parametrize("value", ['"one" "two"', '"phrase" word', '"unpaired', 'word "x"'])
def test_emulated_cmr_refuses_mixed_or_multiple_phrases(value: str) -> None:
    with pytest.raises(CmrError, match="keyword phrase mixed with keyword"):
        keyword_matcher(value)


def test_emulated_cmr_reads_an_escaped_quote_literally() -> None:
    match = keyword_matcher('say \\"hi\\"')
    assert match is not None and match(_haystack('they say "hi"'))
